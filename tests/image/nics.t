#!/usr/bin/perl
# nics.t — two network interfaces, the first one unplugged: QEMU's spare
# NIC comes first on the PCI bus (the guest's eth0) and its link is turned
# off through the monitor before the kernel starts; the real one (eth1)
# carries the hostfwd and guestfwd. The appliance must take the interface
# with a link, say so on the console (each interface, its link and
# address), claim "ready" only with the address it can be reached on, and
# relay a message through eth1.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxQemu;

-f image_dir() . '/mxgate.img' or BAIL_OUT('no image: run make image');

my $tmp = tmpdir();
my $sinkdir = sink_dir();
my $disk = image_copy($tmp, {
    'mxgate.conf' => "hostname mx.demo.test\nlisten 0.0.0.0:25\n" .
	"route demo.test 10.0.2.100:25\nqueue /data/queue\n",
    'ntp.conf' => "server none\n" });
my ($port, $sinkport) = (free_port(), free_port());
my $sink = start_sink($sinkdir, $sinkport);
my $vm = MxQemu->boot(disk => $disk, firmware => 'bios', port => $port,
    sink => $sinkport, spare_nic => 1, log => "$tmp/console.log");
ok($vm->monitor('set_link spare off'), 'the first NIC (eth0) is unplugged before boot');
ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25 at 10\.0\.2\.15 \(eth1\)/, 300),
    'ready on eth1, the interface with a link, with its address')
    or diag("console: $tmp/console.log");
ok($vm->expect(qr/mxgate: interface eth0: no link, no address/, 30),
    'the console lists eth0 as without link');
ok($vm->expect(qr/mxgate: interface eth1: link up, 10\.0\.2\.15\/24/, 30),
    'and eth1 with its link and address');
my ($rc, $out, $got) = relay_through($port, $sinkdir, 'two nics');
is($rc, 0, 'swaks got 250 through eth1') or diag($out);
ok($got, 'the message reached the smtp-sink');
ok($vm->acpi_powerdown, 'ACPI power-down sent');
ok($vm->expect(qr/mxgate: poweroff now/, 120), 'clean shutdown');
is($vm->wait_exit(60), 0, 'QEMU exited');
stop_sink($sink);
done_testing();
