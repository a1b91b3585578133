#!/usr/bin/perl
# hardening.t — the image is as hardened as hardening/ says:
# 1. the built kernel .config against hardening/kernel-hardening.tsv;
# 2. every ELF in the root filesystem against hardening/rootfs-elf.tsv
#    (static-pie or expected dynamic, RELRO, NX stack, no RWX segment, every
#    NEEDED library shipped and no library shipped that nothing needs);
# 3. boot an unconfigured copy: it says UNCONFIGURED and listens on no SMTP
#    port; the sysctls of hardening/sysctl.conf read back; no /dev/mem;
#    lockdown active; then a clean poweroff.
use strict;
use warnings;
use Test::More;
use MxTest;
use MxQemu;

my $top = $ENV{MXGATE_TOP} // '.';
my $work = out_dir() . '/image-work';
-f "$work/kernel/config" && -d "$work/rootfs" && -f image_dir() . '/mxgate.img'
    or BAIL_OUT('no image: run make image');

sub table {
	my $f = shift;
	my @rows;
	for (split /\n/, read_file($f)) {
		next if /^\s*(#|$)/;
		push @rows, [split /\t/];
	}
	return @rows;
}

# --- 1. kernel config ----------------------------------------------------------
my %kconf;
for (split /\n/, read_file("$work/kernel/config")) {
	$kconf{$1} = $2 if /^(CONFIG_\w+)=(.*)$/;
}
for my $r (table("$top/hardening/kernel-hardening.tsv")) {
	my ($opt, $want, $why) = @$r;
	if ($want eq 'n') {
		ok(!exists $kconf{$opt}, "kernel: $opt not set ($why)");
	} else {
		is($kconf{$opt}, $want, "kernel: $opt=$want ($why)");
	}
}

# --- 2. ELF files in the root filesystem -------------------------------------------
my %kind = map { $_->[0] => $_->[1] } table("$top/hardening/rootfs-elf.tsv");
my (@elf, %needed, %present_lib);
open my $find, '-|', 'find', $work . '/rootfs', '-type', 'f' or die;
while (my $f = <$find>) {
	chomp $f;
	open my $fh, '<', $f or next;
	read $fh, my $magic, 4;
	push @elf, $f if ($magic // '') eq "\x7fELF";
}
for my $f (sort @elf) {
	(my $p = $f) =~ s/^\Q$work\E\/rootfs//;
	my $k = $kind{$p};
	ok(defined $k, "$p: listed in hardening/rootfs-elf.tsv") or next;
	my (undef, $hdr) = run('readelf', '-hlW', $f);
	my (undef, $dyn) = run('readelf', '-dW', $f);
	like($hdr, qr/GNU_RELRO/, "$p: RELRO");
	my ($stack) = $hdr =~ /GNU_STACK\s+(?:\S+\s+){5}(\S+)/;
	ok(defined $stack && $stack !~ /E/, "$p: non-executable stack");
	ok(!grep({ /LOAD/ && /\sRWE\s/ } split /\n/, $hdr), "$p: no RWX segment");
	my @need = $dyn =~ /\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g;
	$needed{$_}++ for @need;
	if ($k eq 'static-pie') {
		like($hdr, qr/Type:\s+DYN/, "$p: PIE");
		unlike($hdr, qr/\bINTERP\b/, "$p: static (no INTERP)");
		is(scalar @need, 0, "$p: no shared libraries");
		like($dyn, qr/\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*\bNOW\b/, "$p: BIND_NOW");
	} elsif ($k eq 'dynamic') {
		like($hdr, qr{\[Requesting program interpreter: /lib64/ld-linux-x86-64\.so\.2\]},
		    "$p: expected dynamic (glibc loader)");
	} else {
		my ($soname) = $dyn =~ /Library soname: \[([^\]]+)\]/;
		$present_lib{$soname // $p} = 1;
	}
}
for my $p (sort keys %kind) {
	next if $p eq '/usr/sbin/mxgatectl';    # shipped only once it exists
	ok(-e "$work/rootfs$p", "$p: shipped as the table says");
}
for my $so (sort keys %needed) {
	my @hits = glob("$work/rootfs/lib/x86_64-linux-gnu/$so $work/rootfs/usr/lib/x86_64-linux-gnu/$so");
	ok(scalar(grep { -e } @hits), "needed library $so is in the image");
}
for my $lib (sort keys %present_lib) {
	next if $lib =~ /^ld-linux/;    # the INTERP, not a NEEDED entry
	ok(exists $needed{$lib}, "library $lib is needed by something");
}

# --- 3. boot unconfigured, read the sysctls back --------------------------------------
{
	my $tmp = tmpdir();
	# this boot uses the fixed VHD (the artifact for Hyper-V and Azure):
	# QEMU must size it from its footer, the full disk, or the backup GPT
	# is cut off and the root never appears
	my $raw_size = -s image_dir() . '/mxgate.img';
	my ($qrc, $qinfo) = run('qemu-img', 'info', '--output=json', '-f', 'vpc',
	    image_dir() . '/mxgate.vhd');
	like($qinfo, qr/"virtual-size":\s*$raw_size\b/,
	    "qemu-img sees the VHD's full size ($raw_size bytes)");
	my $disk = image_copy($tmp, { 'ntp.conf' => "server none\n" }, 'mxgate.vhd');
	my $vm = MxQemu->boot(disk => $disk, firmware => 'bios', format => 'vpc',
	    log => "$tmp/console.log");
	ok($vm->expect(qr/UNCONFIGURED: no \/etc\/mxgate\/mxgate\.conf/, 240),
	    'unconfigured appliance says so on the console')
	    or diag("console: $tmp/console.log");
	ok($vm->login(120), 'admin logs in');
	my %want;
	for (split /\n/, read_file("$top/hardening/sysctl.conf")) {
		$want{$1} = join ' ', split ' ', $2 if /^\s*([\w.]+)\s*=\s*([^#]+?)\s*$/;
	}
	my $got = $vm->run_cmd(q{sed -n 's/^ *\([a-z][a-z0-9_.]*\) *=.*/\1/p' /etc/sysctl.conf | while read k; do echo "$k=$(sysctl -n $k)"; done}, 60) // '';
	my %have = map { join ' ', split ' ', $_ } $got =~ /^([\w.]+)=(.*?)\r?$/mg;
	my @bad = grep { ($have{$_} // '') ne $want{$_} } sort keys %want;
	is_deeply(\@bad, [], 'every sysctl of hardening/sysctl.conf is in effect')
	    or diag(join "\n", map { "$_: want $want{$_}, have " . ($have{$_} // 'none') } @bad);
	my $tcp = $vm->run_cmd('cat /proc/net/tcp /proc/net/tcp6', 30) // '';
	unlike($tcp, qr/^\s*\d+: [0-9A-F]+:0019 [0-9A-F]+:0000 0A/m,
	    'unconfigured: nothing listens on port 25');
	my $dev = $vm->run_cmd('ls /dev/mem /dev/kmem /dev/port 2>&1 | wc -l; ls /dev/mem 2>&1', 30) // '';
	like($dev, qr/No such file/, 'no /dev/mem');
	# no securityfs in this kernel: the lockdown LSM's boot message says it
	my $lock = $vm->run_cmd('dmesg | grep -i "locked down"', 30) // '';
	like($lock, qr/Kernel is locked down from Kernel configuration/, 'kernel lockdown active');
	$vm->type("poweroff\r");
	ok($vm->expect(qr/mxgate: poweroff now/, 120), 'clean poweroff');
	is($vm->wait_exit(60), 0, 'QEMU exited');
}

done_testing();
