#!/usr/bin/perl
# pflogsumm.t — the log lines are Postfix's, so the reports a postmaster
# already runs count mxgate's traffic right. A scripted day through the
# real relay, smtp-sink as the customer's server:
#   1 message relayed in session                          -> delivered
#   1 recipient refused (not in the mailbox list)          -> rejected
#   1 message queued (customer down), a retry deferred, then delivered
#   1 recipient the customer refuses in session (5xx)     -> rejected
#   1 message queued, then refused by the customer at retry (5xx)
#     -> bounced, its report to the postmaster bounced too
#   1 client blocked by the gate at connect               -> rejected
# and the real pflogsumm run on the log must say exactly: 3 received,
# 2 delivered, 2 deferred (3 deferrals), 2 bounced, 3 rejected, and
# "connect to HOST[IP]:PORT" deferral detail in Postfix's shape.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use MxTest;
use MxSMTP;

my $pflogsumm = '/usr/sbin/pflogsumm';
need(['root: the relay roles drop to their own users', $> == 0],
    ["pflogsumm (deps/packages) at $pflogsumm", -x $pflogsumm]);

my $ctl = bin('mxgatectl');
my $sport = MxSMTP::free_port();
my $dir = tmpdir();
write_file("$dir/mailboxes", "alice\@example.test\n");
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$sport\n"
    . "postmaster alice\@example.test\nmailboxes $dir/mailboxes\n"
    . "block 127.0.0.66/32\n");

sub queued {
	my ($rc, $out) = run($ctl, '-f', $mx->conf, 'queue', 'list');
	return $rc == 0 ? scalar(() = $out =~ /^[0-9A-F]{18} /mg) : -1;
}
sub flush { my ($rc) = run($ctl, '-f', $mx->conf, 'queue', 'flush'); $rc }
sub send_one {
	my (%o) = @_;
	my $c = smtp_connect($mx->port);
	my $r = $c->transaction(%o) // '';
	$c->disconnect;
	return $r;
}

# 1 in session
my $sink = start_sink(port => $sport);
like(send_one(data => "Message-ID: <day1\@sender.test>\r\nSubject: 1\r\n\r\nb\r\n"),
    qr/^250 /, '1: relayed in session');
# 2 unknown recipient
like(send_one(to => 'nobody@example.test', data => "Subject: 2\r\n\r\nb\r\n"),
    qr/^550 5\.1\.1 /, '2: unknown recipient refused');
$sink->stop;
# 3 queued, deferred once, delivered
my $r3 = send_one(data => "Message-ID: <day3\@sender.test>\r\nSubject: 3\r\n\r\nb\r\n");
like($r3, qr/^250 2\.0\.0 Ok: queued as ([0-9A-F]{18})/, '3: customer down: queued');
my ($id3) = $r3 =~ /queued as ([0-9A-F]+)/;
$id3 //= 'none';
is(flush(), 0, '3: flush while the customer is still down');
my $shape = qr/\Q$id3\E: to=<alice\@example\.test>, relay=none, delay=[\d.]+, dsn=4\.4\.1, status=deferred \(connect to 127\.0\.0\.1\[127\.0\.0\.1\]:$sport: Connection refused\)/;
ok(MxSMTP::wait_until(10, sub { (() = $mx->log =~ /$shape/g) == 2 }),
    '3: in session and at the retry: deferred, in Postfix\'s "connect to '
    . 'host[addr]:port" shape') or diag $mx->log;
$sink = start_sink(port => $sport);
is(flush(), 0, '3: flush with the customer back');
ok(MxSMTP::wait_until(15, sub { queued() == 0 }), '3: delivered from the queue');
$sink->stop;
# 4 the customer refuses the recipient in session
my $bad = start_sink(port => $sport, args => [qw(-f RCPT)]);
like(send_one(data => "Subject: 4\r\n\r\nb\r\n"), qr/^5\d\d /,
    '4: the customer\'s 5xx passed through');
$bad->stop;
# 5 queued, then refused at retry: bounced, the report bounced too
my $r5 = send_one(data => "Subject: 5\r\n\r\nb\r\n");
like($r5, qr/^250 2\.0\.0 Ok: queued as /, '5: customer down: queued');
$bad = start_sink(port => $sport, args => [qw(-f RCPT)]);
is(flush(), 0, '5: flush while the customer refuses');
ok(MxSMTP::wait_until(15, sub { queued() == 0 && $mx->log =~ /to=<alice\@example\.test>.*status=bounced(?s:.*)to=<alice\@example\.test>.*status=bounced/ }),
    '5: bounced, and the report to the postmaster bounced as well')
    or diag $mx->log;
$bad->stop;
# 6 a blocked client
my $g = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mx->port,
    LocalAddr => '127.0.0.66', Timeout => 3);
my $banner = $g ? <$g> // '' : '';
like($banner, qr/^554 5\.7\.1 /, '6: a blocked client gets 554');
close $g if $g;
ok($mx->wait_log(qr/NOQUEUE: reject: CONNECT from unknown\[127\.0\.0\.66\]: 554 5\.7\.1 /, 5),
    '6: and a Postfix reject line');

my $log = "$dir/mail.log";
write_file($log, $mx->log);
my ($rc, $out) = run($pflogsumm, '--syslog_name=mxgate', $log);
is($rc, 0, 'pflogsumm ran');
my %n;
$n{$2} = $1 while $out =~ /^\s+(\d+)\s+(received|delivered|deferred|bounced|rejected)\b/mg;
my ($deferrals) = $out =~ /deferred\s+\((\d+)\s+deferrals\)/;
is($n{received}, 3, 'pflogsumm: 3 received (each message once, queued or not)');
is($n{delivered}, 2, 'pflogsumm: 2 delivered (in session, and from the queue)');
is($n{deferred}, 2, 'pflogsumm: 2 deferred messages');
is($deferrals, 3, 'pflogsumm: 3 deferrals (two for message 3, one for 5)');
is($n{bounced}, 2, 'pflogsumm: 2 bounced (message 5 and its report)');
is($n{rejected}, 3, 'pflogsumm: 3 rejected (unknown recipient, the '
    . 'customer\'s refusal, the blocked client)');
like($out, qr/^\s+\d+\s+127\.0\.0\.1\[127\.0\.0\.1\]:$sport: Connection refused/m,
    'deferral detail grouped by host[addr]:port, as for Postfix')
    or diag $out;
like($mx->log, qr/filter: PASS client=unknown\[127\.0\.0\.1\] gate=\S+(?: \S+)? dnsbl_score=0 from=<bob\@sender\.test> to=<alice\@example\.test> message-id=<day1\@sender\.test> size=\d+ /,
    'the verdict line carries client, gate verdict, score, sender, '
    . 'recipients, Message-ID and size');
my $text = $mx->log;
my %kinds;
$kinds{$1}++ while $text =~ /mxgate\/(\w+)\[\d+\]: \Q$id3\E: /g;
ok($kinds{smtpd} && $kinds{cleanup} && $kinds{qmgr} && $kinds{smtp},
    "message 3 has one queue id from client= to removed (" .
    join(' ', map { "$_=$kinds{$_}" } sort keys %kinds) . ')');
ok(!$mx->crashes && $mx->alive, 'no mxgate process crashed');
$mx->stop;
done_testing();
