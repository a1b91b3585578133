#!/usr/bin/perl
# dialogues.t — every reply path of the SMTP server machine, proven on the
# wire: each tests/relay/dialogues/*.dlg script (send/expect as data, the
# format is documented in tests/lib/MxSMTP.pm) runs against a live mxgate
# whose route points at a live smtp-sink (started with the script's own
# options). A script may also require a number of messages at the sink
# and lines in mxgate's log.
use strict;
use warnings;
use Test::More;
use FindBin;
use MxTest;
use MxSMTP;

my $dir = "$FindBin::Bin/dialogues";
my @files = sort glob("$dir/*.dlg");
ok(@files >= 30, 'dialogue scripts found') or BAIL_OUT("none in $dir");
@files = grep { my $f = $_; grep { $f =~ /\Q$_\E/ } @ARGV } @files if @ARGV;

for my $file (@files) {
	my $d = parse_dialogue($file);
	my $name = (split m{/}, $file)[-1];
	my $sink = start_sink(args => $d->{sink});
	my $dead = dead_port();
	my @conf = map { my $l = $_; $l =~ s/\$SINK\b/$sink->{port}/g;
	    $l =~ s/\$DEAD\b/$dead/g; $l } @{ $d->{config} };
	unshift @conf, "route example.test 127.0.0.1:$sink->{port}"
	    unless grep { /^route example\.test / } @conf;
	my $mx = start_mxgate(config => join("\n", @conf));
	my $c = smtp_connect($mx->port, timeout => $d->{timeout});
	local $TODO = $d->{todo};
	my @res = run_dialogue($d, $c);
	my $failed = 0;
	for my $r (@res) {
		ok($r->[0], $r->[1]) or do { diag $r->[2]; $failed = 1 };
	}
	ok(@res > 0, "$name: has expectations");
	$c->disconnect;
	if (defined $d->{messages}) {
		# give a message in flight a moment to land, bounded
		$sink->wait_count($d->{messages} || 1, $d->{messages} ? 5 : 0.3);
		is($sink->count, $d->{messages},
		    "$name: $d->{messages} message(s) at the sink");
	}
	for my $re (@{ $d->{log} }) {
		ok($mx->wait_log(qr/$re/, 3), "$name: log /$re/")
		    or $failed = 1;
	}
	sleep 0.1;
	my @crash = $mx->crashes;
	ok(!@crash && $mx->alive, "$name: no mxgate process crashed")
	    or do { diag join("\n", @crash); $failed = 1 };
	$mx->stop;
	$sink->stop;
	if ($failed) {
		diag "transcript of $name:\n" . $c->transcript;
		diag "mxgate log:\n" . $mx->log;
	}
}

done_testing();
