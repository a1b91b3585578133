#!/bin/sh
# image/kconfig-merge.sh — apply a kconfig fragment to an existing .config
# (e.g. one made by `make allnoconfig`): every CONFIG_X=... or
# "# CONFIG_X is not set" line of the fragment replaces the line for X, or is
# appended. The caller runs `make oldconfig` afterwards to settle
# dependencies. Used for busybox, whose kconfig ignores KCONFIG_ALLCONFIG.
# Usage: image/kconfig-merge.sh DOTCONFIG FRAGMENT...
set -eu
cfg=$1; shift
for frag in "$@"; do
	sed -n -e 's/^\(CONFIG_[A-Za-z0-9_]*\)=.*/\1/p' \
	       -e 's/^# \(CONFIG_[A-Za-z0-9_]*\) is not set$/\1/p' "$frag" |
	while read -r sym; do
		line=$(grep -E "^$sym=|^# $sym is not set\$" "$frag" | tail -n 1)
		grep -v -E "^$sym=|^# $sym is not set\$" "$cfg" >"$cfg.tmp" || true
		printf '%s\n' "$line" >>"$cfg.tmp"
		mv "$cfg.tmp" "$cfg"
	done
done
