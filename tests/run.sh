#!/bin/sh
# The test runner: runs every tests/t-*.sh script and every unit test binary
# in $TGS_TESTBIN, each of which prints one line per check:
#   ok - NAME        not ok - NAME: why        skip - NAME: why
# and ends with "N passed, N failed" (skips are counted apart). Each
# test's line gives its wall time, to see what makes the suite slow. A script
# that exits non-zero without saying why counts as one more failure.
# TGS_BIN: the tools under test (bin/, or the sanitizer build).
# TESTS: a space-separated subset of script/binary names, to run fewer.
set -u
cd "$(dirname "$0")/.." || exit 1
: "${TGS_BIN:=bin}" "${TGS_TESTBIN:=build/tests}" "${PYTHON:=/usr/bin/python3}"
TGS_BIN=$(cd "$TGS_BIN" && pwd) || exit 1
export TGS_BIN TGS_TESTBIN PYTHON
log=$(mktemp "${TMPDIR:-/tmp}/tgs-test.XXXXXX")
trap 'rm -f "$log"' EXIT

passed=0 failed=0 skipped=0
run_one() {
	name=$1
	shift
	case " ${TESTS:-$name} " in *" $name "*) ;; *) return ;; esac
	t0=$(date +%s)
	"$@" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - t0))
	p=$(grep -c '^ok - ' "$log")
	f=$(grep -c '^not ok - ' "$log")
	s=$(grep -c '^skip - ' "$log")
	grep -E '^(not ok|skip) - ' "$log" | sed "s|^|$name: |"
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "$name: not ok - exited $rc without reporting a failure; its output:"
		tail -n 20 "$log" | sed 's/^/    /'
		f=1
	fi
	if [ "$f" -gt 0 ] && [ -n "${VERBOSE:-}" ]; then sed 's/^/    /' "$log"; fi
	echo "$name: $p ok, $f failed, $s skipped (${secs}s)"
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
}

for t in "$TGS_TESTBIN"/*; do
	[ -x "$t" ] && [ -f "$t" ] && run_one "${t##*/}" "$t"
done
for t in tests/t-*.sh; do
	run_one "$(basename "$t" .sh)" sh "$t"
done
[ "$skipped" -gt 0 ] && echo "($skipped skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
