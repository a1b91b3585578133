#!/bin/bash
# image/slot.sh — one root slot from a root filesystem tree, and its
# description for GRUB, reproducibly:
#   WORKDIR/root.squashfs  the tree (zstd, owned by root, times fixed)
#   WORKDIR/slot.img       the squashfs, then its dm-verity hash tree
#                          (SHA-256, 4 KiB blocks, no superblock, the salt
#                          the SHA-256 of the squashfs: the same tree always
#                          gives the same slot and root hash)
#   WORKDIR/slot.env       a GRUB environment block (image/grubenv.sh) read
#                          by image/grub.cfg: mx_version, mx_hash (the root
#                          hash), mx_salt, mx_blocks (4 KiB data blocks; the
#                          tree starts right after them), mx_sectors (the
#                          data in 512-byte sectors)
# Usage: image/slot.sh ROOTDIR WORKDIR MAXBYTES
# Env:   VERSION, SOURCE_DATE_EPOCH (required)
set -eu
export LC_ALL=C
rootdir=$1 work=$2 max=$3
: "${VERSION:?}" "${SOURCE_DATE_EPOCH:?}"
die() { echo "slot: error: $*" >&2; exit 1; }
mkdir -p "$work"
sq=$work/root.squashfs img=$work/slot.img
rm -f "$sq" "$img" "$work/slot.tree"
env -u SOURCE_DATE_EPOCH mksquashfs "$rootdir" "$sq" -noappend -quiet -no-progress \
	-comp zstd -all-root -no-xattrs -mkfs-time "$SOURCE_DATE_EPOCH" \
	-all-time "$SOURCE_DATE_EPOCH" >/dev/null || die "mksquashfs failed"
size=$(stat -c %s "$sq")
[ $((size % 4096)) -eq 0 ] || die "$sq is not padded to 4 KiB"
blocks=$((size / 4096))
salt=$(sha256sum <"$sq" | cut -c1-64)
veritysetup format --no-superblock --hash=sha256 --data-block-size=4096 \
	--hash-block-size=4096 --salt="$salt" "$sq" "$work/slot.tree" >"$work/slot.verity" ||
	die "veritysetup format failed"
hash=$(sed -n 's/^Root hash:[[:space:]]*\([0-9a-f]\{64\}\)$/\1/p' "$work/slot.verity")
[ -n "$hash" ] || die "no root hash in veritysetup's output"
cat "$sq" "$work/slot.tree" >"$img"
rm -f "$work/slot.tree" "$work/slot.verity"
[ "$(stat -c %s "$img")" -le "$max" ] ||
	die "root slot of $(stat -c %s "$img") bytes larger than its $max-byte partition"
"$(dirname "$0")/grubenv.sh" mx_version="$VERSION" mx_hash="$hash" \
	mx_salt="$salt" mx_blocks=$blocks mx_sectors=$((blocks * 8)) >"$work/slot.env"
