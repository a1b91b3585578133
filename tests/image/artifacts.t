#!/usr/bin/perl
# artifacts.t — the VM artifacts of `make image` are well-formed:
# SHA256SUMS matches, qemu-img check passes on the qcow2 and on the VMDK
# inside the OVA, the OVF names the VMDK with its real size and the disk's
# capacity, the OVA manifest's digests match, the OVF comes first in the
# tar, and the VHD footer is a valid fixed-disk footer of the raw disk.
# The build record BUILDINFO (image/buildinfo.sh) is well-formed, agrees
# with SHA256SUMS, deps/pins and this host's packages, names the tools that
# write bytes, carries no host name or path, and its Version is the one in
# the OVF, in the root filesystem and in the relay binary.
use strict;
use warnings;
use Test::More;
use Digest::SHA;
use JSON::PP;
use MxTest;
use MxQemu;

my $dir = image_dir();
-f "$dir/SHA256SUMS" or BAIL_OUT('no image: run make image');

my ($rc, $out, $err) = run('sh', '-c', "cd '$dir' && sha256sum -c SHA256SUMS");
is($rc, 0, 'SHA256SUMS matches every artifact') or diag($out . $err);
like(read_file("$dir/SHA256SUMS"), qr/mxgate\.$_$/m, "SHA256SUMS lists mxgate.$_")
    for qw(img qcow2 ova vhd vhdx);

($rc, $out, $err) = run('qemu-img', 'check', '-f', 'qcow2', "$dir/mxgate.qcow2");
is($rc, 0, 'qemu-img check: qcow2') or diag($out . $err);
my $raw_size = -s "$dir/mxgate.img";
($rc, $out) = run('qemu-img', 'info', '-f', 'qcow2', "$dir/mxgate.qcow2");
like($out, qr/virtual size: .*\($raw_size bytes\)/, 'qcow2 virtual size = raw size');

my $tmp = tmpdir();
($rc, $out, $err) = run('tar', '-tvf', "$dir/mxgate.ova");
is($rc, 0, 'OVA is a tar archive');
my @members = map { (split ' ')[-1] } split /\n/, $out;
is_deeply(\@members, [qw(mxgate.ovf mxgate.mf mxgate-disk1.vmdk)],
    'OVA members: OVF first, then manifest and disk');
($rc) = run('tar', '-xf', "$dir/mxgate.ova", '-C', $tmp);
is($rc, 0, 'OVA extracts');

($rc, $out, $err) = run('qemu-img', 'check', '-f', 'vmdk', "$tmp/mxgate-disk1.vmdk");
is($rc, 0, 'qemu-img check: VMDK') or diag($out . $err);
($rc, $out) = run('qemu-img', 'info', '-f', 'vmdk', "$tmp/mxgate-disk1.vmdk");
like($out, qr/create type: streamOptimized/, 'VMDK is stream-optimised');
like($out, qr/virtual size: .*\($raw_size bytes\)/, 'VMDK virtual size = raw size');

my $ovf = read_file("$tmp/mxgate.ovf");
my ($href, $size) = $ovf =~ /<File ovf:href="([^"]+)" ovf:id="file1" ovf:size="(\d+)"/;
is($href, 'mxgate-disk1.vmdk', 'OVF references the VMDK');
is($size, -s "$tmp/mxgate-disk1.vmdk", 'OVF file size matches the VMDK');
my ($cap) = $ovf =~ /ovf:capacity="(\d+)"/;
is($cap, $raw_size, 'OVF disk capacity matches the raw disk');
# the properties the OVA declares are the keys the appliance reads from
# ovf-env.xml (relay/seed.c), no more, no less; they reach it on a CD-ROM
my $seed_c = read_file(($ENV{MXGATE_TOP} // '.') . '/relay/seed.c') // '';
my ($keys) = $seed_c =~ /ovf_keys\[P_MAX\] = \{(.*?)\};/s;
my @reads = sort(($keys // '') =~ /"([^"]+)"/g);
my @declared = sort($ovf =~ /<Property ovf:key="([^"]+)"/g);
ok(@reads >= 10, 'the keys relay/seed.c reads: ' . scalar @reads);
is_deeply(\@declared, \@reads, 'OVF properties = the keys the appliance reads');
like($ovf, qr/<VirtualHardwareSection ovf:transport="iso">/, 'OVF environment by the ISO transport');
like($ovf, qr{<rasd:ResourceType>15</rasd:ResourceType>}, '... with a CD-ROM drive for it');
unlike($ovf, qr/\@[A-Z_]+\@/, 'no @FIELD@ left unfilled');
for my $line (split /\n/, read_file("$tmp/mxgate.mf")) {
	my ($f, $sum) = $line =~ /^SHA256\(([^)]+)\)= ([0-9a-f]{64})$/ or next;
	is(Digest::SHA->new(256)->addfile("$tmp/$f")->hexdigest, $sum,
	    "OVA manifest digest of $f");
}

# fixed VHD: raw disk + 512-byte footer with a valid checksum
is(-s "$dir/mxgate.vhd", $raw_size + 512, 'VHD = raw + 512-byte footer');
open my $fh, '<', "$dir/mxgate.vhd" or die;
binmode $fh;
seek $fh, -512, 2;
read $fh, my $footer, 512;
is(substr($footer, 0, 8), 'conectix', 'VHD footer cookie');
is(unpack('N', substr($footer, 60, 4)), 2, 'VHD disk type: fixed');
is(unpack('Q>', substr($footer, 48, 8)), $raw_size, 'VHD current size');
my $stored = unpack('N', substr($footer, 64, 4));
substr($footer, 64, 4) = "\0\0\0\0";
my $sum = 0;
$sum += $_ for unpack('C*', $footer);
is($stored, ~$sum & 0xFFFFFFFF, 'VHD footer checksum');
# QEMU sizes VHDs from other creators by CHS unless told otherwise
($rc, $out) = run('qemu-img', 'info', '--image-opts',
    "driver=vpc,force_size_calc=current_size,file.filename=$dir/mxgate.vhd");
like($out, qr/virtual size: .*\($raw_size bytes\)/, 'qemu-img reads the VHD');

# dynamic VHDX (image/vhdx.pl): QEMU's own checks, the same disk
($rc, $out, $err) = run('qemu-img', 'check', '-f', 'vhdx', "$dir/mxgate.vhdx");
is($rc, 0, 'qemu-img check: VHDX') or diag($out . $err);
($rc, $out) = run('qemu-img', 'info', '-f', 'vhdx', "$dir/mxgate.vhdx");
like($out, qr/virtual size: .*\($raw_size bytes\)/, 'VHDX virtual size = raw size');
like($out, qr/cluster_size: 33554432/, 'VHDX blocks of 32 MiB');
($rc, $out, $err) = run('qemu-img', 'compare', '-f', 'raw', '-F', 'vhdx',
    "$dir/mxgate.img", "$dir/mxgate.vhdx");
is($rc, 0, 'qemu-img compare: the VHDX holds exactly the raw disk') or diag($out . $err);
cmp_ok(-s "$dir/mxgate.vhdx", '<', $raw_size / 4, 'VHDX is dynamic: zero blocks not stored ('
    . (-s "$dir/mxgate.vhdx") . ' bytes)');
{
	open my $vx, '<:raw', "$dir/mxgate.vhdx" or die;
	read $vx, my $sig, 8;
	is($sig, 'vhdxfile', 'VHDX file type identifier');
	seek $vx, 8, 0;
	read $vx, my $creator, 12;
	is($creator, join('', map { pack 'v', ord } split //, 'mxgate'), 'VHDX creator: mxgate');
	seek $vx, 3 * 1048576 + 8 * 0, 0;
	read $vx, my $bat0, 8;
	my $e = unpack 'Q<', $bat0;
	is($e & 7, 6, 'the first block (partition table, ESP) is stored');
}

# --- BUILDINFO -------------------------------------------------------------
ok(-f "$dir/BUILDINFO", 'BUILDINFO exists beside SHA256SUMS');
my $bi = -f "$dir/BUILDINFO" ? read_file("$dir/BUILDINFO") : '';
my (%field, %list, @order, $cur, @bad);
for my $l (split /\n/, $bi) {
	if ($l =~ /^([A-Z][A-Za-z0-9-]*):(?: (\S.*))?$/) {
		$cur = $1;
		push @bad, "duplicate field $1" if exists $field{$1};
		$field{$1} = $2 // '';
		push @order, $1;
	} elsif ($l =~ /^ (\S.*)$/ && defined $cur && $field{$cur} eq '') {
		push @{$list{$cur}}, $1;
	} else {
		push @bad, "malformed line: $l";
	}
}
is_deeply(\@bad, [], 'BUILDINFO: every line is a field or a list item') or diag(join "\n", @bad);
is_deeply(\@order, [qw(Format Source Version Source-Commit Source-Date-Epoch
    Build-Architecture Build-Command Checksums-Sha256 Components-Sha256 Pins
    Installed-Build-Depends)], 'BUILDINFO: the fields, in order');
is($field{Format}, 'mxgate-buildinfo 1', 'BUILDINFO format');
my $version = $field{Version} // '';
like($version, qr/^(?:0\.\d+-g[0-9a-f]{12}(?:-dirty)?|[A-Za-z0-9][A-Za-z0-9.+~_-]*)$/,
    "BUILDINFO Version '$version' is well-formed");
like($field{'Source-Commit'} // '', qr/^[0-9a-f]{40}$/, 'BUILDINFO Source-Commit is a full hash');
if ($version =~ /^0\.\d+-g([0-9a-f]{12})/) {
	is($1, substr($field{'Source-Commit'} // '', 0, 12), 'Version names the source commit');
}
like($field{'Source-Date-Epoch'} // '', qr/^\d{9,}$/, 'BUILDINFO Source-Date-Epoch');

my @sums = map { /^([0-9a-f]{64})  (\S+)$/ ? "$1 " . (-s "$dir/$2") . " $2" : "bad: $_" }
    split /\n/, read_file("$dir/SHA256SUMS");
is_deeply($list{'Checksums-Sha256'}, \@sums, 'BUILDINFO checksums and sizes = SHA256SUMS');
is(scalar(grep { /^[0-9a-f]{64} (?:bzImage|busybox|mxgate|mxgatectl|root\.squashfs)$/ }
    @{$list{'Components-Sha256'} || []}), 5, 'BUILDINFO: the five component checksums');

my $top = $ENV{MXGATE_TOP} // '.';
my @pins = sort { (split ' ', $a)[1] cmp (split ' ', $b)[1] } map {
	my ($name, $kind, $spec, $file, $sum) = split ' ', s/#.*//r;
	defined $sum ? ("$sum $file $spec") : ();
} split /\n/, read_file("$top/deps/pins");
is_deeply($list{Pins}, \@pins, 'BUILDINFO pins = deps/pins');

my @tools = @{$list{'Installed-Build-Depends'} || []};
my @bare = map { s/,$//r } @tools;
is_deeply(\@bare, [sort @bare], 'BUILDINFO tools sorted');
is(scalar(grep { !/,$/ } @tools), 1, 'BUILDINFO tools: commas between items, none after the last');
ok(!grep({ !/^[a-z0-9][a-z0-9.+-]+ \(= [A-Za-z0-9.+~:-]+\)$/ } @bare), 'BUILDINFO tools: "package (= version)"');
my %ver = map { /^(\S+) \(= (.*)\)$/ } @bare;
for my $p (qw(gcc-12 cpp-12 libgcc-12-dev binutils-x86-64-linux-gnu musl-dev
    linux-libc-dev make dpkg-dev dpkg tar xz-utils flex bison perl-base bc
    libelf-dev zstd libzstd1 squashfs-tools dosfstools mtools fdisk
    qemu-utils zlib1g coreutils sed git)) {
	ok(exists $ver{$p}, "BUILDINFO names $p");
}
my @installed = map { "$_ (= " . qx{dpkg-query -W -f='\${Version}' $_ 2>/dev/null} . ')' }
    sort keys %ver;
is_deeply(\@bare, \@installed, 'BUILDINFO tool versions are the installed ones');

chomp(my $host = qx{hostname 2>/dev/null} // '');
unlike($bi, qr/\Q$host\E/, 'BUILDINFO carries no host name') if length $host >= 4;
unlike($bi, qr{(?:^|\s)/}m, 'BUILDINFO carries no path');

# the Version is the one the artifacts carry
like($ovf, qr{<Version>\Q$version\E</Version>}, 'OVF product version = BUILDINFO Version');
my $sq = "$tmp/root.squashfs";
{
	open my $img, '<', "$dir/mxgate.img" or die;
	binmode $img;
	seek $img, 133120 * 512, 0;                 # mxgate-root-a (image/disk.sh)
	my ($sb, $fs);
	read $img, $sb, 96;
	my $used = unpack('Q<', substr($sb, 40, 8));
	seek $img, 133120 * 512, 0;
	read $img, $fs, $used;
	write_file($sq, $fs);
}
($rc, $out) = run('unsquashfs', '-cat', $sq, 'etc/mxgate-release');
is($out, "$version\n", '/etc/mxgate-release = BUILDINFO Version');
($rc, $out) = run('unsquashfs', '-cat', $sq, 'usr/sbin/mxgate');
ok(index($out, $version) >= 0, 'the shipped mxgate binary carries the Version');

# the two root slots and the boot loader (image/disk.sh, image/grub.cfg):
# the GPT names, slot a's dm-verity tree checked whole against the root hash
# GRUB gives the kernel (veritysetup verify, in user space), slot b empty,
# the boot choice, GRUB for UEFI and for BIOS (boot.img in the MBR pointing
# at core.img in mxgate-bios)
{
	local $ENV{PATH} = "$ENV{PATH}:/usr/sbin:/sbin";
	my ($src, $gpt) = run('sfdisk', '--dump', "$dir/mxgate.img");
	my %part = map { /name="([^"]+)"/ ? ($1 => $_) : () } split /\n/, $gpt;
	is_deeply([sort keys %part], [qw(mxgate-bios mxgate-esp mxgate-root-a mxgate-root-b)],
	    'GPT: ESP, two root slots, the BIOS boot partition');
	like($part{'mxgate-root-b'} // '', qr/start=\s*657408, size=\s*524288/, 'slot b: 256 MiB at its fixed place');
	local $ENV{MTOOLS_SKIP_CHECK} = 1;
	my ($mrc, $env) = run('mtype', '-i', "$dir/mxgate.img\@\@1M", '::/slot-a/slot.env');
	my %se = $env =~ /^(mx_\w+)=(.*)$/mg;
	is($se{mx_version}, $version, 'slot a: slot.env names the Version');
	my $slot = "$tmp/slot-a.img";
	my $blocks = $se{mx_blocks} // 0;
	{
		open my $img, '<:raw', "$dir/mxgate.img" or die;
		seek $img, 133120 * 512, 0;
		read $img, my $all, 256 << 20;
		write_file($slot, $all);
	}
	is(int(((-s $sq) + 4095) / 4096), $blocks, 'slot a: the squashfs fills mx_blocks 4 KiB blocks');
	my ($vrc, $vout, $verr) = run('veritysetup', 'verify', '--no-superblock',
	    '--hash=sha256', '--data-block-size=4096', '--hash-block-size=4096',
	    "--data-blocks=$blocks", '--hash-offset=' . $blocks * 4096,
	    "--salt=$se{mx_salt}", $slot, $slot, $se{mx_hash} // '');
	is($vrc, 0, 'slot a: veritysetup verify with the root hash GRUB passes on') or diag($verr);
	my $bad = "$tmp/slot-bad.img";
	my $copy = read_file($slot);
	substr($copy, 5000, 1) = chr(ord(substr($copy, 5000, 1)) ^ 1);
	write_file($bad, $copy);
	($vrc) = run('veritysetup', 'verify', '--no-superblock', '--hash=sha256',
	    "--data-blocks=$blocks", '--hash-offset=' . $blocks * 4096,
	    "--salt=$se{mx_salt}", $bad, $bad, $se{mx_hash} // '');
	isnt($vrc, 0, 'slot a with one byte changed: verify fails');
	($mrc, $env) = run('mtype', '-i', "$dir/mxgate.img\@\@1M", '::/grub/grubenv');
	is(length $env, 1024, 'grubenv: one 1024-byte block');
	like($env, qr/^mx_first=a\nmx_a_state=good\nmx_a_left=3\nmx_b_state=empty\nmx_b_left=0\n#+$/m,
	    'grubenv: slot a good, first, 3 boots; b empty');
	($mrc, $env) = run('mtype', '-i', "$dir/mxgate.img\@\@1M", '::/grub/grub.cfg');
	is($env, read_file("$top/image/grub.cfg"), 'grub.cfg on the ESP is image/grub.cfg');
	($mrc, $env) = run('mtype', '-i', "$dir/mxgate.img\@\@1M", '::/EFI/BOOT/BOOTX64.EFI');
	ok(substr($env, 0, 2) eq 'MZ' && index($env, 'GRUB') >= 0, 'BOOTX64.EFI: GRUB, a PE image');
	open my $img, '<:raw', "$dir/mxgate.img" or die;
	read $img, my $mbr, 512;
	is(unpack('Q<', substr($mbr, 0x5c, 8)), 1024, 'MBR: boot.img loads core.img from sector 1024 (mxgate-bios)');
	is(substr($mbr, 510, 2), "\x55\xaa", 'MBR: boot signature kept');
	seek $img, 1024 * 512, 0;
	read $img, my $core, 512;
	is(unpack('Q<', substr($core, 0x1f4, 8)), 1025, 'core.img: its block list starts right after it');
}

# the software bill of materials (image/sbom.pl): SPDX 2.3 as its
# specification requires, every pinned input with its version and the
# SHA-256 deps/pins holds, every licence an SPDX licence list identifier
# (Debian's php-composer-spdx-licenses), the relations complete; on the ESP
# and in the root filesystem, byte for byte
{
	my $sb = read_file("$dir/mxgate.spdx.json") // '';
	my $doc = eval { JSON::PP->new->decode($sb) };
	ok($doc, 'SBOM: mxgate.spdx.json is JSON') or diag $@;
	$doc //= {};
	is($doc->{spdxVersion}, 'SPDX-2.3', 'SBOM: SPDX-2.3');
	is($doc->{dataLicense}, 'CC0-1.0', 'SBOM: dataLicense CC0-1.0');
	is($doc->{SPDXID}, 'SPDXRef-DOCUMENT', 'SBOM: the document\'s SPDXID');
	is($doc->{name}, "mxgate-$version", 'SBOM: named after the version');
	like($doc->{documentNamespace} // '', qr{^https://\S+$}, 'SBOM: a namespace URI');
	like($doc->{creationInfo}{created} // '', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
	    'SBOM: created, as SPDX writes times');
	ok(@{ $doc->{creationInfo}{creators} // [] } >= 1, 'SBOM: a creator');
	my $lists = '/usr/share/php/data/Composer/res';
	my ($ids, $exc) = map { eval { decode_json(read_file("$lists/$_") // '') } }
	    qw(spdx-licenses.json spdx-exceptions.json);
	ok($ids && $exc, "SBOM: the SPDX licence list ($lists, make deps)")
	    or BAIL_OUT('no SPDX licence list: make deps installs php-composer-spdx-licenses');
	my %refs = map { $_->{licenseId} => 1 } @{ $doc->{hasExtractedLicensingInfos} // [] };
	my (%by_id, @bad);
	for my $p (@{ $doc->{packages} // [] }) {
		push @bad, "$p->{SPDXID}: SPDXID" unless ($p->{SPDXID} // '') =~ /^SPDXRef-[A-Za-z0-9.-]+$/;
		push @bad, "$p->{SPDXID}: twice" if $by_id{$p->{SPDXID} // ''}++;
		for my $k (qw(name downloadLocation licenseConcluded licenseDeclared copyrightText)) {
			push @bad, "$p->{SPDXID}: no $k" unless defined $p->{$k} && $p->{$k} ne '';
		}
		my $expr = $p->{licenseDeclared} // '';
		for my $t (split /[\s()]+/, $expr) {
			next if $t eq '' || $t =~ /^(AND|OR|WITH|NOASSERTION|NONE)$/;
			next if $refs{$t};
			my $l = $ids->{$t};
			push @bad, "$p->{SPDXID}: '$t' is no SPDX licence"
			    unless ($l && !$l->[2]) || ($expr =~ /WITH \Q$t\E/ && $exc->{$t});
		}
	}
	is_deeply(\@bad, [], 'SBOM: every package has what SPDX requires, valid licences');
	my %pinned;
	for (split /\n/, read_file(($ENV{MXGATE_TOP} // '.') . '/deps/pins') // '') {
		s/#.*//;
		my ($name, $kind, $spec, $file, $sum) = split ' ';
		next unless $sum;
		$pinned{$name} //= [ split(/=/, $spec, 2), $file, $sum ];
	}
	my @miss;
	for my $name (sort keys %pinned) {
		my ($dpkg, $ver, $file, $sum) = @{ $pinned{$name} };
		my ($p) = grep { ($_->{SPDXID} // '') eq "SPDXRef-Package-$name" } @{ $doc->{packages} // [] };
		push @miss, $name and next unless $p;
		push @miss, "$name: version" unless ($p->{versionInfo} // '') eq $ver && ($p->{name} // '') eq $dpkg;
		push @miss, "$name: sha256" unless ($p->{checksums}[0]{checksumValue} // '') eq $sum
		    && ($p->{packageFileName} // '') eq $file;
	}
	ok(keys %pinned > 30, 'SBOM: deps/pins read (' . scalar(keys %pinned) . ' inputs)');
	is_deeply(\@miss, [], 'SBOM: every pinned input, with its version and SHA-256');
	my @dangling = grep { !$by_id{$_->{spdxElementId}} && $_->{spdxElementId} ne 'SPDXRef-DOCUMENT'
	    || !$by_id{$_->{relatedSpdxElement}} } @{ $doc->{relationships} // [] };
	is_deeply(\@dangling, [], 'SBOM: every relationship names packages that are there');
	my %related = map { $_->{relatedSpdxElement} => 1 } @{ $doc->{relationships} // [] };
	$related{$_->{spdxElementId}} = 1 for @{ $doc->{relationships} // [] };
	is_deeply([ grep { !$related{$_} } sort keys %by_id ], [], 'SBOM: every package is related to the image');
	like(read_file("$dir/SHA256SUMS") // '', qr/^[0-9a-f]{64}  mxgate\.spdx\.json$/m, 'SBOM: in SHA256SUMS');
	my ($mrc, $esp_sbom) = run('mtype', '-i', "$dir/mxgate.img\@\@1M", '::/mxgate.spdx.json');
	ok($mrc == 0 && $esp_sbom eq $sb, 'SBOM: on the ESP, the same bytes');
	my ($urc, $root_sbom) = run('unsquashfs', '-cat', $sq, 'usr/share/mxgate/mxgate.spdx.json');
	ok($urc == 0 && $root_sbom eq $sb, 'SBOM: in the root filesystem, the same bytes');
}

done_testing();
