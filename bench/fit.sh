#!/bin/sh
# bench/fit.sh (make bench-fit): does tgs-train fit resunet as fast as
# PyTorch does? Both train the same model (widths 12..192, one block a
# level, dropout=0) with the same recipe (BCE + Dice + 0.1 presence, Adam
# 0.002, batch 16) on the same unaugmented tiles, FIT_EPOCHS epochs
# (default 30); bench/fit_torch.py then prints the two train-loss curves
# side by side, and the img/s ratio. A fit test, not a speed test: the two
# runs share no weights or shuffles, so compare curves, not digits.
# Tiles: one twelfth of ../shared/data/tgs/train (about 330), or the 12
# tiles of tests/data/mini without it (and it says so).
#   PYTHON (python with torch and numpy), TGS_BIN, SHARED, THREADS (2),
#   FIT_SEED (1: both sides' init and shuffle; a second seed tells a real
#   gap between the curves from a lucky draw)
set -eu
cd "$(dirname "$0")/.."
B=${TGS_BIN:-bin}
PY=${PYTHON:-/usr/bin/python3}
SHARED=${SHARED:-../shared/data/tgs}
EPOCHS=${FIT_EPOCHS:-30}
THREADS=${THREADS:-2}
SEED=${FIT_SEED:-1}
T=$(mktemp -d "${TMPDIR:-/tmp}/tgs-fit.XXXXXX")
trap 'rm -rf "$T"' EXIT

"$PY" -c 'import torch, numpy' 2>/dev/null || { echo "bench-fit: $PY lacks torch or numpy (apt-get install python3-torch)" >&2; exit 1; }
if [ -d "$SHARED/train/images" ]; then
	"$B/tgs-stack25d" -q --images "$SHARED/train/images" --masks "$SHARED/train/masks" -o "$T/all.tsr"
	"$B/tgs-fold" -k 12 -i 0 -q -o "$T/s.tsr" "$T/all.tsr"
else
	echo "bench-fit: no $SHARED; fitting the 12 tiles of tests/data/mini" >&2
	"$B/tgs-stack25d" -q --images tests/data/mini/images --masks tests/data/mini/masks -o "$T/s.tsr"
fi
echo "== fit: resunet w12, seed $SEED, $EPOCHS epochs on $("$B/tgs-info" "$T/s.tsr" | sed -n '1s/.*: \([0-9]*\) samples.*/\1/p') unaugmented tiles, $THREADS threads"
"$B/tgs-augment" --size 112 --epochs "$EPOCHS" --shuffle --seed "$SEED" -q -o "$T/pad.tsr" "$T/s.tsr"
"$B/tgs-train" -q -o "$T/run" --arch "resunet widths=12,24,48,96,192 blocks=1,1,1,1,1 dropout=0" \
	--size 112 --epochs "$EPOCHS" --seed "$SEED" --loss bce=1,dice=1,cls=0.1 --lr 0.002 --batch 16 \
	--threads "$THREADS" "$T/pad.tsr"
"$PY" bench/fit_torch.py --epochs "$EPOCHS" --seed "$SEED" --threads "$THREADS" --ours "$T/run/log.csv" "$T/s.tsr"
