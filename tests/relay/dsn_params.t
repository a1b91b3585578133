#!/usr/bin/perl
# dsn_params.t — DSN parameters (RFC 3461) through the live relay, as
# smtp-sink records them (X-Mail-Args, X-Rcpt-Args):
#  - in session, RET/ENVID on MAIL and NOTIFY/ORCPT on each RCPT reach a
#    customer server that offers DSN, in canonical form; a server that
#    does not (smtp-sink -e: no ESMTP) gets none, and the mail still goes;
#  - a message queued during an outage keeps them (sealed in the queue,
#    handed to the runner) and the runner passes them on when it delivers;
#  - a queued message the customer refuses for good gets the postmaster's
#    report with Original-Envelope-Id and Original-Recipient (RFC 3464);
#  - a real Postfix as the customer honours what it was passed: NOTIFY=
#    SUCCESS makes it send the sender a success notice (its bounce daemon
#    logs "sender delivery status notification"), NOTIFY=NEVER does not.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;
use MxPostfix;

need(['root: the relay roles drop to their own users', $> == 0]);

my $ctl = bin('mxgatectl');
my $port = MxSMTP::free_port();
my $pm = start_sink();
my $pf = MxPostfix::start(main => <<"CF");
relay_domains = pf.test
relay_transport = discard:delivered
CF
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$port\n" .
    "route pm.test 127.0.0.1:" . $pm->port . "\n" .
    "route pf.test 127.0.0.1:" . $pf->port . "\n" .
    "postmaster postmaster\@pm.test\n");

# one transaction with DSN parameters; the final reply
sub send_dsn {
	my ($c) = @_;
	$c->hello // return 'no EHLO';
	my $r = $c->cmd('MAIL FROM:<bob@sender.test> RET=hdrs ENVID=QQ+2B314');
	return "MAIL: $r" unless $r =~ /^250 /;
	$r = $c->cmd('RCPT TO:<alice@example.test> NOTIFY=failure,success ' .
	    'ORCPT=rfc822;alice+2Bold@example.test');
	return "RCPT 1: $r" unless $r =~ /^250 /;
	$r = $c->cmd('RCPT TO:<carol@example.test>');
	return "RCPT 2: $r" unless $r =~ /^250 /;
	$r = $c->cmd('DATA');
	return "DATA: $r" unless $r =~ /^354 /;
	$c->send_raw("Subject: dsn\r\n\r\nbody\r\n.\r\n");
	return $c->reply(15);
}

sub args_of {
	my ($dump) = @_;
	my ($mail) = ($dump // '') =~ /^X-Mail-Args: (.*)$/m;
	my @rcpt = ($dump // '') =~ /^X-Rcpt-Args: (.*)$/mg;
	return ($mail // '', @rcpt);
}

sub queued_ids {
	my ($rc, $out) = run($ctl, '-f', $mx->conf, 'queue', 'list');
	return $rc == 0 ? ($out =~ /^([0-9A-F]{10,}) /mg) : ();
}

# in session, to a server offering DSN
my $sink = start_sink(port => $port);
my $c = smtp_connect($mx->port);
like(send_dsn($c), qr/^250 2\.0\.0 Ok: queued as /, 'in session: relayed');
$c->disconnect;
is($sink->wait_count(1, 10), 1, '... the customer has it');
my ($mail, @rcpt) = args_of(($sink->messages)[0]);
is($mail, '<bob@sender.test> RET=HDRS ENVID=QQ+2B314',
    'MAIL: RET and ENVID passed on, canonical');
is_deeply(\@rcpt, [ '<alice@example.test> NOTIFY=SUCCESS,FAILURE ' .
    'ORCPT=rfc822;alice+2Bold@example.test', '<carol@example.test>' ],
    'RCPT: NOTIFY and ORCPT passed on with their recipient only');
$sink->stop;

# in session, to a server without ESMTP: no parameters, still relayed
$sink = start_sink(port => $port, args => ['-e']);
$c = smtp_connect($mx->port);
like(send_dsn($c), qr/^250 2\.0\.0 Ok: queued as /,
    'to a server without DSN: relayed');
$c->disconnect;
is($sink->wait_count(1, 10), 1, '... the customer has it');
($mail, @rcpt) = args_of(($sink->messages)[0]);
is($mail, '<bob@sender.test>', 'MAIL: no DSN parameters for it');
is_deeply(\@rcpt, [ '<alice@example.test>', '<carol@example.test>' ],
    'RCPT: none either');
$sink->stop;

# an outage: queued with its parameters, delivered with them
$c = smtp_connect($mx->port);
my $r = send_dsn($c);
like($r, qr/^250 2\.0\.0 Ok: queued as ([0-9A-F]+)/, 'customer down: queued');
my ($id) = $r =~ /queued as ([0-9A-F]+)/;
$c->disconnect;
is_deeply([ queued_ids() ], [ $id // 'none' ], 'it is in the queue');
$sink = start_sink(port => $port);
is((run($ctl, '-f', $mx->conf, 'queue', 'flush'))[0], 0, 'queue flush');
is($sink->wait_count(1, 30), 1, 'the runner delivers it');
($mail, @rcpt) = args_of(($sink->messages)[0]);
is($mail, '<bob@sender.test> RET=HDRS ENVID=QQ+2B314',
    'MAIL from the queue: RET and ENVID kept');
is_deeply(\@rcpt, [ '<alice@example.test> NOTIFY=SUCCESS,FAILURE ' .
    'ORCPT=rfc822;alice+2Bold@example.test', '<carol@example.test>' ],
    'RCPT from the queue: NOTIFY and ORCPT kept');
ok(MxSMTP::wait_until(10, sub { !queued_ids() }), 'the queue is empty');
$sink->stop;

# refused for good from the queue: the postmaster's report names them
$c = smtp_connect($mx->port);
like(send_dsn($c), qr/^250 2\.0\.0 Ok: queued as /, 'customer down again: '
    . 'queued');
$c->disconnect;
$sink = start_sink(port => $port, args => [qw(-f RCPT)]);
is((run($ctl, '-f', $mx->conf, 'queue', 'flush'))[0], 0, 'queue flush');
is($pm->wait_count(1, 30), 1, 'the customer refuses every recipient: a '
    . 'report reaches the postmaster');
my $report = ($pm->messages)[0] // '';
like($report, qr/^Original-Envelope-Id: QQ\+2B314\nReporting-MTA: /m,
    'the report: Original-Envelope-Id from ENVID');
like($report, qr/^Original-Recipient:\ rfc822;alice\+2Bold\@example\.test\n
    Final-Recipient:\ rfc822;\ alice\@example\.test$/mx,
    '... Original-Recipient from ORCPT, for that recipient');
is(scalar(() = $report =~ /^Original-Recipient:/mg), 1,
    '... and for no other');
# the customer is a real Postfix: it honours NOTIFY
ok($pf->{up}, 'a private Postfix as a customer') or diag $pf->{out};
for my $notify ('SUCCESS', 'NEVER') {
	my $c = smtp_connect($mx->port);
	$c->hello;
	$c->cmd('MAIL FROM:<bob@sender.test> ENVID=' . lc($notify));
	my $r = $c->cmd("RCPT TO:<dsn-\L$notify\E\@pf.test> NOTIFY=$notify");
	$c->cmd('DATA');
	$c->send_raw("Subject: dsn $notify\r\n\r\nbody\r\n.\r\n");
	like($c->reply(15) // '', qr/^250 2\.0\.0 Ok: queued as /,
	    "NOTIFY=$notify to Postfix: relayed in session");
	$c->disconnect;
}
ok(MxSMTP::wait_until(20, sub { $pf->log =~ /to=<dsn-success\@pf\.test>.*status=sent/s &&
    $pf->log =~ /sender delivery status notification/ }),
    'Postfix sent the sender a success notice for NOTIFY=SUCCESS') or diag $pf->log;
my @notices = $pf->log =~ /sender delivery status notification/g;
is(scalar @notices, 1, '... and none for NOTIFY=NEVER');
$pf->stop;
ok(!$mx->crashes && $mx->alive, 'no mxgate process crashed');
$mx->stop;
$sink->stop;
$pm->stop;
done_testing();
