#!/usr/bin/perl
# smuggling.t — SMTP smuggling cannot cross mxgate. For every non-standard
# end-of-data sequence (<LF>.<LF>, <LF>.<CR><LF>, <CR>.<CR>, <CR><LF>.<LF>,
# <CR>.<CR><LF>, and NUL variants) sent in DATA and followed by a smuggled
# "MAIL FROM / RCPT TO / DATA" transaction, mxgate answers 5xx (a bare CR
# or LF: 521 and close; a NUL: 554 at the real end) and the customer's
# smtp-sink receives nothing from that session. A clean message in a new
# session then arrives as exactly one message, unaltered. Each ending is
# sent both in one write and one byte per write.
use strict;
use warnings;
use Test::More;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(sleep);
use MxTest;
use MxSMTP;

my $sink = start_sink();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$sink->{port}\n");

my $smuggled = "MAIL FROM:<evil\@evil.test>\r\n" .
    "RCPT TO:<victim\@example.test>\r\nDATA\r\n" .
    "From: ceo\@example.test\r\nSubject: smuggled\r\n\r\npay now\r\n";

# [ name, ending, expected reply, closes? ]
my $BARE_LF = qr/^521 5\.5\.2 mx\.example\.test Error: bare <LF> received$/;
my $BARE_CR = qr/^521 5\.5\.2 mx\.example\.test Error: bare <CR> received$/;
my $BARE = qr/^521 5\.5\.2 mx\.example\.test Error: bare <(?:CR|LF)> received$/;
my $NUL = qr/^554 5\.6\.0 Error: NUL character in message$/;
my @endings = (
    [ '<LF>.<LF>',		"\n.\n",	$BARE_LF, 1 ],
    [ '<LF>.<CR><LF>',		"\n.\r\n",	$BARE_LF, 1 ],
    [ '<CR>.<CR>',		"\r.\r",	$BARE_CR, 1 ],
    [ '<CR><LF>.<LF>',		"\r\n.\n",	$BARE_LF, 1 ],
    [ '<CR>.<CR><LF>',		"\r.\r\n",	$BARE_CR, 1 ],
    [ '<CR><LF>.<CR>',		"\r\n.\r",	$BARE_CR, 1 ],
    [ '<CR><LF>.<NUL><CR><LF>',	"\r\n.\0\r\n",	$NUL, 0 ],
    [ '<CR><LF><NUL>.<CR><LF>',	"\r\n\0.\r\n",	$NUL, 0 ],
    [ '<CR><LF>.<NUL><LF>',	"\r\n.\0\n",	$BARE_LF, 1 ],
    [ '<NUL><LF>.<LF>',		"\0\n.\n",	$BARE_LF, 1 ],
    [ '<CR><NUL><LF>.<CR><LF>',	"\r\0\n.\r\n",	$BARE, 1 ],
);

my $clean = "From: bob\@sender.test\r\nSubject: clean\r\n\r\n" .
    "MAIL FROM:<looks\@like.a.command>\r\n..\r\n.\tnot the end\r\n" .
    "end\r\n";

for my $e (@endings) {
	my ($name, $ending, $reply_re, $closes) = @$e;
	for my $mode ('one write', 'byte by byte') {
		$sink->clear;
		my $c = smtp_connect($mx->port);
		setsockopt($c->{sock}, IPPROTO_TCP, TCP_NODELAY, 1);
		$c->reply;
		$c->cmd('EHLO attacker.test');
		$c->cmd('MAIL FROM:<bob@sender.test>');
		$c->cmd('RCPT TO:<alice@example.test>');
		my $r = $c->cmd('DATA');
		like($r // '', qr/^354 /, "$name, $mode: 354");
		my $attack = "Subject: legit\r\n\r\nhello" . $ending .
		    $smuggled . "\r\n.\r\n";
		if ($mode eq 'one write') {
			$c->send_raw($attack);
		} else {
			$c->send_raw($_) or last for split //, $attack;
		}
		$r = $c->reply;
		like($r // 'no reply', $reply_re, "$name, $mode: refused with " .
		    ($r // 'no reply'));
		if ($closes) {
			ok($c->closed, "$name, $mode: connection closed");
		} else {
			my $q = $c->cmd('QUIT');
			like($q // '', qr/^221 /,
			    "$name, $mode: no smuggled command was executed");
		}
		$c->disconnect;
		sleep 0.2;
		is($sink->count, 0, "$name, $mode: nothing reached the sink");

		$c = smtp_connect($mx->port);
		$r = $c->transaction(data => $clean);
		like($r // '', qr/^250 2\.0\.0 Ok: queued as /,
		    "$name, $mode: a clean message in a new session is accepted");
		$c->cmd('QUIT');
		$c->disconnect;
		$sink->wait_count(1);
		sleep 0.1;
		my @m = $sink->messages;
		is(scalar @m, 1, "$name, $mode: exactly one message at the sink");
		my ($rest) = mx_strip(sink_strip($m[0]));
		is($rest, dot_unstuff(crlf_to_lf($clean)),
		    "$name, $mode: and it is unaltered");
	}
}

my @log = $mx->log_lines;
ok(!(grep { /evil\@evil\.test|victim\@example\.test/ } @log),
    'the smuggled MAIL FROM / RCPT TO never reached the command parser');
is(scalar(grep { /status=sent/ } @log), 2 * @endings,
    'one status=sent per clean message, none for the attacks');

$mx->stop;
$sink->stop;
done_testing();
