#!/usr/bin/perl
# tls_badcert.t — a customer server (or anyone on the path) presenting a
# malformed certificate after STARTTLS: tests/tls/evil_smtp (stock BearSSL
# server, certificate bytes made by tests/tls/x509_craft.h) sends EC keys
# of 4,000 and 60,000 bytes (BearSSL's key buffer holds 520), bytes after
# the DER, or a wrong first
# tag followed by more input. Under `tls may` and `tls encrypt` alike the
# handshake fails cleanly and is logged, the message is queued as for any
# customer failure (never sent in clear), the single SMTP worker survives
# (same pid, no crash in the log), the next session relays to a good
# customer in session, and the queue runner meets the same certificates
# on its retry and survives too.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use MxTest;
use MxSMTP;

if ($> != 0) {
	fail('needs root: the relay roles drop to their own users');
	done_testing();
	exit;
}

my %evil;
for my $kind (qw(bigkey hugekey trailing early)) {
	my $dir = tmpdir();
	my $log = "$dir/evil.log";
	my $pid = MxSMTP::spawn("evil_smtp $kind", $log,
	    out_dir() . '/tests/bin/evil_smtp', 'serve', $kind, 120);
	my $port = MxSMTP::wait_until(10, sub {
		((read_file($log) // '') =~ /^port (\d+)$/m)[0] });
	die "evil_smtp $kind did not start: " . (read_file($log) // '')
	    unless $port;
	$evil{$kind} = { pid => $pid, port => $port, log => $log };
}
my $sink = start_sink();

my $mx = start_mxgate(config => <<"CF");
workers 1
route bigkey.test 127.0.0.1:$evil{bigkey}{port} tls may
route hugekey.test 127.0.0.1:$evil{hugekey}{port} tls may
route trailing.test 127.0.0.1:$evil{trailing}{port} tls encrypt
route early.test 127.0.0.1:$evil{early}{port} tls may
route good.test 127.0.0.1:@{[ $sink->port ]} tls may
postmaster postmaster\@good.test
CF

sub worker_pids {
	my %p = map { $_ => 1 } ($mx->log =~ /mxgate\/smtpd\[(\d+)\]/g);
	return sort keys %p;
}

sub send_to {
	my ($rcpt, $tag) = @_;
	my $c = MxSMTP::smtp_connect($mx->port);
	my $r = $c->transaction(to => $rcpt,
	    data => "Subject: $tag\r\n\r\nbody of $tag\r\n", timeout => 30);
	eval { $c->cmd('QUIT'); $c->disconnect };
	return $r // 'no reply';
}

my %want = (bigkey => 'limit exceeded', hugekey => 'limit exceeded', trailing => 'extra element',
    early => 'certificate');
for my $kind (qw(bigkey hugekey trailing early)) {
	my $r = send_to("alice\@$kind.test", "to $kind");
	like($r, qr/^250 2\.0\.0 Ok: queued as [0-9A-F]+/,
	    "$kind certificate: the message is queued (customer failure)");
	ok(MxSMTP::wait_until(5, sub {
		(read_file($evil{$kind}{log}) // '') =~ /^handshake failed: /m }),
	    "$kind: the customer saw the handshake fail");
	my $line = $mx->wait_log(qr/TLS handshake with 127\.0\.0\.1\[127\.0\.0\.1\]:$evil{$kind}{port} failed: handshake: certificate: /, 5);
	ok($line, "$kind: the log says the handshake failed on the certificate");
	like($line // '', qr/\Q$want{$kind}\E/, "$kind: ... and why");
	unlike(read_file($evil{$kind}{log}) // '', qr/^plaintext command: (MAIL|RCPT|DATA)/mi,
	    "$kind: no mail was sent in clear after the failure");
	my @w = worker_pids();
	is(scalar(@w), 1, "$kind: still one SMTP worker (pid @w)");
	is_deeply([ $mx->crashes ], [], "$kind: no process died of a signal");
	$r = send_to('bob@good.test', "after $kind");
	like($r, qr/^250 /, "$kind: the next session relays to a good customer");
	is($sink->wait_count(1, 10), 1, "$kind: ... and it arrives in session");
	$sink->clear;
}

# the queue runner retries the four queued messages toward the same
# servers: it must fail the same way and survive
my ($rc, $out) = run(bin('mxgatectl'), '-f', $mx->conf, 'queue', 'flush');
is($rc, 0, 'mxgatectl queue flush') or diag($out);
for my $kind (qw(bigkey hugekey trailing early)) {
	ok(MxSMTP::wait_until(15, sub {
		my @n = ((read_file($evil{$kind}{log}) // '') =~ /^handshake failed: /mg);
		@n >= 2 }), "$kind: the queue runner's retry met the certificate too");
}
sleep 0.5;
is_deeply([ $mx->crashes ], [], 'after the retries: no process died of a signal');
($rc, $out) = run(bin('mxgatectl'), '-f', $mx->conf, 'queue', 'list');
is($rc, 0, 'mxgatectl queue list');
is(scalar(() = $out =~ /\@(bigkey|hugekey|trailing|early)\.test/g), 4,
    'the four messages are still queued, none lost, none sent');
ok($mx->alive, 'mxgate is still running');
my $r = send_to('carol@good.test', 'last');
like($r, qr/^250 /, 'a last session relays');
is($sink->wait_count(1, 10), 1, '... and arrives');

$mx->stop;
done_testing();
