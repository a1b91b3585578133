#!/usr/bin/perl
# signals.t — SIGHUP and SIGTERM on a live mxgate (SPEC 3.1):
#  - SIGHUP with a broken config: refused, logged with FILE:LINE, the old
#    one kept, mail still flows;
#  - SIGHUP with a new route: the new domain becomes deliverable for new
#    sessions; a session open across the reload is not dropped;
#  - SIGTERM when idle: exit 0 promptly, listener closed;
#  - SIGTERM with an idle session: it gets 421 4.3.2, exit 0;
#  - SIGTERM in the middle of DATA: that message still gets its 250 and
#    reaches the customer, then the session is closed, exit 0.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use IO::Socket::INET;
use MxTest;
use MxSMTP;

my $sink = start_sink();
my $base = "route example.test 127.0.0.1:$sink->{port}\n";
my $mx = start_mxgate(config => $base);

sub deliver {
	my ($port, $to) = @_;
	my $c = smtp_connect($port);
	my $r = $c->transaction(to => $to, data => "Subject: sig\r\n\r\nx\r\n");
	$c->cmd('QUIT');
	$c->disconnect;
	return $r // 'no reply';
}

# --- SIGHUP, broken config -------------------------------------------------
$mx->rewrite_config($base . "route other.test 127.0.0.1:$sink->{port}\n" .
    "bogus_directive 1\nmax_errors many\n");
$mx->signal('HUP');
ok($mx->wait_log(qr/master\[\d+\]: reload of \S+ refused; keeping the running configuration$/),
    'SIGHUP, broken config: refusal logged') or diag $mx->log;
my $conf = $mx->conf;
ok($mx->wait_log(qr/master\[\d+\]: config error: \Q$conf\E:\d+: unknown directive 'bogus_directive'/),
    'SIGHUP, broken config: the error logged as FILE:LINE: message');
ok($mx->wait_log(qr/config error: \Q$conf\E:\d+: max_errors: /),
    'SIGHUP, broken config: every error logged');
ok($mx->alive, 'SIGHUP, broken config: still running');
like(deliver($mx->port, 'alice@example.test'), qr/^250 2\.0\.0 Ok: queued as /,
    'SIGHUP, broken config: mail still flows');
like(deliver($mx->port, 'olga@other.test'), qr/^554 5\.7\.1 /,
    'SIGHUP, broken config: the route it added is not in effect');

# --- SIGHUP, new route ---------------------------------------------------------
my $old = smtp_connect($mx->port);
ok($old->hello, 'a session opened before the reload');
$mx->rewrite_config($base . "route other.test 127.0.0.1:$sink->{port}\n");
$mx->signal('HUP');
ok($mx->wait_log(qr/master\[\d+\]: reloaded \S+.*\(2 routes\)/),
    'SIGHUP, new route: "reloaded (2 routes)" logged') or diag $mx->log;
like(deliver($mx->port, 'olga@other.test'), qr/^250 2\.0\.0 Ok: queued as /,
    'SIGHUP, new route: the new domain is deliverable');
{
	like($old->cmd('NOOP') // 'dropped', qr/^250 /,
	    'SIGHUP: the session opened before the reload was not dropped');
	like($old->transaction(data => "Subject: old\r\n\r\nx\r\n") // '',
	    qr/^250 2\.0\.0 Ok: queued as /, 'SIGHUP: and it can still send');
}
$old->cmd('QUIT');
ok(!$mx->crashes, 'SIGHUP: no process crashed') or diag $mx->crashes;

# --- SIGTERM, idle ------------------------------------------------------------
my $t0 = time;
$mx->signal('TERM');
my $st = $mx->wait_exit(5);
ok(defined $st, sprintf('SIGTERM, idle: exited (%.2f s)', time - $t0));
is($st, 0, 'SIGTERM, idle: exit status 0');
like($mx->log, qr/master\[\d+\]: stopped\n\z/, 'SIGTERM, idle: "stopped" is the last log line');
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $mx->port,
    Proto => 'tcp', Timeout => 2), 'SIGTERM: nothing listens any more');

# --- SIGTERM, idle session ------------------------------------------------------
$mx = start_mxgate(config => $base);
my $c = smtp_connect($mx->port);
$c->reply;
$c->cmd('EHLO client.sender.test');
$mx->signal('TERM');
like($c->reply // 'no reply', qr/^421 4\.3\.2 /, 'SIGTERM, idle session: 421 4.3.2');
ok($c->closed, 'SIGTERM, idle session: closed');
$st = $mx->wait_exit(5);
is($st, 0, 'SIGTERM, idle session: exit 0');

# --- SIGTERM in the middle of DATA ------------------------------------------------
$sink->clear;
$mx = start_mxgate(config => $base);
$c = smtp_connect($mx->port);
$c->reply;
$c->cmd('EHLO client.sender.test');
$c->cmd('MAIL FROM:<bob@sender.test>');
$c->cmd('RCPT TO:<alice@example.test>');
like($c->cmd('DATA') // '', qr/^354 /, 'mid-DATA: 354');
$c->send_raw("Subject: draining\r\n\r\nfirst half\r\n");
sleep 0.2;
$mx->signal('TERM');
ok($mx->wait_log(qr/terminating: no new sessions, 1 draining/),
    'mid-DATA: "terminating ... 1 draining" logged');
ok($mx->alive, 'mid-DATA: still running while the message is open');
sleep 0.3;
$c->send_raw("second half\r\n.\r\n");
like($c->reply // 'no reply', qr/^250 2\.0\.0 Ok: queued as /,
    'mid-DATA: the message still gets its 250');
my $after = $c->reply;
ok(!defined $after || $after =~ /^421 4\.3\.2 /,
    'mid-DATA: then 421 4.3.2 (or a plain close)');
ok($c->closed, 'mid-DATA: the session is closed after its message');
$st = $mx->wait_exit(5);
is($st, 0, 'mid-DATA: exit 0') or diag $mx->log;
is($sink->wait_count(1), 1, 'mid-DATA: the message reached the customer');
my ($rest) = mx_strip(sink_strip(($sink->messages)[0]));
is($rest, "Subject: draining\n\nfirst half\nsecond half\n",
    'mid-DATA: whole and unaltered');

$sink->stop;
done_testing();
