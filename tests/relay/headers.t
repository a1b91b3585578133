#!/usr/bin/perl
# headers.t — the trace headers mxgate prepends, as a downstream parser
# reads them, through the live relay to smtp-sink:
#  - a client's HELO name carrying '(', ')', '\', ';', '"', '<', '@' or
#    blanks never opens a comment or ends the "from" clause of our
#    Received: — after RFC 5322 comments are removed (nesting and
#    quoted-pairs honoured, by the strict tokenizer below), the header
#    still has its "by" clause, its "with" and "id", and the date after ';';
#  - a message that does not begin with a header field (a header-less
#    text, or a first line that is indented and would continue our last
#    header) gets the empty line between our headers and itself; a
#    message that begins with a field, or with the empty line, gets none;
#    the message itself arrives byte for byte;
#  - the sender's own X-Mxgate-* fields are renamed X-Mxgate-Original-*,
#    so the customer can trust the X-Mxgate-* fields it sees.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

need(['root: the relay roles drop to their own users', $> == 0]);

my $sink = start_sink();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:" . $sink->port . "\n");

sub relay_one {
	my (%o) = @_;
	$sink->clear;
	my $c = MxSMTP::smtp_connect($mx->port);
	$c->reply;
	my $r = $c->cmd('EHLO ' . ($o{helo} // 'client.sender.test'));
	return "EHLO: $r" unless $r =~ /^250 /m;
	$c->{greeted} = 1;
	$r = $c->transaction(data => $o{data});
	eval { $c->cmd('QUIT'); $c->disconnect };
	return "relay: $r" unless $r =~ /^250 /;
	return "sink: nothing" unless $sink->wait_count(1, 10) == 1;
	return ($sink->messages)[0];
}

# RFC 5322 3.2.2: removes comments (nested, with quoted-pairs); undef when
# they do not balance.
sub strip_comments {
	my ($s) = @_;
	my ($out, $depth) = ('', 0);
	my @c = split //, $s;
	for (my $i = 0; $i < @c; $i++) {
		my $ch = $c[$i];
		if ($ch eq '\\' && $depth > 0) { $i++; next }
		if ($ch eq '(') { $depth++; next }
		if ($ch eq ')') { return undef if --$depth < 0; next }
		$out .= $ch if $depth == 0;
	}
	return $depth == 0 ? $out : undef;
}

sub received_of {
	my ($dump) = @_;
	my $d = MxSMTP::sink_strip($dump) // return undef;
	my ($rest, $ours) = MxSMTP::mx_strip($d);
	return undef unless defined $ours;
	my ($rcv) = $ours =~ /\A(Received: [^\n]*\n(?:\t[^\n]*\n)*)/;
	$rcv =~ s/\n\t/ /g;	# unfold
	$rcv =~ s/\n\z//;
	return $rcv;
}

for my $helo ('unbalanced(.example', 'close).example', 'back\\slash.example',
    'semi;colon.example', '"quoted".example', 'x<y>@z.example',
    '((deep)).example') {
	my $m = relay_one(helo => $helo,
	    data => "Subject: helo test\r\n\r\nbody\r\n");
	my $rcv = received_of($m);
	ok(defined $rcv, "HELO $helo: relayed with our Received:") or do { diag $m; next };
	my $bare = strip_comments($rcv);
	ok(defined $bare, "HELO $helo: the comments of Received: balance") or do { diag $rcv; next };
	like($bare, qr/^Received: from \S+\s+by mx\.example\.test\s+with E?SMTPS? id [0-9A-F]+\s*(for <[^>]+>)?;\s+\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d \+0000\s*$/,
	    "HELO $helo: from, by, with, id and the date all survive a parser")
	    or diag "header: $rcv\nwithout comments: $bare";
}

# header-less and indented first lines
my @cases = (
    [ 'indented first line', " indented first line\r\nsecond line\r\n", 1 ],
    [ 'header-less text', "just text, no header\r\nmore\r\n", 1 ],
    [ 'mbox From_ line', "From someone Mon Jan  1 00:00:00 2024\r\nbody\r\n", 1 ],
    [ 'a header field', "Subject: normal\r\n\r\nbody\r\n", 0 ],
    [ 'the empty line first', "\r\nbody only\r\n", 0 ],
    [ 'a stuffed field name', "..dotted: field\r\n\r\nbody\r\n", 0 ],
    [ 'obsolete blanks before the colon', "Subject \t: obs\r\n\r\nbody\r\n", 0 ],
    [ 'a field name with a blank inside', "not a: field\r\n\r\nbody\r\n", 1 ],
    # what is not the header section is not touched: X-Mxgate-* lines in
    # a header-less message, or after the line that ends a malformed
    # header section (the body to any parser), are not renamed
    [ 'X-Mxgate-* in a header-less message', " indented\r\nX-Mxgate-Gate: text\r\n", 1 ],
    [ 'X-Mxgate-* after a non-field line', "Subject: s\r\nno field here\r\nX-Mxgate-Gate: text\r\n", 0 ],
);
for my $case (@cases) {
	my ($name, $data, $sep) = @$case;
	my $m = relay_one(data => $data);
	my $d = MxSMTP::sink_strip($m);
	my ($rest) = MxSMTP::mx_strip($d);
	ok(defined $rest, "$name: relayed with our headers") or do { diag $m; next };
	my $want = MxSMTP::dot_unstuff(MxSMTP::crlf_to_lf($data));
	if ($sep) {
		is($rest, "\n$want", "$name: an empty line after our headers, then the message byte for byte");
	} else {
		is($rest, $want, "$name: no empty line added, the message byte for byte");
	}
}

# our own headers cannot be forged: the sender's X-Mxgate-* fields are
# renamed X-Mxgate-Original-*, values, other fields and the body untouched
{
	my $data = "X-Mxgate-Gate: PASS; client=forged\r\n" .
	    "x-mxgate-flow: in-session; id=FAKE\r\n\tcontinued\r\n" .
	    "X-Mxgate-Original-Gate: kept as it is\r\n" .
	    "Subject: forged trace\r\n\r\n" .
	    "X-Mxgate-Gate: a body line, not a header\r\n";
	my $m = relay_one(data => $data);
	# ours: Received: (folded), X-Mxgate-Flow:, X-Mxgate-Gate:, then the
	# message (mx_strip would take the renamed fields for ours too)
	my $d = MxSMTP::sink_strip($m) // '';
	my ($ours, $rest) = $d =~ /\A(Received: from [^\n]*\n(?:\t[^\n]*\n)+X-Mxgate-Flow: [^\n]*\nX-Mxgate-Gate: [^\n]*\n)(.*)\z/s;
	ok(defined $rest, 'forged X-Mxgate-* headers: relayed') or diag $m;
	is($rest // '', "X-Mxgate-Original-Gate: PASS; client=forged\n" .
	    "X-Mxgate-Original-flow: in-session; id=FAKE\n\tcontinued\n" .
	    "X-Mxgate-Original-Gate: kept as it is\n" .
	    "Subject: forged trace\n\n" .
	    "X-Mxgate-Gate: a body line, not a header\n",
	    'the sender\'s X-Mxgate-* fields renamed X-Mxgate-Original-*, nothing else changed');
	my ($hdr) = $d =~ /\A(.*?\n)\n/s;
	my @trace = ($hdr // '') =~ /^(X-Mxgate-[A-Za-z]+):/mg;
	is_deeply(\@trace, [ 'X-Mxgate-Flow', 'X-Mxgate-Gate' ],
	    'the only X-Mxgate-* fields left in the header section are ours');
	ok($mx->wait_log(qr/cleanup\[\d+\]: [0-9A-F]+: 2 X-Mxgate-\* header\(s\) from the sender renamed/, 3),
	    'the log says so');
}

# the Postfix-style `cleanup: QUEUEID: message-id=<...>` line, so a
# message can be found by the id its sender and recipients see
for my $case ([ 'plain', "Message-ID: <abc.123\@sender.test>\r\n", '<abc.123@sender.test>' ],
    [ 'folded, lower case', "message-id:\r\n\t<folded.1\@sender.test>\r\n", '<folded.1@sender.test>' ]) {
	my ($name, $hdr, $want) = @$case;
	my $m = relay_one(data => "Subject: id\r\n$hdr\r\nbody\r\n");
	ok($mx->wait_log(qr/cleanup\[\d+\]: [0-9A-F]+: message-id=\Q$want\E$/, 3),
	    "message-id line ($name): $want");
}
{
	my $before = () = $mx->log =~ /cleanup\[\d+\]: \S+: message-id=/g;
	relay_one(data => "Subject: no id\r\n\r\nbody\r\n");
	sleep 0.3;
	my $after = () = $mx->log =~ /cleanup\[\d+\]: \S+: message-id=/g;
	is($after, $before, 'no Message-ID: no message-id line');
}

$mx->stop;
done_testing();
