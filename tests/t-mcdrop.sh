# tgs-mcdrop: a tiny model trained on the 12 mini tiles predicts them;
# every sample gets 'prob' (f32 1x101x101 in [0,1]) and 'salt' (f32 in
# [0,1]) and keeps its other records; the stream goes into tgs-rle encode
# and tgs-eval, which scores it exactly as tgs-train's validation did; the
# batch size and padding done here or by tgs-augment change no byte; bad
# checkpoints and inputs, and padded inputs of another norm, are refused in
# one line.
. tests/lib.sh
export PYTHONDONTWRITEBYTECODE=1
MC="$B/tgs-mcdrop"
if [ ! -x "$MC" ]; then
	fail "tgs-mcdrop built" "no $MC (is it in the Makefile's TOOLS?)"
	exit 0
fi
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" --neighbors depth -o "$T/mini.tsr"
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" -o "$T/mini1.tsr"
"$B/tgs-train" -q -o "$T/run" --val "$T/mini.tsr" --arch "resunet widths=4,8,16 blocks=1,1,1" --batch 4 --lr 0.01 --epochs 4 \
	--threads 2 "$T/mini.tsr" 2>"$T/err" || fail "train a tiny model" "$(cat "$T/err")"

# tgs-info on a checkpoint: what a predictor needs to know of it
check_sh "tgs-info describes a checkpoint: its arch, 3 input channels, 104 side, origin, decisions" \
	"'$B/tgs-info' '$T/run/best.ckpt' > '$T/info.txt' &&
	 grep -Eq '^  arch +resunet in=3 widths=4,8,16 blocks=1,1,1 ' '$T/info.txt' &&
	 grep -Eq '^  input +3 channels, trained at 104x104, normalised' '$T/info.txt' &&
	 grep -Eq '^  from +tgs-train, epoch [1-4], step [0-9]+, validation mAP [01]\\.[0-9]{4}\$' '$T/info.txt' &&
	 grep -Eq '^  decisions +threshold 0?\\.[0-9]+, salt_gate 0, min_area 0\$' '$T/info.txt' &&
	 grep -Eq ': tgs checkpoint \\(tgs [0-9.]+\\), [0-9]+ tensors, [0-9]+ bytes\$' '$T/info.txt'"
check_sh "tgs-info: last.ckpt's training state is counted apart; -v lists metadata and tensors" \
	"'$B/tgs-info' -v '$T/run/last.ckpt' > '$T/info2.txt' &&
	 grep -Eq '^  model +[0-9]+ values in [0-9]+ tensors; training state: [0-9]+ values in [0-9]+ tensors \\(resumable\\)\$' '$T/info2.txt' &&
	 grep -q '^  meta arch = resunet' '$T/info2.txt' && grep -Eq '^  tensor optim\\.[a-z_]+\\.[^ ]+ F32 \\[' '$T/info2.txt'"
head -c 40 "$T/run/best.ckpt" > "$T/cut.ckpt"
refuses "tgs-info: a cut checkpoint is refused in one line naming it" "cut.ckpt: header length [0-9]+ runs past the end" "$B/tgs-info" "$T/cut.ckpt"
check "predict the mini tiles (from a file)" "$MC" -m "$T/run/best.ckpt" --threads 2 -o "$T/pred.tsr" "$T/mini.tsr"
check_sh "tgs-info: a stream through a pipe path is read whole (no checkpoint probe eats its start)" \
	"'$B/tgs-info' <(cat '$T/pred.tsr') | grep -Eq ': 12 samples, '"
check_sh "... from stdin, the same bytes" "'$MC' -m '$T/run/best.ckpt' --threads 2 < '$T/mini.tsr' | cmp - '$T/pred.tsr'"
check_sh "--batch 5 (a tail batch of 2): the same bytes" "'$MC' -m '$T/run/best.ckpt' --threads 2 --batch 5 '$T/mini.tsr' | cmp - '$T/pred.tsr'"
check_sh "tgs-info: 12 samples with prob f32 [1,101,101] and salt f32 []" \
	"'$B/tgs-info' '$T/pred.tsr' > '$T/info' && grep -q ': 12 samples' '$T/info' &&
	 grep -Eq '^  prob +12 f32 +\[1,101,101\]' '$T/info' && grep -Eq '^  salt +12 f32 +\[\]' '$T/info'"
check_sh "into tgs-rle encode: a header and 12 rows" \
	"'$B/tgs-rle' encode '$T/pred.tsr' > '$T/sub.csv' && [ \"\$(head -n 1 '$T/sub.csv')\" = id,rle_mask ] && [ \$(wc -l < '$T/sub.csv') -eq 13 ]"
check_sh "the whole pipe: tgs-stack25d | tgs-mcdrop | tgs-rle encode" \
	"'$B/tgs-stack25d' -q --images '$MINI/images' --depths '$MINI/depths.csv' --neighbors depth | '$MC' -m '$T/run/best.ckpt' --threads 2 | '$B/tgs-rle' encode | cmp - '$T/sub.csv'"
# tgs-eval scores the predictions as tgs-train's validation did (same tiles, same padding)
"$B/tgs-eval" --sweep "$T/pred.tsr" >"$T/eval" 2>"$T/err"
got=$(sed -n 's/^best  *\([0-9.]*\)  mAP \([0-9.]*\)$/\1 \2/p' "$T/eval")
ep=$(grep -ao '"epoch":"[0-9]*"' "$T/run/best.ckpt" | head -n 1 | tr -dc 0-9)
want=$(log_cols "$T/run/log.csv" epoch val_threshold val_map | awk -F, -v e="$ep" '$1 == e { print $2, $3 }')
if [ -n "$got" ] && [ "$got" = "$want" ]; then ok "tgs-eval on the predictions: best threshold and mAP as tgs-train's log says ($got)"
else fail "tgs-eval on the predictions agrees with tgs-train's validation" "eval '$got', log '$want' (epoch $ep): $(cat "$T/err")"; fi

if have_numpy; then
	"$B/tgs-augment" -q --size 104 -o "$T/padded.tsr" "$T/mini.tsr"
	"$MC" -m "$T/run/best.ckpt" --threads 2 -o "$T/pred2.tsr" "$T/padded.tsr"
	"$MC" -m "$T/run/best.ckpt" --threads 2 --batch 1 -o "$T/pred3.tsr" "$T/mini.tsr"
	cat >"$T/check.py" <<'PY'
import sys
sys.path.insert(0, "formats")
import numpy as np
import tgs_stream
src, pred, pred2, pred3 = (list(tgs_stream.read(p)) for p in sys.argv[1:5])
assert len(pred) == len(src) == 12
for s, p, q, r in zip(src, pred, pred2, pred3):
    assert list(p) == list(s) + ["prob", "salt"], list(p)
    for k in s:
        assert np.array_equal(np.asarray(s[k]), np.asarray(p[k])), k
    pr = p["prob"]
    assert pr.dtype == np.float32 and pr.shape == (1, 101, 101), (pr.dtype, pr.shape)
    assert np.isfinite(pr).all() and pr.min() >= 0 and pr.max() <= 1
    assert p["salt"].dtype == np.float32 and p["salt"].shape == () and 0 <= p["salt"] <= 1
    assert np.array_equal(q["prob"], pr) and q["salt"] == p["salt"], "padded by tgs-augment: other values"
    assert np.abs(r["prob"] - pr).max() <= 1e-6 and abs(r["salt"] - p["salt"]) <= 1e-6, "batch 1: other values"
print("prob in [%.4f, %.4f], salt in [%.4f, %.4f]" % (min(p["prob"].min() for p in pred), max(p["prob"].max() for p in pred),
      min(p["salt"] for p in pred), max(p["salt"] for p in pred)))
PY
	if "$PYTHON" "$T/check.py" "$T/mini.tsr" "$T/pred.tsr" "$T/pred2.tsr" "$T/pred3.tsr" >"$T/out" 2>&1; then
		ok "numpy: prob and salt in [0,1], shapes, the other records kept in order; tgs-augment's padding gives the same values, --batch 1 within 1e-6 ($(cat "$T/out"))"
	else
		fail "numpy: the predictions" "$(tail -n 3 "$T/out")"
	fi
else
	skip "numpy: the predictions" "no numpy in $PYTHON"
fi

# ---- the 'norm' record of padded inputs against the checkpoint's norm ----
"$B/tgs-augment" -q --size 104 --norm 0.5,0.2 -o "$T/norm52.tsr" "$T/mini.tsr"
refuses "a padded stream of another norm (tgs-augment --norm 0.5,0.2, a 0,1 model)" \
	"norm52.tsr: sample 1 \([0-9a-f]+\): 'norm' is 0.5,0.2, the model takes 0,1\$" "$MC" -m "$T/run/best.ckpt" -o "$T/norm-bad.tsr" "$T/norm52.tsr"
check_sh "... and no -o file" "[ ! -e '$T/norm-bad.tsr' ] && ! ls '$T' | grep -q 'norm-bad.tsr'"
check_sh "a padded stream of the model's norm (--norm 0,1): predicted" \
	"'$B/tgs-augment' -q --size 104 --norm 0,1 '$T/mini.tsr' | '$MC' -q -m '$T/run/best.ckpt' --threads 2 | '$B/tgs-info' | grep -Eq '^  prob +12 f32 +\[1,101,101\]'"
if have_numpy; then
	# padded.tsr (--norm 0,1) without its 'norm' records: what pred2.tsr holds
	"$PYTHON" -c "import sys; sys.path.insert(0, 'formats'); import tgs_stream
tgs_stream.write(sys.argv[2], [{k: v for k, v in s.items() if k != 'norm'} for s in tgs_stream.read(sys.argv[1])])" \
		"$T/padded.tsr" "$T/norm-none.tsr"
	check_sh "a padded stream without 'norm' records (from before them): predicted as with them" \
		"'$MC' -q -m '$T/run/best.ckpt' --threads 2 -o '$T/pred-none.tsr' '$T/norm-none.tsr' &&
		 '$PYTHON' -c \"import sys; sys.path.insert(0, 'formats'); import numpy as np, tgs_stream
a, b = list(tgs_stream.read(sys.argv[1])), list(tgs_stream.read(sys.argv[2]))
assert len(a) == len(b) == 12 and all('norm' not in x and 'norm' in y for x, y in zip(a, b))
assert all(np.array_equal(x['prob'], y['prob']) and x['salt'] == y['salt'] for x, y in zip(a, b))\" '$T/pred-none.tsr' '$T/pred2.tsr'"
else
	skip "a padded stream without 'norm' records" "no numpy in $PYTHON"
fi

# ---- Monte Carlo dropout, flip TTA, ensembles ----
"$B/tgs-train" -q -o "$T/drop" --arch "resunet widths=4,8,16 blocks=1,1,1 dropout=0.3" --batch 4 --lr 0.01 --epochs 2 \
	--threads 2 --seed 5 "$T/mini.tsr" 2>"$T/err" || fail "train a tiny model with dropout" "$(cat "$T/err")"
"$MC" -q -m "$T/drop/last.ckpt" --threads 2 --passes 4 --seed 3 -o "$T/mc3a.tsr" "$T/mini.tsr"
"$MC" -q -m "$T/drop/last.ckpt" --threads 2 --passes 4 --seed 3 -o "$T/mc3b.tsr" "$T/mini.tsr"
"$MC" -q -m "$T/drop/last.ckpt" --threads 2 --passes 4 --seed 4 -o "$T/mc4.tsr" "$T/mini.tsr"
check_sh "--passes 4: the same seed, the same bytes; another seed, other bytes" \
	"cmp '$T/mc3a.tsr' '$T/mc3b.tsr' && ! cmp -s '$T/mc3a.tsr' '$T/mc4.tsr'"
check_sh "--passes 1 and --tta none are the default's bytes" \
	"'$MC' -q -m '$T/drop/last.ckpt' --threads 2 '$T/mini.tsr' | cmp - <('$MC' -q -m '$T/drop/last.ckpt' --threads 2 --passes 1 --tta none --seed 9 '$T/mini.tsr')"
check_sh "tgs-info: with 4 passes, var and salt_var added; --entropy adds ent" \
	"'$B/tgs-info' '$T/mc3a.tsr' | grep -Eq '^  var +12 f32 +\[1,101,101\]' && '$B/tgs-info' '$T/mc3a.tsr' | grep -Eq '^  salt_var +12 f32 +\[\]' &&
	 '$MC' -q -m '$T/drop/last.ckpt' --threads 2 --passes 2 --entropy '$T/mini.tsr' | '$B/tgs-info' | grep -Eq '^  ent +12 f32 +\[1,101,101\]'"
"$B/tgs-train" -q -o "$T/one1" --arch "resunet widths=4,8,16 blocks=1,1,1 dropout=0" --batch 4 --epochs 1 --threads 2 "$T/mini1.tsr" 2>/dev/null
usage_error "--passes 4 on a model without dropout" "--passes 4: the model of .*one1/last.ckpt has no dropout" \
	"$MC" -m "$T/one1/last.ckpt" --passes 4 "$T/mini1.tsr"
usage_error "an ensemble of a 3-channel and a 1-channel model" "-m .*one1/last.ckpt: takes 1 channels at 104 .*must see the same input" \
	"$MC" -m "$T/run/best.ckpt" -m "$T/one1/last.ckpt" "$T/mini.tsr"
refuses "--tta vflip" "--tta: 'vflip' is not hflip or none" "$MC" -m "$T/run/best.ckpt" --tta vflip "$T/mini.tsr"
if have_numpy; then
	"$MC" -q -m "$T/run/best.ckpt" --threads 2 -o "$T/ea.tsr" "$T/mini.tsr"
	"$MC" -q -m "$T/drop/last.ckpt" --threads 2 -o "$T/eb.tsr" "$T/mini.tsr"
	"$MC" -q -m "$T/run/best.ckpt" -m "$T/drop/last.ckpt" --threads 2 -o "$T/eab.tsr" "$T/mini.tsr"
	# a padded input that is its own mirror image: the flip view is the same input
	"$PYTHON" - "$T/mirror.tsr" <<'PY'
import sys
sys.path.insert(0, "formats")
import numpy as np, tgs_stream
r = np.random.default_rng(1)
x = r.standard_normal((3, 104, 104)).astype(np.float32)
x = ((x + x[:, :, ::-1]) / 2).astype(np.float32)
tgs_stream.write(sys.argv[1], [{"id": "mirror", "image": x, "crop": np.array([0, 0, 104, 104], np.int32)}])
PY
	"$MC" -q -m "$T/run/best.ckpt" --threads 2 --tta hflip -o "$T/tta.tsr" "$T/mirror.tsr"
	"$MC" -q -m "$T/run/best.ckpt" --threads 2 -o "$T/notta.tsr" "$T/mirror.tsr"
	cat >"$T/mc.py" <<'PY'
import sys
sys.path.insert(0, "formats")
import numpy as np, tgs_stream
d = sys.argv[1]
rd = lambda n: list(tgs_stream.read(d + "/" + n))
# two checkpoints: the mean of each one's probabilities, their variance
for a, b, ab in zip(rd("ea.tsr"), rd("eb.tsr"), rd("eab.tsr")):
    want = ((a["prob"].astype(np.float64) + b["prob"]) / 2).astype(np.float32)
    assert np.array_equal(ab["prob"], want), "ensemble prob is not the mean"
    var = ((a["prob"].astype(np.float64) - b["prob"]) / 2) ** 2
    assert np.abs(ab["var"] - var).max() <= 1e-6, np.abs(ab["var"] - var).max()
    assert abs(ab["salt"] - (np.float64(a["salt"]) + b["salt"]) / 2) <= 1e-7 and ab["salt_var"] >= 0
# flip TTA of a mirror-symmetric input: the mean of a pass and its mirror, itself a mirror image
t, n = rd("tta.tsr")[0], rd("notta.tsr")[0]
p, q = t["prob"][0], n["prob"][0]
assert np.array_equal(p, p[:, ::-1]), "TTA of a symmetric tile is not symmetric"
assert np.array_equal(p, ((q.astype(np.float64) + q[:, ::-1]) / 2).astype(np.float32)), "TTA is not the mean of the views"
assert np.abs(t["var"][0] - ((q.astype(np.float64) - q[:, ::-1]) / 2) ** 2).max() <= 1e-6
mc = rd("mc3a.tsr")
assert all(s["var"].min() >= 0 and 0 <= s["prob"].min() and s["prob"].max() <= 1 for s in mc)
assert sum(float(s["var"].max()) for s in mc) > 0, "4 passes with dropout 0.3 and no variance"
print("ensemble: mean and variance; TTA: symmetric, the mean of the views; MC: variance > 0")
PY
	if "$PYTHON" "$T/mc.py" "$T" >"$T/out" 2>&1; then ok "numpy: $(cat "$T/out")"
	else fail "numpy: ensembles, TTA and MC dropout" "$(tail -n 3 "$T/out")"; fi
else
	skip "numpy: ensembles, TTA and MC dropout" "no numpy in $PYTHON"
fi

# ---- decisions tied to the predictions they were tuned on (--tag) ----
"$MC" -q -m "$T/run/best.ckpt" --threads 2 --tta hflip --tag -o "$T/tagA.tsr" "$T/mini.tsr"
"$MC" -q -m "$T/drop/last.ckpt" --threads 2 --tta hflip --tag -o "$T/tagB.tsr" "$T/mini.tsr"
"$B/tgs-eval" -q --tune "$T/decA.txt" "$T/tagA.tsr" >/dev/null
check_sh "--tag: a 'model' record; --tune names it in the decisions file" \
	"'$B/tgs-info' '$T/tagA.tsr' | grep -Eq '^  model +12 str' && grep -Eq '^model crc32=[0-9a-f]{8},models=1,passes=1,tta=hflip,seed=0\$' '$T/decA.txt'"
check_sh "the same decisions on the same model's predictions: taken by tgs-eval and tgs-rle encode" \
	"'$B/tgs-eval' -q --decisions '$T/decA.txt' '$T/tagA.tsr' >/dev/null && '$B/tgs-rle' encode -q --decisions '$T/decA.txt' '$T/tagA.tsr' >/dev/null"
refuses "tgs-eval: a decisions file from another model" "tagA.tsr|tagB.tsr: sample 1 .*decA.txt: predictions of crc32=.*, but the decisions were tuned on predictions of crc32=" \
	"$B/tgs-eval" -q --decisions "$T/decA.txt" "$T/tagB.tsr"
refuses "tgs-rle encode: a decisions file from another model" "sample 1 .*decA.txt: predictions of crc32=.* but the decisions were tuned" \
	"$B/tgs-rle" encode -q --decisions "$T/decA.txt" "$T/tagB.tsr"
refuses "tgs-rle encode: untagged predictions and a tagged decisions file" "no 'model' record, but the decisions were tuned on predictions of crc32=" \
	"$B/tgs-rle" encode -q --decisions "$T/decA.txt" "$T/pred.tsr"
cat "$T/tagA.tsr" >"$T/mixed.tsr"
"$PYTHON" -c "import sys; sys.path.insert(0, 'formats'); import tgs_stream
a, b = list(tgs_stream.read('$T/tagA.tsr')), list(tgs_stream.read('$T/tagB.tsr'))
tgs_stream.write('$T/mixed.tsr', a[:6] + b[6:])" 2>/dev/null &&
	refuses "--tune on predictions of two models" "sample 7 .*tune on one model's predictions" "$B/tgs-eval" -q --tune "$T/x.txt" "$T/mixed.tsr"

# ---- refusals ----
head -c 3000 "$T/run/best.ckpt" >"$T/cut.ckpt"
printf 'not a checkpoint at all, just text\n' >"$T/text.ckpt"
refuses "no -m" "no -m CKPT" "$MC" "$T/mini.tsr"
refuses "a missing checkpoint" "nope.ckpt: No such file" "$MC" -m "$T/nope.ckpt" "$T/mini.tsr"
refuses "a truncated checkpoint" "cut.ckpt: header length [0-9]+ runs past the end" "$MC" -m "$T/cut.ckpt" "$T/mini.tsr"
refuses "a directory as a checkpoint" "$T: read error: Is a directory" "$MC" -m "$T" "$T/mini.tsr"
refuses "a text file as a checkpoint" "text.ckpt: header length" "$MC" -m "$T/text.ckpt" "$T/mini.tsr"
refuses "1-channel tiles into a 3-channel model" "mini1.tsr: sample 1 \([0-9a-f]+\): 'image' has 1 channels, the model takes 3" \
	"$MC" -m "$T/run/best.ckpt" -o "$T/bad.tsr" "$T/mini1.tsr"
head -c 70000 "$T/mini.tsr" >"$T/trunc.tsr"
refuses "a truncated stream" "trunc.tsr: .*truncated" "$MC" -m "$T/run/best.ckpt" -o "$T/bad.tsr" "$T/trunc.tsr"
check_sh "no -o file after refused input" "[ ! -e '$T/bad.tsr' ] && ! ls '$T' | grep -q 'bad.tsr.tmp'"
# the issue's pipe: a predictor refusing its checkpoint writes nothing, and
# tgs-rle encode at the end of the pipe must fail too, not leave a CSV of
# just the header and exit 0
check_sh "a failed predictor upstream: tgs-rle encode exits 1 and writes no submission" \
	"'$B/tgs-stack25d' -q --images '$MINI/images' --depths '$MINI/depths.csv' --neighbors depth | '$MC' -m '$T/text.ckpt' 2>/dev/null |
	 '$B/tgs-rle' encode -q -o '$T/failed-sub.csv' 2>'$T/rle.err'; [ \${PIPESTATUS[2]} -eq 1 ] &&
	 grep -q '^tgs-rle: <stdin>: no samples to encode' '$T/rle.err' && [ ! -e '$T/failed-sub.csv' ]"
refuses "--batch 0" "--batch: 0 is out of range" "$MC" -m "$T/run/best.ckpt" --batch 0
usage_error "--device cuda (not built in)" "--device: device 'cuda' is not built in" "$MC" -m "$T/run/best.ckpt" --device cuda "$T/mini.tsr"
usage_error "--device nonsense" "--device: unknown device 'tpu' \\(there are cpu, sim\\)" "$MC" -m "$T/run/best.ckpt" --device tpu "$T/mini.tsr"
# the model carries its decisions: best.ckpt holds its validation's best
# threshold, and tgs-rle encode -m uses it as --decisions would
t=$("$PYTHON" -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
d = json.loads(f.read(n))["__metadata__"]["decisions"]
print([l.split()[1] for l in d.splitlines() if l.startswith("threshold ")][0])' "$T/run/best.ckpt" 2>/dev/null)
if [ -n "$t" ]; then
	check_sh "tgs-rle encode -m best.ckpt: its threshold ($t), as --threshold $t gives" \
		"cmp <('$B/tgs-rle' encode -m '$T/run/best.ckpt' '$T/pred.tsr') <('$B/tgs-rle' encode --threshold $t '$T/pred.tsr')"
else fail "best.ckpt carries a threshold in its metadata 'decisions'" "none read"; fi
refuses "tgs-rle encode -m last.ckpt: no decisions in it" "last.ckpt: holds no decisions" "$B/tgs-rle" encode -m "$T/run/last.ckpt" "$T/pred.tsr"
usage_error "tgs-rle encode -m and --decisions both" "--decisions and -m both give the decisions" \
	"$B/tgs-rle" encode -m "$T/run/best.ckpt" --decisions "$T/run/log.csv" "$T/pred.tsr"
exit 0
