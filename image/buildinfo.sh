#!/bin/bash
# image/buildinfo.sh — the build record out/image/BUILDINFO, in the spirit of
# Debian's .buildinfo: what was built (source commit, VERSION,
# SOURCE_DATE_EPOCH, the artifacts' and main components' checksums), from
# which inputs (every pin of deps/pins) and with which host tools (the exact
# Debian package of every program, library and header that writes bytes
# into an artifact, found by asking dpkg who owns the file actually used).
# The record is itself reproducible: sorted, no host name, no user, no path,
# no time but SOURCE_DATE_EPOCH.
#
# Usage: image/buildinfo.sh TOP IMGDIR COMPONENT...   writes IMGDIR/BUILDINFO
#        image/buildinfo.sh --tools                   prints the tool list only
# Env:   VERSION, SOURCE_DATE_EPOCH (as the build used them)
# Owns:  IMGDIR/BUILDINFO. Fails when a tool is missing or not from a package.
#
# Deliberately absent (installed by `make deps`, but no byte of an artifact
# comes from them): cpio (the kernel has no built-in initramfs), libssl-dev
# (no module signing, no trusted keyring), the host's e2fsprogs
# (the image uses the pinned .debs of deps/pins), musl-tools (musl-gcc is
# not used; hardening/musl-static-pie.specs points gcc at musl-dev).
set -eu -o pipefail
export LC_ALL=C
die() { echo "buildinfo: $*" >&2; exit 1; }

# Programs that write or transform bytes of an artifact; each is resolved on
# PATH, and its shared libraries are recorded too (mksquashfs's libzstd and
# qemu-img's zlib shape the compressed bytes).
programs=(
	gcc as ld ar nm objcopy strip readelf  # relay, BearSSL, LMDB, busybox, kernel
	make bash sh sed grep find sort cp dd truncate stat touch sha256sum
	git                                    # VERSION, SOURCE_DATE_EPOCH
	dpkg-source patch tar xz bzip2 gzip    # unpacking the pinned sources
	dpkg-deb                               # unpacking the pinned .debs
	flex bison perl bc zstd                # kernel build (zstd: the payload)
	mksquashfs                             # root filesystem
	mkfs.fat mmd mcopy sfdisk              # ESP and GPT
	grub-mkimage                           # boot loader (BIOS and UEFI)
	veritysetup                            # the root slots' hash trees
	openssl od                             # the trusted update keys
	qemu-img                               # qcow2, VMDK
)
# Files read while building: start files, static libraries, headers, modules.
files=(
	"$(gcc -print-prog-name=cc1)"
	"$(gcc -print-prog-name=collect2)"
	"$(gcc -print-libgcc-file-name)"
	"$(gcc -print-file-name=crtbeginS.o)"
	/usr/lib/x86_64-linux-musl/libc.a      # every static-pie binary
	/usr/lib/x86_64-linux-musl/rcrt1.o
	/usr/include/x86_64-linux-musl/stdio.h
	/usr/include/linux/version.h           # busybox's kernel headers
	/usr/include/x86_64-linux-gnu/asm/unistd_64.h
	/usr/include/stdio.h                   # kernel host programs (objtool, ...)
	/usr/lib/x86_64-linux-gnu/libelf.so    # objtool rewrites kernel objects
	"$(perl -MDigest::SHA -e 'print $INC{"Digest/SHA.pm"}')"  # vhd-footer.pl
)

# Every path (program, its libraries, the files above) and its symlink
# target; dpkg-query -S knows a file under the name its package ships it as,
# which with a merged /usr may be /bin/x for /usr/bin/x: both spellings are
# asked, all in one dpkg-query call (it reads its whole database per call).
paths() {
	local t p
	for t in "${programs[@]}"; do
		p=$(command -v "$t") || die "$t: not found (make deps installs it)"
		echo "$p"
		ldd "$p" 2>/dev/null | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p' || true
	done
	for p in "${files[@]}"; do
		[ -e "$p" ] || die "$p: missing (make deps installs it)"
		echo "$p"
	done
}

tools() {
	local list p q c found owners owned
	list=$(paths | sort -u)
	owners=$(for p in $list; do
		for q in "$p" "$(readlink -f "$p")"; do
			for c in "$q" "${q#/usr}" "/usr$q"; do echo "$c"; done
		done
	done | sort -u | xargs dpkg-query -S 2>/dev/null | grep -v '^diversion' || true)
	owned=$(sed 's/.*: //' <<<"$owners")
	# every path must belong to a package, under one of its spellings
	for p in $list; do
		found=0
		for q in "$p" "$(readlink -f "$p")"; do
			for c in "$q" "${q#/usr}" "/usr$q"; do
				grep -qxF -- "$c" <<<"$owned" && found=1
			done
		done
		[ $found = 1 ] || die "$p belongs to no Debian package"
	done
	sed 's/: [^:]*$//' <<<"$owners" | tr ',' '\n' | sed 's/^ *//; s/:.*//' |
		sort -u | xargs dpkg-query -W -f='${Package} ${Version}\n' |
		sort -u | sed 's/^\([^ ]*\) \(.*\)/ \1 (= \2)/; $!s/$/,/'
}

if [ "${1:-}" = --tools ]; then
	tools
	exit 0
fi

top=$1 img=$2; shift 2
: "${VERSION:?}" "${SOURCE_DATE_EPOCH:?}"
commit=$(git -C "$top" rev-parse --verify -q HEAD 2>/dev/null || echo unknown)
tool_list=$(tools)
[ -n "$tool_list" ] || die "no tool resolved to a package"
{
	echo "Format: mxgate-buildinfo 1"
	echo "Source: mxgate"
	echo "Version: $VERSION"
	echo "Source-Commit: $commit"
	echo "Source-Date-Epoch: $SOURCE_DATE_EPOCH"
	echo "Build-Architecture: $(dpkg --print-architecture)"
	echo "Build-Command: make image"
	echo "Checksums-Sha256:"
	while read -r sum name; do
		echo " $sum $(stat -c %s "$img/$name") $name"
	done <"$img/SHA256SUMS"
	echo "Components-Sha256:"
	for f in "$@"; do
		echo " $(sha256sum <"$f" | cut -d' ' -f1) ${f##*/}"
	done | sort -k2
	echo "Pins:"
	sed -e 's/#.*//' "$top/deps/pins" | while read -r name kind spec file sum; do
		[ -n "${sum:-}" ] && echo " $sum $file $spec"
	done | sort -k2 -u
	echo "Installed-Build-Depends:"
	echo "$tool_list"
} >"$img/BUILDINFO.tmp"
mv "$img/BUILDINFO.tmp" "$img/BUILDINFO"
