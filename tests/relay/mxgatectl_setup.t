#!/usr/bin/perl
# mxgatectl_setup.t — `mxgatectl setup`, the first configuration, answered
# on its standard input as an admin would type it on the console, with a
# mistake at most steps: each wrong answer is refused with a reason and
# asked again; the result is a committed revision ("mxgatectl setup")
# whose mxgate.conf, network.conf, ntp.conf and mailbox list say what was
# answered, lines it does not ask about kept, and which `mxgate -n`
# accepts; the mailbox list can come from a directory export. Input that
# ends early, or "no" at the end, writes nothing. Every run is audited.
use strict;
use warnings;
use Test::More;
use FindBin;
use MxTest;

my $ctl = bin('mxgatectl');
my $dir = tmpdir();
my $etc = "$dir/etc";
mkdir $etc or die;
# what a fresh appliance has: the defaults, and here the queue's place
write_file("$etc/mxgate.conf", "queue $dir/queue\ncommand_timeout 30\n");
write_file("$etc/network.conf", "MODE=dhcp\nIFACE=auto\n");
write_file("$etc/ntp.conf", "server pool.ntp.org\n");
my $audit = "$dir/audit.log";
$ENV{MXGATECTL_APPLY} = '/bin/true';
$ENV{MXGATECTL_PASSWD} = '/bin/true';

sub setup {
	my ($answers) = @_;
	my $in = write_file("$dir/answers", join("\n", @$answers) . "\n");
	return run('sh', '-c', "exec '$ctl' -f '$etc/mxgate.conf' -a '$audit' setup < '$in'");
}

# input that ends early: nothing written
my ($rc, $out, $err) = setup(['yes', 'mx.example.test', 'dhcp']);
is($rc, 100, 'input ends in the middle: exit 100');
like($out, qr/input ended: nothing changed/, '... says nothing changed');
ok(!-e "$etc.revisions/candidate", '... and no candidate was made');

my @answers = (
	'yes',				# 1. password (passwd: /bin/true here)
	'mx_bad',			# 2. not a host name
	'mx.example.test',
	'static',			# 3. network
	'192.0.2.10',			#    no prefix
	'192.0.2.10/24',
	'2001:db8::1',			#    a v6 gateway for v4
	'192.0.2.1',
	'2001:db8::10/64',
	'2001:db8::1',
	'',				#    static needs a resolver
	'192.0.2.53 nonsense',
	'192.0.2.53 192.0.2.54',
	'ntp1.example.test 192.0.2.123',	# 4. NTP
	'example.test',			# 5. routes
	'127.0.0.1:99999',		#    a bad port
	'127.0.0.1:2526 127.0.0.2',
	'maybe',
	'encrypt',
	'example.test',			#    twice
	'.bad..domain',
	'example.org',
	'127.0.0.1:2527',
	'',				#    (tls: the default, may)
	'',				#    done
	'postmaster@elsewhere.test',	# 6. not routed
	'',				#    the default
	'type',				# 7. mailboxes
	'Alice@Example.TEST',
	'not an address',
	'@example.org',
	'',
	'files /nonexistent.pem /nonexistent.key',	# 8. certificate
	'keep',
	'zen.example',			# 9. DNSBL
	'yes',
);
($rc, $out, $err) = setup(\@answers);
is($rc, 0, 'setup answered to the end: exit 0') or diag $out . $err;
my @again = $out =~ /^  ! .*: asked again$/mg;
is(scalar(@again), 12, 'each of the 12 wrong answers refused and asked again') or diag join("\n", @again);
like($out, qr/^  ! 'mx_bad' is not a fully qualified host name: asked again$/m, '... a host name');
like($out, qr/^  ! '192\.0\.2\.10' is not an IPv4 address with its prefix: asked again$/m, '... an address without prefix');
like($out, qr/^  ! '127\.0\.0\.1:99999' is not an IP address with an optional :PORT: asked again$/m, '... a bad port');
like($out, qr/^  ! postmaster\@elsewhere\.test is not in one of the domains above: asked again$/m, '... a postmaster outside');
like($out, qr/^  ! \/nonexistent\.pem: .*asked again$/m, '... a certificate file that is not there');
like($out, qr/^--- summary/m, 'a summary before the question');

my $conf = read_file("$etc/mxgate.conf") // '';
like($conf, qr/^hostname mx\.example\.test$/m, 'mxgate.conf: hostname');
like($conf, qr/^listen 0\.0\.0\.0:25$/m, '... listen on IPv4');
like($conf, qr/^listen \[::\]:25$/m, '... and IPv6 (an IPv6 address was given)');
like($conf, qr/^route example\.test 127\.0\.0\.1:2526 127\.0\.0\.2 tls encrypt$/m, '... the first route');
like($conf, qr/^route example\.org 127\.0\.0\.1:2527 tls may$/m, '... the second, tls may by default');
like($conf, qr/^postmaster postmaster\@example\.test$/m, '... the postmaster');
like($conf, qr/^mailboxes \Q$etc\E\/mailboxes$/m, '... the mailbox list');
like($conf, qr/^resolver 192\.0\.2\.53$/m, '... the resolvers for DNSBL');
like($conf, qr/^dnsbl zen\.example 1$/m, '... the DNSBL zone');
like($conf, qr/^queue \Q$dir\E\/queue$/m, '... and the lines setup does not ask about, kept');
like($conf, qr/^command_timeout 30$/m, '... all of them');
is(read_file("$etc/mailboxes"), "alice\@example.test\n\@example.org\n", 'the mailbox list, lower case');
my $net = read_file("$etc/network.conf") // '';
like($net, qr/^MODE=static\nIFACE=auto\nADDRESS=192\.0\.2\.10\/24\nGATEWAY=192\.0\.2\.1\nDNS="192\.0\.2\.53 192\.0\.2\.54"\nADDRESS6=2001:db8::10\/64\nGATEWAY6=2001:db8::1$/m,
    'network.conf: static v4 and v6, the resolvers') or diag $net;
is(read_file("$etc/ntp.conf"), "# /etc/mxgate/ntp.conf — written by mxgatectl setup\nserver ntp1.example.test\nserver 192.0.2.123\n",
    'ntp.conf');
my ($crc, $cout) = run(bin('mxgate'), '-n', '-f', "$etc/mxgate.conf");
is($crc, 0, 'mxgate -n accepts the result') or diag $cout;
($crc, $cout) = run($ctl, '-f', "$etc/mxgate.conf", '-a', $audit, 'config', 'history');
like($cout, qr/^\*\s+1\s.*mxgatectl setup$/m, 'committed as revision 1, "mxgatectl setup"') or diag $cout;
my $log = read_file($audit) // '';
like($log, qr/op=setup arg=- result=started/, 'audited: started');
like($log, qr/op=setup arg=- result=candidate written/, '... the candidate written');
like($log, qr/op=config\.commit .*result=ok/, '... and the commit');

# again, importing the mailboxes from a directory export, and "no" at the end
my @again2 = ('no', 'mx2.example.test', 'dhcp', 'none', '', 'none',
    'example.test', '127.0.0.1:2526', '', '', '', "import $FindBin::Bin/data/m365.csv",
    'keep', 'none', 'no');
($rc, $out) = setup(\@again2);
is($rc, 100, '"no" at the end: exit 100');
like($out, qr/^  \d+ addresses read from .*m365\.csv$/m, 'the directory export was read on the spot');
like($out, qr/^nothing changed$/m, '... and nothing changed');
like(read_file("$etc/mxgate.conf"), qr/^hostname mx\.example\.test$/m, 'the running configuration is as it was');
ok(!-e "$etc.revisions/candidate", '... and there is no candidate');
like(read_file($audit), qr/op=setup arg=- result=abandoned/, 'audited: abandoned');

# a certificate chain and key pasted on the console: garbage first
system('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256',
    '-nodes', '-keyout', "$dir/k.pem", '-out', "$dir/c.pem", '-days', '30',
    '-subj', '/CN=mx3.example.test') == 0 or BAIL_OUT('openssl req failed');
my ($cert, $key) = (read_file("$dir/c.pem"), read_file("$dir/k.pem"));
chomp(my $c1 = $cert);
chomp(my $k1 = $key);
my @again3 = ('no', 'mx3.example.test', 'dhcp', 'none', '', 'none',
    'example.test', '127.0.0.1:2526', '', '', '', 'none',
    'paste', "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n$k1",
    'paste', "$c1\n$k1", 'none', 'yes');
($rc, $out, $err) = setup(\@again3);
is($rc, 0, 'setup with a pasted certificate: exit 0') or diag $out . $err;
like($out, qr/^  ! the pasted certificate and key do not load: .*: asked again$/m, 'a chain that does not load is refused');
like($out, qr/^  SHA-256 fingerprint [0-9a-f:]{20,}/mi, 'the good one: its fingerprint shown');
$conf = read_file("$etc/mxgate.conf") // '';
like($conf, qr/^tls_cert \Q$etc\E\/tls-cert\.pem\ntls_key \Q$etc\E\/tls-key\.pem$/m, 'mxgate.conf names the pasted files');
is(read_file("$etc/tls-cert.pem"), $cert, 'the chain written as pasted');
is(read_file("$etc/tls-key.pem"), $key, 'the key too');
is((stat "$etc/tls-key.pem")[2] & 07777, 0600, '... mode 0600');
($crc, $cout) = run(bin('mxgate'), '-n', '-f', "$etc/mxgate.conf");
is($crc, 0, 'mxgate -n loads them') or diag $cout;
unlike(read_file($audit), qr/PRIVATE KEY|BEGIN/, 'nothing of the key in the audit trail');
done_testing();
