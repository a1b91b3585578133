#!/usr/bin/perl
# flapping.t — the customer's server goes up and down every second while
# mail flows (smtp-sink started and stopped on the same port), for
# FLAP_SECONDS (10 by default; `make check` runs this size). A sender keeps
# sending, one message after the other. Afterwards the customer stays up,
# the queue is flushed and must drain; then every message that got a 250
# has arrived — in session or from the queue — and none is lost.
# Duplicates are possible only where the customer took a message and went
# down before its 250 reached us: they are counted and reported.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use MxTest;
use MxSMTP;

if ($> != 0) {
	fail('needs root: the relay roles drop to their own users');
	done_testing();
	exit;
}

my $secs = $ENV{FLAP_SECONDS} // 10;
my $port = MxSMTP::free_port();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$port\n" .
    "postmaster postmaster\@example.test\nconnect_timeout 2\nrelay_timeout 5\n" .
    "gate_ip_rate 0\ngate_net_rate 0\n");	# one client, many connections
my $ctl = bin('mxgatectl');

# the flapping customer, in a child: up one second, down the next
my $flapper = fork // die;
if (!$flapper) {
	my $end = time + $secs;
	while (time < $end) {
		my $s = start_sink(port => $port);
		sleep 1;
		$s->stop;
		sleep 1;
	}
	POSIX::_exit(0);
}

my (%acked, $tries);
$tries = 0;
my $end = time + $secs;
while (time < $end && $tries < 20000) {	# bounded in time and count
	my $id = sprintf 'flap-%06d', ++$tries;
	my $c = eval { MxSMTP::smtp_connect($mx->port) } or next;
	my $r = eval { $c->transaction(data => "Subject: $id\r\nX-Flap-Id: $id\r\n\r\n$id\r\n",
	    timeout => 15) } // '';
	eval { $c->cmd('QUIT'); $c->disconnect };
	if ($r =~ /^250 /) { $acked{$id} = 1 } else { sleep 0.05 }	# bounded
}
waitpid($flapper, 0);
ok($tries > 0 && keys(%acked) > 0, sprintf('%d messages sent while the customer flapped for %d s, %d got 250',
    $tries, $secs, scalar keys %acked));

# the customer stays up now; the queue drains
my $final = start_sink(port => $port);
my ($rc, $out) = run($ctl, '-f', $mx->conf, 'queue', 'flush');
is($rc, 0, 'mxgatectl queue flush');
my $drained = MxSMTP::wait_until(90, sub {
	my (undef, $l) = run($ctl, '-f', $mx->conf, 'queue', 'list');
	$l !~ /^[0-9A-F]{18}\s/m;
});
ok($drained, 'the queue drains once the customer stays up');

# every sink's dumps (the flapping ones were made by the child)
my (%got, %sinkdirs);
for my $f (glob(MxTest::out_dir() . "/tmp/*/dump/*/m.*")) {
	my $t = read_file($f) // next;
	my $n = 0;
	$n++, $got{$1}++ while $t =~ /^X-Flap-Id: (flap-\d+)$/mg;
	$sinkdirs{$1} = 1 if $n && $f =~ m{^(.*)/dump/};
}
my @lost = grep { !$got{$_} } sort keys %acked;
is_deeply(\@lost, [], sprintf('every acknowledged message arrived (%d of %d)',
    scalar(keys %acked) - @lost, scalar keys %acked));
my $dups = grep { $got{$_} > 1 } keys %got;
diag(sprintf 'flapping %d s: %d sent, %d acknowledged, %d arrived, %d duplicate(s)',
    $secs, $tries, scalar keys %acked, scalar keys %got, $dups);
is_deeply([ $mx->crashes ], [], 'no process died');
$final->stop;
$mx->stop;
delete $sinkdirs{$final->{dir}};
system('rm', '-rf', $_) for keys %sinkdirs;	# the child's, not cleaned by it
done_testing();
