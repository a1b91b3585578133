#!/usr/bin/perl
# smtputf8.t — SMTPUTF8 (RFC 6531) through the live relay, with a real
# Postfix as the customer (smtputf8_enable = yes; relay domain
# example.test delivered to its discard transport, which logs each
# recipient) and smtp-sink as a customer without SMTPUTF8:
#  - EHLO offers SMTPUTF8; a UTF-8 address without it gets 553 5.6.7;
#  - with it, UTF-8 sender and recipient reach Postfix byte for byte (it
#    accepts a UTF-8 address only with SMTPUTF8 declared, and logs it as
#    received), our Received: says "with UTF8SMTP";
#  - toward a server without SMTPUTF8 nothing is sent: 553 5.6.7 for a
#    UTF-8 address, 554 5.6.7 for a declared message with ASCII addresses;
#  - a queued message keeps its UTF-8 envelope: delivered byte for byte
#    when the server offers SMTPUTF8, and failed (5.6.7, the postmaster's
#    report) rather than mangled when it does not;
#  - the mailbox list takes UTF-8 local parts.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;
use MxPostfix;

need(['root: the relay roles drop to their own users', $> == 0],
    ['postfix (package postfix)', -x '/usr/sbin/postfix']);

my $ctl = bin('mxgatectl');
my $pm = start_sink();
my $port = MxSMTP::free_port();	# the route's server: Postfix, smtp-sink
my $pf = MxPostfix::start(port => $port, main => <<"CF");
smtputf8_enable = yes
relay_domains = example.test
relay_transport = discard:delivered
CF
ok($pf->{up}, 'the customer Postfix started') or diag $pf->{out};
my $joerg = "j\xc3\xb6rg";			# jörg
my $yonghu = "\xe7\x94\xa8\xe6\x88\xb7";	# 用户
my $mbox = tmpdir() . '/mailboxes';
write_file($mbox, "alice\@example.test\n$joerg\@example.test\n" .
    "$yonghu\@example.test\n");
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$port\n" .
    "route pm.test 127.0.0.1:" . $pm->port . "\n" .
    "postmaster postmaster\@pm.test\nmailboxes $mbox\n");

sub queued_ids {
	my ($rc, $out) = run($ctl, '-f', $mx->conf, 'queue', 'list');
	return $rc == 0 ? ($out =~ /^([0-9A-F]{10,}) /mg) : ();
}

# one transaction; the replies to MAIL, RCPT and the message
sub send_utf8 {
	my (%o) = @_;
	my $c = MxSMTP::smtp_connect($mx->port);
	my $e = $c->hello // '';
	my @r = ($e);
	push @r, $c->cmd("MAIL FROM:<$o{from}>" . ($o{utf8} ? ' SMTPUTF8' : ''));
	push @r, $c->cmd("RCPT TO:<$o{to}>") if $r[-1] =~ /^250 /;
	if ($r[-1] =~ /^250 / && @r == 3) {
		push @r, $c->cmd('DATA');
		$c->send_raw("Subject: gr\xc3\xbc\xc3\x9fe\r\nFrom: $o{from}\r\n\r\n" .
		    "hall\xc3\xb6\r\n.\r\n");
		push @r, $c->reply(20);
	}
	$c->cmd('QUIT');
	$c->disconnect;
	return @r;
}

# with SMTPUTF8: Postfix gets the UTF-8 envelope
my @r = send_utf8(from => "$yonghu\@sender.test", to => "$joerg\@example.test",
    utf8 => 1);
like($r[0], qr/^250-SMTPUTF8$/m, 'EHLO offers SMTPUTF8');
is($r[1], '250 2.1.0 Ok', 'MAIL with a UTF-8 sender and SMTPUTF8');
is($r[2], '250 2.1.5 Ok', 'RCPT with a UTF-8 recipient in the mailbox '
    . 'list: Postfix (smtputf8_enable) accepted it');
like($r[4] // '', qr/^250 2\.0\.0 Ok: queued as [0-9A-F]+$/,
    'the message: Postfix took it in session');
ok(MxSMTP::wait_until(10, sub { $pf->log =~ /: to=<\Q$joerg\E\@example\.test>, .*status=sent/ }),
    'Postfix delivered it to the UTF-8 recipient, byte for byte')
    or diag $pf->log;
like($pf->log, qr/: from=<\Q$yonghu\E\@sender\.test>/,
    '... from the UTF-8 sender, byte for byte');

# without SMTPUTF8: a UTF-8 address is refused
@r = send_utf8(from => "$joerg\@sender.test", to => 'alice@example.test');
is($r[1], '553 5.6.7 Must declare SMTPUTF8 to send a UTF-8 address',
    'UTF-8 sender without SMTPUTF8: 553 5.6.7');
@r = send_utf8(from => 'bob@sender.test', to => "$joerg\@example.test");
is($r[2], '553 5.6.7 Must declare SMTPUTF8 to send a UTF-8 address',
    'UTF-8 recipient without SMTPUTF8: 553 5.6.7');

# a customer without SMTPUTF8 (smtp-sink): nothing is sent
$pf->stop;
my $plain = start_sink(port => $port);
@r = send_utf8(from => 'bob@sender.test', to => "$joerg\@example.test",
    utf8 => 1);
is($r[2], '553 5.6.7 Error: the customer\'s server does not support SMTPUTF8',
    'to a server without SMTPUTF8: a UTF-8 recipient gets 553 5.6.7');
@r = send_utf8(from => 'bob@sender.test', to => 'alice@example.test',
    utf8 => 1);
is($r[2], '554 5.6.7 Error: the customer\'s server does not support SMTPUTF8',
    '... a declared message with ASCII addresses 554 5.6.7');
is($plain->count, 0, 'the server without SMTPUTF8 got nothing');
$plain->stop;

# queued: the UTF-8 envelope is kept, and delivered byte for byte
@r = send_utf8(from => "$joerg\@sender.test", to => "$yonghu\@example.test",
    utf8 => 1);
like($r[4] // '', qr/^250 2\.0\.0 Ok: queued as ([0-9A-F]+)$/,
    'customer down: the UTF-8 message is queued');
my ($id) = ($r[4] // '') =~ /queued as ([0-9A-F]+)/;
is_deeply([ queued_ids() ], [ $id // 'none' ], 'it is in the queue');
ok($pf->restart->{up}, 'the customer Postfix is back');
is((run($ctl, '-f', $mx->conf, 'queue', 'flush'))[0], 0, 'queue flush');
ok(MxSMTP::wait_until(30, sub { $pf->log =~ /: to=<\Q$yonghu\E\@example\.test>, .*status=sent/ }),
    'the runner delivered it to Postfix, the UTF-8 recipient intact')
    or diag $pf->log;
ok(MxSMTP::wait_until(10, sub { !queued_ids() }), 'the queue is empty');

# queued, and the server comes back without SMTPUTF8: failed, reported
$pf->stop;
@r = send_utf8(from => "$joerg\@sender.test", to => "$yonghu\@example.test",
    utf8 => 1);
like($r[4] // '', qr/^250 2\.0\.0 Ok: queued as /, 'queued again');
$plain = start_sink(port => $port);
is((run($ctl, '-f', $mx->conf, 'queue', 'flush'))[0], 0, 'queue flush');
ok($mx->wait_log(qr/to=<\Q$yonghu\E\@example\.test>.*dsn=5\.6\.7, status=bounced/, 30),
    'a server without SMTPUTF8: the recipient fails with 5.6.7')
    or diag $mx->log;
is($pm->wait_count(1, 30), 1, 'the postmaster gets the report');
my $report = ($pm->messages)[0] // '';
like($report, qr/^Status: 5\.6\.7$/m, '... status 5.6.7');
like($report, qr/^Final-Recipient: utf-8; \\x\{7528\}\\x\{6237\}\@example\.test$/m,
    '... the UTF-8 recipient as RFC 6533 utf-8-addr-xtext');
like($report, qr/^\tby mx\.example\.test \(mxgate\) with UTF8SMTP id /m,
    '... and the attached headers show our Received: "with UTF8SMTP"');
is($plain->count, 0, 'nothing was sent to that server, nothing mangled');
ok(MxSMTP::wait_until(10, sub { !queued_ids() }), 'the queue is empty');
ok(!$mx->crashes && $mx->alive, 'no mxgate process crashed');
$mx->stop;
$plain->stop;
$pm->stop;
$pf->stop;
done_testing();
