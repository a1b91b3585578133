#!/usr/bin/perl
# update.t — firmware updates on the real image under QEMU. Bundles are made
# here from the image's own root tree with image/slot.sh and
# image/bundle.sh, signed with the development key the image trusts:
# v2 (the same software, a later version and epoch), v3 (a relay that
# cannot start), and refused ones.
#  - BIOS: v1 runs, configured, its customer down: one message queued.
#    An unsigned bundle on the ESP is refused, nothing written. v2 from a
#    second disk (a USB stick) is applied while the relay runs; after the
#    reboot slot b runs v2, the boot check makes it good, and the
#    configuration, the queued message and the audit trail are still
#    there; the customer comes back and the message arrives. Then v3 is
#    applied to slot a: it never gets healthy, reboots itself until its
#    boots are used up, and v2 in slot b runs again, said on the console.
#  - UEFI: v1 -> v2, then one byte of slot b's root is flipped (the disk
#    powered off): dm-verity refuses the block, the boot fails, and after
#    its boots slot a (v1) runs again, said on the console.
#  - a power cut in the middle of `update apply`: v1 boots on.
use strict;
use warnings;
use Test::More;
use Time::HiRes qw(time sleep);
use MxTest;
use MxQemu;

my $top = $ENV{MXGATE_TOP} // '.';
my $img = image_dir();
-f "$img/mxgate.img" or BAIL_OUT('no image: run make image');
my $rootfs = out_dir() . '/image-work/rootfs';
my $kernel = out_dir() . '/image-work/kernel/bzImage';
-d $rootfs && -f $kernel or BAIL_OUT("no $rootfs or $kernel: run make image");
my ($v1, $epoch) = split ' ', (read_file(out_dir() . '/.version') // '');
$ENV{PATH} .= ':/usr/sbin:/sbin';

my $tmp = tmpdir();
my $sinkdir = sink_dir();

# bundle(NAME, VERSION, EDIT) -> path of a bundle of the image's root tree
# changed by EDIT (a shell command run in a copy of it)
sub bundle {
	my ($name, $version, $edit, %o) = @_;
	my $w = "$tmp/$name";
	mkdir $w;
	system('cp', '-a', $rootfs, "$w/tree") == 0 or die "cp rootfs: $?";
	write_file("$w/tree/etc/mxgate-release", "$version\n");
	system('sh', '-c', "cd $w/tree && $edit") == 0 or die "edit: $?" if $edit;
	local $ENV{VERSION} = $version;
	local $ENV{SOURCE_DATE_EPOCH} = $epoch + 100;
	local $ENV{UNSIGNED} = $o{unsigned} ? 1 : 0;
	my ($rc, $out, $err) = run("$top/image/slot.sh", "$w/tree", $w, 256 << 20);
	$rc == 0 or die "slot.sh: $err";
	($rc, $out, $err) = run("$top/image/bundle.sh", $kernel, "$w/slot.img",
	    "$w/slot.env", "$img/mxgate.spdx.json", "$top/tests/keys/update-dev.pem",
	    "$w/$name.mxu");
	$rc == 0 or die "bundle.sh: $err";
	return "$w/$name.mxu";
}

my $v2 = bundle('v2', "$v1-v2", undef);
my $v3 = bundle('v3', "$v1-v3", q{printf '#!/bin/sh\necho "broken relay" >&2\nexit 1\n' >usr/sbin/mxgate});
my $unsigned = bundle('unsigned', "$v1-u", undef, unsigned => 1);
diag(sprintf 'bundle v2: %.1f MB', (-s $v2) / 1e6);

my $conf = {
    'mxgate.conf' => "hostname mx.demo.test\nlisten 0.0.0.0:25\n" .
	"route demo.test 10.0.2.100:25\nqueue /data/queue\nconnect_timeout 2\n" .
	"boot_check_seconds 20\n",
    'ntp.conf' => "server none\n" };

# a copy of the image in its own directory per scenario (kept with KEEP_TMP)
sub disk_for {
	my $d = "$tmp/$_[0]";
	mkdir $d;
	return image_copy($d, $conf);
}

sub add_to_esp {
	my ($disk, $file, $name) = @_;
	local $ENV{MTOOLS_SKIP_CHECK} = 1;
	system('mcopy', '-o', '-i', "$disk\@\@1M", $file, "::/$name") == 0 or die "mcopy: $?";
}

# --- BIOS: v1 -> v2 (with a queued message), then v3 falls back to v2 -----------
{
	my $disk = disk_for('bios');
	add_to_esp($disk, $unsigned, 'unsigned.mxu');
	my ($port, $sinkport) = (free_port(), free_port());
	my %vm = (disk => $disk, firmware => 'bios', port => $port, sink => $sinkport,
	    extra_disk => $v2);
	my $vm = MxQemu->boot(%vm, log => "$tmp/bios-1.log");
	ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300), 'BIOS: v1 ready')
	    or BAIL_OUT("console: $tmp/bios-1.log");
	my ($rc, $out) = run('swaks', '--server', "127.0.0.1:$port", '--from', 'a@example.org',
	    '--to', 'user@demo.test', '--header', 'Subject: queued across the update', '--timeout', '60');
	like($out, qr/<-\s+250 .*queued as/, 'the customer is down: a message is queued');
	ok($vm->login(120), 'admin logs in') or BAIL_OUT("console: $tmp/bios-1.log");
	sub cmd { my ($vm, $c, $s) = @_; $vm->run_cmd($c, $s // 120) // '' }

	$out = cmd($vm, 'mxgatectl update apply esp:unsigned.mxu; echo "apply $?"; mxgatectl update status');
	like($out, qr/refused, nothing written: header: no signature line \(unsigned bundle\)/, 'an unsigned bundle on the ESP: refused');
	like($out, qr/^apply 100$/m, '... exit 100');
	like($out, qr/^slot b: -, empty/m, '... slot b untouched');

	my $t0 = time;
	$out = cmd($vm, 'mxgatectl update apply /dev/vdb; echo "apply $?"', 300);
	my $apply_s = time - $t0;
	like($out, qr/bundle: mxgate \Q$v1\E-v2, signed with the key "update-dev"/, 'v2 from a second disk: verified');
	like($out, qr/^apply 0$/m, 'v2 applied') or diag($out);
	diag(sprintf 'update apply of a %.1f MB bundle: %.1f s under TCG (console round trip included)', (-s $v2) / 1e6, $apply_s);
	$out = cmd($vm, 'mxgatectl status; mxgatectl update status');
	like($out, qr/^relay: running/m, 'the relay ran on while the slot was written');
	like($out, qr/^slot b: \Q$v1\E-v2, trial, 3 boot\(s\) left, tried first$/m, 'status: b on trial, tried first');
	$vm->type("mxgatectl reboot\r");
	ok($vm->expect(qr/mxgate: booting slot b \(\Q$v1\E-v2\)/, 120), 'the reboot boots slot b (v2)');
	my $t1 = time;
	ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300), 'v2 ready');
	diag(sprintf 'slot b: SMTP-ready %.1f s after GRUB chose it (BIOS, TCG)', time - $t1);
	ok($vm->login(120), 'admin logs in on v2');
	my $good = '';
	for (1 .. 30) {
		$good = cmd($vm, 'mxgatectl update status');
		last if $good =~ /^slot b: .*, good,/m;
		sleep 2;
	}
	like($good, qr/^running: slot b/m, 'v2: running slot b');
	like($good, qr/^slot b: \Q$v1\E-v2, good, 3 boot\(s\) left, tried first, running$/m, 'the boot check made b good');
	like($good, qr/^slot a: \Q$v1\E, good/m, 'slot a keeps v1, good (the way back)');
	$out = cmd($vm, 'cat /etc/mxgate-release; mxgatectl queue list; mxgatectl status; grep -c "op=update apply arg=/dev/vdb result=ok" /data/audit.log; mxgatectl audit verify; echo "verify $?"');
	like($out, qr/^\Q$v1\E-v2$/m, 'the root is v2');
	like($out, qr/^[0-9A-F]{18} .*a\@example\.org/m, 'the queued message survived');
	like($out, qr/^configuration: \S+: valid\nconfiguration revision: .*\nhostname: mx\.demo\.test$/m, 'the configuration survived');
	like($out, qr/^root slot: b/m, 'mxgatectl status: root slot b');
	like($out, qr/^1$/m, 'the audit trail survived, with the apply');
	like($out, qr/^verify 0$/m, '... and verifies');

	my $sink = start_sink($sinkdir, $sinkport);
	$out = cmd($vm, 'mxgatectl queue flush; echo "flush $?"');
	my $got = 0;
	for (1 .. 60) {
		$got = grep { (read_file($_) // '') =~ /queued across the update/ } glob("$sinkdir/*");
		last if $got;
		sleep 1;
	}
	ok($got, 'the customer is back: the message queued under v1 arrives from v2');
	stop_sink($sink);

	# v3, a relay that cannot start, comes on the second disk
	$vm->type("mxgatectl poweroff\r");
	$vm->wait_exit(120);
	$vm = MxQemu->boot(%vm, extra_disk => $v3, log => "$tmp/bios-2.log");
	ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300), 'v2 boots again');
	ok($vm->login(120), 'admin logs in');
	# (--reboot: the shell never prints after it)
	$vm->type("mxgatectl update apply /dev/vdb --reboot\r");
	ok($vm->expect(qr/slot a now holds mxgate \Q$v1\E-v3/, 300), 'v3 applied to slot a, with --reboot');
	my $tries = 0;
	while (my $m = $vm->expect(qr/mxgate: booting slot [ab] \(\S+\)|mxgate: update: slot a .*?\n/, 400)) {
		last if $m =~ /mxgate: update: slot a/;
		$tries++ if $m =~ /slot a/;
	}
	is($tries, 3, 'v3 was booted 3 times, then passed over');
	like($vm->output, qr/mxgate: update: slot a \(mxgate \Q$v1\E-v3\) did not come up healthy within its boots; running slot b \(mxgate \S+\) again/,
	    'the console says v3 failed and v2 runs again');
	my $checks = () = $vm->output =~ /mxgate: boot check: the relay is not healthy 20 s after the start: no SMTP listener/g;
	is($checks, 3, 'each v3 boot: the boot check found no relay after boot_check_seconds (20) and rebooted');
	like($vm->output, qr/booting slot b \(\Q$v1\E-v2\)(?:(?!booting slot).)*mxgate: ready: SMTP listening on port 25/s,
	    'v2 serves again');
	ok($vm->login(120), 'admin logs in');
	$out = cmd($vm, 'mxgatectl update status; mxgatectl status');
	like($out, qr/^slot a: \Q$v1\E-v3, bad/m, 'update status: slot a bad');
	like($out, qr/^failed update: a \Q$v1\E-v3/m, 'update status: the failed update');
	like($out, qr/^degraded: an update did not come up: slot a \Q$v1\E-v3; running slot b again/m, 'mxgatectl status: degraded, says why');
	$vm->type("mxgatectl poweroff\r");
	$vm->wait_exit(120);
}

# --- UEFI: v1 -> v2, a flipped byte in slot b: back to v1 ------------------------------
{
	ok(ovmf_present(), 'OVMF (UEFI firmware) present') or BAIL_OUT('no OVMF: make deps installs it');
	my $disk = disk_for('uefi');
	my %vm = (disk => $disk, firmware => 'uefi', port => free_port(), extra_disk => $v2);
	my $vm = MxQemu->boot(%vm, log => "$tmp/uefi-1.log");
	ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300), 'UEFI: v1 ready')
	    or BAIL_OUT("console: $tmp/uefi-1.log");
	ok($vm->login(120), 'admin logs in');
	$vm->type("mxgatectl update apply /dev/vdb --reboot\r");
	ok($vm->expect(qr/slot b now holds mxgate \Q$v1\E-v2/, 300), 'UEFI: v2 applied, with --reboot');
	my $out;
	ok($vm->expect(qr/mxgate: booting slot b/, 120), 'UEFI: slot b boots');
	my $t1 = time;
	ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300), 'UEFI: v2 ready');
	diag(sprintf 'slot b: SMTP-ready %.1f s after GRUB chose it (UEFI, TCG)', time - $t1);
	ok($vm->login(120), 'admin logs in');
	for (1 .. 30) {
		$out = cmd($vm, 'mxgatectl update status');
		last if $out =~ /^slot b: .*, good,/m;
		sleep 2;
	}
	like($out, qr/^slot b: \S+, good/m, 'UEFI: b good');
	$vm->type("mxgatectl poweroff\r");
	$vm->wait_exit(120);

	# one byte of slot b's squashfs (partition 3 starts at sector 657408)
	open(my $fh, '+<:raw', $disk) or die;
	seek($fh, 657408 * 512 + 100, 0); read($fh, my $b, 1);
	seek($fh, 657408 * 512 + 100, 0); print $fh chr(ord($b) ^ 0x40);
	close $fh;
	$vm = MxQemu->boot(%vm, log => "$tmp/uefi-2.log");
	ok($vm->expect(qr/mxgate: update: slot b \(mxgate \Q$v1\E-v2\) did not come up healthy within its boots; running slot a/, 600),
	    'a flipped byte in slot b: its boots fail, slot a (v1) runs again and says so');
	like($vm->output, qr/device-mapper: verity|VFS: Cannot open root device|Kernel panic/, 'the kernel refused the root')
	    or diag("console: $tmp/uefi-2.log");
	unlike($vm->output, qr/mxgate-init: mxgate \S+-v2 booting/, 'v2 never ran from the damaged slot');
	$vm->kill;
}

# --- a power cut in the middle of apply ------------------------------------------------
{
	my $disk = disk_for('cut');
	my %vm = (disk => $disk, firmware => 'bios', port => free_port(), extra_disk => $v2);
	my $vm = MxQemu->boot(%vm, log => "$tmp/cut-1.log");
	ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300), 'v1 ready');
	ok($vm->login(120), 'admin logs in');
	$vm->type("mxgatectl update apply /dev/vdb\r");
	ok($vm->expect(qr/writing slot b/, 120), 'apply is writing slot b');
	sleep 0.3;
	$vm->power_cut;
	unlike($vm->output, qr/now holds mxgate/, 'the power was cut before apply finished');
	$vm = MxQemu->boot(%vm, log => "$tmp/cut-2.log");
	ok($vm->expect(qr/mxgate: booting slot a/, 120), 'after the cut: slot a boots');
	ok($vm->expect(qr/mxgate: ready: SMTP listening on port 25/, 300), 'v1 ready again');
	ok($vm->login(120), 'admin logs in');
	my $out = cmd($vm, 'mxgatectl update status');
	like($out, qr/^slot b: \S+, empty, 0 boot/m, 'slot b: empty (the interrupted write never became bootable)');
	unlike($out, qr/grubenv: |FAT-fs/, 'the boot choice (grubenv, rewritten in place) reads back whole after the cut');
	$vm->kill;
}
done_testing();
