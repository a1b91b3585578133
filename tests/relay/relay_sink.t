#!/usr/bin/perl
# relay_sink.t — in-session relay to the customer's server, with real
# peers: swaks (and a raw client) as the sender, Postfix's smtp-sink as
# the customer. Proves:
#  - a message arrives byte for byte: the sink's dump, minus smtp-sink's
#    own lines and our one Received: + X-Mxgate-* lines, is exactly what
#    the sender sent (dot-stuffed lines and 8-bit bytes included), and a
#    reference copy sent by the same swaks straight to a second sink is
#    identical;
#  - the log is Postfix-style and keyed by the queue id of "250 2.0.0 Ok:
#    queued as ID" (connect, client=, from=, to=... status=sent, removed,
#    disconnect);
#  - smtp-sink's fault injection reaches the sender with the right class:
#    5xx passed through, a 4xx RCPT passed through, and every outage (the
#    customer down, saying 4xx to MAIL/DATA/".", hanging up: -r, -q, -Q,
#    nothing listening) stores the message in the queue before "250 ...
#    queued as ID", logged status=deferred, listed by mxgatectl;
#  - with two route servers, the second is used when the first is down.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

my $LOGLINE = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00 mx\.example\.test mxgate\/[a-z]+\[\d+\]: \S/;

# --- swaks, byte for byte ------------------------------------------------

my $sink = start_sink();
my $ref  = start_sink();	# swaks straight to the customer
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$sink->{port}\n");
my $dir = tmpdir();

# No final newline: swaks then sends the file (LF -> CRLF) plus one CRLF.
my $body = join("\n",
    'Date: Tue, 20 Nov 2018 15:18:43 +0000',
    'From: Bob <bob@sender.test>',
    'To: Alice <alice@example.test>',
    'Subject: =?UTF-8?Q?byte_for_byte?=',
    'Message-ID: <relay-sink-1@sender.test>',
    'X-Folded: first part',
    "\tsecond part",
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=ISO-8859-1',
    'Content-Transfer-Encoding: 8bit',
    '',
    '.a line starting with a dot',
    '..two dots',
    '.',
    ' . ',
    "8-bit: caf\xe9 \xff\xfe\x80 \xc3\xa9",
    'trailing blanks   ',
    "tab\tinside",
    'x' x 998,
    '',
    '',
    'From the end (not escaped, not touched)',
    'end');
write_file("$dir/msg.eml", $body);
my $expect = "$body\n";		# as the sink dumps it (LF line ends)

my @swaks = ('swaks', '--helo', 'client.sender.test', '--from',
    'bob@sender.test', '--to', 'alice@example.test', '--data',
    "\@$dir/msg.eml", '--timeout', '10');
my ($rc, $out) = run_timeout(30, @swaks, '--server',
    "127.0.0.1:" . $mx->port);
is($rc, 0, 'swaks through mxgate: exit 0') or diag $out;
my ($qid) = $out =~ /<-  250 2\.0\.0 Ok: queued as ([0-9A-F]+)\r?$/m;
ok($qid, "250 2.0.0 Ok: queued as ID") or diag $out;
$qid //= 'NONE';
($rc, my $rout) = run_timeout(30, @swaks, '--server',
    "127.0.0.1:" . $ref->port);
is($rc, 0, 'swaks straight to the reference sink: exit 0') or diag $rout;

is($sink->wait_count(1), 1, 'one message at the sink');
is($ref->wait_count(1), 1, 'one message at the reference sink');
my ($got) = $sink->messages;
my ($want) = $ref->messages;
my ($rest, $added) = mx_strip(sink_strip($got));
ok(defined $rest, 'dump starts with our Received: and X-Mxgate-* lines')
    or diag $got;
ok(defined $rest && $rest eq $expect,
    'body and headers byte for byte as swaks sent them (dot-stuffing undone, 8-bit kept)')
    or diag_diff($rest, $expect);
ok(defined $rest && $rest eq sink_strip($want),
    'identical to what the same swaks run left at the reference sink')
    or diag_diff($rest, sink_strip($want));
$added //= '';
is(scalar(() = $added =~ /^Received:/mg), 1, 'exactly one Received: added');
like($added, qr/\AReceived: from client\.sender\.test \(unknown \[127\.0\.0\.1\]\)\n\tby mx\.example\.test \(mxgate\) with ESMTP id \Q$qid\E\n\tfor <alice\@example\.test>;\n\t\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000 \(UTC\)\n/,
    'Received: names the HELO, the client IP, our host, the protocol, the queue id and the recipient');
like($added, qr/^X-Mxgate-Flow: in-session; id=\Q$qid\E; route=example\.test; relay=127\.0\.0\.1:\Q$sink->{port}\E$/m,
    'X-Mxgate-Flow: in-session, id, route, relay');
like($added, qr/^X-Mxgate-Gate: (?:pass|PASS [A-Z]+); client=127\.0\.0\.1(?:; dnsbl-score=\d+)?$/m,
    'X-Mxgate-Gate: the gate verdict and the client');
unlike($rest // '', qr/^X-Mxgate-/m, 'no X-Mxgate-* line further down');

# the log, keyed by the queue id
ok($mx->wait_log(qr/\Q$qid\E: removed/), 'log: removed') or diag $mx->log;
my @log = $mx->log_lines;
my @bad = grep { !/$LOGLINE/ } @log;
is(scalar @bad, 0, 'every log line is "TIME HOST mxgate/SERVICE[PID]: text"')
    or diag join("\n", @bad);
my @mine = grep { /: \Q$qid\E: / } @log;
like($mine[0] // '', qr/mxgate\/smtpd\[\d+\]: \Q$qid\E: client=unknown\[127\.0\.0\.1\]$/, 'log: client=');
ok((grep { /mxgate\/qmgr\[\d+\]: \Q$qid\E: from=<bob\@sender\.test>, size=\d+, nrcpt=1\b/ } @mine),
    'log: from=<...>, size=N, nrcpt=1');
ok((grep { /mxgate\/smtp\[\d+\]: \Q$qid\E: to=<alice\@example\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\Q$sink->{port}\E, delay=[\d.]+, delays=[\d.\/]+, dsn=2\.0\.0, status=sent \(250 / } @mine),
    'log: to=<...>, relay=HOST[IP]:PORT, delay, dsn=2.0.0, status=sent');
like($mine[-1] // '', qr/mxgate\/qmgr\[\d+\]: \Q$qid\E: removed$/, 'log: removed is the last line of the message');
ok((grep { /mxgate\/smtpd\[\d+\]: connect from unknown\[127\.0\.0\.1\]$/ } @log), 'log: connect from');
ok((grep { /mxgate\/smtpd\[\d+\]: disconnect from unknown\[127\.0\.0\.1\] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5/ } @log),
    'log: disconnect from, with the command counts');
ok(!(grep { /warning|error|fatal|panic/i } @log), 'log: no warning or error');

# --- raw client, byte for byte --------------------------------------------

$sink->clear;
my $wire = "Subject: raw\r\nX-Empty:\r\nX-Spaces:   a  \r\n\r\n" .
    "..\r\n...\r\n..leading\r\nmid.dle\r\n\x01\x7f\x80\xff\r\n" .
    "\r\n\r\nlast line\r\n";
my $c = smtp_connect($mx->port);
my $r = $c->transaction(data => $wire);
like($r // '', qr/^250 2\.0\.0 Ok: queued as [0-9A-F]+$/, 'raw client: queued');
$c->cmd('QUIT');
is($sink->wait_count(1), 1, 'raw client: one message at the sink');
($rest) = mx_strip(sink_strip(($sink->messages)[0]));
my $want_raw = dot_unstuff(crlf_to_lf($wire));
ok(defined $rest && $rest eq $want_raw,
    'raw client: what arrived is the wire form un-dot-stuffed, nothing else')
    or diag_diff($rest, $want_raw);

# --- a message of many lines, larger than one read ------------------------

$sink->clear;
my $big = join('', map { sprintf(".%05d %s\r\n", $_, 'y' x 70) } 1 .. 3000);
$c = smtp_connect($mx->port);
$r = $c->transaction(data => "Subject: big\r\n\r\n$big");
like($r // '', qr/^250 2\.0\.0 Ok: queued as /, '230 kB message with every line dot-stuffed: queued');
$c->cmd('QUIT');
$sink->wait_count(1);
($rest) = mx_strip(sink_strip(($sink->messages)[0]));
ok(defined $rest && $rest eq dot_unstuff(crlf_to_lf("Subject: big\r\n\r\n$big")),
    '230 kB message arrives intact');
$mx->stop;
$sink->stop;
$ref->stop;

# --- fault injection -------------------------------------------------------
#
# [ smtp-sink options (undef: nothing listening), reply to RCPT, reply at
#   the end of DATA (undef: not reached), log line, messages at the sink
#   (undef: not counted — smtp-sink keeps its dump of a message even when
#   it refuses the final ".") ]
#
# A customer that is down, says 4xx, or hangs up is an outage: the message
# is committed to the queue and only then gets "250 ... queued as ID"
# (SPEC 3.2.4; 451 4.4.1 when there is no queue to take it). A customer's
# 5xx reaches the sender as it was. A customer that greets with 5xx is up
# and refuses service: no queueing cures that, so the sender gets 451
# 4.7.1 and keeps the message (nothing is queued).
my $OUT_RCPT = qr/^250 2\.1\.5 Ok$/;
my $QUEUED = qr/^250 2\.0\.0 Ok: queued as [0-9A-F]+$/;
my $DEFERRED = qr/to=<alice\@example\.test>, relay=none, .*dsn=4\.4\.1, status=deferred \([^;]*\)$/m;
my $HARD = qr/^500 5\.3\.0 Error: command failed$/;
my @faults = (
    [ [qw(-f RCPT)], $HARD, undef, qr/reject: RCPT from .*: 500 5\.3\.0/, 0 ],
    [ [qw(-r RCPT)], qr/^450 4\.3\.0 Error: command failed$/, undef,
      qr/reject: RCPT from .*: 450 4\.3\.0/, 0 ],
    [ [qw(-f DATA)], qr/^250 2\.1\.5 /, $HARD,
      qr/reject: END-OF-MESSAGE from .*: 500 5\.3\.0/, 0 ],
    [ [qw(-r DATA)], qr/^250 2\.1\.5 /, $QUEUED, $DEFERRED, 0 ],
    [ [qw(-f .)], qr/^250 2\.1\.5 /, $HARD,
      qr/dsn=5\.3\.0, status=\w+ \(500 5\.3\.0/, undef ],
    [ [qw(-r .)], qr/^250 2\.1\.5 /, $QUEUED, $DEFERRED, undef ],
    [ [qw(-q RCPT)], $OUT_RCPT, $QUEUED, $DEFERRED, 0 ],
    [ [qw(-q DATA)], qr/^250 2\.1\.5 /, $QUEUED, $DEFERRED, 0 ],
    [ [qw(-Q CONNECT)], $OUT_RCPT, $QUEUED, $DEFERRED, 0 ],
    [ [qw(-Q RCPT)], $OUT_RCPT, $QUEUED, $DEFERRED, 0 ],
    [ [qw(-Q DATA)], qr/^250 2\.1\.5 /, $QUEUED, $DEFERRED, 0 ],
    [ [qw(-f CONNECT)], qr/^451 4\.7\.1 <alice\@example\.test>: the customer's server refuses service, try again later$/,
      undef, qr/to=<alice\@example\.test>, relay=none, .*dsn=4\.7\.1, status=deferred \(every server of route example\.test refuses service; not queued/, 0 ],
    [ [qw(-r MAIL)], $OUT_RCPT, $QUEUED, $DEFERRED, 0 ],
    [ [qw(-f MAIL)], $HARD, undef, qr/reject: RCPT from .*: 500 5\.3\.0/, 0 ],
    [ undef, $OUT_RCPT, $QUEUED,
      qr/to=<alice\@example\.test>, relay=none, .*dsn=4\.4\.1, status=deferred \(.*Connection refused\)$/m, 0 ],
);
for my $f (@faults) {
	my ($args, $rcpt_re, $eom_re, $log_re, $n) = @$f;
	my $name = $args ? "smtp-sink @$args" : 'nothing listening';
	my $s = $args ? start_sink(args => $args) : undef;
	my $port = $s ? $s->port : dead_port();
	my $m = start_mxgate(config => "route example.test 127.0.0.1:$port\n");
	my $cl = smtp_connect($m->port);
	$cl->hello;
	$cl->cmd('MAIL FROM:<bob@sender.test>');
	my $rr = $cl->cmd('RCPT TO:<alice@example.test>');
	like($rr // 'no reply', $rcpt_re, "$name: RCPT -> " . ($rr // 'none'));
	if ($eom_re) {
		my $d = $cl->cmd('DATA');
		like($d // '', qr/^354 /, "$name: DATA -> 354");
		my $e = $cl->cmd("Subject: fault\r\n\r\nbody\r\n.");
		like($e // 'no reply', $eom_re, "$name: end of data -> " .
		    ($e // 'none'));
		if ($eom_re == $QUEUED && ($e // '') =~ /queued as (\S+)$/) {
			my $id = $1;
			my ($rc, $list) = run_timeout(10, bin('mxgatectl'), '-f',
			    $m->conf, 'queue', 'list');
			like($list, qr/^\Q$id\E\s.*<bob\@sender\.test>/m,
			    "$name: $id is in the queue (mxgatectl queue list)");
		}
	}
	my $q = $cl->cmd('QUIT');
	like($q // '', qr/^221 /, "$name: session still usable");
	ok($m->wait_log($log_re, 3), "$name: log $log_re") or diag $m->log;
	if ($s && defined $n) {
		sleep 0.2;
		is($s->count, $n, "$name: $n message(s) at the sink");
	}
	$s->stop if $s;
	$m->stop;
}

# --- two route servers -----------------------------------------------------

for my $first ('dead', '421', '5xx') {
	my $s2 = start_sink();
	my $s1 = $first eq '421' ? start_sink(args => [qw(-Q CONNECT)]) :
	    $first eq '5xx' ? start_sink(args => [qw(-f CONNECT)]) : undef;
	my $p1 = $s1 ? $s1->port : dead_port();
	my $m = start_mxgate(config =>
	    "route example.test 127.0.0.1:$p1 127.0.0.1:$s2->{port}\n");
	for my $i (1, 2) {
		my $cl = smtp_connect($m->port);
		my $rr = $cl->transaction(data => "Subject: second $i\r\n\r\nx\r\n");
		like($rr // '', qr/^250 2\.0\.0 Ok: queued as /,
		    "first server $first, message $i: delivered");
		$cl->cmd('QUIT');
	}
	is($s2->wait_count(2), 2, "first server $first: both at the second server");
	ok($m->wait_log(qr/status=sent .*/), "first server $first: status=sent");
	like(join("\n", grep { /status=sent/ } $m->log_lines),
	    qr/relay=127\.0\.0\.1\[127\.0\.0\.1\]:\Q$s2->{port}\E,/,
	    "first server $first: relay= names the second server");
	$m->stop;
	$s2->stop;
	$s1->stop if $s1;
}

done_testing();

sub diag_diff {
	my ($got, $want) = @_;
	return diag('got undef') unless defined $got;
	my $i = 0;
	$i++ while $i < length($got) && $i < length($want) &&
	    substr($got, $i, 1) eq substr($want, $i, 1);
	diag(sprintf("first difference at byte %d (lengths %d, %d):\n got: %s\nwant: %s",
	    $i, length $got, length $want,
	    esc(substr($got, $i > 20 ? $i - 20 : 0, 60)),
	    esc(substr($want, $i > 20 ? $i - 20 : 0, 60))));
}

sub esc { my $t = shift; $t =~ s/([^\x20-\x7e])/sprintf('\\x%02x', ord $1)/ge; $t }
