#!/bin/bash
# image/disk.sh — the raw GPT disk of the appliance, reproducibly:
#   p1 mxgate-esp  FAT32 ESP, 64 MiB: \EFI\BOOT\BOOTX64.EFI (the kernel, EFI
#                  stub, built-in command line) + syslinux for BIOS boot
#                  (gptmbr.bin in the MBR, partition "legacy BIOS bootable")
#                  + mxgate.spdx.json, the build's SBOM (from the root)
#   p2 mxgate-root squashfs root, read-only, 256 MiB slot
#   free space     the data partition is created there on first boot
#                  (init/init), so the image carries no ext4 at all.
# GUIDs are fixed (the kernel finds root by PARTUUID), FAT serial and times
# are fixed (--invariant, SOURCE_DATE_EPOCH), squashfs times are fixed.
#
# Usage: image/disk.sh BZIMAGE ROOTDIR SYSLINUX_DEBDIR WORKDIR OUT.img
# Env:   DISK_SIZE (default 1G), SOURCE_DATE_EPOCH (required), SEED_DIR
#        (optional directory copied to ESP:/mxgate/, e.g. for tests)
set -eu
export LC_ALL=C
kernel=$1 rootdir=$2 sysl=$3 work=$4 out=$5
: "${SOURCE_DATE_EPOCH:?}"
size=${DISK_SIZE:-1G}
die() { echo "disk: error: $*" >&2; exit 1; }

GUID_PREFIX=6d786761-7465-4000-8000-00000000   # "mxgate" + fixed tail
ESP_START=2048 ESP_SECTORS=131072               # 64 MiB
ROOT_START=133120 ROOT_SECTORS=524288           # 256 MiB
TYPE_ESP=C12A7328-F81F-11D2-BA4B-00A0C93EC93B
TYPE_ROOT=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709  # Linux root (x86-64)

rm -rf "$work" && mkdir -p "$work"
export MTOOLS_SKIP_CHECK=1 TZ=UTC

# --- root: squashfs ---------------------------------------------------------
env -u SOURCE_DATE_EPOCH mksquashfs "$rootdir" "$work/root.squashfs" -noappend -quiet -no-progress \
	-comp zstd -all-root -no-xattrs -mkfs-time "$SOURCE_DATE_EPOCH" \
	-all-time "$SOURCE_DATE_EPOCH" >/dev/null
[ "$(stat -c %s "$work/root.squashfs")" -le $((ROOT_SECTORS * 512)) ] ||
	die "root filesystem larger than its 256 MiB partition"

# --- ESP: FAT32 with the kernel and syslinux --------------------------------
esp=$work/esp.img
mkfs.fat -C -F 32 -s 1 -S 512 -h $ESP_START -n MXGATE-ESP -i 6d786761 \
	--invariant "$esp" $((ESP_SECTORS / 2)) >/dev/null
stage=$work/espfiles
mkdir -p "$stage"
cp "$kernel" "$stage/BOOTX64.EFI"
cat >"$stage/syslinux.cfg" <<'CFG'
# syslinux.cfg — BIOS boot of the mxgate appliance (image/disk.sh). The
# kernel carries its command line (console=ttyS0,115200, root=PARTUUID=...).
SERIAL 0 115200
DEFAULT mxgate
PROMPT 0
TIMEOUT 0
LABEL mxgate
  LINUX /EFI/BOOT/BOOTX64.EFI
CFG
cat >"$stage/README.TXT" <<'TXT'
mxgate appliance boot partition.
Optional seed configuration for the first boot: put mxgate.conf (and
optionally network.conf, ntp.conf) into the folder mxgate\ on this partition.
They are copied to the data partition on first boot (see docs/IMAGE.md).
TXT
touch -d "@$SOURCE_DATE_EPOCH" "$stage"/*
mmd -i "$esp" ::/EFI ::/EFI/BOOT ::/syslinux ::/mxgate
mcopy -i "$esp" -m "$stage/BOOTX64.EFI" ::/EFI/BOOT/BOOTX64.EFI
mcopy -i "$esp" -m "$stage/syslinux.cfg" ::/syslinux/syslinux.cfg
mcopy -i "$esp" -m "$stage/README.TXT" ::/README.TXT
cp "$rootdir/usr/share/mxgate/mxgate.spdx.json" "$stage/mxgate.spdx.json"
touch -d "@$SOURCE_DATE_EPOCH" "$stage/mxgate.spdx.json"
mcopy -i "$esp" -m "$stage/mxgate.spdx.json" ::/mxgate.spdx.json
if [ -n "${SEED_DIR:-}" ]; then
	for f in "$SEED_DIR"/*; do
		touch -d "@$SOURCE_DATE_EPOCH" "$f"
		mcopy -i "$esp" -m "$f" "::/mxgate/${f##*/}"
	done
fi
"$sysl/usr/bin/syslinux" --install --directory /syslinux "$esp" ||
	die "syslinux --install failed"

# --- the disk --------------------------------------------------------------------
rm -f "$out.tmp"
truncate -s "$size" "$out.tmp"
sfdisk -q --no-reread --no-tell-kernel "$out.tmp" >/dev/null <<PT
label: gpt
label-id: ${GUID_PREFIX}0000
unit: sectors
first-lba: 2048
start=$ESP_START, size=$ESP_SECTORS, type=$TYPE_ESP, uuid=${GUID_PREFIX}0001, name="mxgate-esp", attrs="LegacyBIOSBootable"
start=$ROOT_START, size=$ROOT_SECTORS, type=$TYPE_ROOT, uuid=${GUID_PREFIX}0002, name="mxgate-root"
PT
dd if="$esp" of="$out.tmp" bs=512 seek=$ESP_START conv=notrunc,sparse status=none
dd if="$work/root.squashfs" of="$out.tmp" bs=512 seek=$ROOT_START conv=notrunc status=none
dd if="$sysl/usr/lib/syslinux/mbr/gptmbr.bin" of="$out.tmp" bs=440 count=1 conv=notrunc status=none
mv "$out.tmp" "$out"
