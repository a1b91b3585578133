#!/usr/bin/perl
# tls_required.t — the inbound TLS policy, with swaks as the sender and
# smtp-sink as the customer: `tls_required yes` answers MAIL in plaintext
# with 530 5.7.0 and relays once the sender has done STARTTLS; clients in
# `tls_exempt` and senders whose domain (or a subdomain of it) is in
# `tls_exempt_sender` may still send in plaintext; `listen ADDR:PORT
# tls_required` applies the policy to that listener only; `mxgate -n`
# refuses bad values with file:line.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxSMTP;

if ($> != 0) {
	fail('needs root: the relay roles drop to their own users');
	done_testing();
	exit;
}

my $sink = start_sink();
my $route = "route example.test 127.0.0.1:" . $sink->port . "\n";

sub swaks {
	my ($port, $from, @opt) = @_;
	my ($rc, $out) = MxSMTP::run_timeout(30, 'swaks', '--server',
	    "127.0.0.1:$port", '--from', $from, '--to', 'alice@example.test',
	    '--timeout', '20', @opt);
	return ($rc, $out);
}

# everyone, no exemption
my $mx = start_mxgate(config => $route . "tls_required yes\n");
my ($rc, $out) = swaks($mx->port, 'bob@sender.test');
isnt($rc, 0, 'tls_required yes: plaintext MAIL is refused');
like($out, qr/<\*\* 530 5\.7\.0 Must issue a STARTTLS command first/,
    '... with 530 5.7.0');
ok($mx->wait_log(qr/NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.1\]: 530 5\.7\.0 .*from=<bob\@sender\.test> \(tls_required\)/, 3),
    '... and logged');
$sink->clear;
($rc, $out) = swaks($mx->port, 'bob@sender.test', '--tls');
is($rc, 0, 'after STARTTLS the same message is relayed') or diag $out;
is($sink->wait_count(1, 10), 1, '... and arrives');
$mx->stop;

# exemptions: a client CIDR, a sender domain and its subdomains
$mx = start_mxgate(config => $route . "tls_required yes\n" .
    "tls_exempt_sender partner.example\n");
$sink->clear;
($rc, $out) = swaks($mx->port, 'bob@partner.example');
is($rc, 0, 'tls_exempt_sender partner.example: its sender may use plaintext') or diag $out;
($rc, $out) = swaks($mx->port, 'bob@mail.partner.example');
is($rc, 0, '... so may a subdomain\'s') or diag $out;
($rc, $out) = swaks($mx->port, 'bob@notpartner.example');
like($out, qr/530 5\.7\.0/, '... not a domain that merely ends the same way');
is($sink->wait_count(2, 10), 2, 'the two exempt messages arrived');
$mx->stop;

$mx = start_mxgate(config => $route . "tls_required yes\ntls_exempt 127.0.0.0/8\n");
($rc, $out) = swaks($mx->port, 'bob@sender.test');
is($rc, 0, 'tls_exempt 127.0.0.0/8: the client may use plaintext') or diag $out;
$mx->stop;

# per listener: only the second one requires TLS
my $p2 = MxSMTP::free_port();
$mx = start_mxgate(config => $route . "listen $MxSMTP::HOST:$p2 tls_required\n");
($rc, $out) = swaks($mx->port, 'bob@sender.test');
is($rc, 0, 'listen without tls_required: plaintext relayed') or diag $out;
($rc, $out) = swaks($p2, 'bob@sender.test');
like($out, qr/530 5\.7\.0/, 'listen ... tls_required: plaintext MAIL refused');
($rc, $out) = swaks($p2, 'bob@sender.test', '--tls');
is($rc, 0, '... and relayed after STARTTLS') or diag $out;
is_deeply([ $mx->crashes ], [], 'no process died');
$mx->stop;

# bad values
my $dir = tmpdir();
my $bad = write_file("$dir/bad.conf", "hostname mx.example.test\n" .
    "listen 127.0.0.1:2525 tls_please\n$route" .
    "tls_required maybe\ntls_exempt 300.1.2.3/8\n" .
    "tls_exempt_sender .bad.example\n");
my ($nrc, $nout, $nerr) = run(bin('mxgate'), '-n', '-f', $bad);
is($nrc, 1, 'mxgate -n: bad TLS policy values are refused');
like($nerr, qr/bad\.conf:2: listen: 'tls_please' is not tls_required/, '... listen flag');
like($nerr, qr/bad\.conf:4: tls_required: 'maybe' is not yes or no/, '... tls_required');
like($nerr, qr/bad\.conf:5: tls_exempt: /, '... tls_exempt');
like($nerr, qr/bad\.conf:6: tls_exempt_sender: '\.bad\.example' is not a domain/, '... tls_exempt_sender');

$sink->stop;
done_testing();
