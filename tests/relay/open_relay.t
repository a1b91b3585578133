#!/usr/bin/perl
# open_relay.t — mxgate relays to the route domains and to nothing else.
# Every classic open-relay address trick at RCPT is refused (554 5.7.1
# for a domain without a route, 501 5.1.3 for a path that could name a
# second hop), nothing reaches the customer, and the recipients that are
# accepted reach the customer's server as a plain local@routed-domain
# (checked in smtp-sink's X-Rcpt-Args). Case variants of a routed domain
# are the same domain. The same holds for an allowlisted client. With a
# mailboxes file, an unknown mailbox is refused with 550 5.1.1.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

my $sink = start_sink();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$sink->{port}\n");

my $DENIED = sub { qr/^554 5\.7\.1 <\Q$_[0]\E>: Relay access denied$/i };
my @refused = (
    # [ RCPT argument, expected reply ]
    [ '<carol@elsewhere.test>',		$DENIED->('carol@elsewhere.test') ],
    [ '<alice@sub.example.test>',	$DENIED->('alice@sub.example.test') ],
    [ '<alice@example.test.evil.test>',	$DENIED->('alice@example.test.evil.test') ],
    [ '<alice@evilexample.test>',	$DENIED->('alice@evilexample.test') ],
    [ '<user@[127.0.0.1]>',		$DENIED->('user@[127.0.0.1]') ],
    [ '<user@[IPv6:::1]>',		$DENIED->('user@[IPv6:::1]') ],
    [ '<user%evil.test@example.test>',	qr/^501 5\.1\.3 .*'%' routing is not accepted$/ ],
    [ '<user%evil.test%example.test@example.test>', qr/^501 5\.1\.3 .*'%'/ ],
    [ '<@a.test,@b.test:user@example.test>', qr/^501 5\.1\.3 .*source routes are not accepted$/ ],
    [ '<@example.test:user@evil.test>',	qr/^501 5\.1\.3 .*source routes/ ],
    [ '<evil.test!user@example.test>',	qr/^501 5\.1\.3 .*'!' paths are not accepted$/ ],
    [ '<user@example.test@evil.test>',	qr/^501 5\.1\.3 .*more than one '\@'/ ],
    [ '<user@evil.test@example.test>',	qr/^501 5\.1\.3 .*more than one '\@'/ ],
    [ '<"user@evil.test"@example.test>', qr/^501 5\.1\.3 .*quoted local part/ ],
    [ '<"user%evil.test"@example.test>', qr/^501 5\.1\.3 .*quoted local part/ ],
    [ '<"evil.test!user"@example.test>', qr/^501 5\.1\.3 .*quoted local part/ ],
    [ '<"user\@evil.test"@example.test>', qr/^501 5\.1\.3 .*quoted local part/ ],
    [ '<user@evil.test.>',		qr/^501 5\.1\.3 .*bad domain/ ],
    [ '<user@example.test%evil.test>',	qr/^501 5\.1\.3 .*bad domain/ ],
    [ '<user@example..test>',		qr/^501 5\.1\.3 .*bad domain/ ],
    [ '<user@-example.test>',		qr/^501 5\.1\.3 .*bad domain/ ],
    [ 'user@example.test',		qr/^501 5\.1\.3 .*bad address syntax/ ],
    [ '<user@example.test',		qr/^501 5\.1\.3 / ],
    [ '<user>',				qr/^501 5\.1\.3 .*must have a domain/ ],
    [ '<user@example.test> <user@evil.test>', qr/^555 5\.5\.4 / ],
    [ "<user\@ex\xc3\xa4mple.test>",	qr/^553 5\.6\.7 Must declare SMTPUTF8/ ],
);

my $c = smtp_connect($mx->port);
$c->reply;
$c->cmd('EHLO client.sender.test');
like($c->cmd('MAIL FROM:<bob@sender.test>') // '', qr/^250 /, 'MAIL');
my $errors = 0;
for my $t (@refused) {
	my ($arg, $re) = @$t;
	# stay under max_errors (10): start a fresh session now and then
	if (++$errors == 8) {
		$c->cmd('QUIT');
		$c = smtp_connect($mx->port);
		$c->reply;
		$c->cmd('EHLO client.sender.test');
		$c->cmd('MAIL FROM:<bob@sender.test>');
		$errors = 1;
	}
	my $r = $c->cmd("RCPT TO:$arg");
	like($r // 'no reply', $re, "RCPT TO:$arg refused");
}
like($c->cmd('RCPT TO:<carol@elsewhere.test>') // '', qr/^554 5\.7\.1 /,
    'one more unrouted recipient');
like($c->cmd('DATA') // '', qr/^554 5\.5\.1 Error: no valid recipients$/,
    'DATA: no valid recipient');
$c->cmd('QUIT');
sleep 0.3;
is($sink->count, 0, 'nothing reached the customer');

# the routed domain, in any case, is the routed domain
$c = smtp_connect($mx->port);
my @ok = ('<alice@example.test>', '<Bob@EXAMPLE.TEST>', '<carol@Example.Test>',
    '<"dave"@example.test>');
$c->reply;
$c->cmd('EHLO client.sender.test');
$c->cmd('MAIL FROM:<bob@sender.test>');
like($c->cmd("RCPT TO:$_") // '', qr/^250 2\.1\.5 /, "RCPT TO:$_ accepted")
    for @ok;
$c->cmd('DATA');
like($c->cmd("Subject: case\r\n\r\nx\r\n.") // '', qr/^250 2\.0\.0 Ok: queued as /,
    'message to the case variants queued');
$c->cmd('QUIT');
is($sink->wait_count(1), 1, 'one message at the customer');
my ($dump) = $sink->messages;
my @rcpt = $dump =~ /^X-Rcpt-Args: (.*)$/mg;
is_deeply(\@rcpt, [ '<alice@example.test>', '<Bob@example.test>',
    '<carol@example.test>', '<"dave"@example.test>' ],
    'the customer saw plain local@example.test recipients (domain lower-cased)');

$mx->stop;

# an allowlisted client (gating skipped) is no closer to a relay
$mx = start_mxgate(config => "route example.test 127.0.0.1:$sink->{port}\n" .
    "allow 127.0.0.0/8\n");
$c = smtp_connect($mx->port);
ok($c->hello, 'allowlisted client greeted');
$c->cmd('MAIL FROM:<bob@sender.test>');
like($c->cmd("RCPT TO:$_->[0]") // '', $_->[1], "allowlisted: RCPT TO:$_->[0] refused")
    for @refused[0, 4, 6, 8, 11, 13];
$c->cmd('QUIT');
$mx->stop;

# --- mailboxes --------------------------------------------------------------
my $dir = tmpdir();
write_file("$dir/mailboxes", "alice\@example.test\n\@staff.example.test\n");
$sink->clear;
$mx = start_mxgate(config => "route example.test 127.0.0.1:$sink->{port}\n" .
    "route staff.example.test 127.0.0.1:$sink->{port}\n" .
    "mailboxes $dir/mailboxes\n");
$c = smtp_connect($mx->port);
$c->reply;
$c->cmd('EHLO client.sender.test');
$c->cmd('MAIL FROM:<bob@sender.test>');
like($c->cmd('RCPT TO:<mallory@example.test>') // '',
    qr/^550 5\.1\.1 <mallory\@example\.test>: Recipient address rejected: User unknown$/,
    'mailboxes: unknown recipient 550 5.1.1');
like($c->cmd('RCPT TO:<"alice"@example.test>') // '', qr/^550 5\.1\.1 /,
    'mailboxes: a quoted form of a known local part is not a known mailbox');
like($c->cmd('RCPT TO:<alice%x@example.test>') // '', qr/^501 5\.1\.3 /,
    'mailboxes: % trick still a syntax refusal');
like($c->cmd('RCPT TO:<ALICE@Example.Test>') // '', qr/^250 2\.1\.5 /,
    'mailboxes: known recipient, any case, accepted');
like($c->cmd('RCPT TO:<anyone@staff.example.test>') // '', qr/^452 4\.5\.3 /,
    'mailboxes: @domain entry (other route: next transaction)');
$c->cmd('DATA');
like($c->cmd("Subject: mb\r\n\r\nx\r\n.") // '', qr/^250 2\.0\.0 /, 'delivered to the known one');
like($c->cmd('MAIL FROM:<bob@sender.test>') // '', qr/^250 /, 'second transaction');
like($c->cmd('RCPT TO:<anyone@staff.example.test>') // '', qr/^250 2\.1\.5 /,
    'mailboxes: @domain entry accepts any local part');
$c->cmd('QUIT');
ok($mx->wait_log(qr/reject: RCPT from unknown\[127\.0\.0\.1\]: 550 5\.1\.1 <mallory\@example\.test>/),
    'log: the 550 reject line');
$mx->stop;
$sink->stop;
done_testing();
