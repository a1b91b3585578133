#!/bin/bash
# image/disk.sh — the raw GPT disk of the appliance, reproducibly:
#   p1 mxgate-esp     FAT32 ESP, 64 MiB: GRUB for UEFI (\EFI\BOOT\BOOTX64.EFI),
#                     /grub/grub.cfg (image/grub.cfg: slot choice, tries)
#                     and /grub/grubenv, each slot's kernel and root
#                     description (/slot-a/vmlinuz, /slot-a/slot.env), the
#                     build's SBOM (mxgate.spdx.json)
#   p2 mxgate-root-a  root slot a, 256 MiB: squashfs, then its dm-verity hash
#                     tree (the kernel checks every block it reads)
#   p3 mxgate-root-b  root slot b, 256 MiB, empty until the first update
#   p4 mxgate-bios    BIOS boot partition, 512 KiB before the ESP: GRUB's
#                     core.img for BIOS; the protective MBR holds boot.img
#   free space        the data partition is created there on first boot
#                     (init/init), so the image carries no ext4 at all.
# GUIDs are fixed (the kernel finds its slot by PARTUUID), FAT serial and
# times are fixed (--invariant, SOURCE_DATE_EPOCH), squashfs times are fixed,
# the verity salt is the SHA-256 of the squashfs (no superblock, no UUID).
#
# Usage: image/disk.sh BZIMAGE ROOTDIR GRUB_LIBDIR WORKDIR OUT.img
#   GRUB_LIBDIR holds i386-pc/ and x86_64-efi/ (the pinned GRUB .debs).
#   Leaves WORKDIR/root.squashfs and WORKDIR/slot.img (squashfs + hash tree)
#   and WORKDIR/slot.env for image/bundle.sh.
# Env:   DISK_SIZE (default 1G), SOURCE_DATE_EPOCH and VERSION (required),
#        SEED_DIR (optional directory copied to ESP:/mxgate/, e.g. for tests)
set -eu
export LC_ALL=C
kernel=$1 rootdir=$2 grub=$3 work=$4 out=$5
: "${SOURCE_DATE_EPOCH:?}" "${VERSION:?}"
size=${DISK_SIZE:-1G}
top=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "disk: error: $*" >&2; exit 1; }

GUID_PREFIX=6d786761-7465-4000-8000-00000000   # "mxgate" + fixed tail
BIOS_START=1024 BIOS_SECTORS=1024               # 512 KiB
ESP_START=2048 ESP_SECTORS=131072               # 64 MiB
SLOT_SECTORS=524288                             # 256 MiB each
A_START=133120 B_START=657408
TYPE_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
TYPE_ROOT=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709  # Linux root (x86-64)
TYPE_BIOS=21686148-6449-6E6F-744E-656564454649  # BIOS boot partition
GRUB_MODS="part_gpt fat normal linux loadenv test echo serial terminal configfile"

rm -rf "$work" && mkdir -p "$work"
export MTOOLS_SKIP_CHECK=1 TZ=UTC

# --- root slot a: squashfs + dm-verity hash tree (image/slot.sh) ------------------
"$top/image/slot.sh" "$rootdir" "$work" $((SLOT_SECTORS * 512))

# --- GRUB: one core image per firmware, from the pinned modules -------------------
grub-mkimage -O x86_64-efi -d "$grub/x86_64-efi" -p '(,gpt1)/grub' \
	-o "$work/BOOTX64.EFI" efi_gop linuxefi $GRUB_MODS || die "grub-mkimage x86_64-efi failed"
grub-mkimage -O i386-pc -d "$grub/i386-pc" -p '(,gpt1)/grub' \
	-o "$work/core.img" biosdisk $GRUB_MODS || die "grub-mkimage i386-pc failed"
core_sectors=$(( ($(stat -c %s "$work/core.img") + 511) / 512 ))
[ "$core_sectors" -le $BIOS_SECTORS ] || die "GRUB's core.img does not fit the BIOS boot partition"

# --- ESP: FAT32 -------------------------------------------------------------------
esp=$work/esp.img
mkfs.fat -C -F 32 -s 1 -S 512 -h $ESP_START -n MXGATE-ESP -i 6d786761 \
	--invariant "$esp" $((ESP_SECTORS / 2)) >/dev/null
stage=$work/espfiles
mkdir -p "$stage"
cp "$work/BOOTX64.EFI" "$stage/BOOTX64.EFI"
cp "$top/image/grub.cfg" "$stage/grub.cfg"
cp "$kernel" "$stage/vmlinuz"
cp "$work/slot.env" "$stage/slot.env"
"$top/image/grubenv.sh" mx_first=a mx_a_state=good mx_a_left=3 \
	mx_b_state=empty mx_b_left=0 >"$stage/grubenv"
cp "$rootdir/usr/share/mxgate/mxgate.spdx.json" "$stage/mxgate.spdx.json"
cat >"$stage/README.TXT" <<'TXT'
mxgate appliance boot partition.
Optional seed configuration for the first boot: put mxgate.conf (and
optionally network.conf, ntp.conf) into the folder mxgate\ on this partition.
They are copied to the data partition on first boot (see docs/IMAGE.md).
Firmware updates (mxgate-VERSION.mxu) may be put here for
`mxgatectl update apply` (see docs/UPDATES.md).
TXT
touch -d "@$SOURCE_DATE_EPOCH" "$stage"/*
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/grub ::/slot-a ::/slot-b ::/mxgate
mcopy -i "$esp" -m "$stage/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" -m "$stage/grub.cfg" ::/grub/grub.cfg
mcopy -i "$esp" -m "$stage/grubenv" ::/grub/grubenv
mcopy -i "$esp" -m "$stage/vmlinuz" ::/slot-a/vmlinuz
mcopy -i "$esp" -m "$stage/slot.env" ::/slot-a/slot.env
mcopy -i "$esp" -m "$stage/README.TXT" ::/README.TXT
mcopy -i "$esp" -m "$stage/mxgate.spdx.json" ::/mxgate.spdx.json
if [ -n "${SEED_DIR:-}" ]; then
	for f in "$SEED_DIR"/*; do
		touch -d "@$SOURCE_DATE_EPOCH" "$f"
		mcopy -i "$esp" -m "$f" "::/mxgate/${f##*/}"
	done
fi

# --- the disk --------------------------------------------------------------------
rm -f "$out.tmp"
truncate -s "$size" "$out.tmp"
sfdisk -q --no-reread --no-tell-kernel "$out.tmp" >/dev/null <<PT
label: gpt
label-id: ${GUID_PREFIX}0000
unit: sectors
first-lba: 34
start=$ESP_START, size=$ESP_SECTORS, type=$TYPE_ESP, uuid=${GUID_PREFIX}0001, name="mxgate-esp"
start=$A_START, size=$SLOT_SECTORS, type=$TYPE_ROOT, uuid=${GUID_PREFIX}0002, name="mxgate-root-a"
start=$B_START, size=$SLOT_SECTORS, type=$TYPE_ROOT, uuid=${GUID_PREFIX}0003, name="mxgate-root-b"
start=$BIOS_START, size=$BIOS_SECTORS, type=$TYPE_BIOS, uuid=${GUID_PREFIX}0004, name="mxgate-bios"
PT
dd if="$esp" of="$out.tmp" bs=512 seek=$ESP_START conv=notrunc,sparse status=none
dd if="$work/slot.img" of="$out.tmp" bs=512 seek=$A_START conv=notrunc status=none
# BIOS: boot.img (440 bytes, before the partition table) loads the first
# sector of core.img, whose block list loads the rest. Both are patched as
# grub-bios-setup would: boot.img gets core.img's LBA (offset 0x5c, 64-bit
# LE) and nops over its boot-drive check (0x66, trust the BIOS's drive);
# core.img's first block list entry (at 0x1f4: LBA 64-bit, sector count
# 16-bit, load segment 16-bit; grub-mkimage fills in the count) gets the
# LBA of the sectors after the first.
perl -e '
	my ($bootimg, $core, $lba, $n, $w) = @ARGV;
	local $/;
	open(my $b, "<:raw", $bootimg) or die "$bootimg: $!"; my $mbr = <$b>;
	open(my $c, "<:raw", $core) or die "$core: $!"; my $img = <$c>;
	length($mbr) == 512 or die "boot.img is not one sector\n";
	unpack("Q<", substr($mbr, 0x5c, 8)) == 1 or die "boot.img: unexpected kernel sector field\n";
	my ($start, $len, $seg) = unpack("Q<vv", substr($img, 0x1f4, 12));
	$start == 2 && $seg == 0x820 && ($len == 0 || $len == $n - 1)
		or die "core.img: unexpected block list ($start $len $seg)\n";
	substr($mbr, 0x5c, 8) = pack("Q<", $lba);
	substr($mbr, 0x66, 2) = "\x90\x90";
	substr($img, 0x1f4, 12) = pack("Q<vv", $lba + 1, $n - 1, 0x820);
	open(my $o, ">:raw", "$w/core.img.patched") or die; print $o $img;
	open($o, ">:raw", "$w/boot.img.patched") or die; print $o substr($mbr, 0, 440);
' "$grub/i386-pc/boot.img" "$work/core.img" $BIOS_START "$core_sectors" "$work" ||
	die "cannot patch GRUB's boot.img and core.img"
dd if="$work/core.img.patched" of="$out.tmp" bs=512 seek=$BIOS_START conv=notrunc status=none
dd if="$work/boot.img.patched" of="$out.tmp" bs=440 count=1 conv=notrunc status=none
mv "$out.tmp" "$out"
