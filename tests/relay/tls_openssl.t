#!/usr/bin/perl
# tls_openssl.t — our TLS layer (relay/tls.c) against OpenSSL, through the
# test helper tests/tls/tls_tool.c (a plain TLS echo server and client on
# our API; STARTTLS is the session's job and is tested with it):
# the self-signed certificate parses and verifies with openssl, the policy
# seen by `openssl s_client` (TLS 1.2 minimum, suites, server preference,
# resumption, no renegotiation, garbage), RSA/EC keys in every PEM form,
# a real CA chain with verify (right, wrong name, wrong CA) against our
# server and against `openssl s_server`, and memory per idle session.
# 127.0.0.1 only; every child is bounded by `timeout` or killed.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use POSIX ':sys_wait_h';
use MxTest;

my $tool = out_dir() . '/tests/bin/tls_tool';
plan skip_all => 'tls_tool not built' unless -x $tool;
plan skip_all => 'openssl not installed'
	unless system('openssl version >/dev/null 2>&1') == 0;

my $dir = tmpdir();
my @kids;
my $nserve = 0;
END { kill 'TERM', @kids if @kids; }

sub sh {	# run a shell command, return (exit, combined output)
	my ($cmd) = @_;
	my $out = `$cmd 2>&1`;
	return ($? >> 8, $out);
}

# start `tls_tool serve`, output to a file; returns (pid, port, outfile)
sub serve {
	my ($cert, $key, $min) = @_;
	my $out = "$dir/serve." . $nserve++ . ".out";
	my $pid = fork // die "fork: $!";
	if ($pid == 0) {
		open STDOUT, '>', $out or die;
		open STDERR, '>&', \*STDOUT;
		exec $tool, 'serve', $cert, $key, $min // '0', '120';
		exit 127;
	}
	push @kids, $pid;
	for (1 .. 100) {
		my $t = read_file($out) // '';
		return ($pid, $1, $out) if $t =~ /^port (\d+)$/m;
		die "serve failed: $t" if $t =~ /^fail/m;
		select(undef, undef, undef, 0.05);
	}
	die "serve did not start";
}

sub stop {
	my ($pid) = @_;
	kill 'TERM', $pid;
	waitpid($pid, 0);
	@kids = grep { $_ != $pid } @kids;
}

sub lines { my @l = split /\n/, (read_file($_[0]) // ''); @l }

# the first line of the server's output after line $mark matching $re
# (waits up to 5 s), or ''
sub server_line {
	my ($out, $mark, $re) = @_;
	for (1 .. 100) {
		my @l = lines($out);
		for my $x (@l[$mark .. $#l]) {
			return $x if $x =~ $re;
		}
		select(undef, undef, undef, 0.05);
	}
	return '';
}

sub s_client {
	my ($port, $args, $input) = @_;
	$input //= '';
	return sh("printf '$input' | timeout 10 openssl s_client "
	    . "-connect 127.0.0.1:$port $args");
}

# --- the self-signed certificate ---------------------------------------------
my ($rc, $out) = sh("$tool selfsigned $dir/ss.crt $dir/ss.key mx.test");
like($out, qr/^created [0-9a-f]{64}$/, 'self-signed pair created');
my ($fp) = $out =~ /([0-9a-f]{64})/;
is((stat "$dir/ss.crt")[2] & 07777, 0600, 'certificate mode 0600');
is((stat "$dir/ss.key")[2] & 07777, 0600, 'key mode 0600');
($rc, $out) = sh("openssl x509 -in $dir/ss.crt -noout -text");
is($rc, 0, 'openssl x509 parses it');
like($out, qr/Version: 3/, 'X.509 v3');
like($out, qr/Signature Algorithm: ecdsa-with-SHA256/, 'ECDSA-SHA256');
like($out, qr/Subject: CN\s*=\s*mx\.test/, 'subject CN');
like($out, qr/DNS:mx\.test/, 'subjectAltName dNSName');
like($out, qr/prime256v1|P-256/, 'P-256 key');
like($out, qr/TLS Web Server Authentication/, 'serverAuth');
($rc, $out) = sh("openssl x509 -in $dir/ss.crt -noout -fingerprint -sha256");
(my $ofp = lc($out)) =~ s/.*=|[:\s]//g;
is($ofp, $fp, 'our fingerprint is openssl\'s SHA-256 fingerprint');
($rc, $out) = sh("openssl verify -partial_chain -CAfile $dir/ss.crt "
    . "$dir/ss.crt");
is($rc, 0, 'signature verifies with openssl') or diag $out;
($rc, $out) = sh("openssl ec -in $dir/ss.key -noout -check");
like($out, qr/EC Key valid/, 'key is a valid EC key for openssl');
($rc, $out) = sh("$tool selfsigned $dir/ss.crt $dir/ss.key mx.test");
is($out, "exists $fp\n", 'second run leaves both files alone');

# --- policy as OpenSSL sees it (EC certificate) ---------------------------------
my ($pid, $port, $log) = serve("$dir/ss.crt", "$dir/ss.key");
my $m = lines($log);
($rc, $out) = s_client($port, '');
like($out, qr/Protocol\s*: TLSv1\.2/, 'default: TLSv1.2');
like($out, qr/Cipher\s*: ECDHE-ECDSA-AES128-GCM-SHA256/,
    'default: ECDHE-ECDSA-AES128-GCM-SHA256');
is(server_line($log, $m, qr/^conn/),
    'conn TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256',
    'server logs protocol and cipher in OpenSSL naming');

($rc, $out) = s_client($port, '-quiet -ign_eof', 'hello\nQUIT\n');
like($out, qr/^hello$/m, 'data echoed through TLS');

($rc, $out) = s_client($port,
    '-cipher ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256');
like($out, qr/Cipher\s*: ECDHE-ECDSA-AES128-GCM-SHA256/,
    'server preference enforced (client preferred AES256)');
($rc, $out) = s_client($port, '-cipher ECDHE-ECDSA-CHACHA20-POLY1305');
like($out, qr/Cipher\s*: ECDHE-ECDSA-CHACHA20-POLY1305/, 'ChaCha20-Poly1305');
($rc, $out) = s_client($port, '-cipher ECDHE-ECDSA-AES256-GCM-SHA384');
like($out, qr/Cipher\s*: ECDHE-ECDSA-AES256-GCM-SHA384/, 'AES256-GCM');

$m = lines($log);
($rc, $out) = s_client($port, "-tls1_1 -cipher 'DEFAULT:\@SECLEVEL=0'");
unlike($out, qr/Cipher is ECDHE/, 'TLS 1.1 refused');
like(server_line($log, $m, qr/^fail/), qr/^fail .*protocol_version/,
    'server: protocol_version alert');
($rc, $out) = s_client($port, "-tls1 -cipher 'DEFAULT:\@SECLEVEL=0'");
unlike($out, qr/Cipher is ECDHE/, 'TLS 1.0 refused');
$m = lines($log);
($rc, $out) = s_client($port,
    "-tls1_2 -cipher '3DES:RC4:NULL:EXPORT:aNULL:\@SECLEVEL=0'");
unlike($out, qr/Cipher is (?!\(NONE\))/, '3DES/RC4/NULL/export refused');
like(server_line($log, $m, qr/^fail/), qr/^fail .*handshake_failure/,
    'server: handshake_failure, no shared suite');
($rc, $out) = s_client($port, "-tls1_2 -cipher 'AES128-SHA:AES256-GCM-SHA384'");
unlike($out, qr/Cipher is (?!\(NONE\))/,
    'no forward secrecy, no handshake (ECDHE only inbound)');

# resumption through the LRU session cache
($rc, $out) = s_client($port, "-sess_out $dir/sess");
($rc, $out) = s_client($port, "-sess_in $dir/sess");
like($out, qr/^Reused, TLSv1\.2/m, 'session resumed');

# renegotiation: refused (no_renegotiation warning; OpenSSL then gives up
# with a fatal alert), the server survives
$m = lines($log);
($rc, $out) = sh("(printf 'R\\n'; sleep 1; printf 'after\\n'; sleep 1) | "
    . "timeout 10 openssl s_client -connect 127.0.0.1:$port -tls1_2");
unlike($out, qr/Cipher is .*\n(.|\n)*Cipher is /, 'no second handshake');
like(server_line($log, $m, qr/^end|^fail/), qr/^end TLS: .*alert/,
    'renegotiation attempt ends the session cleanly');
# garbage: a client that speaks SMTP to the TLS port
{
	$m = lines($log);
	my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
	    Timeout => 5) or die "connect: $!";
	print $s "EHLO attacker.example\r\nMAIL FROM:<x\@y>\r\n";
	my $buf = '';
	local $SIG{ALRM} = sub { die "timeout\n" };
	alarm 5;
	my $r = eval { sysread($s, $buf, 4096) };
	my $e = $!;
	alarm 0;
	ok(defined $r || $e =~ /reset/i,
	    'garbage: server closes the connection');
	like(server_line($log, $m, qr/^fail/), qr/^fail handshake: /,
	    'garbage: one clean error line');
}
($rc, $out) = s_client($port, '');
like($out, qr/Cipher\s*: ECDHE/, 'server still serves after all that');

# memory: RSS of the server with 20 idle TLS sessions
{
	my $rss = sub {
		my $s = read_file("/proc/$pid/status") // '';
		return $s =~ /^VmRSS:\s+(\d+)/m ? $1 * 1024 : 0;
	};
	my $before = $rss->();
	my @idle;
	for (1 .. 20) {
		open(my $fh, '|-', "timeout 30 openssl s_client "
		    . "-connect 127.0.0.1:$port >/dev/null 2>&1") or die;
		push @idle, $fh;
	}
	my $want = grep { /^conn/ } lines($log);
	$want += 20;
	for (1 .. 200) {
		last if (grep { /^conn/ } lines($log)) >= $want;
		select(undef, undef, undef, 0.05);
	}
	my $after = $rss->();
	my $per = int(($after - $before) / 20);
	diag("server RSS $before -> $after bytes: $per per idle TLS session");
	cmp_ok($per, '<=', 64 * 1024, 'idle TLS session <= 64 KB RSS');
	close $_ for @idle;
}
stop($pid);

# --- RSA and the other PEM forms ------------------------------------------------
sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/rsa8.key "
    . "-out $dir/rsa.crt -days 2 -subj /CN=rsa.test");
sh("openssl rsa -in $dir/rsa8.key -traditional -out $dir/rsa1.key");
sh("openssl ecparam -genkey -name secp384r1 -out $dir/ec384.key");
sh("openssl req -x509 -new -key $dir/ec384.key -out $dir/ec384.crt -days 2 "
    . "-subj /CN=ec.test");
like(read_file("$dir/rsa8.key"), qr/BEGIN PRIVATE KEY/, 'PKCS#8 key made');
like(read_file("$dir/rsa1.key"), qr/BEGIN RSA PRIVATE KEY/,
    'PKCS#1 key made');
like(read_file("$dir/ec384.key"), qr/BEGIN EC PARAMETERS/,
    'EC key with parameters block made');
for my $k (['rsa.crt', 'rsa8.key', 'ECDHE-RSA-AES128-GCM-SHA256', 'RSA PKCS#8'],
    ['rsa.crt', 'rsa1.key', 'ECDHE-RSA-AES128-GCM-SHA256', 'RSA PKCS#1'],
    ['ec384.crt', 'ec384.key', 'ECDHE-ECDSA-AES128-GCM-SHA256', 'EC P-384'])
{
	my ($p2, $port2) = serve("$dir/$k->[0]", "$dir/$k->[1]");
	($rc, $out) = s_client($port2, '');
	like($out, qr/Cipher\s*: \Q$k->[2]\E/, "$k->[3] key: $k->[2]");
	stop($p2);
}
($rc, $out) = sh("$tool serve $dir/rsa.crt $dir/ec384.key 0 1");
like($out, qr/^fail .*does not match/, 'mismatched key and certificate');

# --- a CA, an intermediate, a chain; verify ------------------------------------
my $ext = write_file("$dir/ext.cnf", <<'EXT');
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:relay.test
EXT
for my $c (['root', '/CN=Test Root'], ['other', '/CN=Other Root']) {
	sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout $dir/$c->[0].key "
	    . "-out $dir/$c->[0].crt -days 2 -subj '$c->[1]' "
	    . "-extensions ca -config $ext -set_serial 1 2>&1");
}
# req -x509 -config needs a [req] section; fall back to -addext
unless (-s "$dir/root.crt") {
	for my $c (['root', '/CN=Test Root'], ['other', '/CN=Other Root']) {
		sh("openssl req -x509 -newkey rsa:2048 -nodes "
		    . "-keyout $dir/$c->[0].key -out $dir/$c->[0].crt -days 2 "
		    . "-subj '$c->[1]' "
		    . "-addext basicConstraints=critical,CA:TRUE "
		    . "-addext keyUsage=critical,keyCertSign,cRLSign");
	}
}
sh("openssl ecparam -genkey -name prime256v1 -noout -out $dir/int.key");
sh("openssl req -new -key $dir/int.key -subj '/CN=Test Intermediate' "
    . "-out $dir/int.csr");
sh("openssl x509 -req -in $dir/int.csr -CA $dir/root.crt -CAkey $dir/root.key "
    . "-set_serial 2 -days 2 -extfile $ext -extensions ca -out $dir/int.crt");
sh("openssl ecparam -genkey -name prime256v1 -noout -out $dir/leaf.key");
sh("openssl req -new -key $dir/leaf.key -subj '/CN=relay.test' "
    . "-out $dir/leaf.csr");
sh("openssl x509 -req -in $dir/leaf.csr -CA $dir/int.crt -CAkey $dir/int.key "
    . "-set_serial 3 -days 2 -extfile $ext -extensions leaf "
    . "-out $dir/leaf.crt");
write_file("$dir/chain.crt",
    (read_file("$dir/leaf.crt") // '') . (read_file("$dir/int.crt") // ''));
($rc, $out) = sh("openssl verify -CAfile $dir/root.crt -untrusted "
    . "$dir/int.crt $dir/leaf.crt");
is($rc, 0, 'test CA chain built') or diag $out;

($pid, $port, $log) = serve("$dir/chain.crt", "$dir/leaf.key");
($rc, $out) = s_client($port, "-CAfile $dir/root.crt -verify_return_error "
    . "-verify_hostname relay.test");
like($out, qr/Verify return code: 0 \(ok\)/,
    'openssl verifies our chain of two (leaf + intermediate)');
($rc, $out) = sh("timeout 10 $tool connect $port -v -n relay.test "
    . "-c $dir/root.crt");
like($out, qr/^ok TLSv1\.2 ECDHE-ECDSA-\S+ verified=1$/,
    'our client, verify: right CA and name');
($rc, $out) = sh("timeout 10 $tool connect $port -v -n wrong.test "
    . "-c $dir/root.crt");
like($out, qr/^fail .*name does not match/, 'verify: wrong name fails');
($rc, $out) = sh("timeout 10 $tool connect $port -v -n relay.test "
    . "-c $dir/other.crt");
like($out, qr/^fail .*not trusted/, 'verify: wrong CA fails');
($rc, $out) = sh("timeout 10 $tool connect $port -n relay.test "
    . "-c $dir/other.crt");
like($out, qr/^ok .* verified=0$/, 'encrypt/may: wrong CA accepted, '
    . 'reported unverified');
($rc, $out) = sh("timeout 10 $tool connect $port -M 0x0302");
like($out, qr/^fail .*protocol/, 'our client limited to TLS 1.1 fails');
stop($pid);

# --- our client against openssl s_server -------------------------------------------
{
	my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1:0', Listen => 1)
	    or die;
	my $sport = $l->sockport;
	close $l;
	my $spid = fork // die;
	if ($spid == 0) {
		open STDIN, '<', '/dev/null';
		open STDOUT, '>', "$dir/s_server.out";
		open STDERR, '>&', \*STDOUT;
		exec 'timeout', '60', 'openssl', 's_server', '-accept',
		    "127.0.0.1:$sport", '-cert', "$dir/leaf.crt", '-key',
		    "$dir/leaf.key", '-cert_chain', "$dir/int.crt", '-rev';
		exit 127;
	}
	push @kids, $spid;
	for (1 .. 100) {
		last if IO::Socket::INET->new(PeerAddr => "127.0.0.1:$sport");
		select(undef, undef, undef, 0.05);
	}
	($rc, $out) = sh("timeout 10 $tool connect $sport -H -v -n relay.test "
	    . "-c $dir/root.crt");
	like($out, qr/^ok TLSv1\.2 ECDHE-ECDSA-AES128-GCM-SHA256 verified=1$/,
	    'our client verifies openssl s_server (TLS 1.3 capable peer)');
	($rc, $out) = sh("timeout 10 $tool connect $sport -H -v -n wrong.test "
	    . "-c $dir/root.crt");
	like($out, qr/^fail .*name does not match/,
	    'against s_server: wrong name fails');
	stop($spid);
}

done_testing();
