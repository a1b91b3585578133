#!/bin/sh
# image/kconfig-merge.sh — apply a kconfig fragment to an existing .config
# (e.g. one made by `make allnoconfig`): every CONFIG_X=... or
# "# CONFIG_X is not set" line of the fragment replaces the line for X, or is
# appended. The caller runs `make oldconfig` afterwards to settle
# dependencies, then `--check` to prove that every requested line survived
# (a dependency not met drops a symbol silently; the build must fail then).
# Used for busybox, whose kconfig ignores KCONFIG_ALLCONFIG.
# Usage: image/kconfig-merge.sh DOTCONFIG FRAGMENT...
#        image/kconfig-merge.sh --check DOTCONFIG FRAGMENT...
# Matching runs in the C locale: in tr_TR/az_AZ, [A-Za-z] does not match I.
set -eu
export LC_ALL=C
check=0
[ "${1:-}" = --check ] && { check=1; shift; }
cfg=$1; shift

if [ $check = 1 ]; then
	miss=0
	for frag in "$@"; do
		while IFS= read -r l; do
			case $l in
			CONFIG_*=*)
				grep -qxF -- "$l" "$cfg" ||
					{ echo "kconfig: not applied: $l" >&2; miss=$((miss + 1)); } ;;
			'# CONFIG_'*' is not set')
				o=${l#\# }; o=${o%% *}
				! grep -q "^$o=" "$cfg" ||
					{ echo "kconfig: still set: $o" >&2; miss=$((miss + 1)); } ;;
			esac
		done <"$frag"
	done
	[ $miss = 0 ] || { echo "kconfig: $miss requested option(s) did not survive oldconfig in $cfg" >&2; exit 1; }
	exit 0
fi

for frag in "$@"; do
	n=$(grep -c -E '^CONFIG_|^# CONFIG_.* is not set$' "$frag" || true)
	syms=$(sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=.*/\1/p' \
	       -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1/p' "$frag")
	[ "$(printf '%s\n' "$syms" | grep -c .)" = "$n" ] ||
		{ echo "kconfig: $frag: only some of its $n option lines parse" >&2; exit 1; }
	for sym in $syms; do
		line=$(grep -E "^$sym=|^# $sym is not set\$" "$frag" | tail -n 1)
		grep -v -E "^$sym=|^# $sym is not set\$" "$cfg" >"$cfg.tmp" || true
		printf '%s\n' "$line" >>"$cfg.tmp"
		mv "$cfg.tmp" "$cfg"
	done
done
