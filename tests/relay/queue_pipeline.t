#!/usr/bin/perl
# queue_pipeline.t — the queue owner hands the runner the next message
# while the runner still delivers the last one (two in flight). What that
# must not change: when the customer's server is down, one connection
# attempt per pass finds it down — the message already waiting behind
# the first gets the same answer without a second attempt, and the rest
# of the pass is deferred by the queue owner without reaching the runner;
# when the server is back, every queued message arrives exactly once.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

need(['root: the relay roles drop to their own users', $> == 0]);

my $N = 6;
my $ctl = bin('mxgatectl');
my $sport = MxSMTP::free_port();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$sport\n");
ok(MxSMTP::wait_until(10, sub { $mx->log =~ /runner ready/ }),
    'the runner is up') or diag $mx->log;
my ($runner) = $mx->log =~ /mxgate\/qmgr\[(\d+)\]: runner ready/;
$runner //= 0;

my @ids;
for my $i (1 .. $N) {
	my $c = smtp_connect($mx->port);
	my $r = $c->transaction(data => "Subject: pipeline $i\r\n\r\nbody $i\r\n")
	    // '';
	push @ids, $1 if $r =~ /^250 2\.0\.0 Ok: queued as ([0-9A-F]+)/;
	$c->disconnect;
}
is(scalar @ids, $N, "customer down: $N messages queued");

# the pass after a flush, with nothing listening
my $mark = length $mx->log;
my ($rc) = run($ctl, '-f', $mx->conf, 'queue', 'flush');
is($rc, 0, 'mxgatectl queue flush');
my $deferred = sub {
	my $t = substr($mx->log, $mark);
	return scalar grep { $t =~ /\Q$_\E: to=<alice\@example\.test>.*status=deferred/ } @ids;
};
ok(MxSMTP::wait_until(15, sub { $deferred->() == $N }),
    "all $N deferred again in that pass") or diag substr($mx->log, $mark);
my $pass = substr($mx->log, $mark);
my @tries = $pass =~ /mxgate\/smtp\[$runner\]: [^\n]*Connection refused/g;
is(scalar @tries, 1, 'the runner tried the server once, not once per '
    . 'message handed over') or diag $pass;
my @carried = $pass =~ /status=deferred \(connect to [^)]*Connection refused\)/g;
is(scalar @carried, 2, 'two messages were with the runner: both carry the '
    . 'connection failure') or diag $pass;
my @held = $pass =~ /status=deferred \(delivery temporarily suspended: /g;
is(scalar @held, $N - 2, 'the rest of the pass was deferred by the queue '
    . 'owner') or diag $pass;

# the customer is back: each message exactly once
my $sink = start_sink(port => $sport);
($rc) = run($ctl, '-f', $mx->conf, 'queue', 'flush');
is($rc, 0, 'mxgatectl queue flush, the customer back');
is($sink->wait_count($N, 30), $N, "the $N messages reach the customer");
my %seen;
$seen{$_}++ for map { /Subject: pipeline (\d+)/ ? $1 : () } $sink->messages;
is_deeply(\%seen, { map { $_ => 1 } 1 .. $N }, 'each exactly once')
    or diag explain \%seen;
ok(MxSMTP::wait_until(10, sub {
	my $t = $mx->log;
	!grep { $t !~ /\Q$_\E: removed/ } @ids }), 'every record erased')
    or diag $mx->log;
ok(!$mx->crashes && $mx->alive, 'no mxgate process crashed');

$mx->stop;
$sink->stop;
done_testing();
