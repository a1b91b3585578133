#!/usr/bin/perl
# image/vhd-footer.pl — append a fixed-disk VHD footer (Microsoft Virtual
# Hard Disk Image Format Specification 1.0) to a raw image, turning it into
# a fixed VHD, deterministically: the time stamp is SOURCE_DATE_EPOCH and the
# unique id is derived from the image contents' size and the epoch, so two
# builds of the same sources give the same bytes (qemu-img vpc does not).
# The creator application is "win " (Hyper-V's): readers take the disk size
# from the footer's current-size field for it, whereas for an unknown
# creator QEMU before 10.0 and `qemu-img convert` compute the size from the
# CHS geometry, which cannot express most sizes (1 GiB comes out 256 KiB
# short, the backup GPT is cut off and the boot waits for root forever).
# Hyper-V and Azure read current-size whatever the creator says.
# Usage: image/vhd-footer.pl FILE        (FILE grows by 512 bytes)
use strict;
use warnings;
$ENV{LC_ALL} = 'C';
use Digest::SHA qw(sha256);

my $file = shift or die "usage: $0 FILE\n";
my $epoch = $ENV{SOURCE_DATE_EPOCH} // die "SOURCE_DATE_EPOCH not set\n";
my $size = -s $file // die "$file: $!\n";
die "$file: size not a multiple of 1 MiB\n" if $size % (1 << 20);

# CHS geometry, exactly as in the specification's appendix
my $sectors = $size / 512;
$sectors = 65535 * 16 * 255 if $sectors > 65535 * 16 * 255;
my ($spt, $heads, $cth);
if ($sectors >= 65535 * 16 * 63) {
	($spt, $heads) = (255, 16);
	$cth = int($sectors / $spt);
} else {
	$spt = 17;
	$cth = int($sectors / $spt);
	$heads = int(($cth + 1023) / 1024);
	$heads = 4 if $heads < 4;
	if ($cth >= $heads * 1024 || $heads > 16) {
		($spt, $heads) = (31, 16);
		$cth = int($sectors / $spt);
	}
	if ($cth >= $heads * 1024) {
		($spt, $heads) = (63, 16);
		$cth = int($sectors / $spt);
	}
}
my $cyl = int($cth / $heads);

my $uuid = substr(sha256("mxgate-vhd:$epoch:$size"), 0, 16);
my $footer = pack('a8 N N Q> N a4 N a4 Q> Q> n C C N N a16 C',
	'conectix', 2, 0x00010000, ~0,    # data offset: none (fixed disk)
	$epoch - 946684800,            # seconds since 2000-01-01 UTC
	'win ', 0x000a0000, 'Wi2k',
	$size, $size, $cyl, $heads, $spt,
	2,                             # fixed disk
	0,                             # checksum, filled in below
	$uuid, 0);
$footer .= "\0" x (512 - length $footer);
my $sum = 0;
$sum += $_ for unpack('C*', $footer);
substr($footer, 64, 4) = pack('N', ~$sum & 0xFFFFFFFF);

open my $fh, '>>', $file or die "$file: $!\n";
binmode $fh;
print $fh $footer or die "$file: $!\n";
close $fh or die "$file: $!\n";
