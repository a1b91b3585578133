#!/bin/sh
# tests/fuzz/run.sh — runs one libFuzzer harness and prints one summary
# line for it; used by tests/fuzz/fuzz.mk (make fuzz, make fuzz-check).
#
#   run.sh fuzz BIN NAME SECONDS RSS_MB WORKDIR SEEDDIR
#       fuzzes for SECONDS; new inputs go to WORKDIR/corpus/NAME (never to
#       the seed directory in the tree), crashes to WORKDIR/crash/
#   run.sh replay BIN NAME RSS_MB WORKDIR FILE...
#       runs every FILE once through the harness (deterministic)
#
# Exit status: 0 when the harness ran clean, 1 when it crashed, leaked,
# timed out or could not start (the log names the input and the stack).
set -u
mode=$1 bin=$2 name=$3
[ -x "$bin" ] || { echo "fuzz $name: $bin missing (make fuzz builds it)" >&2; exit 1; }

case $mode in
fuzz)
	secs=$4 rss=$5 work=$6 seeds=$7
	mkdir -p "$work/corpus/$name" "$work/crash" "$work/log"
	log=$work/log/$name.log
	start=$(date +%s)
	"$bin" -max_total_time="$secs" -rss_limit_mb="$rss" -timeout=10 \
		-max_len=4096 -print_final_stats=1 \
		-artifact_prefix="$work/crash/$name-" \
		"$work/corpus/$name" "$seeds" >"$log" 2>&1
	rc=$?
	end=$(date +%s)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
	corp=$(ls "$work/corpus/$name" | wc -l)
	if [ $rc -eq 0 ]; then verdict=ok; else verdict="FAILED (exit $rc, see $log)"; fi
	printf 'fuzz %-12s %9s execs  cov %5s  ft %6s  corpus %5s  %4ss  %s\n' \
		"$name" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corp" \
		"$((end - start))" "$verdict"
	[ $rc -eq 0 ] || { grep -m 1 -A 30 'ERROR\|invariant failed\|runtime error' "$log" >&2; exit 1; }
	;;
replay)
	rss=$4 work=$5
	shift 5
	mkdir -p "$work/log"
	log=$work/log/$name.replay.log
	"$bin" -rss_limit_mb="$rss" -timeout=10 "$@" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then verdict=ok; else verdict="FAILED (exit $rc, see $log)"; fi
	printf 'replay %-12s %5s inputs  %s\n' "$name" "$#" "$verdict"
	[ $rc -eq 0 ] || { grep -m 1 -B 2 -A 30 'ERROR\|invariant failed\|runtime error' "$log" >&2; exit 1; }
	;;
*)
	echo "usage: run.sh fuzz|replay ..." >&2
	exit 1
	;;
esac
