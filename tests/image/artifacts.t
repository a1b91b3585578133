#!/usr/bin/perl
# artifacts.t — the VM artifacts of `make image` are well-formed:
# SHA256SUMS matches, qemu-img check passes on the qcow2 and on the VMDK
# inside the OVA, the OVF names the VMDK with its real size and the disk's
# capacity, the OVA manifest's digests match, the OVF comes first in the
# tar, and the VHD footer is a valid fixed-disk footer of the raw disk.
use strict;
use warnings;
use Test::More;
use Digest::SHA;
use MxTest;
use MxQemu;

my $dir = image_dir();
-f "$dir/SHA256SUMS" or plan skip_all => 'no image: run make image';

my ($rc, $out, $err) = run('sh', '-c', "cd '$dir' && sha256sum -c SHA256SUMS");
is($rc, 0, 'SHA256SUMS matches every artifact') or diag($out . $err);
like(read_file("$dir/SHA256SUMS"), qr/mxgate\.$_$/m, "SHA256SUMS lists mxgate.$_")
    for qw(img qcow2 ova vhd);

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

done_testing();
