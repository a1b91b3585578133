#!/usr/bin/perl
# starttls.t — inbound STARTTLS on the running daemon (SPEC 3.3, 3.6),
# with real peers on 127.0.0.1 only:
#  - swaks --tls delivers through mxgate to smtp-sink; our Received: says
#    "with ESMTPS" and names protocol and cipher; plaintext still works;
#  - openssl s_client -starttls smtp: TLSv1.2 with an ECDHE AEAD suite;
#    TLS 1.0/1.1 and weak suites refused by default, 1.1 accepted with
#    `tls_min_version 1.1`;
#  - the self-signed certificate made on first start: mode 0600, its
#    fingerprint in the log is openssl's, reused (not remade) on restart;
#    an admin's RSA pair (tls_cert/tls_key) is served and never touched;
#    a half-installed pair stops the start;
#  - testssl (Debian's testssl.sh) and posttls-finger against the port;
#  - the STARTTLS command injection (CVE-2011-0411): bytes pipelined
#    after STARTTLS are discarded and logged, the state is reset, a second
#    STARTTLS is refused and EHLO no longer offers it;
#  - memory per idle TLS session in the workers (a diag line + a bound).
# testssl is slow (about a minute per run here): it runs in the
# background against its own gateway while the rest goes on.
use strict;
use warnings;
use Test::More;
use FindBin;
use POSIX qw(:sys_wait_h);
use Socket qw(SOL_SOCKET SO_RCVTIMEO);
use Time::HiRes qw(time sleep);
use MxTest;
use MxSMTP;
use MxTLS;

need(['root (the roles drop to their own users)', $> == 0],
    ['openssl (package openssl)', system('openssl version >/dev/null 2>&1') == 0]);
my $have_ssl = eval { require IO::Socket::SSL; 1 };
my $T0 = time;

my $chroot = tmpdir();
chmod 0755, $chroot;

sub gate {
	my ($route_port, $extra) = @_;
	return start_mxgate(config => "route example.test 127.0.0.1:$route_port\n"
	    . "chroot $chroot\nallow 127.0.0.0/8\n" . ($extra // ''));
}

sub sh {	# (exit code, stdout+stderr) of a shell command
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $out);
}

sub s_client {
	my ($port, $args) = @_;
	return sh("timeout 10 openssl s_client -starttls smtp -connect "
	    . "127.0.0.1:$port $args </dev/null");
}

# --- background: testssl against a gateway of its own ---------------------

my @bg;		# [pid (also its process group), name, output file]
END {
	local $?;
	for (@bg) { kill 'KILL', -$_->[0]; waitpid($_->[0], 0) }
}
sub background {
	my ($name, @argv) = @_;
	my $out = tmpdir() . "/$name.out";
	my $pid = fork // die "fork: $!";
	if (!$pid) {
		setpgrp(0, 0);
		open STDIN, '<', '/dev/null';
		open STDOUT, '>', $out or POSIX::_exit(111);
		open STDERR, '>&', \*STDOUT;
		exec { $argv[0] } @argv or POSIX::_exit(127);
	}
	push @bg, [ $pid, $name, $out ];
	return $bg[-1];
}
sub collect {		# waits for a background job (bounded): (rc, output)
	my ($job, $secs) = @_;
	my $end = time + $secs;
	my $st;
	while (time < $end) {
		if (waitpid($job->[0], WNOHANG) == $job->[0]) { $st = $?; last }
		sleep 0.2;
	}
	unless (defined $st) {
		kill 'KILL', -$job->[0];
		waitpid($job->[0], 0);
	}
	@bg = grep { $_ != $job } @bg;
	return (defined $st ? $st >> 8 : -1, read_file($job->[2]) // '');
}

my @path = split /:/, "$ENV{PATH}:/usr/bin";
my $testssl = (grep { -x } map { ("$_/testssl.sh", "$_/testssl") } @path)[0];
my $tsink = start_sink();
my $tmx = gate($tsink->port);
my @ts;
if ($testssl) {
	# two runs at once: protocols (sockets, SSLv2/SSLv3 included) and the
	# cipher categories (NULL, aNULL, export, LOW, 3DES, CBC, AEAD)
	# (-s alone takes 2-3 minutes here: only with MXGATE_TESTSSL_FULL=1;
	# the categories are probed below with raw ClientHellos anyway)
	for my $what (['protocols', '-p'],
	    $ENV{MXGATE_TESTSSL_FULL} ? (['categories', '-s']) : ()) {
		push @ts, background("testssl-$what->[0]", 'timeout', '230',
		    $testssl, '--quiet', '--color', '0', '--warnings', 'off',
		    '--nodns', 'min', '-t', 'smtp', $what->[1],
		    '127.0.0.1:' . $tmx->port);
	}
}

# --- the self-signed certificate -----------------------------------------

my $sink = start_sink();
my $mx = gate($sink->port);
my $port = $mx->port;
my $cert = "$mx->{dir}/tls/cert.pem";
my $key = "$mx->{dir}/tls/key.pem";
my $fpline = $mx->wait_log(qr/TLS certificate \Q$cert\E \(generated, self-signed\): sha256 fingerprint [0-9a-f]{64}$/);
ok($fpline, 'first start: self-signed certificate generated, fingerprint logged')
    or diag $mx->log;
my ($fp) = ($fpline // '') =~ /fingerprint ([0-9a-f]{64})$/;
$fp //= 'none';
is((stat $cert)[2] & 07777, 0600, 'generated certificate: mode 0600');
is((stat $key)[2] & 07777, 0600, 'generated key: mode 0600');
is(openssl_fp($cert), $fp, 'logged fingerprint = openssl x509 -fingerprint -sha256');
my (undef, $x) = sh("openssl x509 -in $cert -noout -subject -ext subjectAltName");
like($x, qr/CN\s*=\s*mx\.example\.test.*DNS:mx\.example\.test/s,
    'certificate names the hostname (CN and subjectAltName)');
my $cert_pem = read_file($cert);

# --- swaks --tls, end to end -----------------------------------------------

my @swaks = ('swaks', '--server', "127.0.0.1:$port", '--helo',
    'client.sender.test', '--from', 'bob@sender.test', '--to',
    'alice@example.test', '--timeout', '10');
my ($rc, $out) = run_timeout(30, @swaks, '--tls', '--header',
    'Subject: starttls inbound');
is($rc, 0, 'swaks --tls through mxgate: exit 0') or diag $out;
like($out, qr/^=== TLS started with cipher TLSv1\.2:ECDHE-ECDSA-AES128-GCM-SHA256:128$/m,
    'swaks: TLSv1.2, ECDHE-ECDSA-AES128-GCM-SHA256');
my ($qid) = $out =~ /^<~  250 2\.0\.0 Ok: queued as ([0-9A-F]+)\r?$/m;
ok($qid, '250 2.0.0 Ok: queued as ID, inside TLS') or diag $out;
$qid //= 'NONE';
is($sink->wait_count(1), 1, 'the message reached smtp-sink');
my ($dump) = $sink->messages;
$dump //= '';
like($dump, qr/^Received: from client\.sender\.test \(unknown \[127\.0\.0\.1\]\)\n\t\(using TLSv1\.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 \(128\/128 bits\)\)\n\tby mx\.example\.test \(mxgate\) with ESMTPS id \Q$qid\E\b/m,
    'our Received: says "with ESMTPS" and has the TLS line') or diag $dump;
ok($mx->wait_log(qr/mxgate\/smtpd\[\d+\]: Anonymous TLS connection established from unknown\[127\.0\.0\.1\]: TLSv1\.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 \(128\/128 bits\)$/),
    'log: Anonymous TLS connection established ... (128/128 bits)');

($rc, $out) = run_timeout(30, @swaks, '--header', 'Subject: plaintext');
is($rc, 0, 'swaks without TLS still delivers (opportunistic)') or diag $out;
is($sink->wait_count(2), 2, 'second message at the sink');
my ($plain) = grep { /Subject: plaintext/ } $sink->messages;
like($plain // '', qr/\(mxgate\) with ESMTP id /, 'plaintext: "with ESMTP"');
unlike($plain // '', qr/\(using TLS/, 'plaintext: no TLS line');

# --- openssl s_client: protocol and suites ---------------------------------

($rc, $out) = s_client($port, '');
like($out, qr/^\s*Protocol\s*: TLSv1\.2$/m, 's_client -starttls smtp: TLSv1.2');
like($out, qr/^\s*Cipher\s*: ECDHE-(?:ECDSA|RSA)-(?:AES128-GCM-SHA256|AES256-GCM-SHA384|CHACHA20-POLY1305)$/m,
    's_client: an ECDHE AEAD suite') or diag $out;
my $mark = () = $mx->log_lines;
($rc, $out) = s_client($port, "-tls1_1 -cipher 'DEFAULT:\@SECLEVEL=0'");
unlike($out, qr/Cipher is (?!\(NONE\))/, 'TLS 1.1 refused by default');
ok(MxSMTP::wait_until(5, sub { my @l = $mx->log_lines;
    grep { /SSL_accept error from unknown\[127\.0\.0\.1\]: .*(protocol.version|unsupported protocol)/ } @l[$mark .. $#l] }),
    'log: SSL_accept error (protocol version)');
($rc, $out) = s_client($port, "-tls1 -cipher 'DEFAULT:\@SECLEVEL=0'");
unlike($out, qr/Cipher is (?!\(NONE\))/, 'TLS 1.0 refused by default');
($rc, $out) = s_client($port,
    "-tls1_2 -cipher '3DES:RC4:NULL:EXPORT:aNULL:LOW:\@SECLEVEL=0'");
unlike($out, qr/Cipher is (?!\(NONE\))/, '3DES/RC4/NULL/export/aNULL refused');
($rc, $out) = s_client($port, "-tls1_2 -cipher 'AES128-GCM-SHA256:AES256-SHA'");
unlike($out, qr/Cipher is (?!\(NONE\))/, 'no forward secrecy, no handshake');

# --- session resumption, whichever worker accepts --------------------------
#
# The workers share one session cache: a client that comes back with its
# session resumes it on either worker. Up to 20 returns, until resumed
# sessions were logged by both workers.
{
	my $sess = tmpdir() . '/session.pem';
	($rc, $out) = s_client($port, "-sess_out $sess");
	like($out, qr/^New, TLSv1\.2, Cipher is /m, 'resumption: a new session first')
	    or diag $out;
	my ($reused, $tries, %pids) = (0, 0);
	while ($tries < 20 && keys %pids < 2) {
		$tries++;
		($rc, $out) = s_client($port, "-sess_in $sess");
		$reused++ if $out =~ /^Reused, TLSv1\.2, Cipher is /m;
		%pids = map { /mxgate\/smtpd\[(\d+)\]: Anonymous TLS connection established .*, session resumed$/ ? ($1 => 1) : () } $mx->log_lines;
	}
	is($reused, $tries, "resumption: every return ($tries) reused the session");
	is(scalar(keys %pids), 2, 'resumption: both workers resumed it (one shared cache)');
	($rc, $out) = s_client($port, '');
	like($out, qr/^New, TLSv1\.2, /m,
	    'resumption: a client without a session gets a new one');
}

# --- cipher categories with raw ClientHellos ---------------------------------
#
# What testssl -s does with its own sockets, minus the bash: after the 220
# to STARTTLS, a TLS 1.2 ClientHello offering only the suites of one
# category; the server must answer with an alert, never a ServerHello.
# (OpenSSL 3 cannot even offer most of these, so s_client cannot test them.)

sub client_hello {
	my (@suites) = @_;
	my $ext = '';
	my $e = sub { $ext .= pack('nn/a*', $_[0], $_[1]) };
	$e->(0x000a, pack('n/a*', pack('n*', 0x0017, 0x0018, 0x001d)));
	$e->(0x000b, pack('C/a*', "\0"));
	$e->(0x000d, pack('n/a*', pack('n*', 0x0403, 0x0503, 0x0804, 0x0401,
	    0x0501, 0x0201, 0x0203)));
	$e->(0xff01, "\0");	# renegotiation_info, empty
	my $body = pack('n', 0x0303) . pack('C32', map { int rand 256 } 1 .. 32)
	    . "\0" . pack('n/a*', pack('n*', @suites)) . "\x01\0"
	    . pack('n/a*', $ext);
	my $hs = pack('C', 1) . substr(pack('N', length $body), 1) . $body;
	return pack('Cnn', 0x16, 0x0301, length $hs) . $hs;
}

# -> 'alert N' or 'suite XXXX' (the ServerHello's) or 'error: ...'
sub probe_suites {
	my (@suites) = @_;
	my $c = smtp_connect($port);
	return 'error: banner' unless $c->hello('probe.sender.test');
	return 'error: STARTTLS' unless ($c->cmd('STARTTLS') // '') =~ /^220 /;
	$c->send_raw(client_hello(@suites));
	my $end = time + 5;
	$c->fill($end) while length($c->{buf}) < 5 && !$c->{eof} && time < $end;
	my $b = $c->{buf};
	$c->fill($end) while length($b = $c->{buf}) < 5 + 44 &&
	    substr($b, 0, 1) eq "\x16" && !$c->{eof} && time < $end;
	$c->disconnect;
	return 'error: no answer' if length $b < 7;
	my ($type) = unpack('C', $b);
	return 'alert ' . unpack('C', substr($b, 6, 1)) if $type == 0x15;
	return 'error: type ' . $type if $type != 0x16;
	my $sidlen = unpack('C', substr($b, 5 + 4 + 2 + 32, 1));
	return sprintf('suite %04X',
	    unpack('n', substr($b, 5 + 4 + 2 + 32 + 1 + $sidlen, 2)));
}

is(probe_suites(0xC02B), 'suite C02B',
    'probe works: ECDHE-ECDSA-AES128-GCM-SHA256 alone -> ServerHello');
my %cat = (
    'NULL' => [0x0001, 0x0002, 0x003B, 0xC006, 0xC010, 0xC001, 0xC00B],
    'anonymous (aNULL)' => [0x0018, 0x001B, 0x0034, 0x003A, 0x006C,
	0x00A6, 0xC015, 0xC016, 0xC017, 0xC018, 0xC019],
    'EXPORT' => [0x0003, 0x0006, 0x0008, 0x000B, 0x000E, 0x0011, 0x0014,
	0x0017, 0x0019, 0x0062, 0x0063, 0x0064, 0x0065],
    'RC4' => [0x0004, 0x0005, 0x0018, 0x0066, 0xC002, 0xC007, 0xC00C,
	0xC011, 0xC016],
    'LOW (DES, RC2, IDEA)' => [0x0007, 0x0009, 0x000C, 0x000F, 0x0012,
	0x0015],
    '3DES' => [0x000A, 0x000D, 0x0010, 0x0013, 0x0016, 0xC003, 0xC008,
	0xC00D, 0xC012],
    'CBC without ECDHE (plain RSA)' => [0x002F, 0x0035, 0x003C, 0x009C,
	0x009D],
);
for my $name (sort keys %cat) {
	like(probe_suites(@{ $cat{$name} }), qr/^alert (40|71)$/,
	    "raw ClientHello: $name suites -> handshake_failure alert");
}

# --- posttls-finger ---------------------------------------------------------

ok(-x '/usr/sbin/posttls-finger', 'posttls-finger installed (package postfix)');
if (-x '/usr/sbin/posttls-finger') {
	my $pcf = tmpdir();
	write_file("$pcf/main.cf", "compatibility_level = 3.6\n");
	local $ENV{MAIL_CONFIG} = $pcf;
	($rc, $out) = run_timeout(20, '/usr/sbin/posttls-finger', '-c',
	    '-l', 'may', "[127.0.0.1]:$port");
	like($out, qr/TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:$port: TLSv1\.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256 \(128\/128 bits\)/,
	    'posttls-finger: TLSv1.2 with cipher ECDHE-ECDSA-AES128-GCM-SHA256')
	    or diag $out;
	(my $pf = lc($out =~ /\bfingerprint=([0-9A-F:]+)/ ? $1 : '')) =~ s/://g;
	is($pf, $fp, 'posttls-finger sees the logged fingerprint');
}

# --- STARTTLS injection and state reset ---------------------------------------

# MxSMTP's client, upgraded in place to TLS (IO::Socket::SSL ties the
# glob, so sysread/syswrite keep working; decrypted bytes waiting inside
# OpenSSL are invisible to select(), hence pending()).
package TLSClient {
	our @ISA = ('MxSMTP::Client');
	my $ctx;
	sub fill {
		my ($self, $end) = @_;
		my $s = $self->{sock};
		if ($self->{tls} && $s->pending) {
			my $n = sysread($s, my $chunk, 65536);
			if ($n) { $self->{buf} .= $chunk; return 1 }
		}
		return $self->SUPER::fill($end);
	}
	sub starttls {
		my ($self) = @_;
		$self->{sock}->setsockopt(Socket::SOL_SOCKET(),
		    Socket::SO_RCVTIMEO(), pack('l!l!', 5, 0));
		# one context for all: building one per connection (CA
		# store and all) costs more than the handshake
		$ctx //= IO::Socket::SSL::SSL_Context->new(
		    SSL_verify_mode => 0, SSL_ca_file => undef,
		    SSL_ca_path => undef);
		my $ok = IO::Socket::SSL->start_SSL($self->{sock},
		    SSL_reuse_ctx => $ctx, SSL_hostname => 'mx.example.test',
		    Timeout => 5);
		$self->{tls} = 1 if $ok;
		return $ok ? 1 : 0;
	}
}

sub tls_client {
	my ($p) = @_;
	my $c = smtp_connect($p // $port);
	return bless $c, 'TLSClient';
}

ok($have_ssl, 'IO::Socket::SSL for the injection tests (libio-socket-ssl-perl, '
    . 'in deps/packages)') or diag $@;
if ($have_ssl) {

	# RSET pipelined after STARTTLS, in the same write
	my $c = tls_client();
	like($c->reply // '', qr/^220 /, 'injection: banner');
	$c->send_raw("EHLO x\r\nSTARTTLS\r\nRSET\r\n");
	like($c->reply // '', qr/^250[- ]mx\.example\.test/, 'injection: EHLO reply');
	like($c->reply // '', qr/^220 /, 'injection: 220 to STARTTLS');
	is($c->pending_input, '', 'nothing after the 220 (RSET not answered in the clear)');
	ok($c->starttls, 'TLS handshake on the same socket')
	    or diag IO::Socket::SSL::errstr();
	my $r = $c->cmd('EHLO y');
	like($r // '', qr/\A250-mx\.example\.test\b/,
	    'first reply inside TLS is the EHLO\'s 250 (not the injected RSET\'s)')
	    or diag $c->transcript;
	unlike($r // '', qr/STARTTLS/, 'EHLO inside TLS no longer offers STARTTLS');
	like($r // '', qr/^250[- ]PIPELINING$/m, 'EHLO inside TLS: the other extensions remain');
	is($c->reply(0.5), undef, 'no extra reply for the injected RSET');
	like($c->cmd('STARTTLS') // '', qr/^5\d\d /, 'a second STARTTLS inside TLS: 5xx');
	like($c->cmd('QUIT') // '', qr/^221 /, 'QUIT inside TLS: 221');
	ok($mx->wait_log(qr/STARTTLS injection from unknown\[127\.0\.0\.1\]: 6 plaintext bytes after STARTTLS discarded/),
	    'log: STARTTLS injection ... 6 plaintext bytes after STARTTLS discarded');

	# MAIL pipelined after STARTTLS: discarded, so RCPT has no transaction
	$c = tls_client();
	$c->reply;
	$c->send_raw("EHLO x\r\nSTARTTLS\r\nMAIL FROM:<a\@b>\r\n");
	$c->reply;
	like($c->reply // '', qr/^220 /, 'MAIL injection: 220 to STARTTLS');
	ok($c->starttls, 'MAIL injection: handshake');
	like($c->cmd('EHLO y') // '', qr/\A250-/, 'MAIL injection: EHLO 250');
	like($c->cmd('RCPT TO:<alice@example.test>') // '', qr/^503 /,
	    'the injected MAIL was not executed (RCPT -> 503)');
	$c->{greeted} = 1;
	my $t = $c->transaction(from => 'bob@sender.test',
	    data => "Subject: after injection\r\n\r\nclean\r\n");
	like($t // '', qr/^250 2\.0\.0 Ok: queued as /,
	    'a clean transaction inside TLS then goes through');
	ok($mx->wait_log(qr/STARTTLS injection from unknown\[127\.0\.0\.1\]: 17 plaintext bytes after STARTTLS discarded/),
	    'log: 17 plaintext bytes (the MAIL line) discarded');
	$c->cmd('QUIT');

	# state reset without any injection: STARTTLS is refused inside a
	# transaction, and after TLS a new EHLO is required (RFC 3207 4.2)
	$c = tls_client();
	$c->hello('client.sender.test');
	like($c->cmd('MAIL FROM:<bob@sender.test>') // '', qr/^250 /,
	    'reset: MAIL in the clear accepted');
	like($c->cmd('STARTTLS') // '', qr/^503 /,
	    'STARTTLS inside a mail transaction: 503');
	like($c->cmd('RSET') // '', qr/^250 /, 'reset: RSET');
	like($c->cmd('STARTTLS') // '', qr/^220 /, 'reset: STARTTLS 220');
	ok($c->starttls, 'reset: handshake');
	{
		like($c->cmd('MAIL FROM:<bob@sender.test>') // '', qr/^503 /,
		    'reset: MAIL before EHLO inside TLS -> 503');
	}
	$c->cmd('RSET');
	like($c->cmd('EHLO y') // '', qr/\A250-/, 'reset: EHLO inside TLS');
	like($c->cmd('QUIT') // '', qr/^221 /, 'reset: QUIT');

	# STARTTLS and a MAIL behind it in one write, while a RCPT waits for
	# the customer (smtp-sink answers it after 1 s): the customer's
	# answer, an upstream event, steps RSET and STARTTLS; the MAIL is
	# plaintext and is discarded, never executed, before or after TLS
	my $slow = start_sink(args => ['-W', 'rcpt:1']);
	my $smx = gate($slow->port);
	$c = tls_client($smx->port);
	$c->hello('client.sender.test');
	my $evil = "MAIL FROM:<evil\@sender.test>\r\n";
	my $t0 = time;
	$c->send_raw("MAIL FROM:<bob\@sender.test>\r\n"
	    . "RCPT TO:<alice\@example.test>\r\nRSET\r\nSTARTTLS\r\n$evil");
	like($c->reply // '', qr/^250 2\.1\.0 /, 'pending: MAIL 250');
	like($c->reply // '', qr/^250 2\.1\.5 /, 'pending: RCPT 250 (the customer\'s)');
	cmp_ok(time - $t0, '>=', 0.9, '... after the customer\'s 1 s: it was pending');
	like($c->reply // '', qr/^250 2\.0\.0 /, 'pending: RSET 250');
	like($c->reply // '', qr/^220 2\.0\.0 Ready to start TLS$/,
	    'pending: 220 to STARTTLS');
	is($c->reply(0.5), undef, 'nothing after the 220 in the clear (the MAIL '
	    . 'behind it not answered)');
	ok($c->starttls, 'pending: TLS handshake') or diag IO::Socket::SSL::errstr();
	like($c->cmd('EHLO y') // '', qr/\A250-/, 'pending: EHLO inside TLS');
	like($c->cmd('RCPT TO:<alice@example.test>') // '', qr/^503 /,
	    'the MAIL pipelined behind STARTTLS was not executed (RCPT -> 503)');
	like($c->cmd('QUIT') // '', qr/^221 /, 'pending: QUIT');
	ok($smx->wait_log(qr/STARTTLS injection from unknown\[127\.0\.0\.1\]: @{[
	    length $evil]} plaintext bytes after STARTTLS discarded/),
	    'log: the MAIL line\'s ' . length($evil) . ' bytes discarded');
	ok(!grep({ /evil\@sender/ } $smx->log_lines),
	    'the injected sender appears nowhere in the log');
	$smx->stop;
	$slow->stop;
}

# --- memory per idle TLS session ------------------------------------------

if ($have_ssl) {	# its absence failed above
	my $N = 200;
	my $T = 45;	# seconds to open them, at most
	my %w;
	for ($mx->log_lines) {
		$w{$2} = $1 if /mxgate\/smtpd\[(\d+)\]: worker (\d+) ready/;
	}
	my @pids = values %w;
	is(scalar @pids, 2, 'two workers found in the log');
	my $rss = sub {
		my $sum = 0;
		for my $p (@pids) {
			my $s = read_file("/proc/$p/status") // '';
			$sum += $1 if $s =~ /^VmRSS:\s+(\d+) kB/m;
		}
		return $sum * 1024;
	};
	my $open = sub {	# one idle session after STARTTLS + EHLO
		my $c = eval { tls_client() } or return undef;
		return undef unless $c->hello('idle.sender.test');
		return undef unless ($c->cmd('STARTTLS') // '') =~ /^220 /;
		return undef unless $c->starttls;
		return undef unless ($c->cmd('EHLO idle.sender.test') // '') =~ /^250/;
		return $c;
	};
	# warm up: the first TLS sessions of each worker touch code and
	# allocator pages that later ones reuse
	my @warm = grep { defined } map { $open->() } 1 .. 10;
	$_->cmd('QUIT') for @warm;
	@warm = ();
	sleep 0.5;
	my $before = $rss->();
	my @held;
	my $t1 = time;
	for (1 .. $N) {
		my $c = $open->() or last;
		push @held, $c;
		last if time - $t1 > $T;
	}
	cmp_ok(scalar @held, '>=', 50, "idle TLS sessions held (at least 50)")
	    or diag "opened " . scalar(@held) . " of $N in $T s";
	sleep 0.3;
	my $after = $rss->();
	my $per = @held ? int(($after - $before) / @held) : 0;
	diag sprintf('idle TLS session: %d bytes (workers\' VmRSS %d -> %d kB '
	    . 'over %d sessions, %.1f s to open)', $per, $before / 1024,
	    $after / 1024, scalar @held, time - $t1);
	cmp_ok($per, '<', 128 * 1024, 'memory per idle TLS session < 128 KB');
	$_->disconnect for @held;
}

# --- restart: the generated pair is reused; tls_min_version 1.1 ------------

$mx->stop;
my $mx2 = gate($sink->port, "queue $mx->{dir}/queue\ntls_min_version 1.1\n");
ok($mx2->wait_log(qr/TLS certificate \Q$cert\E: sha256 fingerprint \Q$fp\E$/),
    'restart: same certificate, same fingerprint, not "generated"')
    or diag $mx2->log;
is(read_file($cert), $cert_pem, 'restart: certificate file unchanged');
($rc, $out) = s_client($mx2->port, "-tls1_1 -cipher 'DEFAULT:\@SECLEVEL=0'");
like($out, qr/^\s*Protocol\s*: TLSv1\.1$/m, 'tls_min_version 1.1: TLS 1.1 accepted');
like($out, qr/^\s*Cipher\s*: ECDHE-ECDSA-AES(?:128|256)-SHA$/m,
    'TLS 1.1: an ECDHE CBC suite') or diag $out;
($rc, $out) = s_client($mx2->port, "-tls1 -cipher 'DEFAULT:\@SECLEVEL=0'");
unlike($out, qr/Cipher is (?!\(NONE\))/, 'tls_min_version 1.1: TLS 1.0 still refused');
($rc, $out) = s_client($mx2->port, '');
like($out, qr/^\s*Protocol\s*: TLSv1\.2$/m, 'tls_min_version 1.1: 1.2 preferred');
$mx2->stop;

# --- an admin-installed RSA pair ---------------------------------------------

my $adir = tmpdir();
my ($acrt, $akey) = make_rsa_selfsigned($adir, 'admin', 'mx.admin.test');
my @before = map { [ read_file($_), (stat $_)[2, 9] ] } $acrt, $akey;
sleep 1.1;	# an overwrite would show in mtime
my $mx3 = gate($sink->port, "tls_cert $acrt\ntls_key $akey\n");
my $afp = openssl_fp($acrt);
ok($mx3->wait_log(qr/TLS certificate \Q$acrt\E: sha256 fingerprint \Q$afp\E$/),
    'admin certificate loaded, its fingerprint logged') or diag $mx3->log;
($rc, $out) = s_client($mx3->port, '');
like($out, qr/subject=CN\s*=\s*mx\.admin\.test/, 'the admin certificate is served');
like($out, qr/^\s*Cipher\s*: ECDHE-RSA-AES128-GCM-SHA256$/m,
    'RSA certificate: ECDHE-RSA-AES128-GCM-SHA256');
($rc, $out) = run_timeout(30, @swaks, '--server', '127.0.0.1:' . $mx3->port,
    '--tls');
like($out, qr/^<~  250 2\.0\.0 Ok: queued as /m, 'swaks --tls with the RSA certificate');
$mx3->stop;
my @after = map { [ read_file($_), (stat $_)[2, 9] ] } $acrt, $akey;
is_deeply(\@after, \@before, 'admin files untouched (content, mode, mtime)');
ok(!-e "$mx3->{dir}/tls", 'no self-signed pair made beside the queue');

# half a pair: refused, nothing invented
{
	my $hdir = tmpdir();
	mkdir "$hdir/tls", 0700;
	write_file("$hdir/tls/cert.pem", $cert_pem);
	chmod 0600, "$hdir/tls/cert.pem";
	my $ok = eval { gate($sink->port, "queue $hdir/queue\n")->stop; 1 };
	ok(!$ok, 'only the certificate present: mxgate refuses to start');
	ok(!-e "$hdir/tls/key.pem", 'and does not invent a key');
}

# --- testssl results ---------------------------------------------------------

ok($testssl, 'testssl installed (package testssl.sh)');
if ($testssl) {
	my ($prc, $p) = collect($ts[0], 200 - (time - $T0));
	note "testssl -p:\n$p";
	for my $proto ('SSLv2', 'SSLv3', 'TLS 1', 'TLS 1.1') {
		like($p, qr/^ \Q$proto\E\s+not offered/m,
		    "testssl: $proto not offered") or diag $p;
	}
	like($p, qr/^ TLS 1\.2\s+offered/m, 'testssl: TLS 1.2 offered');
	unlike($p, qr/Oops|Fatal error|Unable to open a socket/,
	    'testssl -p ran without connection problems');
	is(scalar(() = $tmx->log =~ /mxgate\/smtpd\[\d+\]: worker \d+ ready/g),
	    2, 'testssl\'s gateway: no worker crashed or restarted');
}
SKIP: {
	skip 'testssl -s only with MXGATE_TESTSSL_FULL=1 (2-3 minutes)', 6
	    unless $testssl && $ts[1];
	my ($src, $s) = collect($ts[1], 260 - (time - $T0));
	note "testssl -s:\n$s";
	for my $cat ('NULL ciphers', 'Anonymous NULL Ciphers',
	    'Export ciphers', 'LOW: 64 Bit', 'Triple DES Ciphers') {
		like($s, qr/^ \Q$cat\E.*\s{2,}not offered/m,
		    "testssl: $cat not offered") or diag $s;
	}
	like($s, qr/^ Strong encryption \(AEAD ciphers\)\s+offered/m,
	    'testssl: AEAD ciphers offered');
}
$tmx->stop;
note sprintf('runtime %.0f s', time - $T0);
done_testing();
