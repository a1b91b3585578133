#!/usr/bin/perl
# vhdx.t — the VHDX writer (image/vhdx.pl) on a seeded copy of the raw
# image, booted under QEMU from the VHDX with UEFI firmware, as a Hyper-V
# generation 2 machine boots it: first boot (the data partition is made
# in the free space, which the VHDX grows into), relay ready, a message
# relayed through the hostfwd and guestfwd, ACPI shutdown. Then
# `qemu-img check` of the VHDX after the guest wrote to it.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxQemu;

-f image_dir() . '/mxgate.img' or BAIL_OUT('no image: run make image');
ok(ovmf_present(), 'OVMF (UEFI firmware) is installed') or BAIL_OUT('no OVMF');

my $tmp = tmpdir();
my $sinkdir = sink_dir();
my $raw = image_copy($tmp, { 'mxgate.conf' => "hostname mx.demo.test\nlisten 0.0.0.0:25\n" .
	"route demo.test 10.0.2.100:25\nqueue /data/queue\n",
    'ntp.conf' => "server none\n" });
my $vhdx = "$tmp/seeded.vhdx";
my ($rc, $out, $err) = run(MxQemu::top() . '/image/vhdx.pl', $raw, $vhdx);
is($rc, 0, 'vhdx.pl writes the seeded disk') or diag($err);
($rc, $out, $err) = run('qemu-img', 'compare', '-f', 'raw', '-F', 'vhdx', $raw, $vhdx);
is($rc, 0, 'the VHDX holds the seeded raw disk') or diag($out . $err);
unlink $raw;

my ($port, $sinkport) = (free_port(), free_port());
my $sink = start_sink($sinkdir, $sinkport);
my $vm = MxQemu->boot(disk => $vhdx, firmware => 'uefi', format => 'vhdx',
    port => $port, sink => $sinkport, log => "$tmp/console.log");
ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300),
    'UEFI boot from the VHDX: relay ready') or diag("console: $tmp/console.log");
($rc, $out, my $got) = relay_through($port, $sinkdir, 'vhdx');
is($rc, 0, 'swaks got 250') or diag($out);
ok($got, 'the message reached the smtp-sink');
ok($vm->acpi_powerdown, 'ACPI power-down sent');
ok($vm->expect(qr/mxgate: poweroff now/, 120), 'clean shutdown');
is($vm->wait_exit(60), 0, 'QEMU exited');
($rc, $out, $err) = run('qemu-img', 'check', '-f', 'vhdx', $vhdx);
is($rc, 0, 'qemu-img check after the guest wrote to the VHDX') or diag($out . $err);
stop_sink($sink);
done_testing();
