#!/bin/bash
# image/kernel.sh — build the appliance kernel (bzImage with EFI stub) from
# the pinned Debian linux-source-6.1 .deb, tinyconfig + our fragments,
# reproducibly, cached OUTSIDE the tree by every input that can change its
# bytes: source sha256, fragments, this script, the host compiler, binutils,
# zstd (the bzImage payload compressor), make, flex, bison and perl.
#
# Usage: image/kernel.sh SOURCE_DEB OUT_DIR FRAGMENT...
#   leaves OUT_DIR/bzImage and OUT_DIR/config (copies of the cache entry).
# Env:   MXGATE_CACHE (default ~/.cache/mxgate), JOBS (default 2), V=1.
# Owns:  $MXGATE_CACHE/kernel/<key>/. Never writes into the source tree.
set -eu
export LC_ALL=C
# the kernel's make must not see our make's command-line variables (VERSION)
unset MAKEFLAGS MFLAGS MAKELEVEL
deb=$1 out=$2; shift 2
cache=${MXGATE_CACHE:-$HOME/.cache/mxgate}/kernel
jobs=${JOBS:-2}
say() { printf '  %-7s %s\n' KERNEL "$*"; }

# The key: the source, the fragments, this script's own text, and the
# version of every host tool whose output ends up in the bzImage.
key=$( {
	sha256sum <"$deb"
	for f in "$@"; do printf '== %s\n' "$(basename "$f")"; cat "$f"; done
	printf '== kernel.sh\n'; cat "$0"
	gcc --version | head -1
	ld --version | head -1
	zstd --version
	make --version | head -1
	flex --version | head -1
	bison --version | head -1
	perl -e 'print "perl $^V\n"'
} | sha256sum | cut -c1-32)
entry=$cache/$key
mkdir -p "$out"

if [ ! -f "$entry/bzImage" ]; then
	say "building $key (about 11 minutes on 2 cores)"
	mkdir -p "$cache"
	work=$(mktemp -d "$cache/build.XXXXXX")
	trap 'rm -rf "$work"' EXIT
	trap 'exit 1' INT TERM
	dpkg-deb --fsys-tarfile "$deb" |
		tar -xO --wildcards './usr/src/linux-source-6.1.tar.xz' |
		tar -xJ -C "$work"
	src=$(echo "$work"/linux-source-6.1)
	export KBUILD_BUILD_TIMESTAMP='Thu Jan  1 00:00:00 UTC 1970'
	export KBUILD_BUILD_USER=mxgate KBUILD_BUILD_HOST=mxgate
	export KBUILD_BUILD_VERSION=1
	unset SOURCE_DATE_EPOCH
	mk() { make -C "$src" O="$work/build" ARCH=x86_64 "$@"; }
	if [ "${V:-0}" = 1 ]; then log=/dev/stderr; else log=$work/log; fi
	{
		mk tinyconfig
		"$src/scripts/kconfig/merge_config.sh" -m -O "$work/build" \
			"$work/build/.config" "$@"
		mk olddefconfig
	} >"$log" 2>&1 || { tail -40 "$work/log" 2>/dev/null; exit 1; }
	# every requested option must survive olddefconfig (a dependency not
	# met drops it silently), checked before the long build
	miss=0
	for f in "$@"; do
		while IFS= read -r l; do
			case $l in
			CONFIG_*=*) grep -qxF -- "$l" "$work/build/.config" || { echo "kernel: not applied: $l" >&2; miss=1; };;
			'# CONFIG_'*' is not set')
				o=${l#\# }; o=${o%% *}
				grep -q "^$o=" "$work/build/.config" && { echo "kernel: still set: $o" >&2; miss=1; };;
			esac
		done <"$f"
	done
	[ $miss = 0 ] || { echo "kernel: requested options did not survive olddefconfig (see above); refusing the build" >&2; exit 1; }
	mk -j"$jobs" bzImage >>"$log" 2>&1 || { tail -40 "$work/log" 2>/dev/null; exit 1; }
	mkdir -p "$work/entry"
	cp "$work/build/arch/x86/boot/bzImage" "$work/entry/bzImage"
	cp "$work/build/.config" "$work/entry/config"
	rm -rf "$entry"
	mv "$work/entry" "$entry"
fi
cp "$entry/bzImage" "$out/bzImage.tmp" && mv "$out/bzImage.tmp" "$out/bzImage"
cp "$entry/config" "$out/config"
