#!/usr/bin/perl
# mxgatectl_status.t — `mxgatectl status [--json]` against a live relay:
# healthy (exit 0) while the relay runs; the queue's messages and the
# oldest's age once a customer is down; degraded (exit 1, one reason per
# line) when the relay is stopped or the configuration does not check
# (its FILE:LINE errors shown); --json is one object a JSON parser reads;
# every run is audited.
use strict;
use warnings;
use Test::More;
use JSON::PP;
use Digest::SHA;
use MxTest;
use MxSMTP;

if ($> != 0) {
	fail('needs root: the relay roles drop to their own users');
	done_testing();
	exit;
}

my $ctl = bin('mxgatectl');
my $down = MxSMTP::dead_port();
my $mx = start_mxgate(config => "route example.test 127.0.0.1:$down\n");

my ($rc, $out, $err) = run($ctl, '-f', $mx->conf, 'status');
is($rc, 0, 'status: exit 0 while the relay runs') or diag($out . $err);
like($out, qr/^configuration: \S+: valid$/m, 'status: the configuration checks');
like($out, qr/^relay: running$/m, 'status: the relay runs');
like($out, qr/^route: example\.test -> 127\.0\.0\.1:$down \(tls may\)$/m, 'status: the route');
like($out, qr/^healthy$/m, 'status: healthy');
# the host has no image's SBOM, unless one is installed where the image has it
my $sbom = '/usr/share/mxgate/mxgate.spdx.json';
my $sbom_sha = -f $sbom ? Digest::SHA->new(256)->addfile($sbom)->hexdigest : undef;
like($out, $sbom_sha ? qr/^software bill of materials: sha256 $sbom_sha \(\Q$sbom\E\)$/m
    : qr/^software bill of materials: none \(\Q$sbom\E\)$/m, 'status: the SBOM\'s hash, or none');
like($out, qr/^tls certificate: \S+ \(present\), expires \d{4}-\d\d-\d\d \(36[45]\d days\), sha256 [0-9a-f]{64}$/m,
    'status: the self-signed certificate, when it expires, its fingerprint');
like($err, qr/audit: .* op=status arg=- result=healthy reasons=0 prev=/, 'status is audited');
like($out, qr/^log archives: sealed with the appliance key: put your X25519 public key in log-archive-key\.pem/m,
    'status: without a customer key the archives are sealed with the appliance key, and it says what to do');
(my $keyfile = $mx->conf) =~ s{[^/]+$}{log-archive-key.pem};
run($ctl, 'logs', 'keygen', "$keyfile.private", $keyfile);
($rc, $out) = run($ctl, '-f', $mx->conf, 'status');
like($out, qr/^log archives: sealed to your key \(\Q$keyfile\E\)$/m,
    'status: with log-archive-key.pem beside the configuration, sealed to it');
unlink $keyfile, "$keyfile.private";

# a certificate about to expire: degraded, and why
SKIP: {
	my $d = tmpdir();
	my ($orc) = run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
	    'ec_paramgen_curve:P-256', '-nodes', '-keyout', "$d/key.pem",
	    '-out', "$d/cert.pem", '-days', '5', '-subj', '/CN=mx.example.test');
	is($orc, 0, 'openssl made a certificate valid for 5 days') or skip('no openssl', 2);
	write_file("$d/mxgate.conf", "hostname mx.example.test\nlisten 127.0.0.1:" .
	    MxSMTP::free_port() . "\nroute example.test 127.0.0.1:$down\n" .
	    "queue $d/queue\ntls_cert $d/cert.pem\ntls_key $d/key.pem\n");
	($rc, $out) = run($ctl, '-f', "$d/mxgate.conf", '-a', "$d/audit", 'status');
	my ($fp) = $out =~ /^tls certificate: \S+cert\.pem \(present\), expires \S+ \([45] days\), sha256 ([0-9a-f]{64})$/m;
	ok(defined $fp, 'status: its expiry and fingerprint') or diag $out;
	my (undef, $ofp) = run('openssl', 'x509', '-in', "$d/cert.pem", '-noout', '-fingerprint', '-sha256');
	$ofp =~ s/.*=//; $ofp =~ s/[:\s]//g;
	is($fp, lc $ofp, '... the SHA-256 of the certificate, as openssl computes it');
	like($out, qr/^degraded: tls certificate expires in [45] days$/m,
	    '... degraded, and why');
}

# a message for the customer that is down: queued
my $c = smtp_connect($mx->port);
my $r = $c->transaction(data => "Subject: status\r\n\r\nqueued\r\n");
like($r, qr/^250 .*queued as/, 'a message queued for the customer that is down');
$c->cmd('QUIT');
sleep 1.2;
($rc, $out) = run($ctl, '-f', $mx->conf, 'status');
like($out, qr/^queue: 1 message\(s\), 0 held, oldest [1-9]\d* s; map \d+ of \d+ bytes$/m,
    'status: the queue holds it, with its age');
like($out, qr/^messages since the relay started: 0 relayed in session, 1 queued, 0 refused$/m,
    'status: the relay\'s message counters');
like($out, qr/^messages today \(UTC\): 0 relayed in session, 1 queued, 0 refused$/m,
    '... and today\'s');
like($out, qr/^sessions: \d+ now$/m, '... and the sessions now');

($rc, $out) = run($ctl, '-f', $mx->conf, 'status', '--json');
my $j = eval { decode_json($out) };
ok($j, 'status --json: one JSON object') or diag($out);
is($j->{healthy}, JSON::PP::true, 'json: healthy') if $j;
is($j->{sbom_sha256}, $sbom_sha, 'json: sbom_sha256') if $j;
is($j->{relay_running}, JSON::PP::true, 'json: relay_running') if $j;
is($j->{queue}{messages}, 1, 'json: one message queued') if $j;
is_deeply($j->{messages_today}, { relayed => 0, queued => 1, refused => 0 },
    'json: messages_today') if $j;
is_deeply($j->{degraded}, [], 'json: no reason') if $j;

$mx->stop;
($rc, $out) = run($ctl, '-f', $mx->conf, 'status');
is($rc, 1, 'relay stopped: exit 1 (degraded)');
like($out, qr/^degraded: the relay is not running/m, '... and why');

my $dir = tmpdir();
my $bad = write_file("$dir/bad.conf", "hostname mx.example.test\nlisten 127.0.0.1:2525\n" .
    "route example.test 127.0.0.1:25\nmax_errors lots\n");
($rc, $out) = run($ctl, '-f', $bad, '-a', "$dir/audit.log", 'status');
is($rc, 1, 'a configuration that does not check: exit 1');
like($out, qr/^configuration: \S+bad\.conf: INVALID$/m, '... INVALID');
like($out, qr/bad\.conf:4: /m, '... with its FILE:LINE error');
like($out, qr/^degraded: configuration \S+ does not check/m, '... as the reason');
($rc, $out) = run($ctl, '-f', $bad, 'status', '--bogus');
is($rc, 100, 'usage error: exit 100');
done_testing();
