#!/bin/bash
# image/vmformats.sh — the VM artifacts made from the raw disk, each
# bit-reproducible, and SHA256SUMS over everything in OUTDIR:
#   mxgate.qcow2  KVM/Proxmox (qemu-img, sequential, compressed)
#   mxgate.ova    VMware/VirtualBox: OVF 1.0 + manifest + stream-optimised
#                 VMDK (qemu-img; its random CID is replaced by a fixed one
#                 and the extent name is always the same)
#   mxgate.vhd    fixed VHD (raw + footer by image/vhd-footer.pl)
#   mxgate.vhdx   dynamic VHDX for Hyper-V generation 2 (image/vhdx.pl:
#                 qemu-img's vhdx carries random GUIDs under CRC-32C
#                 checksums; ours derives them from the raw image)
# Usage: image/vmformats.sh RAW WORKDIR OUTDIR
# Env:   SOURCE_DATE_EPOCH, VERSION
set -eu
export LC_ALL=C TZ=UTC
raw=$1 work=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
: "${SOURCE_DATE_EPOCH:?}"
rm -rf "$work" && mkdir -p "$work/ova"
cap=$(stat -c %s "$raw")

# qcow2
qemu-img convert -f raw -O qcow2 -c -m 1 "$raw" "$work/mxgate.qcow2"

# stream-optimised VMDK with a fixed CID, in an OVA
vmdk=$work/ova/mxgate-disk1.vmdk
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized,adapter_type=ide \
	-m 1 "$raw" "$vmdk"
# qemu-img prints the CID without leading zeros (1 time in 16 it has
# fewer than 8 digits): the fixed CID takes its room from the NUL padding
# that ends the embedded descriptor, so no byte after it moves
vbefore=$(stat -c %s "$vmdk")
perl -0777 -pi -e 's/\nCID=([0-9a-f]{1,8})\n([^\0]*)(\0{8})/"\nCID=6d786761\n$2" . substr($3, 8 - length $1)/e
	or die "vmdk: no CID line followed by descriptor padding\n"' "$vmdk"
[ "$(stat -c %s "$vmdk")" = "$vbefore" ] || { echo "vmdk: CID rewrite changed the size" >&2; exit 1; }
vsize=$(stat -c %s "$vmdk")
sed -e "s/@VMDK_SIZE@/$vsize/" -e "s/@CAPACITY@/$cap/" \
	-e "s/@VERSION@/${VERSION:-unknown}/" "$here/mxgate.ovf.in" >"$work/ova/mxgate.ovf"
(cd "$work/ova" && for f in mxgate.ovf mxgate-disk1.vmdk; do
	echo "SHA256($f)= $(sha256sum "$f" | cut -d' ' -f1)"
done) >"$work/ova/mxgate.mf"
touch -d "@$SOURCE_DATE_EPOCH" "$work/ova"/*
tar --format=ustar --owner=0 --group=0 --numeric-owner --mode=0644 \
	--mtime="@$SOURCE_DATE_EPOCH" -C "$work/ova" \
	-cf "$work/mxgate.ova" mxgate.ovf mxgate.mf mxgate-disk1.vmdk

# fixed VHD
cp --sparse=always "$raw" "$work/mxgate.vhd"
"$here/vhd-footer.pl" "$work/mxgate.vhd"

# dynamic VHDX
"$here/vhdx.pl" "$raw" "$work/mxgate.vhdx"

for f in mxgate.qcow2 mxgate.ova mxgate.vhd mxgate.vhdx; do mv "$work/$f" "$out/$f"; done
(cd "$out" && sha256sum mxgate.img mxgate.qcow2 mxgate.ova mxgate.vhd \
	mxgate.vhdx mxgate.spdx.json) >"$out/SHA256SUMS.tmp"
mv "$out/SHA256SUMS.tmp" "$out/SHA256SUMS"
