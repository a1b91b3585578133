#!/bin/bash
# image/bundle.sh — a signed firmware update bundle, mxgate-VERSION.mxu
# (relay/update.h has the format): a 4096-byte text header (magic line,
# ECDSA P-256 signature over the manifest, the manifest: version, epoch,
# the slot's dm-verity root hash, salt and data blocks, then each file's
# offset, size and SHA-256), then the kernel, the SBOM and the root slot
# (squashfs + hash tree), each at a 4096-aligned offset.
# Everything but the signature line is reproducible (ECDSA signatures are
# randomised): UNSIGNED=1 writes the bundle with an empty signature line
# for comparing two builds (make verify); such a bundle is refused by
# every appliance.
#
# Usage: image/bundle.sh KERNEL SLOT.img SLOT.env SBOM SIGNING_KEY.pem OUT
# Env:   VERSION, SOURCE_DATE_EPOCH (required), UNSIGNED=1
set -eu -o pipefail
export LC_ALL=C
kernel=$1 slot=$2 env=$3 sbom=$4 key=$5 out=$6
: "${VERSION:?}" "${SOURCE_DATE_EPOCH:?}"
die() { echo "bundle: error: $*" >&2; exit 1; }

envvar() { tr '#' '\n' <"$env" | sed -n "s/^$1=//p"; }
hash=$(envvar mx_hash) salt=$(envvar mx_salt) blocks=$(envvar mx_blocks)
[ -n "$hash" ] && [ -n "$salt" ] && [ -n "$blocks" ] || die "$env: not a slot description"
[ "$(envvar mx_version)" = "$VERSION" ] || die "$env: version $(envvar mx_version), not $VERSION"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
off=4096
{
	echo "version $VERSION"
	echo "epoch $SOURCE_DATE_EPOCH"
	echo "root-hash $hash"
	echo "root-salt $salt"
	echo "root-blocks $blocks"
	for f in kernel:"$kernel" sbom:"$sbom" slot:"$slot"; do
		name=${f%%:*} path=${f#*:}
		size=$(stat -c %s "$path")
		echo "file $name $off $size $(sha256sum <"$path" | cut -c1-64)"
		off=$((off + (size + 4095) / 4096 * 4096))
	done
} >"$tmp/manifest"
if [ "${UNSIGNED:-0}" = 1 ]; then
	sig=
else
	[ -f "$key" ] || die "no signing key $key (SIGNING_KEY=PATH)"
	openssl dgst -sha256 -sign "$key" -out "$tmp/sig" "$tmp/manifest" ||
		die "openssl could not sign with $key"
	sig=$(od -An -v -tx1 <"$tmp/sig" | tr -d ' \n')
fi
{
	printf 'mxgate-update 1\nsignature %s\n' "$sig"
	cat "$tmp/manifest"
} >"$tmp/header"
[ "$(stat -c %s "$tmp/header")" -le 4096 ] || die "the header is larger than 4096 bytes"
truncate -s 4096 "$tmp/header"
pad() { cat "$1"; s=$(stat -c %s "$1"); head -c $(( (4096 - s % 4096) % 4096 )) /dev/zero; }
{
	cat "$tmp/header"
	pad "$kernel"
	pad "$sbom"
	cat "$slot"
} >"$out.tmp"
mv "$out.tmp" "$out"
