#!/bin/sh
# Issue 23's table: on two folds' validation tiles, each step added to the
# one before, at decisions tuned on the OTHER fold (never on the scored one):
#   one pass, threshold 0.5 | + flip TTA | + MC dropout T=8, 16 | + decisions
#   | + a refiner trained on the other fold's (out-of-fold) T=8 predictions
#     RUN_A VAL_A RUN_B VAL_B   two runs (best.ckpt) and their validation folds
#   TGS_BIN (bin)  SEED (1)  THREADS (0: all)
# Predictions are kept in each run directory (pred-*.tsr) for a rerun.
set -eu
B=${TGS_BIN:-bin} SEED=${SEED:-1} THREADS=${THREADS:-0}
[ $# -eq 4 ] || { echo "usage: bench/uncertainty.sh RUN_A VAL_A RUN_B VAL_B" >&2; exit 2; }
mcdrop() { # RUN VAL NAME ARGS...: the predictions, made once
	run=$1 val=$2 name=$3
	shift 3
	[ -s "$run/pred-$name.tsr" ] || "$B/tgs-mcdrop" -q --threads "$THREADS" -m "$run/best.ckpt" "$@" -o "$run/pred-$name.tsr" "$val"
}
map() { "$B/tgs-eval" -q "$@" | sed -n 's/^mAP *//p'; }
for side in A B; do
	if [ $side = A ]; then run=$1 val=$2; else run=$3 val=$4; fi
	mcdrop "$run" "$val" plain
	mcdrop "$run" "$val" tta --tta hflip
	mcdrop "$run" "$val" mc8 --tta hflip --passes 8 --seed "$SEED"
	mcdrop "$run" "$val" mc16 --tta hflip --passes 16 --seed "$SEED"
	"$B/tgs-eval" -q --tune "$run/decisions-mc8.txt" "$run/pred-mc8.tsr" >/dev/null
	# a refiner of this fold's predictions (out of fold for its model), no validation: it is scored on the other fold
	[ -s "$run/refine/last.ckpt" ] || "$B/tgs-refine" train -q --threads "$THREADS" --seed "$SEED" -o "$run/refine" "$run/pred-mc8.tsr"
done
[ -s "$1/pred-refined.tsr" ] || "$B/tgs-refine" apply -q --threads "$THREADS" -m "$3/refine/last.ckpt" -o "$1/pred-refined.tsr" "$1/pred-mc8.tsr"
[ -s "$3/pred-refined.tsr" ] || "$B/tgs-refine" apply -q --threads "$THREADS" -m "$1/refine/last.ckpt" -o "$3/pred-refined.tsr" "$3/pred-mc8.tsr"
printf '| step | %s | %s |\n| --- | --- | --- |\n' "$1" "$3"
row() { printf '| %s | %s | %s |\n' "$1" "$2" "$3"; }
row "one pass, threshold 0.5" "$(map "$1/pred-plain.tsr")" "$(map "$3/pred-plain.tsr")"
row "+ flip TTA" "$(map "$1/pred-tta.tsr")" "$(map "$3/pred-tta.tsr")"
row "+ MC dropout T=8" "$(map "$1/pred-mc8.tsr")" "$(map "$3/pred-mc8.tsr")"
row "+ MC dropout T=16" "$(map "$1/pred-mc16.tsr")" "$(map "$3/pred-mc16.tsr")"
# decisions tuned on the other fold's T=8 predictions, applied to this fold's
row "T=8, + threshold, gate, min area tuned on the other fold" \
	"$(map --decisions "$3/decisions-mc8.txt" "$1/pred-mc8.tsr")" "$(map --decisions "$1/decisions-mc8.txt" "$3/pred-mc8.tsr")"
row "T=8, + a refiner trained on the other fold's predictions (threshold 0.5)" "$(map "$1/pred-refined.tsr")" "$(map "$3/pred-refined.tsr")"
for d in "$1" "$3"; do echo "decisions tuned on $d: $(grep -v '^#' "$d/decisions-mc8.txt" | tr '\n' ' ')"; done
