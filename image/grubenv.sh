#!/bin/sh
# image/grubenv.sh — print a GRUB environment block (the format of
# grub-editenv and load_env: a signature line, NAME=VALUE lines, '#' padding
# to 1024 bytes) holding the NAME=VALUE arguments, in their order.
# Usage: image/grubenv.sh NAME=VALUE... >FILE
set -eu
body="# GRUB Environment Block
"
for kv in "$@"; do
	case $kv in
	*[!A-Za-z0-9_=.+:~-]* | =* | *=*=* | [!A-Za-z_]*)
		echo "grubenv: unusable NAME=VALUE '$kv'" >&2; exit 1 ;;
	*=*) body="$body$kv
" ;;
	*) echo "grubenv: '$kv' is not NAME=VALUE" >&2; exit 1 ;;
	esac
done
pad=$((1024 - ${#body}))
[ $pad -ge 0 ] || { echo "grubenv: more than 1024 bytes" >&2; exit 1; }
printf '%s' "$body"
printf '%*s' $pad '' | tr ' ' '#'
