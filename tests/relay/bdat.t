#!/usr/bin/perl
# bdat.t — CHUNKING (RFC 3030) through the live relay to smtp-sink:
#  - EHLO offers CHUNKING;
#  - a message sent in BDAT chunks (cut inside a CRLF and just before a
#    line that begins with '.', pipelined in one write) arrives byte for
#    byte as the same message sent with DATA: dot lines, 8-bit octets and
#    a 998-octet line intact; each chunk is answered in order, the last
#    with our queue id;
#  - a last line without CRLF arrives with one;
#  - a chunk over the size limit ends the transaction with 552, and a
#    chunk after it is read (its bytes are not commands) and refused;
#  - the disconnect line counts the BDAT commands;
#  - toward a customer that offers CHUNKING (a private Postfix, relaying
#    to smtp-sink) the message goes in one BDAT ... LAST, in session and
#    from the queue, its transparency dots left out: it arrives byte for
#    byte as with DATA.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;
use MxPostfix;

need(['root: the relay roles drop to their own users', $> == 0]);

my $sink = start_sink();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:" .
    $sink->port . "\nmax_message_size 100000\n");

# the message as it is (not dot-stuffed): BDAT carries it so
my $msg = "Subject: chunked\r\n\r\n.leading dot\r\n.\r\n..\r\n" .
    "\xc3\xa9t\xc3\xa9 8-bit\r\n" . ('x' x 998) . "\r\nend\r\n";
(my $wire = $msg) =~ s/^\./../mg;

sub greet {
	my $c = MxSMTP::smtp_connect($mx->port);
	my $e = $c->hello;
	return ($c, $e);
}

sub arrived {
	return undef unless $sink->wait_count(1, 10) == 1;
	my ($rest) = MxSMTP::mx_strip(MxSMTP::sink_strip(($sink->messages)[0]));
	$sink->clear;
	return $rest;
}

# DATA, for reference
my ($c, $ehlo) = greet();
like($ehlo // '', qr/^250-8BITMIME\n250-DSN\n250-SMTPUTF8\n250 CHUNKING$/m, 'EHLO offers CHUNKING');
like($c->transaction(data => $wire), qr/^250 2\.0\.0 Ok: queued as /,
    'the message with DATA: relayed');
my $by_data = arrived();
is($by_data, MxSMTP::crlf_to_lf($msg), '... it arrives as sent');
$c->cmd('QUIT');

# BDAT: three chunks, the cuts inside a CRLF and before a '.' line
my $cut1 = index($msg, "\r\n.leading") + 1;		# between CR and LF
my $cut2 = index($msg, ".\r\n..") ;			# before a '.' line
my @chunk = (substr($msg, 0, $cut1), substr($msg, $cut1, $cut2 - $cut1),
    substr($msg, $cut2));
($c) = greet();
is($c->cmd('MAIL FROM:<bob@sender.test>'), '250 2.1.0 Ok', 'MAIL');
is($c->cmd('RCPT TO:<alice@example.test>'), '250 2.1.5 Ok', 'RCPT');
$c->send_raw(sprintf("BDAT %d\r\n%sBDAT %d\r\n%sBDAT %d LAST\r\n%s",
    length $chunk[0], $chunk[0], length $chunk[1], $chunk[1],
    length $chunk[2], $chunk[2]));
is($c->reply, '250 2.0.0 ' . length($chunk[0]) . ' octets received',
    'first chunk answered');
is($c->reply, '250 2.0.0 ' . length($chunk[1]) . ' octets received',
    'second chunk answered');
like($c->reply(15) // '', qr/^250 2\.0\.0 Ok: queued as [0-9A-F]+$/,
    'the LAST chunk: relayed, our queue id');
my $by_bdat = arrived();
is($by_bdat, $by_data, 'BDAT in three pipelined chunks: the customer gets '
    . 'exactly what DATA gave it');

# a last line without CRLF
is($c->cmd('MAIL FROM:<bob@sender.test>'), '250 2.1.0 Ok', 'MAIL again');
is($c->cmd('RCPT TO:<alice@example.test>'), '250 2.1.5 Ok', 'RCPT again');
my $noeol = "Subject: x\r\n\r\nno line end";
$c->send_raw("BDAT " . length($noeol) . " LAST\r\n$noeol");
like($c->reply(15) // '', qr/^250 2\.0\.0 Ok: queued as /,
    'a message whose last line has no CRLF: relayed');
is(arrived(), "Subject: x\n\nno line end\n", '... with its CRLF added');

# too big: 552 at that chunk, the next one read and refused
is($c->cmd('MAIL FROM:<bob@sender.test>'), '250 2.1.0 Ok', 'MAIL third');
is($c->cmd('RCPT TO:<alice@example.test>'), '250 2.1.5 Ok', 'RCPT third');
my $big = ("y" x 998 . "\r\n") x 101;
$c->send_raw(sprintf("BDAT %d\r\n%sBDAT 6 LAST\r\nQUIT\r\n", length $big,
    $big));
is($c->reply, '552 5.3.4 Error: message file too big',
    'a chunk over max_message_size: 552');
is($c->reply, '503 5.5.1 Error: need MAIL command',
    '... the chunk pipelined after it is read and refused');
is($c->cmd('QUIT'), '221 2.0.0 Bye', 'its "QUIT" was content; ours ends it');
$c->disconnect;
ok($mx->wait_log(qr/disconnect from .* bdat=6 /, 5),
    'the disconnect line counts the BDAT commands');
is($sink->count, 0, 'nothing more reached the customer');
ok(!$mx->crashes && $mx->alive, 'no mxgate process crashed');
$mx->stop;

# outbound: a customer offering CHUNKING gets BDAT
SKIP: {
	ok(-x '/usr/sbin/postfix', 'postfix installed (package postfix)')
	    or skip('no postfix', 9);
	my $cport = MxSMTP::free_port();
	my $pf = MxPostfix::start(port => $cport, main => <<"CF");
relay_domains = example.test
relayhost = [127.0.0.1]:@{[ $sink->port ]}
# no Message-Id, Date or From added: the message passes as it came
local_header_rewrite_clients =
CF
	ok($pf->{up}, 'the customer Postfix started') or diag $pf->{out};
	my $mx2 = start_mxgate(config => "route example.test 127.0.0.1:$cport\n");
	my $ctl = bin('mxgatectl');
	# Postfix adds its own Received: above ours
	my $through_pf = sub {
		return undef unless $sink->wait_count(1, 30) == 1;
		my $d = MxSMTP::sink_strip(($sink->messages)[0]);
		$sink->clear;
		$d =~ s/\AReceived: from [^\n]*\n(?:\t[^\n]*\n)+// or return undef;
		my ($rest) = MxSMTP::mx_strip($d);
		return $rest;
	};
	($c) = MxSMTP::smtp_connect($mx2->port);
	like($c->transaction(data => $wire), qr/^250 2\.0\.0 Ok: queued as /,
	    'to Postfix (CHUNKING): relayed in session');
	$c->cmd('QUIT');
	$c->disconnect;
	is($through_pf->(), MxSMTP::crlf_to_lf($msg), '... it arrives byte for '
	    . 'byte: no transparency dot left in, none lost');
	ok(MxSMTP::wait_until(10, sub { $pf->log =~ /disconnect from \S+ ehlo=1 mail=1 rcpt=1 bdat=1 quit=1 commands=5/ }),
	    '... Postfix saw one BDAT and no DATA') or diag $pf->log;
	# from the queue
	$pf->stop;
	($c) = MxSMTP::smtp_connect($mx2->port);
	my $r = $c->transaction(data => $wire) // '';
	like($r, qr/^250 2\.0\.0 Ok: queued as /, 'customer down: queued');
	$c->cmd('QUIT');
	$c->disconnect;
	ok($pf->restart->{up}, 'the customer Postfix is back');
	is((run($ctl, '-f', $mx2->conf, 'queue', 'flush'))[0], 0, 'queue flush');
	is($through_pf->(), MxSMTP::crlf_to_lf($msg), 'the runner\'s BDAT: '
	    . 'byte for byte too');
	ok(MxSMTP::wait_until(10, sub { (() = $pf->log =~ /ehlo=1 mail=1 rcpt=1 bdat=1 quit=1/g) >= 2 }),
	    '... Postfix saw BDAT from the runner') or diag $pf->log;
	ok(!$mx2->crashes && $mx2->alive, 'no mxgate process crashed');
	$mx2->stop;
	$pf->stop;
}
$sink->stop;
done_testing();
