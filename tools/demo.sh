#!/bin/sh
# make demo: what tgs does, on a fresh clone, in a few minutes of 2 cores.
#  1. The whole flow of make submission (pretrain, a model per fold,
#     uncertainty, refiner, decisions, a checked CSV) on a small synthetic
#     dataset that tgs-synth draws in Kaggle's layout, at small sizes; it
#     prints the out-of-fold mAP at each stage.
#  2. The model shipped in pipelines/models/ (trained by our recipe on the
#     real Kaggle tiles, never on these 12) on the 12 real tiles in
#     tests/data/mini: their score, the CSV, and pictures to look at.
# Everything lands in demo-out/ (DEMO_OUT); a second run redoes nothing
# of step 1 that is done.
set -eu
B=${TGS_BIN:-bin}
MAKE=${MAKE:-make}
OUT=${DEMO_OUT:-demo-out}
MINI=tests/data/mini
MODEL=pipelines/models/resunet-kaggle.ckpt
mkdir -p "$OUT"

echo "== 1. make submission on a synthetic dataset (tgs-synth: 400 labelled tiles, 100 test tiles)"
if [ ! -d "$OUT/synth" ]; then
	"$B/tgs-synth" -q -o "$OUT/synth" --train 400 --test 100 --seed 1
fi
t0=$(date +%s)
# small sizes: 3 folds of a small resunet, 10 epochs each
"$MAKE" --no-print-directory -s B="$B" DATA="$OUT/synth" WORK="$OUT" SUB="$OUT/sub" SUBMISSION="$OUT/submission.csv" \
	FOLDS=3 SUB_EPOCHS=10 SUB_MAE_EPOCHS=3 MAE_VAL=20 PASSES=2 \
	SUB_MODEL="resunet widths=8,16,32,64 blocks=1,1,1,1 dropout=0.1 hcw=8" \
	REFINE_FLAGS="--epochs 6 --seed 1" submission >"$OUT/submission.log" 2>&1 ||
	{ tail -n 20 "$OUT/submission.log" >&2; echo "demo: make submission failed; its log: $OUT/submission.log" >&2; exit 1; }
grep -v '^epoch \|^init: \|^mae: \|^done: ' "$OUT/submission.log"
echo "demo: the flow took $(($(date +%s) - t0)) s; its log is $OUT/submission.log, its stages' files are in $OUT/sub"

echo
echo "== 2. the shipped model on the 12 real tiles of $MINI (tiles it never trained on)"
if [ ! -f "$MODEL" ]; then
	echo "demo: no $MODEL (see pipelines/models/README.md)" >&2
	exit 1
fi
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" -o "$OUT/mini.tsr"
"$B/tgs-mcdrop" -q -m "$MODEL" --tta hflip -o "$OUT/mini-pred.tsr" "$OUT/mini.tsr"
"$B/tgs-eval" -q -m "$MODEL" "$OUT/mini-pred.tsr" | sed -n '1,4p; /^missed/p; /^false salt/p; /^shape/p'
"$B/tgs-rle" encode -q -m "$MODEL" -o "$OUT/mini-submission.csv" "$OUT/mini-pred.tsr"
"$B/tgs-show" -q -n 12 -o "$OUT/mini.png" "$OUT/mini-pred.tsr"
"$B/tgs-show" -q -n 6 --order worst -o "$OUT/mini-worst.png" "$OUT/mini-pred.tsr"
echo "demo: the real tiles' CSV is $OUT/mini-submission.csv (the model's own threshold, tgs-rle encode -m)"
echo "demo: look at $OUT/mini.png (a row a tile: image, truth, prediction, uncertainty, errors)"
echo "      and $OUT/mini-worst.png (the worst first); the synthetic flow's at $OUT/submission.csv"
