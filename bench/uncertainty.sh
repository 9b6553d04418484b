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
# the mAP; a failing tgs-eval fails the script (set -e sees the assignment)
map() {
	report=$("$B/tgs-eval" -q "$@")
	printf '%s\n' "$report" | sed -n 's/^mAP *//p'
}
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
# each figure into a variable first: a failure inside an argument's $(...) would not stop set -e
row() { # TITLE FILE_A FILE_B [tgs-eval options for A] -- [for B]
	title=$1 fa=$2 fb=$3
	shift 3
	oa= ob=
	while [ $# -gt 0 ] && [ "$1" != -- ]; do oa="$oa $1"; shift; done
	[ $# -gt 0 ] && shift
	ob="$*"
	ma=$(map $oa "$fa")
	mb=$(map $ob "$fb")
	printf '| %s | %s | %s |\n' "$title" "$ma" "$mb"
}
row "one pass, threshold 0.5" "$1/pred-plain.tsr" "$3/pred-plain.tsr"
row "+ flip TTA" "$1/pred-tta.tsr" "$3/pred-tta.tsr"
row "+ MC dropout T=8" "$1/pred-mc8.tsr" "$3/pred-mc8.tsr"
row "+ MC dropout T=16" "$1/pred-mc16.tsr" "$3/pred-mc16.tsr"
# decisions tuned on the other fold's T=8 predictions, applied to this fold's
row "T=8, + threshold, gate, min area tuned on the other fold" "$1/pred-mc8.tsr" "$3/pred-mc8.tsr" \
	--decisions "$3/decisions-mc8.txt" -- --decisions "$1/decisions-mc8.txt"
row "T=8, + a refiner trained on the other fold's predictions (threshold 0.5)" "$1/pred-refined.tsr" "$3/pred-refined.tsr"
for d in "$1" "$3"; do echo "decisions tuned on $d: $(grep -v '^#' "$d/decisions-mc8.txt" | tr '\n' ' ')"; done
