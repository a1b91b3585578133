#!/usr/bin/perl
# mxgatectl_seed.t — cloud-init NoCloud seeds made the configuration, on
# the host (the files a seed volume holds, in a directory):
#  - a full seed (meta-data; network-config version 2, static; a
#    #cloud-config user-data with hostname, users, ntp, write_files and
#    the relay configuration under `mxgate:`) is checked, then applied as
#    one commit "seed: SOURCE" that mxgate -n accepts: network.conf,
#    ntp.conf, the mailbox list and mxgate.conf (with the seed's host
#    name) say what the seed said; an admin account with the seed's
#    SHA-512 hash; every key it ignores named once;
#  - the same instance-id again: nothing done; a new one: applied again;
#  - network-config version 1 (netmask, nameserver entries);
#  - refused whole, nothing changed: a seed that does not parse, one
#    without instance-id, a plain-text password, a file outside
#    /etc/mxgate, a relay configuration mxgate -n refuses (the candidate
#    discarded, the running revision untouched);
#  - an OVF environment (ovf-env.xml, vSphere's ISO transport): the
#    properties checked, applied as one commit "seed: ovf" with the admin's
#    hash; the same properties again do nothing; XML that does not parse
#    and a static address without one are refused, nothing changed;
#  - an OpenStack config drive (openstack/latest/meta_data.json,
#    network_data.json, user_data): applied as "seed: config-2", the uuid
#    as the instance-id, a clear-text admin_pass named and not taken.
use strict;
use warnings;
use Test::More;
use MxTest;

my $ctl = bin('mxgatectl');
my $dir = tmpdir();
my $etc = "$dir/etc";
mkdir $etc or die;
write_file("$etc/mxgate.conf", "queue $dir/queue\n");
write_file("$etc/network.conf", "MODE=dhcp\nIFACE=auto\n");
write_file("$etc/ntp.conf", "server pool.ntp.org\n");
mkdir "$dir/accounts" or die;
write_file("$dir/accounts/passwd", "root:x:0:0:root:/root:/sbin/nologin\n");
write_file("$dir/accounts/shadow", "root:!:1::::::\n");
$ENV{MXGATECTL_ETC} = "$dir/accounts";
$ENV{MXGATECTL_APPLY} = '/bin/true';
my $audit = "$dir/audit.log";
my $hash = crypt('seeded-password', '$6$abcdefghijklmnop$');

sub seed {
	my ($name, %f) = @_;
	my $d = "$dir/$name";
	mkdir $d;
	write_file("$d/$_", $f{$_}) for keys %f;
	return $d;
}
sub ctl { run($ctl, '-f', "$etc/mxgate.conf", '-a', $audit, @_) }

my $full = seed('full',
    'meta-data' => "instance-id: iid-mx-0001\nlocal-hostname: mx-local\n",
    'network-config' => "version: 2\nethernets:\n  eth0:\n    dhcp4: false\n"
	. "    addresses: [192.0.2.10/24, \"2001:db8::10/64\"]\n"
	. "    routes:\n      - to: default\n        via: 192.0.2.1\n"
	. "    gateway6: 2001:db8::1\n"
	. "    nameservers: {addresses: [192.0.2.53, 192.0.2.54], search: [example.com]}\n"
	. "    match: {macaddress: '52:54:00:12:34:56'}\n",
    'user-data' => "#cloud-config\nhostname: mx1\nfqdn: mx1.example.com\n"
	. "users:\n  - default\n  - name: alice\n    passwd: '$hash'\n"
	. "    groups: [sudo]\n    ssh_authorized_keys: [ssh-ed25519 AAAA]\n"
	. "ntp:\n  enabled: true\n  servers: [ntp1.example.com, 192.0.2.123]\n"
	. "write_files:\n- path: /etc/mxgate/mailboxes\n  content: |\n"
	. "    alice\@example.com\n    \@example.org\n  permissions: '0644'\n"
	. "packages: [nginx]\nruncmd:\n  - rm -rf /\n"
	. "mxgate: |\n  listen 0.0.0.0:25\n  route example.com 192.0.2.25\n"
	. "  postmaster postmaster\@example.com\n  queue $dir/queue\n"
	. "  mailboxes $etc/mailboxes\n");

my ($rc, $out, $err) = ctl('seed', 'check', $full);
is($rc, 0, 'seed check') or diag $out . $err;
like($out, qr/^seed: instance-id iid-mx-0001, host name mx1\.example\.com$/m, '... the instance and the name (fqdn first)');
like($out, qr/^seed: would write \/etc\/mxgate\/$_ /m, "... would write $_")
    for qw(network.conf mailboxes ntp.conf mxgate.conf);
like($out, qr/^seed: account alice \(admin\)$/m, '... an admin account (groups: sudo)');
for my $ignored ('users entry \'default\' ignored', 'alice: ssh_authorized_keys ignored',
    'user-data: packages ignored', 'user-data: runcmd ignored', 'eth0.match ignored',
    '/etc/mxgate/mailboxes: permissions ignored') {
	like($out, qr/^seed: .*\Q$ignored\E/m, "... names what it ignores: $ignored");
}
ok(!-e "$etc.revisions", '... and writes nothing');

($rc, $out, $err) = ctl('seed', 'apply', $full, '--source', 'cidata');
is($rc, 0, 'seed apply') or diag $out . $err;
like($out, qr/^seed: instance-id iid-mx-0001 applied \(4 files, 1 account\)$/m, '... says what it did');
my $conf = read_file("$etc/mxgate.conf");
like($conf, qr/\Ahostname mx1\.example\.com\nlisten 0\.0\.0\.0:25\nroute example\.com 192\.0\.2\.25\n/,
    'mxgate.conf: the seed\'s relay configuration, with its host name');
is(read_file("$etc/network.conf"), "# /etc/mxgate/network.conf — from a cloud-init seed (mxgatectl seed)\n"
    . "MODE=static\nIFACE=auto\nADDRESS=192.0.2.10/24\nGATEWAY=192.0.2.1\n"
    . "DNS=\"192.0.2.53 192.0.2.54\"\nADDRESS6=2001:db8::10/64\nGATEWAY6=2001:db8::1\n",
    'network.conf: static v4 and v6, default route, nameservers');
like(read_file("$etc/ntp.conf"), qr/\nserver ntp1\.example\.com\nserver 192\.0\.2\.123\n\z/, 'ntp.conf');
is(read_file("$etc/mailboxes"), "alice\@example.com\n\@example.org\n", 'the mailbox list');
my ($crc, $cout) = run(bin('mxgate'), '-n', '-f', "$etc/mxgate.conf");
is($crc, 0, 'mxgate -n accepts the result') or diag $cout;
($crc, $cout) = ctl('config', 'history');
like($cout, qr/^\*\s+1\s.*seed: cidata$/m, 'one revision, "seed: cidata"') or diag $cout;
like(read_file("$dir/accounts/passwd"), qr/^alice:x:1000:200:/m, 'alice is an admin account');
like(read_file("$dir/accounts/shadow"), qr/^alice:\Q$hash\E:/m, '... with the seed\'s hash');
is(read_file("$dir/seed-instance"), "iid-mx-0001\n", 'the instance-id recorded');
my $trail = read_file($audit);
like($trail, qr/op=seed arg=cidata instance-id=iid-mx-0001 result=started.*op=config\.commit .*op=user\.add arg=alice role=admin result=ok.*op=seed arg=cidata instance-id=iid-mx-0001 result=ok/s,
    'audited: started, the commit, the account, done');

($rc, $out) = ctl('seed', 'apply', $full);
is($rc, 0, 'the same instance-id again: exit 0');
like($out, qr/instance-id iid-mx-0001 is applied already; nothing to do/, '... nothing done');

my $v1 = seed('v1',
    'meta-data' => "instance-id: iid-mx-0002\n",
    'network-config' => "network:\n  version: 1\n  config:\n    - type: physical\n      name: eth0\n"
	. "      subnets:\n        - type: static\n          address: 198.51.100.7\n"
	. "          netmask: 255.255.255.0\n          gateway: 198.51.100.1\n"
	. "    - type: nameserver\n      address: [198.51.100.53]\n");
($rc, $out, $err) = ctl('seed', 'apply', $v1);
is($rc, 0, 'a new instance-id: applied again (network-config version 1)') or diag $out . $err;
like(read_file("$etc/network.conf"), qr/^MODE=static\nIFACE=auto\nADDRESS=198\.51\.100\.7\/24\nGATEWAY=198\.51\.100\.1\nDNS="198\.51\.100\.53"$/m,
    'version 1: netmask made a prefix, the nameserver entry');
like(read_file("$etc/mxgate.conf"), qr/^route example\.com 192\.0\.2\.25$/m, '... the files it does not name stay');

my $running = read_file("$etc/mxgate.conf") . read_file("$etc/network.conf");
my @bad = (
    ['unparsable', { 'meta-data' => "instance-id: x\n", 'user-data' => "#cloud-config\nusers:\n\t- name: a\n" },
	qr/user-data: line 3: a tab in the indentation/],
    ['no-instance', { 'meta-data' => "local-hostname: x\n" }, qr/meta-data: no instance-id/],
    ['plain-password', { 'meta-data' => "instance-id: p1\n",
	'user-data' => "#cloud-config\nusers:\n  - name: bob\n    plain_text_passwd: hunter22\n" },
	qr/bob: a plain-text password/],
    ['outside', { 'meta-data' => "instance-id: o1\n",
	'user-data' => "#cloud-config\nwrite_files:\n  - path: /etc/passwd\n    content: x\n" },
	qr/\/etc\/passwd: only \/etc\/mxgate\//],
    ['bad-address', { 'meta-data' => "instance-id: b1\n",
	'network-config' => "version: 2\nethernets:\n  eth0:\n    addresses: [300.1.1.1/24]\n" },
	qr/'300\.1\.1\.1\/24' is not an address/],
    ['bad-relay', { 'meta-data' => "instance-id: r1\n",
	'user-data' => "#cloud-config\nmxgate: |\n  no_such_directive 1\n  queue $dir/queue\n" },
	qr/the commit failed: nothing is changed; the candidate is discarded/],
);
for my $b (@bad) {
	my ($name, $files, $why) = @$b;
	($rc, $out, $err) = ctl('seed', 'apply', seed($name, %$files));
	isnt($rc, 0, "$name: refused");
	like($err, $why, '... with the reason') or diag $err;
	is(read_file("$etc/mxgate.conf") . read_file("$etc/network.conf"), $running, '... nothing changed');
}
# a part that is there but cannot be read: refused, not skipped
my $unread = seed('unreadable', 'meta-data' => "instance-id: u1\n");
mkdir "$unread/user-data" or die;	# a directory: read(2) fails with EISDIR
($rc, $out, $err) = ctl('seed', 'apply', $unread);
is($rc, 100, 'an unreadable user-data: refused');
like($err, qr/unreadable\/user-data: [^:\n]+: nothing changed/, '... with the reason');
is(read_file("$etc/mxgate.conf") . read_file("$etc/network.conf"), $running, '... nothing changed');
ok(!-e "$etc.revisions/candidate", 'no candidate is left behind');
unlike(read_file($audit), qr/hunter22/, 'no password in the audit trail');
is(read_file("$dir/seed-instance"), "iid-mx-0002\n", 'the refused seeds were not recorded');

# an OVF environment (vSphere's ISO transport): ovf-env.xml and no meta-data
sub ovf_env {
	my (%p) = @_;
	return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    . "<Environment xmlns=\"http://schemas.dmtf.org/ovf/environment/1\"\n"
	    . "     xmlns:oe=\"http://schemas.dmtf.org/ovf/environment/1\"\n"
	    . "     xmlns:ve=\"http://www.vmware.com/schema/ovfenv\" oe:id=\"\">\n"
	    . "  <PlatformSection><Kind>VMware ESXi</Kind></PlatformSection>\n"
	    . "  <PropertySection>\n"
	    . join('', map { "    <Property oe:key=\"$_\" oe:value=\"$p{$_}\"/>\n" } sort keys %p)
	    . "  </PropertySection>\n</Environment>\n";
}
my $ovf = seed('ovf', 'ovf-env.xml' => ovf_env(
    'hostname' => 'mx3.example.net', 'network.mode' => 'static',
    'network.address' => '203.0.113.9/24', 'network.gateway' => '203.0.113.1',
    'network.dns' => '203.0.113.53', 'mxgate.domain' => 'example.net',
    'mxgate.servers' => '203.0.113.25:2525', 'mxgate.tls' => 'may',
    'admin.password_hash' => $hash, 'network.address6' => '',
    'guestinfo.unknown' => 'x'));
($rc, $out, $err) = ctl('seed', 'check', $ovf);
is($rc, 0, 'OVF: seed check') or diag $out . $err;
like($out, qr/^seed: instance-id ovf-[0-9a-f]{16}, host name mx3\.example\.net$/m,
    '... an instance-id named after the properties, the host name');
like($out, qr/^seed: ovf-env\.xml: property guestinfo\.unknown ignored$/m, '... names a property it ignores');
like($out, qr/^seed: ovf-env\.xml: PlatformSection ignored$/m, '... and a section');
($rc, $out, $err) = ctl('seed', 'apply', $ovf);
is($rc, 0, 'OVF: seed apply') or diag $out . $err;
like($out, qr/^seed: instance-id ovf-[0-9a-f]{16} applied \(2 files, 1 account\)$/m, '... says what it did');
is(read_file("$etc/mxgate.conf"), "# /etc/mxgate/mxgate.conf — from an OVF environment (mxgatectl seed); "
    . "every directive in mxgate.conf(5)\nhostname mx3.example.net\nlisten 0.0.0.0:25\n"
    . "route example.net 203.0.113.25:2525 tls may\npostmaster postmaster\@example.net\n"
    . "queue $dir/queue\n",
    'mxgate.conf from the properties; what setup does not ask about kept (queue)');
like(read_file("$etc/network.conf"), qr/^MODE=static\nIFACE=auto\nADDRESS=203\.0\.113\.9\/24\nGATEWAY=203\.0\.113\.1\nDNS="203\.0\.113\.53"\n\z/m,
    'network.conf from the properties');
($crc, $cout) = run(bin('mxgate'), '-n', '-f', "$etc/mxgate.conf");
is($crc, 0, 'mxgate -n accepts it') or diag $cout;
($crc, $cout) = ctl('config', 'history');
like($cout, qr/^\*\s+\d+\s.*seed: ovf$/m, 'one revision, "seed: ovf"') or diag $cout;
like(read_file("$dir/accounts/shadow"), qr/^admin:\Q$hash\E:/m, 'the admin account has the hash');
like(read_file($audit), qr/op=seed arg=ovf instance-id=ovf-[0-9a-f]{16} result=ok/, 'audited');
($rc, $out) = ctl('seed', 'apply', $ovf);
like($out, qr/is applied already; nothing to do/, 'the same properties again: nothing done');
$running = read_file("$etc/mxgate.conf") . read_file("$etc/network.conf");
for my $b (['ovf-broken', "<Environment><PropertySection>\n<Property oe:key=\"hostname\" oe:value=\"x\">\n</Environment>\n",
	qr/ovf-env\.xml: line 3: <\/Environment> closes <Property>/],
    ['ovf-static', ovf_env('network.mode' => 'static', 'mxgate.domain' => 'example.net',
	'mxgate.servers' => '203.0.113.26'), qr/network\.address: an IPv4 address/]) {
	($rc, $out, $err) = ctl('seed', 'apply', seed($b->[0], 'ovf-env.xml' => $b->[1]));
	isnt($rc, 0, "$b->[0]: refused");
	like($err, $b->[2], '... with the reason') or diag $err;
	is(read_file("$etc/mxgate.conf") . read_file("$etc/network.conf"), $running, '... nothing changed');
}
($rc, $out, $err) = ctl('seed', 'apply', seed('empty'));
isnt($rc, 0, 'a directory with no seed at all: refused');
like($err, qr/no meta-data \(NoCloud\), openstack\/latest\/meta_data\.json \(config-2\) or ovf-env\.xml/,
    '... naming what it looked for');

# an OpenStack config drive: openstack/latest/ as Nova writes it
my $c2 = "$dir/c2";
mkdir $c2; mkdir "$c2/openstack"; mkdir "$c2/openstack/latest";
write_file("$c2/openstack/latest/meta_data.json", '{"uuid": "0f1e2d3c-aaaa-bbbb-cccc-000000000001", '
    . '"hostname": "mx4.example.org", "name": "mx4", "launch_index": 0, '
    . '"public_keys": {"k": "ssh-ed25519 AAAA"}, "admin_pass": "hunter23", "availability_zone": "nova"}');
write_file("$c2/openstack/latest/network_data.json", '{"links": [{"id": "tap0", "type": "ovs"}], '
    . '"networks": [{"id": "n0", "type": "ipv4", "link": "tap0", "ip_address": "198.51.100.40", '
    . '"netmask": "255.255.255.0", "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", '
    . '"gateway": "198.51.100.1"}]}], "services": [{"type": "dns", "address": "198.51.100.53"}]}');
write_file("$c2/openstack/latest/user_data", "#cloud-config\nmxgate: |\n  listen 0.0.0.0:25\n"
    . "  route example.org 198.51.100.25\n  queue $dir/queue\n");
($rc, $out, $err) = ctl('seed', 'apply', $c2);
is($rc, 0, 'config-2: seed apply') or diag $out . $err;
like($out, qr/^seed: meta_data\.json: admin_pass ignored \(a clear-text password is never taken/m,
    '... a clear-text admin_pass is named and not taken');
like($out, qr/^seed: instance-id 0f1e2d3c-aaaa-bbbb-cccc-000000000001 applied \(2 files, 0 accounts\)$/m,
    '... the uuid is the instance-id');
like(read_file("$etc/network.conf"), qr/^MODE=static\nIFACE=auto\nADDRESS=198\.51\.100\.40\/24\nGATEWAY=198\.51\.100\.1\nDNS="198\.51\.100\.53"\n\z/m,
    'network.conf from network_data.json');
like(read_file("$etc/mxgate.conf"), qr/\Ahostname mx4\.example\.org\nlisten 0\.0\.0\.0:25\nroute example\.org 198\.51\.100\.25\n/,
    'mxgate.conf from user_data, with the host name');
($crc, $cout) = ctl('config', 'history');
like($cout, qr/^\*\s+\d+\s.*seed: config-2$/m, 'one revision, "seed: config-2"') or diag $cout;
unlike(read_file($audit), qr/hunter23/, 'the clear-text password is nowhere in the trail');
done_testing();
