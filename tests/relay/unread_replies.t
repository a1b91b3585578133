#!/usr/bin/perl
# unread_replies.t — a client that pipelines commands and never reads the
# replies cannot hold its session: once the kernel's buffers and the
# session's reply buffer are full, mxgate stops reading it; command_timeout
# later it queues 421, and when that is not read within command_timeout
# either, the session is closed without it (logged). Loopback only,
# bounded in bytes and time.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Socket qw(SOL_SOCKET SO_RCVBUF pack_sockaddr_in inet_aton);
use Time::HiRes qw(time sleep);
use MxTest;
use MxSMTP;

need(['root: the relay roles drop to their own users', $> == 0]);

my $sink = start_sink();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:" . $sink->port
    . "\ncommand_timeout 2s\nsession_timeout 60s\n");

# a small receive buffer, set before connect (the window follows it): the
# replies fill it at once, so the 421 cannot leave either, whatever the
# machine's buffer autotuning would have allowed
my $s = IO::Socket::INET->new(Proto => 'tcp') or die "socket: $!";
setsockopt($s, SOL_SOCKET, SO_RCVBUF, 4096) or die "SO_RCVBUF: $!";
$s->connect(pack_sockaddr_in($mx->port, inet_aton("127.0.0.1")))
    or die "connect: $!";
$s->blocking(0);
# EHLO is answered with about 150 octets and counts toward no limit: 4000
# per write, for 4 s, until every buffer between us is full
my $batch = "EHLO client.sender.test\r\n" x 4000;
my ($sent, $blocked, $t0) = (0, 0, time);
# mxgate may close the session (two command_timeouts) before the 4 s
# are over: a write then fails with EPIPE, which must not kill the test
local $SIG{PIPE} = 'IGNORE';
while (time - $t0 < 4) {
	my $n = syswrite($s, $batch);
	if ($n) { $sent += $n; $blocked = 0; next }
	last if $!{EPIPE} || $!{ECONNRESET};	# closed by mxgate
	$blocked++;
	sleep 0.01;
}
cmp_ok($blocked, '>', 50, "the client wrote $sent bytes, read nothing, and "
    . 'could write no more (mxgate stopped reading it)');
my $line = $mx->wait_log(qr/disconnect from unknown\[127\.0\.0\.1\] .*reason=timeout$/, 10);
ok($line, 'the session is closed') or diag $mx->log;
cmp_ok(time - $t0, '<', 14, sprintf('... within the two command_timeouts '
    . '(%.1f s after the first write)', time - $t0));
ok($mx->wait_log(qr/smtpd\[\d+\]: timeout: \d+ bytes of replies not read by unknown\[127\.0\.0\.1\]$/, 1),
    'the log says the replies were not read');
close $s;

my $c = smtp_connect($mx->port);
like($c->transaction(data => "Subject: after\r\n\r\nbody\r\n") // '',
    qr/^250 2\.0\.0 Ok: queued as /, 'the gateway still serves the next client');
$c->disconnect;
ok(!$mx->crashes && $mx->alive, 'no mxgate process crashed');

$mx->stop;
$sink->stop;
done_testing();
