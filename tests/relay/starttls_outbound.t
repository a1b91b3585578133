#!/usr/bin/perl
# starttls_outbound.t — outbound TLS per route (SPEC 3.3, 3.6) against
# real peers on 127.0.0.1:
#  - the customer is a real Postfix (a private instance: own main.cf and
#    master.cf, queue and log in a temp dir, smtpd with a certificate for
#    mx.customer.test from a test CA made here, relaying to smtp-sink);
#  - `tls may`: TLS used, "Untrusted TLS connection established";
#    `tls encrypt` toward a server without STARTTLS (smtp-sink): queued,
#    never sent in clear; `tls encrypt` toward Postfix: delivered in TLS;
#    `tls verify mx.customer.test` with tls_ca = the test CA: "Verified",
#    delivered; wrong name, wrong CA: queued; `tls none`: no STARTTLS;
#  - the client side of the STARTTLS injection: a fake customer (Perl,
#    IO::Socket::SSL) answers our STARTTLS with "220 ready\r\n250
#    injected\r\n" in one write; the extra line is discarded and logged,
#    never taken as a reply, and the mail is delivered inside TLS.
use strict;
use warnings;
use Test::More;
use FindBin;
use IO::Socket::INET;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use MxTest;
use MxSMTP;
use MxTLS;
use MxPostfix;

need(['root (the roles drop to their own users)', $> == 0],
    ['openssl (package openssl)', system('openssl version >/dev/null 2>&1') == 0]);
my $T0 = time;

my $dir = tmpdir();
chmod 0711, $dir;	# postfix's daemons (user postfix) read the key path
my $chroot = tmpdir();
chmod 0755, $chroot;

my ($cacrt, $cakey) = make_ca($dir, 'ca', 'Test Customer CA');
my ($ocrt) = make_ca($dir, 'other', 'Other CA');
my ($lcrt, $lkey) = make_leaf($dir, 'leaf', $cacrt, $cakey,
    'mx.customer.test', ['mx.customer.test']);
my ($rc, $out) = (0, '');

# --- the customer: a private Postfix instance ------------------------------

my $sink = start_sink();
my @relay = qw(may.test encrypt.test verify.test wrongname.test none.test);
my $pfi = MxPostfix::start(dir => $dir, main => <<"CF");
relay_domains = @relay
relayhost = [127.0.0.1]:@{[ $sink->port ]}
smtpd_tls_cert_file = $lcrt
smtpd_tls_key_file = $lkey
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtp_tls_security_level = none
CF
my ($pfport, $pf_up, $pflog) = ($pfi->port, $pfi->{up}, $pfi->{log});
$out = $pfi->{out};
my $pflog_text = sub { read_file($pflog) // '' };

# --- the fake customer for the injection test -------------------------------

my $have_ssl = eval { require IO::Socket::SSL; 1 };
my $fakeport = free_port();
my $fakelog = "$dir/fake.log";
my $fake;
if ($have_ssl) {
	my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
	    LocalPort => $fakeport, Listen => 5, ReuseAddr => 1)
	    or die "listen: $!";
	$fake = fork // die;
	if (!$fake) {
		alarm 60;
		open my $lg, '>', $fakelog or POSIX::_exit(1);
		$lg->autoflush(1);
		for (1 .. 3) {
			my $c = $l->accept or last;
			fake_session($c, $lg);
		}
		POSIX::_exit(0);
	}
	close $l;
}
END { local $?; if ($fake) { kill "KILL", $fake; waitpid($fake, 0) } }

# One SMTP session of the fake customer; every line it receives goes to
# the log as "C: line" / "T: line" (clear / TLS).
sub fake_session {
	my ($c, $lg) = @_;
	my $tls = 0;
	my $rd = sub {
		my $l = <$c>;
		return undef unless defined $l;
		(my $p = $l) =~ s/\r?\n\z//;
		print $lg ($tls ? 'T' : 'C') . ": $p\n";
		return $p;
	};
	my $wr = sub { syswrite($c, $_[0]) };
	$c->autoflush(1);
	$wr->("220 fake.customer.test ESMTP\r\n");
	while (defined(my $l = $rd->())) {
		if ($l =~ /^EHLO/i) {
			$wr->("250-fake.customer.test\r\n" .
			    ($tls ? '' : "250-STARTTLS\r\n") . "250 8BITMIME\r\n");
		} elsif ($l =~ /^STARTTLS/i && !$tls) {
			# the injection: a reply the client never asked for,
			# in the same write as the 220
			$wr->("220 2.0.0 ready\r\n250 injected\r\n");
			IO::Socket::SSL->start_SSL($c, SSL_server => 1,
			    SSL_cert_file => $lcrt, SSL_key_file => $lkey,
			    Timeout => 10) or do {
				print $lg "TLS failed: " .
				    IO::Socket::SSL::errstr() . "\n";
				return;
			};
			$tls = 1;
			print $lg "TLS up: " . $c->get_sslversion . "\n";
		} elsif ($l =~ /^(MAIL|RCPT|RSET|NOOP)/i) {
			$wr->("250 2.0.0 Ok\r\n");
		} elsif ($l =~ /^DATA/i) {
			$wr->("354 go ahead\r\n");
			while (defined(my $d = $rd->())) { last if $d eq '.' }
			$wr->("250 2.0.0 Ok: fake-delivered\r\n");
		} elsif ($l =~ /^QUIT/i) {
			$wr->("221 2.0.0 Bye\r\n");
			last;
		} else {
			$wr->("502 5.5.2 what\r\n");
		}
	}
	close $c;
}

# --- mxgate ----------------------------------------------------------------

my $pfp = $pf_up ? $pfport : dead_port();
my $mx = start_mxgate(config => <<"CONF");
chroot $chroot
allow 127.0.0.0/8
tls_ca $cacrt
route may.test 127.0.0.1:$pfp tls may
route encrypt.test 127.0.0.1:$pfp tls encrypt
route verify.test 127.0.0.1:$pfp tls verify mx.customer.test
route wrongname.test 127.0.0.1:$pfp tls verify other.test
route none.test 127.0.0.1:$pfp tls none
route plain.test 127.0.0.1:@{[ $sink->port ]} tls encrypt
route inject.test 127.0.0.1:$fakeport tls encrypt
CONF
my $mxo = start_mxgate(config => <<"CONF");
chroot $chroot
allow 127.0.0.0/8
tls_ca $ocrt
route verify.test 127.0.0.1:$pfp tls verify mx.customer.test
CONF

# Sends one message to rcpt@DOMAIN through $gw; returns (final reply,
# queue id, the log lines of that id).
my $n = 0;
sub send_to {
	my ($gw, $domain) = @_;
	$n++;
	my $c = smtp_connect($gw->port, timeout => 15);
	my $r = $c->transaction(from => 'bob@sender.test',
	    to => "alice\@$domain",
	    data => "Subject: tls test $n ($domain)\r\n\r\nbody $n\r\n");
	$c->cmd('QUIT');
	my ($id) = ($r // '') =~ /^250 2\.0\.0 Ok: queued as ([0-9A-F]+)/;
	return ($r // 'no reply', $id // 'NONE');
}
sub status_of {		# waits for the status= line of the id
	my ($gw, $id) = @_;
	# in session, the id of the 250 is the session's; once stored, the
	# status line names the queue file by the same id
	my $l = $gw->wait_log(qr/\b\Q$id\E: to=<[^>]*>, .*status=|status=.*queued as \Q$id\E\)$/, 10) // '';
	return $l;
}
sub queued {
	my ($gw, $id) = @_;
	my ($rc, $list) = run_timeout(10, bin('mxgatectl'), '-f', $gw->conf,
	    'queue', 'list');
	return $list =~ /^\Q$id\E\s/m;
}

# a customer Postfix that did not start fails here (and every test below),
# never skips them
ok($pf_up, 'the customer Postfix started') or diag("postfix start: $out");
{

	# tls may
	my ($r, $id) = send_to($mx, 'may.test');
	like($r, qr/^250 /, 'tls may: 250');
	like(status_of($mx, $id), qr/relay=[^,]*127\.0\.0\.1\]:$pfport, .*status=sent/,
	    'tls may: delivered to Postfix in session');
	ok($mx->wait_log(qr/mxgate\/smtp\[\d+\]: Untrusted TLS connection established to may\.test\[127\.0\.0\.1\]:$pfport: TLSv1\.2 with cipher ECDHE-ECDSA-AES(128|256)-GCM-SHA(256|384) \(\d+\/\d+ bits\)$/),
	    'tls may: "Untrusted TLS connection established ... TLSv1.2"')
	    or diag $mx->log;
	ok(MxSMTP::wait_until(5, sub { $pflog_text->() =~ /postfix\/smtpd\[\d+\]: Anonymous TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.2 with cipher ECDHE-ECDSA-\S+/ }),
	    'Postfix saw TLSv1.2 from us') or diag $pflog_text->();
	ok(MxSMTP::wait_until(10, sub { grep { /tls test 1 \(may\.test\)/ } $sink->messages }),
	    'tls may: message forwarded by Postfix to the sink');

	# tls encrypt, toward Postfix (STARTTLS offered)
	($r, $id) = send_to($mx, 'encrypt.test');
	like(status_of($mx, $id), qr/status=sent/, 'tls encrypt + STARTTLS: delivered');

	# tls verify, right CA and name
	my $before = () = $pflog_text->() =~ /Anonymous TLS connection established/g;
	($r, $id) = send_to($mx, 'verify.test');
	like($r, qr/^250 /, 'tls verify: 250');
	like(status_of($mx, $id), qr/status=sent/, 'tls verify mx.customer.test: delivered');
	ok($mx->wait_log(qr/Verified TLS connection established to mx\.customer\.test\[127\.0\.0\.1\]:$pfport: TLSv1\.2 with cipher /),
	    'tls verify: "Verified TLS connection established to mx.customer.test"')
	    or diag $mx->log;

	# tls verify, wrong name
	($r, $id) = send_to($mx, 'wrongname.test');
	like($r, qr/^250 2\.0\.0 Ok: queued as /, 'wrong name: sender still gets 250');
	like(status_of($mx, $id), qr/status=deferred \(.*(certificate|verif|name).*\)$/im,
	    'wrong name: deferred, the certificate named as the reason');
	ok(queued($mx, $id), 'wrong name: the message is in the queue');

	# tls verify, wrong CA
	($r, $id) = send_to($mxo, 'verify.test');
	like($r, qr/^250 2\.0\.0 Ok: queued as /, 'wrong CA: sender still gets 250');
	like(status_of($mxo, $id), qr/status=deferred \(.*(certificate|verif|trust).*\)$/im,
	    'wrong CA: deferred, the certificate named as the reason');
	ok(queued($mxo, $id), 'wrong CA: the message is in the queue');
	unlike($mxo->log, qr/(Verified|Untrusted) TLS connection established/,
	    'wrong CA: no TLS connection "established"');

	# tls none
	my $tls_lines = () = $mx->log =~ /TLS connection established to/g;
	($r, $id) = send_to($mx, 'none.test');
	like(status_of($mx, $id), qr/status=sent/, 'tls none: delivered');
	is(scalar(() = $mx->log =~ /TLS connection established to/g), $tls_lines,
	    'tls none: no TLS connection made');
	# the queue runner may also be talking to Postfix (it retries the
	# deferred verify cases with STARTTLS), so look for the plain session
	# among all disconnect lines rather than at the last one
	my ($disc) = MxSMTP::wait_until(5, sub {
	    my @d = $pflog_text->() =~ /^.*postfix\/smtpd\[\d+\]: disconnect from localhost.*$/mg;
	    (grep { !/starttls=/ } @d)[0] });
	ok(defined $disc, 'tls none: Postfix saw a session without STARTTLS '
	    . '(its disconnect line)');
}

# tls encrypt toward a server without STARTTLS (smtp-sink)
{
	my ($r, $id) = send_to($mx, 'plain.test');
	like($r, qr/^250 2\.0\.0 Ok: queued as /, 'encrypt, no STARTTLS offered: 250 queued');
	like(status_of($mx, $id), qr/status=deferred \(.*does not offer STARTTLS and route plain\.test requires TLS \(tls encrypt\)\)$/m,
	    'encrypt, no STARTTLS offered: deferred, "requires TLS"')
	    or diag $mx->log;
	ok(queued($mx, $id), 'encrypt, no STARTTLS offered: in the queue');
	ok(!grep({ /\(plain\.test\)/ } $sink->messages),
	    'encrypt: nothing sent in clear to the sink');
}

# the injection, client side
ok($have_ssl, 'IO::Socket::SSL installed (package libio-socket-ssl-perl)')
    or diag $@;
if ($have_ssl) {
	my ($r, $id) = send_to($mx, 'inject.test');
	like($r, qr/^250 /, 'injection: 250 to the sender');
	ok($mx->wait_log(qr/127\.0\.0\.1\[127\.0\.0\.1\]:$fakeport: 14 bytes after the 220 to STARTTLS discarded \(injection attempt\)/),
	    'log: 14 bytes after the 220 to STARTTLS discarded') or diag $mx->log;
	like(status_of($mx, $id), qr/status=sent \(250 2\.0\.0 Ok: fake-delivered\)/,
	    'delivered inside TLS; "250 injected" never taken as a reply');
	my $fl = read_file($fakelog) // '';
	like($fl, qr/^TLS up: TLSv1_2$/m, 'fake customer: TLS 1.2 up');
	like($fl, qr/^T: EHLO mx\.example\.test\nT: MAIL FROM:<bob\@sender\.test>/m,
	    'after TLS we greet again, then MAIL (state reset)') or diag $fl;
	like($fl, qr/^T: Subject: tls test \d+ \(inject\.test\)$/m,
	    'the message went inside TLS');
}

$mx->stop;
$mxo->stop;
note sprintf('runtime %.0f s', time - $T0);
done_testing();
