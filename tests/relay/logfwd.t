#!/usr/bin/perl
# logfwd.t — mxgate-logfwd against a real receiver: Debian's rsyslogd with
# TLS (imtcp, gtls driver, RFC 5425 octet counting) on loopback, its
# certificate signed by a CA of the test's own, `syslog_server ... tls
# verify logs.example.test`. The local logs are an s6-log directory the
# test writes and rotates (current renamed to @TAI64N.s, as s6-log does).
# Through a rotation, a receiver restart (lines written while it is down
# wait in the local log) and a forwarder restart (its cursor on disk),
# every line arrives exactly once and in order, with its host, program
# and pid as RFC 5424 fields. A forwarder that cannot verify the
# server's name sends nothing. The forwarder runs as it does on the
# appliance: started as root, it drops to mxlog under its seccomp filter
# (a system call outside it would kill it: no process may die here).
use strict;
use warnings;
use Test::More;
use File::Temp ();
use MxTest;
use MxSMTP;

my $rsyslogd = '/usr/sbin/rsyslogd';
ok(-x $rsyslogd, 'rsyslogd (make deps installs rsyslog and rsyslog-gnutls)')
    or BAIL_OUT('no rsyslogd');
ok(-f '/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so', "rsyslog's TLS driver")
    or BAIL_OUT('no rsyslog-gnutls');

my $dir = tmpdir();
# a CA and the log server's certificate
sub ssl { my ($rc, $o, $e) = run('openssl', @_); $rc == 0 or die "openssl @_: $e"; }
ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', "$dir/ca.key", '-out', "$dir/ca.pem", '-days', '30', '-subj', '/CN=Test Log CA');
ssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', "$dir/server.key", '-out', "$dir/server.csr", '-subj', '/CN=logs.example.test');
write_file("$dir/ext", "subjectAltName=DNS:logs.example.test\nextendedKeyUsage=serverAuth\n");
ssl('x509', '-req', '-in', "$dir/server.csr", '-CA', "$dir/ca.pem", '-CAkey', "$dir/ca.key",
    '-CAcreateserial', '-out', "$dir/server.pem", '-days', '30', '-extfile', "$dir/ext");

my $port = free_port();
my $recv = "$dir/received.log";
mkdir "$dir/rs-work";
write_file("$dir/rsyslog.conf", <<"EOF");
global(workDirectory="$dir/rs-work"
    DefaultNetstreamDriver="gtls"
    DefaultNetstreamDriverCAFile="$dir/ca.pem"
    DefaultNetstreamDriverCertFile="$dir/server.pem"
    DefaultNetstreamDriverKeyFile="$dir/server.key")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1"
    StreamDriver.AuthMode="anon")
input(type="imtcp" port="$port" address="127.0.0.1")
template(name="fields" type="string"
    string="%PRI% %TIMESTAMP:::date-rfc3339% %HOSTNAME% %APP-NAME% %PROCID% %msg:::drop-last-lf%\\n")
*.* action(type="omfile" file="$recv" template="fields")
EOF
my $rs;
sub rsyslog_start {
	$rs = MxSMTP::spawn('rsyslogd', "$dir/rsyslogd.out", $rsyslogd, '-n',
	    '-f', "$dir/rsyslog.conf", '-i', "$dir/rsyslogd.pid");
	ok(MxSMTP::wait_until(10, sub { MxSMTP::listening($port) }),
	    'rsyslogd listens (TLS) on 127.0.0.1:' . $port)
	    or diag read_file("$dir/rsyslogd.out");
}
sub rsyslog_stop { MxSMTP::stop_pid($rs) if $rs; $rs = undef }
END { rsyslog_stop() }
rsyslog_start();

# the local logs: one service directory as s6-log keeps it, owned by the
# logging user the forwarder drops to (mxlog: make deps creates it), on a
# path that user can traverse (not the test's own 0700 directory)
my $log = File::Temp::tempdir('mxgate-logfwd-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $log;
mkdir "$log/mxgate";
write_file("$log/mxgate/current", '');
my ($lu, $lg) = (getpwnam('mxlog'))[2, 3];
ok(defined $lu, 'the logging user mxlog exists (make deps)') or BAIL_OUT('no user mxlog');
sub own { system('chown', '-R', "$lu:$lg", $log) == 0 or die 'chown' }
own();
my $n = 0;
sub add_lines {
	my ($k) = @_;
	open(my $fh, '>>', "$log/mxgate/current") or die;
	for (1 .. $k) {
		$n++;
		printf $fh "2026-12-05T10:%02d:%02d+00:00 mx.example.net mxgate/smtpd[%d]: line %d of the test\n",
		    int($n / 60) % 60, $n % 60, 1000 + $n % 7, $n;
	}
	close $fh;
}
my $rot = 0;
sub rotate {
	$rot++;
	rename("$log/mxgate/current", sprintf("$log/mxgate/\@40000000%08x%08x.s", 1700000000 + $rot, 0))
	    or die;
	write_file("$log/mxgate/current", '');
	own();
}
sub received { grep { /line \d+ of the test/ } split /\n/, (read_file($recv) // '') }
sub wait_received {
	my ($k, $secs) = @_;
	MxSMTP::wait_until($secs // 15, sub { received() >= $k });
	return scalar(received());
}

my $conf = "$dir/mxgate.conf";
write_file($conf, "hostname mx.example.test\nlisten 127.0.0.1:" . free_port() .
    "\nroute example.test 127.0.0.1:" . free_port() . "\nqueue $dir/queue\n" .
    "log_dir $log\ntls_ca $dir/ca.pem\n" .
    "syslog_server 127.0.0.1:$port tls verify logs.example.test\n");
my $fwd;
my $fwdlog = "$dir/logfwd.log";
sub fwd_start {
	$fwd = MxSMTP::spawn('mxgate-logfwd', $fwdlog, bin('mxgate-logfwd'), '-f', $conf);
}
sub fwd_stop { MxSMTP::stop_pid($fwd) if $fwd; $fwd = undef }
END { fwd_stop() }
sub fwd_count { my $re = shift; scalar(grep { /$re/ } split /\n/, (read_file($fwdlog) // '')) }

fwd_start();
ok(MxSMTP::wait_until(10, sub { fwd_count(qr/connected to 127\.0\.0\.1:$port \(TLSv1\.2, verified\)/) }),
    'the forwarder connects with TLS and verifies the server') or diag read_file($fwdlog);
sleep 1;	# its first round takes the current ends as the start
add_lines(100);
is(wait_received(100), 100, '100 lines arrive');
rotate();
add_lines(50);
rotate();
add_lines(50);
is(wait_received(200), 200, 'through two rotations: 200');

rsyslog_stop();
ok(MxSMTP::wait_until(10, sub { fwd_count(qr/connection to .* lost|cannot reach/) }),
    'the forwarder sees the receiver go') or diag read_file($fwdlog);
add_lines(100);
rotate();
add_lines(20);
sleep 2;
is(scalar(received()), 200, 'while the receiver is down nothing is sent (the lines wait)');
rsyslog_start();
is(wait_received(320, 45), 320, 'the receiver back: the 120 waiting lines arrive');

fwd_stop();
add_lines(60);
rotate();
add_lines(20);
fwd_start();
is(wait_received(400, 20), 400, 'the forwarder restarted: the lines written meanwhile arrive');
add_lines(50);
is(wait_received(450), 450, '... and new ones after');
sleep 2;

my @got = map { /line (\d+) of the test/ ? $1 : -1 } received();
is(scalar(@got), 450, 'exactly 450 lines received: none twice');
is_deeply(\@got, [1 .. 450], 'each once, in order');
my ($first) = received();
like($first, qr/^22 2026-12-05T10:00:01\+00:00 mx\.example\.net mxgate\/smtpd 1001 line 1 of the test$/,
    'RFC 5424 fields: facility mail, severity info, the line\'s time, host, program, pid')
    or diag $first;
is(scalar(grep { /gone/ } split /\n/, read_file($fwdlog)), 0, 'no gap was reported');
my $uid = (split ' ', (grep { /^Uid:/ } split /\n/, (read_file("/proc/$fwd/status") // ''))[0] // '')[1];
is($uid, $lu, 'the forwarder runs as mxlog');
my $sec = (grep { /^Seccomp:/ } split /\n/, (read_file("/proc/$fwd/status") // ''))[0] // '';
like($sec, qr/^Seccomp:\s+2$/, '... under a seccomp filter');
fwd_stop();
unlike(read_file($fwdlog), qr/signal|Bad system call/i, 'the forwarder never died');

# a server that does not carry the name: nothing is sent
write_file($conf, (read_file($conf) =~ s/tls verify logs\.example\.test/tls verify other.example.test/r));
unlink $fwdlog;
fwd_start();
ok(MxSMTP::wait_until(10, sub { fwd_count(qr/cannot reach 127\.0\.0\.1:$port: TLS handshake: .*certificate/) }),
    'tls verify with another name: refused at the handshake') or diag read_file($fwdlog);
add_lines(5);
sleep 2;
is(scalar(received()), 450, '... and nothing is sent');
fwd_stop();
rsyslog_stop();
done_testing();
