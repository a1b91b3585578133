#!/usr/bin/perl
# runner_keyless.t — the queue runner faces the network and therefore
# holds nothing that unseals the queue: as the kernel shows it, no LMDB
# file and no key file is mapped or open in the runner, while the queue
# owner (the check's control) has them; the runner runs as its own user
# under NoNewPrivs and seccomp; and a message queued during an outage is
# still delivered through it (handed over by the queue owner). A runner
# that ends is restarted alone.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

need(['root: the relay roles drop to their own users', $> == 0]);

my $ctl = bin('mxgatectl');
my $sport = MxSMTP::free_port();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$sport\n");
my $qdir = ($mx->{config} =~ /^queue (\S+)/m)[0];

ok(MxSMTP::wait_until(10, sub { $mx->log =~ /runner ready/ &&
    $mx->log =~ /queue owner ready/ }), 'queue owner and runner up')
    or diag $mx->log;
my ($runner) = $mx->log =~ /mxgate\/qmgr\[(\d+)\]: runner ready/;
my ($owner) = $mx->log =~ /mxgate\/qmgr\[(\d+)\]: queue owner ready/;
$runner //= 0;
$owner //= 0;

sub status_of {
	my ($pid) = @_;
	my $s = read_file("/proc/$pid/status") // '';
	return map { ($s =~ /^$_:\s+(\d+)/m)[0] // -1 } qw(Uid NoNewPrivs Seccomp);
}

# what a process has open or mapped: every path under the queue
# directory, and anything named like a key
sub held {
	my ($pid) = @_;
	my @paths;
	for my $fd (glob("/proc/$pid/fd/*")) {
		my $t = readlink($fd) // next;
		push @paths, $t;
	}
	for my $l (split /\n/, read_file("/proc/$pid/maps") // '') {
		push @paths, $1 if $l =~ m{\s(/\S.*)$};
	}
	return grep { index($_, $qdir) == 0 || /\bkey\b|\.key$|\.mdb$/ } @paths;
}

ok(-e "/proc/$runner/maps" && -e "/proc/$owner/maps",
    "both processes found (runner $runner, owner $owner)");
my @owner = held($owner);
ok((grep { /data\.mdb$/ } @owner), 'the queue owner has the store mapped '
    . '(the check sees what it looks for)') or diag explain \@owner;
my @runner = held($runner);
is_deeply(\@runner, [], 'the runner has no queue file, store or key open '
    . 'or mapped') or diag explain \@runner;
my ($uid, $nnp, $sec) = status_of($runner);
is($uid, scalar getpwnam('mxgate-runner'), 'the runner runs as mxgate-runner');
is($nnp, 1, 'runner: NoNewPrivs 1');
is($sec, 2, 'runner: Seccomp 2 (filter)');
isnt($uid, scalar getpwnam('mxgate-queue'), 'not as the queue owner\'s user');

# an outage message, delivered through the runner once the customer is back
my $c = smtp_connect($mx->port);
my $r = $c->transaction(data => "Subject: keyless\r\n\r\nbody\r\n") // '';
like($r, qr/^250 2\.0\.0 Ok: queued as ([0-9A-F]+)/, 'customer down: queued');
my ($id) = $r =~ /queued as ([0-9A-F]+)/;
$id //= 'none';
$c->disconnect;
my $sink = start_sink(port => $sport);
my ($rc) = run($ctl, '-f', $mx->conf, 'queue', 'flush');
is($rc, 0, 'mxgatectl queue flush');
is($sink->wait_count(1, 30), 1, 'the queued message reaches the customer');
like(($sink->messages)[0] // '', qr/Subject: keyless/, '... its content');
ok($mx->wait_log(qr/\Q$id\E: to=<alice\@example\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:$sport.*status=sent/, 10),
    'logged as sent by the queue owner') or diag $mx->log;
is_deeply([ held($runner) ], [], 'after a delivery the runner still holds '
    . 'nothing of the queue');
ok(!$mx->crashes && $mx->alive, 'no mxgate process crashed');

# the role table's restart column: a runner that ends, whatever ended
# it, comes back alone after its back-off; the queue owner stays
for my $sig (qw(TERM KILL)) {
	my @ready = $mx->log =~ /mxgate\/qmgr\[(\d+)\]: runner ready/g;
	my $old = $ready[-1] // 0;
	kill $sig, $old;
	ok($mx->wait_log(qr/queue runner $old [^;]*; restarting in \d+ ms/, 10),
	    "runner ended by SIG$sig: its restart is logged") or diag $mx->log;
	ok(MxSMTP::wait_until(10, sub {
		my @r = $mx->log =~ /mxgate\/qmgr\[(\d+)\]: runner ready/g;
		@r > @ready }), '... and a new runner is ready');
}
my @owners = $mx->log =~ /mxgate\/qmgr\[(\d+)\]: queue owner ready/g;
is_deeply(\@owners, [ $owner ], 'the queue owner was not replaced');
ok($mx->alive, 'the relay still runs');

$mx->stop;
$sink->stop;
done_testing();
