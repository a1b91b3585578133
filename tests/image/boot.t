#!/usr/bin/perl
# boot.t — boot the real raw image under QEMU (TCG) via SeaBIOS and via
# OVMF, each from a fresh copy with a seed config injected into its ESP:
# first boot makes the data partition and copies the seed; the relay
# becomes ready; a message sent with swaks through the hostfwd arrives at
# the local smtp-sink through the guestfwd; admin logs in on the serial
# console; the hypervisor's ACPI "Shut down" powers it off cleanly; then
# a normal (second) boot of the same disk. Both boots are timed stage by
# stage (MxQemu boot_stages). The BIOS boot goes through the same
# accelerator choice as `make run` (qemu.sh -a auto: KVM only where a probe
# of this very machine runs under it), and the probe's guest itself must
# run under TCG (a probe that cannot run anything would hide KVM). The
# console shows no error on a clean boot, and says how the clock stands.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time);
use Digest::SHA;
use MxTest;
use MxQemu;

-f image_dir() . '/mxgate.img' or BAIL_OUT('no image: run make image');
my $sbom_sha = Digest::SHA->new(256)->addfile(image_dir() . '/mxgate.spdx.json')->hexdigest;
ok(ovmf_present(), 'OVMF (UEFI firmware, Debian package ovmf) is installed')
    or BAIL_OUT('no OVMF firmware: make deps installs the ovmf package');

my $seed = <<'CONF';
hostname mx.demo.test
listen 0.0.0.0:25
route demo.test 10.0.2.100:25
queue /data/queue
CONF

my ($prc, $pout) = run(MxQemu::top() . '/board/qemu-x86_64/qemu.sh', '-P', '-a', 'tcg');
is($prc, 0, 'the accelerator probe\'s guest runs under TCG on the real machine definition')
    or diag($pout);

for my $fw (qw(bios uefi)) {
	my $tmp = tmpdir();
	my $sinkdir = sink_dir();
	my $disk = image_copy($tmp, { 'mxgate.conf' => $seed,
	    'ntp.conf' => "server none\n" });
	my ($port, $sinkport) = (free_port(), free_port());
	my $sink = start_sink($sinkdir, $sinkport);
	my $accel = $fw eq 'bios' ? 'auto' : undef;
	my $vm = MxQemu->boot(disk => $disk, firmware => $fw, port => $port,
	    sink => $sinkport, log => "$tmp/console-$fw.log", accel => $accel);
	if ($accel) {
		ok($vm->expect(qr/qemu: using (TCG|KVM)/, 30),
		    "$fw: qemu.sh -a auto says which accelerator it chose");
		diag($vm->output =~ /(qemu: using [^\r\n]*)/ ? $1 : 'no accelerator line');
	}

	my @first = $vm->boot_stages(180);
	ok(@first, "$fw: kernel booted and ran init, init started the services, "
	    . "the relay is ready") or diag("console: $tmp/console-$fw.log");
	my $con = $vm->output;
	like($con, qr/mxgate-init: mxgate \S+ booting.*first boot: making an ext4 \(journaling\) filesystem on \/dev\/vda5/s,
	    "$fw: first boot creates the data partition and its filesystem");
	like($con, qr/seed: copied ESP:\/mxgate\/mxgate\.conf.*mxgate-init: starting services/s,
	    "$fw: seed config copied from the ESP before the services start");
	{
		diag(sprintf "%s first boot: firmware, loader and kernel %.1f s; "
		    . "init (the data partition made) %.1f s; services to "
		    . "SMTP-ready %.1f s; total %.1f s", $fw, @first) if @first;
		ok($vm->expect(qr/mxgate: clock: not synchronised: NTP is off/, 30),
		    "$fw: the console says how the clock stands (NTP off in this seed)");
		my ($rc, $out, $got) = relay_through($port, $sinkdir, $fw);
		is($rc, 0, "$fw: swaks got 250 through the hostfwd") or diag($out);
		ok($got, "$fw: the message reached the smtp-sink via the guestfwd");
	}

	my @errors = grep { /\berror\b|\bfailed\b/i } split /\r?\n/, $vm->output;
	is_deeply(\@errors, [], "$fw: no error on the console of a clean boot");
	if ($fw eq 'bios') {
		# a failed login first: it must be logged
		my $p;
		for (1 .. 10) { $vm->type("\r"); last if $p = $vm->expect(qr/login: /, 10) }
		$vm->type("nosuch\r");
		ok($vm->expect(qr/Password: /, 30), "$fw: a login as an unknown user asks for a password");
		$vm->type("wrong\r");
		ok($vm->expect(qr/Login incorrect/, 30), "$fw: ... and is refused");
	}
	ok($vm->login(90), "$fw: admin logs in on the serial console");
	if ($fw eq 'bios') {
		my $sl = $vm->run_cmd('cat /data/log/syslog/current', 30) // '';
		# mxgatectl login names an unknown user UNKNOWN (no user
		# enumeration, no password typed as a name written down)
		like($sl, qr/login\[\d+\]: invalid password for 'UNKNOWN' on 'ttyS0'/,
		    "$fw: the failed login is in /data/log/syslog") or diag $sl;
		like($sl, qr/login\[\d+\]: login of 'admin' \(admin\) on 'ttyS0'/, "$fw: the admin login too");
		my $il = $vm->run_cmd('cat /data/log/init/current', 30) // '';
		like($il, qr/^\S+ mxgate-init: mxgate \S+ booting/m,
		    "$fw: init's own messages are kept in /data/log/init");
		like($il, qr/mxgate-init: data partition checked: e2fsck exit 0/,
		    "$fw: ... the data partition check among them");
		my $au = $vm->run_cmd('mxgatectl audit show', 30) // '';
		like($au, qr/tty=\/dev\/ttyS0 op=console\.login /,
		    "$fw: the console session is in the audit trail, with its terminal");
	}
	my $mounts = $vm->run_cmd('cat /proc/mounts', 30) // '';
	like($mounts, qr{^/dev/root / squashfs ro}m, "$fw: root is read-only squashfs");
	like($mounts, qr{ /data ext4 rw}m, "$fw: data partition mounted (ext4)");
	# the admin tool on the appliance: the relay runs, and the clock is
	# reported not synchronised (NTP is off in this seed): degraded
	my $st = $vm->run_cmd('mxgatectl status; echo "status exit $?"', 60) // '';
	like($st, qr/^relay: running\r?$/m, "$fw: mxgatectl status: the relay runs");
	like($st, qr/^degraded: clock not synchronised: NTP is off/m,
	    "$fw: mxgatectl status: the clock is not synchronised, and says why");
	like($st, qr/^status exit 1\r?$/m, "$fw: mxgatectl status: exit 1 (degraded)");
	like($st, qr/^software bill of materials: sha256 \Q$sbom_sha\E \(\/usr\/share\/mxgate\/mxgate\.spdx\.json\)\r?$/m,
	    "$fw: mxgatectl status: the SBOM's hash is the published mxgate.spdx.json's");
	# the hypervisor's "Shut down" (ACPI power button), as vSphere,
	# Proxmox, Hyper-V and libvirt send it
	ok($vm->acpi_powerdown, "$fw: QEMU monitor: system_powerdown sent");
	ok($vm->expect(qr/mxgate: poweroff requested, stopping services/, 30),
	    "$fw: ACPI power button: acpid starts a clean poweroff");
	ok($vm->expect(qr/mxgate: data partition unmounted cleanly/, 120),
	    "$fw: the data partition is unmounted");
	ok($vm->expect(qr/mxgate: poweroff now/, 30), "$fw: clean shutdown through s6");
	is($vm->wait_exit(60), 0, "$fw: QEMU exited after poweroff");

	# a normal boot of the same disk (not the first): where the time goes
	my $vm2 = MxQemu->boot(disk => $disk, firmware => $fw, port => $port,
	    sink => $sinkport, log => "$tmp/console-$fw-2.log");
	my @normal = $vm2->boot_stages(120);
	ok(@normal, "$fw: normal boot: kernel, init (fsck, mounts, firewall), "
	    . "relay ready");
	diag(sprintf "%s normal boot: firmware, loader and kernel %.1f s; " .
	    "init %.1f s; services to SMTP-ready %.1f s; total %.1f s",
	    $fw, @normal) if @normal;
	ok($vm2->acpi_powerdown, "$fw: normal boot: ACPI power-down sent");
	ok($vm2->expect(qr/mxgate: poweroff now/, 120), "$fw: normal boot: clean shutdown");
	is($vm2->wait_exit(60), 0, "$fw: normal boot: QEMU exited");
	stop_sink($sink);
}

done_testing();
