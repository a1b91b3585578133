#!/bin/bash
# relay/demo/run-local.sh — `make run-local`: the relay on this machine,
# relaying one demo domain to Postfix's smtp-sink, both on loopback.
#
# Usage: run-local.sh OUT_DIR   (the build output directory)
# It prints how to send a test message, follows the relay's log, and stops
# both processes on Ctrl-C (or after RUN_SECONDS, default: until Ctrl-C).
set -eu
out=$1
dir=$out/run
port=${MXGATE_PORT:-2525}
sport=${SINK_PORT:-2526}
mkdir -p "$dir/sink" "$dir/queue"
cat > "$dir/mxgate.conf" <<CONF
# demo configuration written by make run-local
hostname mx.demo.test
listen 127.0.0.1:$port
route demo.test 127.0.0.1:$sport tls none
queue $dir/queue
chroot $dir/empty
postmaster postmaster@demo.test
CONF
"$out/bin/mxgate" -n -f "$dir/mxgate.conf"
smtp-sink -u root -d "$dir/sink/%M." "127.0.0.1:$sport" 100 &
sink=$!
: > "$dir/mxgate.log"
"$out/bin/mxgate" -f "$dir/mxgate.conf" >> "$dir/mxgate.log" 2>&1 &
mx=$!
trap 'kill $mx $sink 2>/dev/null; wait 2>/dev/null; echo; echo "stopped."' EXIT INT TERM
sleep 1
cat <<MSG

  mxgate is relaying on 127.0.0.1:$port for the domain demo.test to a local
  smtp-sink on 127.0.0.1:$sport (messages are dumped under $dir/sink).

  Send a test message from another terminal:

    swaks --server 127.0.0.1:$port --from you@example.org --to alice@demo.test

  The relay's log follows (Ctrl-C stops both):

MSG
if [ -n "${RUN_SECONDS:-}" ]; then
	timeout "$RUN_SECONDS" tail -f "$dir/mxgate.log" || true
else
	tail -f "$dir/mxgate.log"
fi
