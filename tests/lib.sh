# Helpers for the shell tests (sourced). Each check prints one line that
# tests/run.sh counts: "ok - NAME", "not ok - NAME: why", "skip - NAME: why".
set -u
T=$(mktemp -d "${TMPDIR:-/tmp}/tgs-t.XXXXXX")
trap 'rm -rf "$T"' EXIT
B=${TGS_BIN:-bin}
PYTHON=${PYTHON:-/usr/bin/python3}
SHARED=${TGS_SHARED:-../shared/data/tgs}
MINI=tests/data/mini

ok() { echo "ok - $1"; }
fail() { echo "not ok - $1: $2"; }
skip() { echo "skip - $1: $2"; }

# check NAME CMD...: ok when CMD exits 0.
check() {
	name=$1
	shift
	if "$@" >"$T/out" 2>"$T/err"; then ok "$name"; else fail "$name" "exit $?: $(head -c 300 "$T/err")"; fi
}

# check_sh NAME 'shell pipeline': ok when the pipeline (with pipefail
# semantics: every stage) succeeds.
check_sh() {
	name=$1
	if bash -o pipefail -c "$2" >"$T/out" 2>"$T/err"; then ok "$name"; else fail "$name" "exit $?: $(head -c 300 "$T/err")"; fi
}

# refuses NAME PATTERN CMD...: CMD must fail cleanly: exit 1 or 2 (not a
# signal or sanitizer abort), exactly one line on stderr, matching the
# extended regex PATTERN, naming the tool.
refuses() {
	name=$1 pat=$2
	shift 2
	"$@" >"$T/out" 2>"$T/err"
	rc=$?
	lines=$(grep -vc '^Try ' "$T/err")
	if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then
		fail "$name" "exit $rc, want 1 or 2; stderr: $(head -c 300 "$T/err")"
	elif [ "$lines" -ne 1 ]; then
		fail "$name" "$lines lines on stderr, want 1: $(head -c 300 "$T/err")"
	elif ! grep -Eq "^tgs-[a-z0-9]+: .*($pat)" "$T/err"; then
		fail "$name" "message does not match /$pat/: $(cat "$T/err")"
	else
		ok "$name"
	fi
}

# usage_error NAME PATTERN CMD...: as refuses, and the exit status must be
# 2, a usage error (refuses takes 1 or 2).
usage_error() {
	refuses "$@" >"$T/usage.line"
	case $(cat "$T/usage.line") in
	"ok - "*) [ "$rc" -eq 2 ] || { fail "$1" "exit $rc, want 2 (a usage error): $(head -c 300 "$T/err")"; return; } ;;
	esac
	cat "$T/usage.line"
}

# log_cols FILE NAME...: the named columns of a tgs-train log.csv, by its
# header (so a new column moves nothing), comma-separated, a line per row;
# a name the header lacks is an error, not column 0 (the whole line).
log_cols() {
	f=$1
	shift
	awk -F, -v want="$*" 'NR == 1 {
			n = split(want, w, " ")
			for (i = 1; i <= NF; i++) c[$i] = i
			for (i = 1; i <= n; i++) if (!(w[i] in c)) { print "log_cols: no column " w[i] > "/dev/stderr"; exit 2 }
			next
		}
		{ s = ""; for (i = 1; i <= n; i++) s = s (i > 1 ? "," : "") $c[w[i]]; print s }' "$f"
}

have_shared() { [ -d "$SHARED/train/images" ]; }
have_numpy() { "$PYTHON" -c 'import numpy' 2>/dev/null; }
