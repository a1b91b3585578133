#!/usr/bin/perl
# image/vhdx.pl — writes a dynamic VHDX (MS-VHDX 1.0) of a raw disk image,
# bit-reproducible: Hyper-V generation 2 (UEFI) takes only VHDX, and
# qemu-img's VHDX carries random GUIDs under CRC-32C checksums.
#
# Layout (every region 1 MiB aligned): the file type identifier (creator
# "mxgate"), two headers (same sequence number), two region tables, an
# empty log (1 MiB, no log GUID: nothing to replay), the metadata region
# (file parameters: 32 MiB blocks; virtual size; a disk GUID; 512-byte
# logical and 4096-byte physical sectors), the BAT, then the payload
# blocks that hold data, in order. A block of zeros is not stored: its
# BAT entry says PAYLOAD_BLOCK_ZERO. The GUIDs are derived from the raw
# image's SHA-256, so the same raw image gives the same VHDX.
#
# Usage: image/vhdx.pl RAW OUT
use strict;
use warnings;
use Digest::SHA;

my ($raw, $out) = @ARGV;
die "usage: vhdx.pl RAW OUT\n" unless defined $out;

my $MiB = 1 << 20;
my $BLOCK = 32 * $MiB;
my ($LSS, $PSS) = (512, 4096);
my $size = -s $raw // die "$raw: $!\n";
die "$raw: size $size is not a multiple of $LSS\n" if $size % $LSS;

# --- CRC-32C (Castagnoli, reflected 0x82F63B78) ---------------------------------
my @crc_table = map {
	my $c = $_;
	$c = $c & 1 ? ($c >> 1) ^ 0x82F63B78 : $c >> 1 for 1 .. 8;
	$c;
} 0 .. 255;
sub crc32c {
	my $c = 0xFFFFFFFF;
	$c = $crc_table[($c ^ $_) & 0xFF] ^ ($c >> 8) for unpack 'C*', $_[0];
	return $c ^ 0xFFFFFFFF;
}

# --- GUIDs: text form -> the on-disk (mixed-endian) 16 bytes --------------------
sub guid {
	my ($t) = @_;
	my @p = $t =~ /^(\w{8})-(\w{4})-(\w{4})-(\w{4})-(\w{12})$/ or die "guid $t";
	return pack('V v v', hex $p[0], hex $p[1], hex $p[2]) . pack('H4 H12', $p[3], $p[4]);
}
my $BAT_GUID  = guid('2DC27766-F623-4200-9D64-115E9BFD4A08');
my $META_GUID = guid('8B7CA206-4790-4B9A-B8FE-575F050F886E');
my $FILE_PARAMS = guid('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
my $DISK_SIZE   = guid('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
my $PAGE83      = guid('BECA12AB-B2E6-4523-93EF-C309E000C746');
my $LOGICAL     = guid('8141BF1D-A96F-4709-BA47-F233A8FAAB5F');
my $PHYSICAL    = guid('CDA348C7-445D-4471-9CC9-E9885251C556');

# the raw image's digest, and GUIDs (version 4 form) derived from it
my $sha = Digest::SHA->new(256);
$sha->addfile($raw, 'b');
my $digest = $sha->digest;
sub derived_guid {
	my $b = substr(Digest::SHA::sha256($_[0] . $digest), 0, 16);
	substr($b, 7, 1) = chr((ord(substr($b, 7, 1)) & 0x0F) | 0x40);
	substr($b, 8, 1) = chr((ord(substr($b, 8, 1)) & 0x3F) | 0x80);
	return $b;
}

# --- regions ------------------------------------------------------------------------
my $LOG_OFF = 1 * $MiB;
my $LOG_LEN = 1 * $MiB;
my $META_OFF = 2 * $MiB;
my $META_LEN = 1 * $MiB;
my $BAT_OFF = 3 * $MiB;
my $blocks = int(($size + $BLOCK - 1) / $BLOCK);
my $chunk_ratio = int(((1 << 23) * $LSS) / $BLOCK);
my $bat_entries = $blocks + int(($blocks - 1) / $chunk_ratio);
my $bat_len = int(($bat_entries * 8 + $MiB - 1) / $MiB) * $MiB;
my $data_off = $BAT_OFF + $bat_len;

open my $in, '<:raw', $raw or die "$raw: $!\n";
open my $o, '+>:raw', $out or die "$out: $!\n";
sub put { my ($off, $bytes) = @_; seek($o, $off, 0) or die; print $o $bytes or die "$out: $!\n" }

# payload blocks: present ones appended in order, zero blocks not stored
my @bat = (0) x $bat_entries;
my $next = $data_off;
for my $i (0 .. $blocks - 1) {
	my $want = $i == $blocks - 1 ? $size - $i * $BLOCK : $BLOCK;
	my $buf = '';
	my $got = read($in, $buf, $want);
	die "$raw: short read\n" unless defined $got && $got == $want;
	my $idx = $i + int($i / $chunk_ratio);
	if ($buf =~ /\A\0*\z/) {
		$bat[$idx] = 2;				# PAYLOAD_BLOCK_ZERO
		next;
	}
	$buf .= "\0" x ($BLOCK - $want);
	put($next, $buf);
	$bat[$idx] = 6 | (($next / $MiB) << 20);	# FULLY_PRESENT at MiB
	$next += $BLOCK;
}
close $in;
put($BAT_OFF, pack('Q<*', @bat) . "\0" x ($bat_len - 8 * $bat_entries));

# file type identifier
my $creator = join '', map { pack 'v', ord } split //, 'mxgate';
put(0, 'vhdxfile' . $creator . "\0" x (65536 - 8 - length $creator));

# headers: the same but for their sequence numbers (the second is current)
for my $h (1, 2) {
	my $hdr = 'head' . pack('V', 0) . pack('Q<', $h)
	    . derived_guid('file-write') . derived_guid('data-write')
	    . ("\0" x 16) . pack('v v V Q<', 0, 1, $LOG_LEN, $LOG_OFF);
	$hdr .= "\0" x (4096 - length $hdr);
	substr($hdr, 4, 4) = pack('V', crc32c($hdr));
	put($h * 64 * 1024, $hdr);
}

# region tables
my $rt = 'regi' . pack('V V V', 0, 2, 0)
    . $BAT_GUID . pack('Q< V V', $BAT_OFF, $bat_len, 1)
    . $META_GUID . pack('Q< V V', $META_OFF, $META_LEN, 1);
$rt .= "\0" x (65536 - length $rt);
substr($rt, 4, 4) = pack('V', crc32c($rt));
put(192 * 1024, $rt);
put(256 * 1024, $rt);

# the log: empty
put($LOG_OFF, "\0" x $LOG_LEN);

# metadata: table, then the items from 64 KiB on
my @items = (
	[ $FILE_PARAMS, pack('V V', $BLOCK, 0), 4 ],		# required
	[ $DISK_SIZE,   pack('Q<', $size), 6 ],			# virtual disk, required
	[ $PAGE83,      derived_guid('disk-id'), 6 ],
	[ $LOGICAL,     pack('V', $LSS), 6 ],
	[ $PHYSICAL,    pack('V', $PSS), 6 ],
);
my $table = 'metadata' . pack('v v', 0, scalar @items) . "\0" x 20;
my ($data, $doff) = ('', 65536);
for my $it (@items) {
	my ($id, $val, $flags) = @$it;
	$table .= $id . pack('V V V V', $doff + length $data, length $val, $flags, 0);
	$data .= $val;
}
put($META_OFF, $table . "\0" x (65536 - length $table) . $data
    . "\0" x ($META_LEN - 65536 - length $data));

# the file ends after its last block (or the BAT)
truncate($o, $next > $data_off ? $next : $data_off) or die "$out: $!\n";
close $o or die "$out: $!\n";
