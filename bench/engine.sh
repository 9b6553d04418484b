#!/bin/sh
# The engine benchmark: unet-ref trained and run by us (bench/unet_bench.c)
# and by PyTorch (../shared/bench/torch_ref.py) with the same settings, in
# one run; then the ratios (ours over PyTorch) and our GFLOP/s against the
# machine's sgemm ceiling (../shared/bench/sgemm_peak.c).
#   UNET_BENCH  our binary        PYTHON   python with torch (Debian's)
#   SHARED      ../shared         THREADS BATCH CHANNELS STEPS (2 16 1 10)
set -eu
: "${UNET_BENCH:?}" "${PYTHON:=/usr/bin/python3}" "${SHARED:=../shared}" "${O:=build}"
THREADS=${THREADS:-2} BATCH=${BATCH:-16} CHANNELS=${CHANNELS:-1} STEPS=${STEPS:-10}
args="--threads $THREADS --batch $BATCH --channels $CHANNELS --steps $STEPS"

echo "== engine: unet-ref, $THREADS threads, batch $BATCH, ${CHANNELS}x128x128, $STEPS steps"
ours=$(OPENBLAS_NUM_THREADS=1 "$UNET_BENCH" $args)
echo "$ours"
theirs=
if [ -f "$SHARED/bench/torch_ref.py" ] && "$PYTHON" -c 'import torch' 2>/dev/null; then
	theirs=$("$PYTHON" "$SHARED/bench/torch_ref.py" $args)
	echo "$theirs"
else
	echo "pytorch: not measured (needs $SHARED/bench/torch_ref.py and python3-torch)"
fi
peak=
if [ -f "$SHARED/bench/sgemm_peak.c" ]; then
	mkdir -p "$O/bench"
	cc -O2 "$SHARED/bench/sgemm_peak.c" -lopenblas -o "$O/bench/sgemm_peak"
	peak=$(OPENBLAS_NUM_THREADS=$THREADS "$O/bench/sgemm_peak" | sed -n 's/.*best_gflop_s=\([0-9.]*\).*/\1/p')
fi
field() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
if [ -n "$theirs" ]; then
	awk -v ot="$(field "$ours" train_img_s)" -v oi="$(field "$ours" infer_img_s)" \
	    -v tt="$(field "$theirs" train_img_s)" -v ti="$(field "$theirs" infer_img_s)" \
	    -v om="$(field "$ours" peak_rss_mb)" -v tm="$(field "$theirs" peak_rss_mb)" \
	    'BEGIN { printf "ratio train=%.2f infer=%.2f peak_rss=%.2f\n", ot / tt, oi / ti, om / tm }'
fi
if [ -n "$peak" ]; then
	awk -v p="$peak" -v t="$(field "$ours" train_gflop_s)" -v i="$(field "$ours" infer_gflop_s)" \
	    'BEGIN { printf "sgemm ceiling %.1f GFLOP/s: train %.1f (%.0f%%), infer %.1f (%.0f%%)\n", p, t, 100 * t / p, i, 100 * i / p }'
fi
