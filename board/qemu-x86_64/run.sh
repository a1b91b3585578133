#!/bin/bash
# board/qemu-x86_64/run.sh — `make run`: boot the appliance in QEMU with the
# serial console on this terminal, relaying to a local smtp-sink.
#   local port RUN_PORT (2525) -> guest :25;  guest 10.0.2.100:25 -> sink
# The image artifact is never modified: a working copy with the demo seed
# (seed/) injected into its ESP lives in WORKDIR and keeps its data
# partition between runs (RUN_FRESH=1 starts over).
# Usage: run.sh TOP IMGDIR WORKDIR RUN_PORT SINK_PORT
set -eu
top=$1 img=$2 work=$3 port=$4 sink=$5
here=$top/board/qemu-x86_64
mkdir -p "$work"
disk=$work/disk.img
if [ "${RUN_FRESH:-0}" = 1 ] || [ ! -f "$disk" ] || [ "$img/mxgate.img" -nt "$disk" ]; then
	cp --sparse=always "$img/mxgate.img" "$disk.tmp"
	for f in "$here"/seed/*; do
		MTOOLS_SKIP_CHECK=1 mcopy -o -i "$disk.tmp@@1M" "$f" "::/mxgate/${f##*/}"
	done
	mv "$disk.tmp" "$disk"
fi
# the sink drops to nobody, so its directory lives where nobody can write
sinkdir=$(mktemp -d /tmp/mxgate-run-sink.XXXXXX)
chmod 1777 "$sinkdir"
user=""
[ "$(id -u)" = 0 ] && user="-u nobody"
smtp-sink $user -d "$sinkdir/%Y%m%d-%H%M%S." "127.0.0.1:$sink" 16 &
sinkpid=$!
trap 'kill $sinkpid 2>/dev/null' EXIT
cat <<MSG
mxgate in QEMU (TCG unless KVM works): serial console below.
  send mail:  swaks --server 127.0.0.1:$port --to someone@demo.test
  arrivals:   $sinkdir/
  log in as admin (no password on first boot), 'poweroff' to stop;
  or press Ctrl-A X to kill QEMU.
MSG
"$here/qemu.sh" -f "${FIRMWARE:-bios}" -p "$port" -s "$sink" -w "$work" "$disk"
