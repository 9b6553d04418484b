#!/bin/sh
# make demo: the data path on the 12 real tiles shipped in tests/data/mini,
# needing no download. Stacks them as 2.5D samples, shows what the stream
# holds, writes the Kaggle CSV, and checks it against the tiles' own RLE;
# then trains a tiny model on 8 of the tiles for a few seconds, predicts
# the other 4 and scores them (12 tiles teach little: this shows the
# pipeline, not a result). Outputs land in demo-out/.
set -eu
B=${TGS_BIN:-bin}
MINI=tests/data/mini
OUT=demo-out
mkdir -p "$OUT"
echo "== tgs-stack25d: 12 tiles -> $OUT/mini.tsr (2.5D: depth-order neighbours + depth)"
"$B/tgs-stack25d" --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" --neighbors depth -o "$OUT/mini.tsr"
echo "== tgs-info $OUT/mini.tsr"
"$B/tgs-info" "$OUT/mini.tsr"
echo "== tgs-rle encode -> $OUT/submission.csv"
"$B/tgs-rle" encode -o "$OUT/submission.csv" "$OUT/mini.tsr"
head -n 4 "$OUT/submission.csv" | cut -c 1-100
echo "== tgs-rle decode --png $OUT/masks"
"$B/tgs-rle" decode -q --png "$OUT/masks" "$OUT/submission.csv"
if cmp -s "$OUT/submission.csv" "$MINI/train.csv"; then
	echo "demo: the CSV matches Kaggle's own encoding of these masks"
else
	echo "demo: the CSV differs from $MINI/train.csv" >&2
	exit 1
fi
echo "== tgs-fold: 4 tiles held out for validation"
"$B/tgs-fold" -k 3 -i 0 -q -o "$OUT/val.tsr" "$OUT/mini.tsr"
"$B/tgs-fold" -k 3 -i 0 --complement -q -o "$OUT/trn.tsr" "$OUT/mini.tsr"
echo "== tgs-augment --train --epochs 8 | tgs-train (a tiny resunet, 8 epochs)"
rm -rf "$OUT/run"
"$B/tgs-augment" --train --size 112 --epochs 8 --seed 1 -q "$OUT/trn.tsr" |
	"$B/tgs-train" -q -o "$OUT/run" --val "$OUT/val.tsr" --size 112 --batch 4 --lr 0.003 \
		--model "resunet widths=4,8,16,32,64 blocks=1,1,1,1,1"
awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i }
	{ printf "%-7s %-12s %-9s %s\n", $1, $c["train_loss"], $c["val_map"], $c["val_threshold"] }' "$OUT/run/log.csv"
echo "== tgs-mcdrop -m $OUT/run/last.ckpt | tgs-eval"
"$B/tgs-mcdrop" -q -m "$OUT/run/last.ckpt" -o "$OUT/pred.tsr" "$OUT/val.tsr"
"$B/tgs-eval" "$OUT/pred.tsr"
"$B/tgs-rle" encode -o "$OUT/predicted.csv" "$OUT/pred.tsr"
echo "demo: predictions for the held-out tiles in $OUT/predicted.csv"

