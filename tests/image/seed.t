#!/usr/bin/perl
# seed.t — a blank image configured by a cloud-init NoCloud seed, with no
# console input: an ISO made by Debian's cloud-localds (label cidata:
# meta-data, user-data "#cloud-config" with the relay configuration
# under `mxgate:`, an admin account with a password hash, NTP off; a
# network-config version 2 with a static address, gateway and resolver)
# in the VM's CD-ROM. The appliance boots, applies it as one commit
# ("seed: cidata:/dev/sr0"), reaches SMTP-ready on the seeded static
# address and relays a message to the seeded route (guestfwd -> the
# host's smtp-sink); the seeded admin logs in with the seeded password.
# Rebooted with the same seed: applied already, nothing done. Then a
# blank image with an OVF environment instead (ovf-env.xml on a CD-ROM
# labelled "OVF ENV", as vSphere's ISO transport attaches it): applied as
# "seed: ovf:/dev/sr0", SMTP-ready on the address the properties give,
# relaying to the route they name, the admin's password from the hash.
# Then one with an OpenStack config drive (label config-2: meta_data.json,
# network_data.json with DHCP, user_data): applied, relaying. Then a
# blank image with a seed that does not parse: the console says
# why and the appliance stays unconfigured.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use MxTest;
use MxQemu;

-f image_dir() . '/mxgate.img' or BAIL_OUT('no image: run make image');
my $tmp = tmpdir();
my $sinkdir = sink_dir();
my ($port, $sinkport) = (free_port(), free_port());
my $hash = crypt('Seeded-Admin-1', '$6$seedtestsaltxyz$');

sub seed_iso {
	my ($name, $meta, $user, $net) = @_;
	write_file("$tmp/$name-meta", $meta);
	write_file("$tmp/$name-user", $user);
	write_file("$tmp/$name-net", $net);
	my ($rc, $out, $err) = run('cloud-localds', '-N', "$tmp/$name-net",
	    "$tmp/$name.iso", "$tmp/$name-user", "$tmp/$name-meta");
	$rc == 0 or BAIL_OUT("cloud-localds: $err");
	return "$tmp/$name.iso";
}

my $iso = seed_iso('good', "instance-id: iid-seedtest-1\nlocal-hostname: seeded\n",
    "#cloud-config\nfqdn: mx.seeded.test\nusers:\n  - name: admin\n    passwd: '$hash'\n"
    . "ntp:\n  enabled: false\nmxgate: |\n  listen 0.0.0.0:25\n"
    . "  route demo.test 10.0.2.100:25\n  queue /data/queue\n  pregreet_wait 0\n"
    . "packages: [nginx]\n",
    "version: 2\nethernets:\n  eth0:\n    dhcp4: false\n    addresses: [10.0.2.15/24]\n"
    . "    gateway4: 10.0.2.2\n    nameservers:\n      addresses: [10.0.2.3]\n");
my $disk = image_copy($tmp, {});
my $sink = start_sink($sinkdir, $sinkport);
my $t0 = time;
my $vm = MxQemu->boot(disk => $disk, firmware => 'bios', port => $port,
    sink => $sinkport, cdrom => $iso, log => "$tmp/console-1.log");
ok($vm->expect(qr/seed: a cloud-init NoCloud seed on \/dev\/sr0/, 300), 'the seed volume is found')
    or BAIL_OUT("console: $tmp/console-1.log");
ok($vm->expect(qr/seed: user-data: packages ignored/, 60), 'a key it does not take is named');
ok($vm->expect(qr/seed: instance-id iid-seedtest-1 applied \(3 files, 1 account\)/, 60),
    'applied: mxgate.conf, network.conf, ntp.conf and the admin account');
ok($vm->expect(qr/configuration \/etc\/mxgate\/mxgate\.conf: valid/, 60), 'the configuration checks');
ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 180), 'SMTP-ready')
    or diag("console: $tmp/console-1.log");
# a message through the relay on port, tried for up to a minute while the
# network comes up: (swaks's output, whether the sink got it)
sub relayed {
	my ($p, $tag) = @_;
	my ($rc, $swaks, $got);
	for (1 .. 20) {
		($rc, $swaks, $got) = relay_through($p, $sinkdir, $tag);
		last if $got;
		sleep 3;
	}
	return ($swaks, $got);
}
my ($swaks, $got) = relayed($port, 'seed');
ok($got, 'a message reaches the seeded route, with no console input') or diag $swaks;
diag(sprintf 'power-on to the first relayed message from the seed: %.0f s (TCG)', time - $t0);
# the seeded admin, with the seeded password
like($vm->menu_login(120, 'Seeded-Admin-1') // '', qr/choice \[0-9, u\]: /,
    'admin has the seed\'s password, which opens the menu, no setup');
$vm->type("9\r");
$vm->expect(qr/mxgate:\S*# /, 60);
my $out = $vm->run_cmd('grep -h "static" /data/log/network/current | tail -n 1; cat /run/resolv.conf', 60) // '';
like($out, qr/network: eth\d static 10\.0\.2\.15\/24 gateway 10\.0\.2\.2/, 'the network service took the seeded static address and gateway')
    or diag $out;
like($out, qr/^nameserver 10\.0\.2\.3$/m, '... and resolver');
$out = $vm->run_cmd('mxgatectl config history; grep -c "op=seed .*result=ok" /data/audit.log; cat /data/etc/seed-instance', 60) // '';
like($out, qr/^\*\s+1\s.*seed: cidata:\/dev\/sr0$/m, 'one revision: "seed: cidata:/dev/sr0"') or diag $out;
like($out, qr/^1\niid-seedtest-1$/m, 'audited once; the instance-id recorded');
$vm->type("mxgatectl reboot\r");
ok($vm->expect(qr/seed: instance-id iid-seedtest-1 is applied already; nothing to do/, 300),
    'rebooted with the same seed: applied already, nothing done');
ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 180), '... and ready again');
$vm->menu_login(120, 'Seeded-Admin-1');
$vm->type("8\r");
$vm->expect(qr/power \[a-c\]: /, 30);
$vm->type("b\r");
$vm->expect(qr/type poweroff to power off: /, 30);
$vm->type("poweroff\r");
ok($vm->expect(qr/mxgate: poweroff now/, 180), 'clean shutdown');
$vm->wait_exit(60);

# an OVF environment (vSphere's ISO transport): ovf-env.xml on a CD-ROM
# labelled as vSphere labels it; the properties the OVA declares
my $ovfdir = "$tmp/ovf";
mkdir $ovfdir;
my %props = ('hostname' => 'mx.ovf.test', 'network.mode' => 'static',
    'network.address' => '10.0.2.15/24', 'network.gateway' => '10.0.2.2',
    'network.dns' => '10.0.2.3', 'ntp.servers' => 'none',
    'mxgate.domain' => 'demo.test', 'mxgate.servers' => '10.0.2.100:25',
    'admin.password_hash' => $hash, 'network.address6' => '');
write_file("$ovfdir/ovf-env.xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    . "<Environment xmlns=\"http://schemas.dmtf.org/ovf/environment/1\"\n"
    . "    xmlns:oe=\"http://schemas.dmtf.org/ovf/environment/1\"\n"
    . "    xmlns:ve=\"http://www.vmware.com/schema/ovfenv\" oe:id=\"\" ve:vCenterId=\"vm-7\">\n"
    . "  <PlatformSection><Kind>VMware ESXi</Kind><Version>8.0.2</Version></PlatformSection>\n"
    . "  <PropertySection>\n"
    . join('', map { "    <Property oe:key=\"$_\" oe:value=\"$props{$_}\"/>\n" } sort keys %props)
    . "  </PropertySection>\n</Environment>\n");
my ($rc, $out0) = run('genisoimage', '-quiet', '-V', 'OVF ENV', '-J', '-r', '-o',
    "$tmp/ovf.iso", "$ovfdir/ovf-env.xml");
is($rc, 0, 'an ovf-env.xml ISO (genisoimage)') or diag $out0;
mkdir "$tmp/o";
my $disk3 = image_copy("$tmp/o", {});
my $oport = free_port();
$t0 = time;
$vm = MxQemu->boot(disk => $disk3, firmware => 'bios', port => $oport,
    sink => $sinkport, cdrom => "$tmp/ovf.iso", log => "$tmp/console-3.log");
ok($vm->expect(qr/seed: an OVF environment on \/dev\/sr0/, 300), 'OVF: the environment is found')
    or diag("console: $tmp/console-3.log");
ok($vm->expect(qr/seed: ovf-env\.xml: PlatformSection ignored/, 60), 'OVF: a section it does not take is named');
ok($vm->expect(qr/seed: instance-id ovf-[0-9a-f]{16} applied \(3 files, 1 account\)/, 60),
    'OVF: applied: mxgate.conf, network.conf, ntp.conf and the admin account');
ok($vm->expect(qr/configuration \/etc\/mxgate\/mxgate\.conf: valid/, 60), 'OVF: the configuration checks');
ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 180), 'OVF: SMTP-ready')
    or diag("console: $tmp/console-3.log");
($swaks, $got) = relayed($oport, 'ovf');
ok($got, 'OVF: a message reaches the route the properties name, with no console input') or diag $swaks;
diag(sprintf 'power-on to the first relayed message from an OVF environment: %.0f s (TCG)', time - $t0);
ok($vm->login(120, 'Seeded-Admin-1'), 'OVF: the admin logs in with the hash\'s password');
$out = $vm->run_cmd('mxgatectl config history; grep -c "^queue /data/queue" /etc/mxgate/mxgate.conf', 60) // '';
like($out, qr/^\*\s+1\s.*seed: ovf:\/dev\/sr0$/m, 'OVF: one revision, "seed: ovf:/dev/sr0"') or diag $out;
like($out, qr/^1$/m, 'OVF: the base\'s queue on the data partition kept, as setup keeps it');
$vm->kill;

# an OpenStack config drive (label config-2) as Nova writes it: DHCP,
# the relay configuration in user_data
my $c2 = "$tmp/c2";
mkdir $c2; mkdir "$c2/openstack"; mkdir "$c2/openstack/latest";
write_file("$c2/openstack/latest/meta_data.json", '{"uuid": "5e3c0d9a-0000-4000-8000-00000000c002", '
    . '"hostname": "mx.c2.test", "name": "mx", "launch_index": 0, "availability_zone": "nova"}');
write_file("$c2/openstack/latest/network_data.json", '{"links": [{"id": "tap0", "type": "ovs"}], '
    . '"networks": [{"id": "n0", "type": "ipv4_dhcp", "link": "tap0"}], "services": []}');
write_file("$c2/openstack/latest/user_data", "#cloud-config\nntp:\n  enabled: false\n"
    . "mxgate: |\n  listen 0.0.0.0:25\n  route demo.test 10.0.2.100:25\n  queue /data/queue\n");
($rc, $out0) = run('genisoimage', '-quiet', '-V', 'config-2', '-J', '-r', '-o',
    "$tmp/c2.iso", $c2);
is($rc, 0, 'a config drive ISO (genisoimage)') or diag $out0;
mkdir "$tmp/c";
my $disk4 = image_copy("$tmp/c", {});
my $cport = free_port();
$t0 = time;
$vm = MxQemu->boot(disk => $disk4, firmware => 'bios', port => $cport,
    sink => $sinkport, cdrom => "$tmp/c2.iso", log => "$tmp/console-4.log");
ok($vm->expect(qr/seed: an OpenStack config drive on \/dev\/sr0/, 300), 'config-2: the drive is found')
    or diag("console: $tmp/console-4.log");
ok($vm->expect(qr/seed: instance-id 5e3c0d9a-0000-4000-8000-00000000c002 applied \(3 files, 0 accounts\)/, 60),
    'config-2: applied: mxgate.conf, network.conf, ntp.conf');
ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 180), 'config-2: SMTP-ready')
    or diag("console: $tmp/console-4.log");
($swaks, $got) = relayed($cport, 'c2');
ok($got, 'config-2: a message reaches the route user_data names, with no console input') or diag $swaks;
diag(sprintf 'power-on to the first relayed message from a config drive: %.0f s (TCG)', time - $t0);
$vm->kill;

# a seed that does not parse: said, and nothing half-configured
my $bad = seed_iso('bad', "instance-id: iid-bad\n",
    "#cloud-config\nusers:\n\t- name: x\nmxgate: |\n  route demo.test 10.0.2.100:25\n",
    "version: 2\nethernets:\n  eth0:\n    dhcp4: true\n");
mkdir "$tmp/b";
my $disk2 = image_copy("$tmp/b", {});
$vm = MxQemu->boot(disk => $disk2, firmware => 'bios', port => free_port(),
    cdrom => $bad, log => "$tmp/console-2.log");
ok($vm->expect(qr/seed .*user-data: line 3: a tab in the indentation .*: nothing changed/, 300),
    'a malformed seed: the console says where and why') or diag("console: $tmp/console-2.log");
ok($vm->expect(qr/UNCONFIGURED/, 60), '... and the appliance stays unconfigured');
$vm->kill;
stop_sink($sink);
done_testing();
