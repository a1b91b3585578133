#!/bin/bash
# image/verify.sh — `make verify`: build every artifact twice from clean
# clones of one commit, under two different build environments, and fail
# unless each artifact (and the build record BUILDINFO) is bit-identical.
# What varies between build a and build b is printed before they start:
# directory (path length), user (root / the unprivileged mxgate-build when
# run as root), umask, time zone, locale (b: tr_TR.UTF-8, where [a-z] and
# case mapping differ for i/I), git configuration (b: core.abbrev=12,
# log.showSignature) and tags (b: an extra tag), and start time.
# Differences are shown with diffoscope when installed, else with cmp.
#
# The kernel comes from the cache keyed by its inputs (image/kernel.sh)
# unless VERIFY_KERNEL=1, which gives each build its own empty kernel cache
# (two full kernel builds, ~25 min on 2 cores).
#
# REFERENCE=DIR compares with a published build: DIR holds its SHA256SUMS
# and BUILDINFO. The host's tools are checked against the record first (each
# differing Debian package is named), the record's commit is rebuilt, and
# the result must also equal the reference's SHA256SUMS; when it does not,
# the differing tools are reported as the likely cause.
#
# Usage: image/verify.sh TOP WORKDIR
# Env:   REFERENCE=DIR, VERIFY_KERNEL=1, VERIFY_WORKTREE=1 (also verify the
#        uncommitted changes; default: HEAD as committed), RELEASE=1,
#        DL_DIR, MXGATE_CACHE
# Owns:  WORKDIR. Reads the source repository, never writes to it.
set -eu -o pipefail
export LC_ALL=C
top=$(cd "$1" && pwd) work=$2
here=$top/image
cache=${MXGATE_CACHE:-$HOME/.cache/mxgate}
dl=${DL_DIR:-$cache/dl}
arts="mxgate.img mxgate.qcow2 mxgate.ova mxgate.vhd mxgate.vhdx mxgate.spdx.json SHA256SUMS BUILDINFO"
buser=mxgate-build
say() { printf '  %-7s %s\n' VERIFY "$*"; }
die() { echo "verify: $*" >&2; exit 1; }

rm -rf "$work"
mkdir -p "$work"
chmod 0755 "$work"

# " pkg (= version)," lines of a BUILDINFO's tool list -> "pkg version"
tool_versions() {
	sed -n '/^Installed-Build-Depends:/,/^[^ ]/s/^ \([^ ]*\) (= \(.*\)),\{0,1\}$/\1 \2/p' "$@" | sort
}
# compare two "pkg version" lists; print one line per difference
tool_diff() { # ours theirs our-name their-name
	join -a1 -a2 -e '(none)' -o 0,1.2,2.2 "$1" "$2" |
		awk -v a="$3" -v b="$4" '$2 != $3 {
			printf "    %-28s %s: %s, %s: %s\n", $1, a, $2, b, $3 }'
}

# --- which commit, which VERSION ------------------------------------------------
ref=${REFERENCE:-}
tooldiff=$work/tools.diff
: >"$tooldiff"
if [ -n "$ref" ]; then
	ref=$(cd "$ref" && pwd)
	[ -f "$ref/BUILDINFO" ] && [ -f "$ref/SHA256SUMS" ] ||
		die "REFERENCE=$ref must hold SHA256SUMS and BUILDINFO"
	commit=$(sed -n 's/^Source-Commit: //p' "$ref/BUILDINFO")
	refversion=$(sed -n 's/^Version: //p' "$ref/BUILDINFO")
	git -C "$top" cat-file -e "$commit^{commit}" 2>/dev/null ||
		die "the reference's commit $commit is not in $top (git fetch it, with its tags)"
	case $refversion in
	0.*-g[0-9a-f]*-dirty) die "the reference was built from a dirty tree: not verifiable" ;;
	0.[0-9]*-g[0-9a-f]*) ;;
	*) export RELEASE=1 ;;
	esac
	say "reference $ref: $refversion, commit $commit"
	tool_versions "$ref/BUILDINFO" >"$work/tools.ref"
	{ echo Installed-Build-Depends:; "$here/buildinfo.sh" --tools; } |
		tool_versions >"$work/tools.host"
	tool_diff "$work/tools.host" "$work/tools.ref" here reference >"$tooldiff"
	if [ -s "$tooldiff" ]; then
		say "this host's tools differ from the reference's record:"
		cat "$tooldiff"
	else
		say "this host's tools match the reference's record ($(wc -l <"$work/tools.ref") packages)"
	fi
else
	commit=$(git -C "$top" rev-parse --verify HEAD)
	if [ -n "$(git -C "$top" status --porcelain 2>/dev/null | head -n 1)" ]; then
		if [ "${VERIFY_WORKTREE:-0}" = 1 ]; then
			say "uncommitted changes are included (VERIFY_WORKTREE=1): VERSION ends in -dirty"
		else
			say "note: uncommitted changes are NOT verified (HEAD as committed; VERIFY_WORKTREE=1 includes them)"
		fi
	fi
fi

# --- the two builds -----------------------------------------------------------------
# as root, build b runs as the unprivileged build user (make deps creates it)
asuser=()
if [ "$(id -u)" = 0 ] && getent passwd "$buser" >/dev/null; then
	asuser=(setpriv "--reuid=$buser" "--regid=$buser" --init-groups)
	buser_shown=$buser
else
	buser_shown="$(id -un) (not root: no second user)"
fi

clone() { # dir owner
	local src=$1/src
	git clone -q --no-hardlinks --no-checkout "$top" "$src"
	git -C "$src" -c advice.detachedHead=false checkout -q --detach "$commit"
	if [ -z "$ref" ] && [ "${VERIFY_WORKTREE:-0}" = 1 ]; then
		git -C "$top" diff --binary HEAD | git -C "$src" apply --allow-empty
		(cd "$top" && git ls-files -o --exclude-standard -z |
			tar --null --no-recursion -cf - -T -) | tar -xpf - -C "$src"
	fi
}

# read-only inputs for a build user who cannot see $HOME: hard links (or
# copies) of the download cache and of the cached kernel entries
share_inputs() { # dir
	local d=$1 e f
	mkdir -p "$d/dl" "$d/cache/kernel"
	for f in "$dl"/*; do
		[ -f "$f" ] || continue
		ln "$f" "$d/dl/" 2>/dev/null && [ "$(stat -c %a "$f")" = 644 ] ||
			{ rm -f "$d/dl/${f##*/}"; cp "$f" "$d/dl/"; chmod 0644 "$d/dl/${f##*/}"; }
	done
	if [ "${VERIFY_KERNEL:-0}" != 1 ]; then
		for e in "$cache"/kernel/*/; do
			[ -f "$e/bzImage" ] || continue
			e=${e%/}
			mkdir -p "$d/cache/kernel/${e##*/}"
			for f in bzImage config; do
				cp -l "$e/$f" "$d/cache/kernel/${e##*/}/" 2>/dev/null ||
					cp "$e/$f" "$d/cache/kernel/${e##*/}/"
			done
		done
	fi
}

declare -A took
build() { # name user-mode umask tz lang tag git-config...
	local name=$1 mode=$2 um=$3 tz=$4 lang=$5 tag=$6; shift 6
	local dir=$work/$name t0 bcache=$cache bdl=$dl run=()
	mkdir -p "$dir/home"
	clone "$dir"
	[ -z "$tag" ] || git -C "$dir/src" tag "$tag" "$(git -C "$dir/src" rev-parse HEAD)"
	[ "${VERIFY_KERNEL:-0}" = 1 ] && bcache=$dir/cache && mkdir -p "$bcache"
	if [ "$mode" = user ] && [ ${#asuser[@]} -gt 0 ]; then
		share_inputs "$dir"
		bcache=$dir/cache bdl=$dir/dl
		chown -R "$buser:" "$dir/src" "$dir/home"
		chown "$buser:" "$bcache" "$bcache/kernel"
		run=("${asuser[@]}")
	fi
	local gitenv=(GIT_CONFIG_COUNT=$(($# / 2)))
	local i=0
	while [ $# -gt 0 ]; do
		gitenv+=("GIT_CONFIG_KEY_$i=$1" "GIT_CONFIG_VALUE_$i=$2")
		i=$((i + 1)); shift 2
	done
	t0=$(date +%s)
	( cd "$dir/src" && umask "$um" &&
	  "${run[@]}" env -i PATH="$PATH" HOME="$dir/home" TZ="$tz" \
		LANG="$lang" LC_ALL="$lang" "${gitenv[@]}" \
		DL_DIR="$bdl" MXGATE_CACHE="$bcache" ${RELEASE:+RELEASE=$RELEASE} \
		make --no-print-directory O="$dir/src/out" update-bundle UNSIGNED=1 ) >"$dir.log" 2>&1 ||
		{ tail -30 "$dir.log"; die "build $name failed ($dir.log)"; }
	took[$name]=$(( $(date +%s) - t0 ))
	say "build $name: $(sed -n 's/^Version: //p' "$dir/src/out/image/BUILDINFO") in ${took[$name]} s"
}

locale -a 2>/dev/null | grep -qx 'tr_TR.utf8' ||
	die "the tr_TR.UTF-8 locale is missing (make deps generates it)"
a=a b=b-with-a-longer-directory-name
say "commit $commit"
say "build a: user $(id -un), umask 022, TZ=UTC, LANG=C.UTF-8, no git config, no extra tag, $work/$a"
say "build b: user $buser_shown, umask 077, TZ=Pacific/Kiritimati, LANG=LC_ALL=tr_TR.UTF-8,"
say "         git -c core.abbrev=12 -c log.showSignature=true, tag verify-extra-tag on HEAD, $work/$b"
t0=$(date +%s)
build "$a" root 022 UTC C.UTF-8 ""
sleep 1
# with RELEASE=1 the release tag is the only one allowed on HEAD
btag=verify-extra-tag
[ "${RELEASE:-0}" = 1 ] && btag=
build "$b" user 077 Pacific/Kiritimati tr_TR.UTF-8 "$btag" \
	core.abbrev 12 log.showSignature true
A=$work/$a/src/out/image B=$work/$b/src/out/image
# the update bundle, without its signature (ECDSA signatures are random)
arts="$arts $(cd "$A" && ls mxgate-*.mxu)"

# --- compare -------------------------------------------------------------------------
fail=0
for f in $arts; do
	if cmp -s "$A/$f" "$B/$f"; then
		printf '  %-7s %-14s identical  %s\n' OK "$f" "$(sha256sum <"$A/$f" | cut -c1-16)"
	else
		printf '  %-7s %-14s DIFFERENT\n' FAIL "$f"
		fail=1
		if [ "$f" = BUILDINFO ]; then
			tool_versions "$A/$f" >"$work/tools.a"
			tool_versions "$B/$f" >"$work/tools.b"
			tool_diff "$work/tools.a" "$work/tools.b" a b
			diff "$A/$f" "$B/$f" | head -40 || true
		elif command -v diffoscope >/dev/null 2>&1; then
			diffoscope --text - "$A/$f" "$B/$f" | head -200 || true
		else
			cmp -l "$A/$f" "$B/$f" | head -20 || true
			echo "  (install diffoscope for a structured diff)"
		fi
	fi
done
if [ -n "$ref" ]; then
	if cmp -s "$A/SHA256SUMS" "$ref/SHA256SUMS"; then
		say "SHA256SUMS equal to the reference's: this host reproduces it"
	else
		fail=1
		say "SHA256SUMS DIFFERENT from the reference's:"
		{ diff "$ref/SHA256SUMS" "$A/SHA256SUMS" || true; } |
			sed -n 's/^</    reference/p; s/^>/    rebuilt  /p'
		sed -n '/^Components-Sha256:/,/^[^ ]/s/^ //p' "$ref/BUILDINFO" | sort >"$work/comp.ref"
		sed -n '/^Components-Sha256:/,/^[^ ]/s/^ //p' "$A/BUILDINFO" | sort >"$work/comp.a"
		comm -13 "$work/comp.ref" "$work/comp.a" | awk '{print "    component differs: " $2}' || true
		if [ -s "$tooldiff" ]; then
			say "likely cause, the tools that differ from the reference's:"
			cat "$tooldiff"
		else
			say "the tools match the reference's record: report this as a reproducibility bug"
		fi
	fi
fi
say "$(( $(date +%s) - t0 )) s for two builds (a ${took[$a]} s, b ${took[$b]} s)"
[ $fail = 0 ] || die "artifacts differ"
say "all artifacts bit-identical"
