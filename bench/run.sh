#!/bin/sh
# bench/run.sh: tgs-rle encode against numpy, in one run (make bench).
#
# Data: the real train masks (tgs-stack25d over ../shared/data/tgs/train),
# replicated BENCH_COPIES times (default 10) under distinct ids, since
# tgs-rle refuses repeated ids: each copy is a folder of links
# <id>-c<k>.png to the real PNGs, so tgs-stack25d itself writes them.
# Without ../shared it falls back to the 12 tiles of tests/data/mini,
# replicated to a similar count, and says so.
#
# (a) end to end, stream file -> CSV file, each a process timed whole:
#     tgs-rle encode, and bench/rle_numpy.py encode (numpy reader + Kaggle
#     RLE; also without CRC checks, for reference);
# (b) the encoder alone on masks in memory: build/bench/rle_bench
#     (tgs_rle_encode in a loop) and rle_numpy.py core;
# (c) for reference, the CRC-32 that reading checks every byte with: the
#     fast path this CPU has and the portable one (rle_bench -C).
# Each timing is the best of BENCH_RUNS (default 5). Both CSVs, and all
# cores' texts, must be byte-identical, or this fails. Prints
#   impl=NAME stage=STAGE masks=N seconds=S masks_s=R
#   impl=crc32-NAME stage=crc32 bytes=N seconds=S gb_s=R
#   ratio end_to_end=X core=Y        (ours over numpy, in masks/s)
set -eu
cd "$(dirname "$0")/.."
B=${TGS_BIN:-bin}
PY=${PYTHON:-/usr/bin/python3}
RLE_BENCH=${RLE_BENCH:-build/bench/rle_bench}
SHARED=${TGS_SHARED:-../shared/data/tgs}
RUNS=${BENCH_RUNS:-5}
T=$(mktemp -d "${TMPDIR:-/tmp}/tgs-bench.XXXXXX")
trap 'rm -rf "$T"' EXIT

die() {
	echo "bench: FAILED: $*" >&2
	exit 1
}
"$PY" -c 'import numpy' 2>/dev/null || die "$PY has no numpy (set PYTHON=)"
[ -x "$RLE_BENCH" ] || die "no $RLE_BENCH (make $RLE_BENCH)"

if [ -d "$SHARED/train/images" ] && [ -d "$SHARED/train/masks" ]; then
	src=$SHARED/train copies=${BENCH_COPIES:-10} what="real train masks"
else
	src=tests/data/mini copies=${BENCH_COPIES:-2500}
	what="tests/data/mini tiles (FALLBACK: $SHARED is absent, so these are 12 tiles repeated)"
fi
mkdir -p "$T/images" "$T/masks"
src_abs=$(cd "$src" && pwd)
ls "$src_abs/images" | sed -n 's/\.png$//p' >"$T/ids"
ntiles=$(wc -l <"$T/ids")
[ "$ntiles" -gt 0 ] || die "no tiles in $src/images"
# one link per tile and copy, in both folders (awk writes the ln commands)
awk -v c="$copies" -v s="$src_abs" -v t="$T" '{
	for (k = 0; k < c; k++) {
		printf "ln -s %s/images/%s.png %s/images/%s-c%d.png\n", s, $1, t, $1, k
		printf "ln -s %s/masks/%s.png %s/masks/%s-c%d.png\n", s, $1, t, $1, k
	}
}' "$T/ids" | sh
"$B/tgs-stack25d" -q --images "$T/images" --masks "$T/masks" -o "$T/in.tgs" || die "tgs-stack25d failed"
rm -rf "$T/images" "$T/masks"
n=$((ntiles * copies))
mb=$(($(wc -c <"$T/in.tgs") / 1000000))
echo "bench: $n masks: $ntiles $what x $copies under distinct ids; stream $mb MB; best of $RUNS"

# ns_now: nanoseconds since the epoch (GNU date)
ns_now() { date +%s%N; }
# best CMD...: run CMD (once untimed, to warm the page cache, then RUNS
# times), print the best wall time in seconds
best() {
	"$@" >/dev/null || die "$* failed"
	b=
	i=0
	while [ "$i" -lt "$RUNS" ]; do
		t0=$(ns_now)
		"$@" >/dev/null || die "$* failed"
		t1=$(ns_now)
		d=$((t1 - t0))
		if [ -z "$b" ] || [ "$d" -lt "$b" ]; then b=$d; fi
		i=$((i + 1))
	done
	awk -v d="$b" 'BEGIN { printf "%.4f", d / 1e9 }'
}
line() { # impl stage seconds
	awk -v i="$1" -v s="$2" -v t="$3" -v n="$n" 'BEGIN { printf "impl=%s stage=%s masks=%d seconds=%.4f masks_s=%.0f\n", i, s, n, t, n / t }'
}

# (a) end to end
t_ours=$(best "$B/tgs-rle" encode -q -o "$T/ours.csv" "$T/in.tgs")
t_np=$(best "$PY" bench/rle_numpy.py encode -o "$T/numpy.csv" "$T/in.tgs")
t_npnc=$(best "$PY" bench/rle_numpy.py encode --no-crc -o "$T/numpy-nocrc.csv" "$T/in.tgs")
cmp -s "$T/ours.csv" "$T/numpy.csv" || die "tgs-rle and numpy CSVs differ: $(cmp "$T/ours.csv" "$T/numpy.csv" 2>&1 | head -n 1)"
cmp -s "$T/numpy.csv" "$T/numpy-nocrc.csv" || die "numpy CSVs with and without CRC checks differ"
[ "$(wc -l <"$T/ours.csv")" -eq $((n + 1)) ] || die "the CSV has $(wc -l <"$T/ours.csv") lines, want $((n + 1))"
line tgs-rle end_to_end "$t_ours"
line numpy end_to_end "$t_np"
line numpy-nocrc end_to_end "$t_npnc"

# (b) the encoder alone; each prints its own line
"$RLE_BENCH" -n "$RUNS" -o "$T/ours.rle" "$T/in.tgs" >"$T/core_c" || die "rle_bench failed"
"$PY" bench/rle_numpy.py core -n "$RUNS" -o "$T/numpy.rle" "$T/in.tgs" >"$T/core_np" || die "rle_numpy.py core failed"
cmp -s "$T/ours.rle" "$T/numpy.rle" || die "core RLE texts differ: $(cmp "$T/ours.rle" "$T/numpy.rle" 2>&1 | head -n 1)"
# and the core texts are the CSV's second column
tail -n +2 "$T/ours.csv" | cut -d, -f2 | cmp -s - "$T/ours.rle" || die "rle_bench's texts are not the CSV's"
cat "$T/core_c" "$T/core_np"
"$RLE_BENCH" -C -n "$RUNS" "$T/in.tgs" || die "rle_bench -C failed"

rate() { sed -n 's/.*masks_s=\([0-9.]*\).*/\1/p' "$1"; }
awk -v a="$t_np" -v b="$t_ours" -v c="$(rate "$T/core_c")" -v d="$(rate "$T/core_np")" \
	'BEGIN { printf "ratio end_to_end=%.2f core=%.2f\n", a / b, c / d }'
echo "bench: outputs identical (CSV $(wc -c <"$T/ours.csv") bytes)"
