#!/bin/sh
# run.sh BINARY SECONDS: fuzz one libFuzzer target for SECONDS.
#
# The corpus is a temporary copy of tests/fuzz/corpus/<target>/ (or of
# FUZZ_CORPUS): the seeds stay as committed; what the run finds is dropped. Prints one
# line: "<target>: ok: N runs in S s, ..." and exits 0, or
# "<target>: FAILED (<why>): <input file>" and exits 1, keeping the input
# that broke it (under FUZZ_ARTIFACTS, default a new /tmp folder) and the
# fuzzer's log beside it. Reproduce with: BINARY <input file>.
set -u
if [ $# -ne 2 ]; then
	echo "usage: sh tests/fuzz/run.sh BINARY SECONDS" >&2
	exit 2
fi
bin=$1 secs=$2
name=${bin##*/}
root=$(cd "$(dirname "$0")/../.." && pwd)
seeds=${FUZZ_CORPUS:-$root/tests/fuzz/corpus/$name}
[ -x "$bin" ] || { echo "$name: FAILED (no executable $bin)"; exit 1; }
[ -d "$seeds" ] || { echo "$name: FAILED (no seed corpus $seeds)"; exit 1; }

# Longest input to try: the stream seeds are two real 101x101 samples
# (about 41 KB), which must fit whole; RLE text of a 101x101 mask is rarely
# past a few KB, and short inputs fuzz faster.
case $name in
fuzz_stream) max_len=49152 ;;
*) max_len=8192 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/tgs-fuzz.XXXXXX")
art=${FUZZ_ARTIFACTS:-$(mktemp -d "${TMPDIR:-/tmp}/tgs-fuzz-crash.XXXXXX")}
mkdir -p "$art" "$work/corpus"
trap 'rm -rf "$work"' EXIT
cp "$seeds"/* "$work/corpus/"
log=$art/$name.log

# -timeout: one input running 10 s is a hang; -rss_limit_mb: the harness
# caps what a stream header may make the reader allocate, so 2 GB is a leak
# or a bug, not a big input. ASan's leak check runs after every input.
"$bin" -max_total_time="$secs" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$art/" "$work/corpus" >"$log" 2>&1
rc=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | cut -d' ' -f2)
units=$(ls "$work/corpus" | wc -l)
if [ "$rc" -eq 0 ]; then
	echo "$name: ok: ${runs:-?} runs in $secs s, coverage ${cov:-?} edges, corpus $units inputs"
	[ -z "${FUZZ_ARTIFACTS:-}" ] && rm -rf "$art"
	exit 0
fi
# What broke and where the input went ("Test unit written to PATH").
why=$(grep -Eo '(AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer): [a-zA-Z-]+|runtime error: .*|libFuzzer: [a-zA-Z -]+' "$log" | head -n 1)
[ -z "$why" ] && why="exit $rc"
# the innermost frame in the fuzz target: which check or call it was
at=$(grep -Eo 'in [A-Za-z_0-9]+ [^ ]*tests/fuzz/[a-z_]+\.c:[0-9]+' "$log" | head -n 1 | sed 's|in \([^ ]*\) .*/\(tests/fuzz/.*\)|\1 at \2|')
[ -n "$at" ] && why="$why, $at"
input=$(sed -n 's/.*Test unit written to //p' "$log" | head -n 1)
echo "$name: FAILED ($why): ${input:-no input saved} (log: $log)"
exit 1
