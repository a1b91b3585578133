#!/usr/bin/perl
# load.t — 1,000 messages through mxgate with 50 parallel sessions
# (Postfix's smtp-source), bounded in count and time, every one accounted
# for: smtp-source sees no error, the sink holds exactly 1,000 dumps, the
# log has 1,000 status=sent lines with 1,000 distinct queue ids, and the
# set of queue ids in the sink's X-Mxgate-Flow headers is the same set.
# A second round keeps 50 sessions open and sends 20 messages on each.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use MxTest;
use MxSMTP;

my $N = 1000;
my $P = 50;

for my $round ('one message per session', 'twenty messages per session') {
	my $sink = start_sink();
	my $mx = start_mxgate(config =>
	    "route example.test 127.0.0.1:$sink->{port}\nmax_sessions 200\n" .
	    # the load comes from one IP: per-IP gating limits off
	    "gate_ip_rate 0\ngate_net_rate 0\ngate_ip_concurrency 200\n" .
	    "gate_net_concurrency 200\n");
	my @argv = ('smtp-source', '-s', $P, '-m', $N, '-l', 2048,
	    '-M', 'load.sender.test', '-f', 'bob@sender.test',
	    '-t', 'alice@example.test', '-S', 'load');
	push @argv, '-d' if $round =~ /twenty/;
	my $t0 = time;
	my ($rc, $out) = run_timeout(120, @argv, '127.0.0.1:' . $mx->port);
	my $secs = time - $t0;
	is($rc, 0, "$round: smtp-source sent $N messages, $P in parallel, no error")
	    or diag $out;
	note sprintf("%s: %.1f s, %.0f messages/s", $round, $secs, $N / $secs);

	is($sink->wait_count($N, 30), $N, "$round: $N messages at the sink");
	my @log = $mx->log_lines;
	my @sent = grep { /: to=<alice\@example\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent \(250 / } @log;
	is(scalar @sent, $N, "$round: $N status=sent lines");
	my %log_ids = map { /: ([0-9A-F]+): to=/ ? ($1 => 1) : () } @sent;
	is(scalar keys %log_ids, $N, "$round: $N distinct queue ids");
	my %removed = map { /: ([0-9A-F]+): removed$/ ? ($1 => 1) : () } @log;
	is(scalar(grep { !$removed{$_} } keys %log_ids), 0,
	    "$round: every one logged as removed");
	my %sink_ids;
	for my $m ($sink->messages) {
		$sink_ids{$1}++ if $m =~ /^X-Mxgate-Flow: in-session; id=([0-9A-F]+);/m;
	}
	is_deeply([ sort keys %sink_ids ], [ sort keys %log_ids ],
	    "$round: the sink holds exactly the messages the log says were sent");
	is(scalar(grep { $_ != 1 } values %sink_ids), 0,
	    "$round: no message delivered twice");
	ok(!(grep { /status=deferred|reject:|warning|error/ } @log),
	    "$round: no deferral, reject or error in the log");
	my $conn = grep { /: connect from / } @log;
	my $disc = grep { /: disconnect from / } @log;
	is($disc, $conn, "$round: every session that connected disconnected ($conn)");
	$mx->stop;
	$sink->stop;
}

done_testing();
