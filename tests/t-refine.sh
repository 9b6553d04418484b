# tgs-refine: train on a tiny model's predictions of the mini tiles (flip
# TTA gives 'var'), apply: 'prob' refined, the input's kept as 'prob_in',
# the other records passed on; the same seed the same bytes; refusals.
. tests/lib.sh
RF="$B/tgs-refine"
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" -o "$T/mini.tsr"
"$B/tgs-train" -q -o "$T/main" --arch "resunet widths=4,8,16 blocks=1,1,1" --batch 4 --lr 0.01 --epochs 2 --threads 2 \
	"$T/mini.tsr" 2>"$T/err" || fail "train the main model" "$(cat "$T/err")"
"$B/tgs-mcdrop" -q -m "$T/main/last.ckpt" --tta hflip --threads 2 -o "$T/pred.tsr" "$T/mini.tsr"
"$B/tgs-mcdrop" -q -m "$T/main/last.ckpt" --threads 2 -o "$T/novar.tsr" "$T/mini.tsr"
check "train: 3 epochs with validation" "$RF" train -q -o "$T/r1" --arch "resunet widths=4,8 blocks=1,1" --epochs 3 --batch 4 \
	--threads 2 --seed 3 --val "$T/pred.tsr" "$T/pred.tsr"
"$RF" train -q -o "$T/r2" --arch "resunet widths=4,8 blocks=1,1" --epochs 3 --batch 4 --threads 2 --seed 3 --val "$T/pred.tsr" "$T/pred.tsr"
check_sh "train: a log of 3 rows, best and last, the same seed the same bytes" \
	"[ \$(wc -l < '$T/r1/log.csv') -eq 4 ] && [ -f '$T/r1/best.ckpt' ] && cmp '$T/r1/last.ckpt' '$T/r2/last.ckpt'"
"$RF" apply -q -m "$T/r1/best.ckpt" --threads 2 -o "$T/refined.tsr" "$T/pred.tsr"
if have_numpy; then
	cat >"$T/check.py" <<'PY'
import sys
sys.path.insert(0, "formats")
import numpy as np, tgs_stream
a, b = list(tgs_stream.read(sys.argv[1])), list(tgs_stream.read(sys.argv[2]))
assert len(a) == len(b) == 12
for s, r in zip(a, b):
    assert list(r) == list(s) + ["prob_in"], list(r)
    assert np.array_equal(r["prob_in"], s["prob"]), "prob_in is not the input's prob"
    for k in s:
        if k != "prob": assert np.array_equal(np.asarray(r[k]), np.asarray(s[k])), k
    p = r["prob"]
    assert p.dtype == np.float32 and p.shape == s["prob"].shape and p.min() >= 0 and p.max() <= 1
    assert not np.array_equal(p, s["prob"]), "nothing refined"
print("ok")
PY
	check "apply: prob refined, the input's as prob_in, the rest passed on in order" "$PYTHON" "$T/check.py" "$T/pred.tsr" "$T/refined.tsr"
fi
"$RF" train -q -o "$T/r4" --arch "resunet widths=4,8 blocks=1,1" --epochs 4 --batch 4 --threads 2 --seed 3 "$T/pred.tsr"
"$RF" train -q -o "$T/r24" --arch "resunet widths=4,8 blocks=1,1" --epochs 2 --batch 4 --threads 2 --seed 3 "$T/pred.tsr"
check_sh "--resume from epoch 2 to 4: the bytes and log rows of 4 straight" \
	"'$RF' train -q -o '$T/r24' --resume '$T/r24/last.ckpt' --epochs 4 --threads 2 '$T/pred.tsr' && cmp '$T/r4/last.ckpt' '$T/r24/last.ckpt' &&
	 cmp <(sed 's/,[^,]*,[^,]*\$//' '$T/r4/log.csv') <(sed 's/,[^,]*,[^,]*\$//' '$T/r24/log.csv')"
usage_error "--resume with another --model" "--arch: the run in .*r24/last.ckpt has" \
	"$RF" train -q -o "$T/r24" --resume "$T/r24/last.ckpt" --arch "resunet widths=8,8 blocks=1,1" --epochs 5 "$T/pred.tsr"
refuses "a fresh run into a refiner's directory" "already holds a run .*--resume" "$RF" train -q -o "$T/r4" "$T/pred.tsr"
refuses "--resume of the main model's checkpoint" "main/last.ckpt: not a tgs-refine checkpoint" "$RF" train -q -o "$T/r9" --resume "$T/main/last.ckpt" "$T/pred.tsr"
check_sh "tgs-eval scores the refined stream" "'$B/tgs-eval' -q '$T/refined.tsr' | grep -q '^mAP'"
refuses "train on predictions without var" "sample 1: no f32 'var' of 101x101: tgs-mcdrop with --passes or --tta gives one" \
	"$RF" train -q -o "$T/x" "$T/novar.tsr"
refuses "train on samples without mask" "sample 1: no 'mask'" sh -c "'$B/tgs-stack25d' -q --images '$MINI/images' | '$B/tgs-mcdrop' -q -m '$T/main/last.ckpt' --tta hflip | '$RF' train -q -o '$T/x'"
refuses "apply with the main model's checkpoint" "main/last.ckpt: not a tgs-refine checkpoint" "$RF" apply -m "$T/main/last.ckpt" "$T/pred.tsr"
refuses "train without -o" "no -o DIR" "$RF" train "$T/pred.tsr"
refuses "an unknown command" "unknown command 'fit'" "$RF" fit "$T/pred.tsr"
check_sh "no run directory from a refused train" "[ ! -e '$T/x' ]"
exit 0
