#!/bin/sh
# make demo: the data path on the 12 real tiles shipped in tests/data/mini,
# needing no download. Stacks them as 2.5D samples, shows what the stream
# holds, writes the Kaggle CSV, and checks it against the tiles' own RLE.
# Outputs land in demo-out/. (Training and prediction join the demo as
# their tools arrive.)
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
