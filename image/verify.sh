#!/bin/bash
# image/verify.sh — `make verify`: build every artifact twice from clean, in
# two different directories (different path lengths), with different
# umasks, time zones, locales and start times, and fail unless each artifact
# is bit-identical. Differences are shown with diffoscope when installed,
# else with cmp. The kernel comes from the cache keyed by its inputs
# (image/kernel.sh) unless VERIFY_KERNEL=1, which gives each build its own
# empty kernel cache (two full kernel builds, ~25 min on 2 cores).
#
# Usage: image/verify.sh TOP WORKDIR
# Env:   SOURCE_DATE_EPOCH, VERSION (from the top Makefile), DL_DIR
set -eu
top=$1 work=$2
: "${SOURCE_DATE_EPOCH:?}" "${VERSION:?}"
rm -rf "$work"
mkdir -p "$work"
arts="mxgate.img mxgate.qcow2 mxgate.ova mxgate.vhd SHA256SUMS"

# the source tree as git sees it (tracked and new files, not ignored ones)
files=$(cd "$top" && git ls-files -co --exclude-standard 2>/dev/null) ||
	files=$(cd "$top" && find . -path ./out -prune -o -type f -print)

build() { # name umask tz lang
	local src=$work/$1/src
	mkdir -p "$src"
	(cd "$top" && printf '%s\n' $files | tar --no-recursion -cf - -T -) |
		tar -xpf - -C "$src"
	local cache=${MXGATE_CACHE:-$HOME/.cache/mxgate}
	[ "${VERIFY_KERNEL:-0}" = 1 ] && cache=$work/$1/cache
	echo "  VERIFY  build $1: umask $2, TZ=$3, LANG=$4, in $src"
	( umask "$2"; export TZ=$3 LANG=$4 LC_ALL=$4 MXGATE_CACHE=$cache
	  env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
		SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" VERSION="$VERSION" \
		make -C "$src" --no-print-directory O="$src/out" \
		image >"$work/$1.log" 2>&1 ) ||
		{ tail -30 "$work/$1.log"; echo "verify: build $1 failed ($work/$1.log)" >&2; exit 1; }
}

t0=$(date +%s)
build a 022 UTC C.UTF-8
sleep 2
build b-with-a-longer-directory-name 077 Pacific/Kiritimati C
b=$work/b-with-a-longer-directory-name/src/out/image
a=$work/a/src/out/image

fail=0
for f in $arts; do
	if cmp -s "$a/$f" "$b/$f"; then
		printf '  %-7s %-14s identical  %s\n' OK "$f" "$(sha256sum <"$a/$f" | cut -c1-16)"
	else
		printf '  %-7s %-14s DIFFERENT\n' FAIL "$f"
		fail=1
		if command -v diffoscope >/dev/null 2>&1; then
			diffoscope --text - "$a/$f" "$b/$f" | head -200 || true
		else
			cmp -l "$a/$f" "$b/$f" | head -20
			echo "  (install diffoscope for a structured diff)"
		fi
	fi
done
echo "  VERIFY  $(( $(date +%s) - t0 )) s for two builds"
[ $fail = 0 ] || { echo "verify: artifacts differ" >&2; exit 1; }
echo "  VERIFY  all artifacts bit-identical"
