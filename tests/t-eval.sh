# tgs-eval: the true masks score 1 against themselves; an independent numpy
# implementation of the metric agrees to 1e-9 on noisy predictions of real
# tiles (mini always, ../shared when present); bad input is refused in one
# line naming the file, sample and id.
. tests/lib.sh

"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" -o "$T/mini.tsr"

# ---- masks against themselves ----
self_score() { # LABEL STREAM COUNT
	if "$B/tgs-eval" --prob mask --sweep "$2" >"$T/self" 2>"$T/err" && grep -qx 'mAP        1.000000' "$T/self" &&
		grep -qx "images     $3" "$T/self" && grep -qx 'best       0.50  mAP 1.000000' "$T/self" &&
		[ "$(grep -Ec '^0\.[0-9]{2} +1\.000000  1\.000000$' "$T/self")" -eq 19 ]; then
		ok "$1: the true masks score 1.000000 against themselves ($3 images, every threshold)"
	else
		fail "$1: the true masks score 1 against themselves" "$(cat "$T/err" "$T/self" | head -n 8)"
	fi
}
self_score mini "$T/mini.tsr" 12
check_sh "mini: --json says map 1 and mean_iou 1" \
	"'$B/tgs-eval' --prob mask --json '$T/mini.tsr' | grep -q '\"images\":12,\"threshold\":0.5,\"map\":1,\"mean_iou\":1,'"
check_sh "reads stdin; -o writes the file" \
	"'$B/tgs-eval' --prob mask -o '$T/self.txt' < '$T/mini.tsr' && grep -qx 'images     12' '$T/self.txt'"
if have_shared; then
	if "$B/tgs-stack25d" -q --images "$SHARED/train/images" --masks "$SHARED/train/masks" -o "$T/train.tsr" 2>"$T/err"; then
		self_score shared "$T/train.tsr" "$(ls "$SHARED/train/images" | grep -c '\.png$')"
	else
		fail "shared: stack the training tiles" "$(cat "$T/err")"
	fi
else
	skip "shared: the true masks score 1 against themselves" "no $SHARED (a clone without ../shared)"
fi

# ---- against numpy ----
cat >"$T/ref.py" <<'PY'
"""gen IN OUT SEED: noisy predictions of IN's masks; ref PRED T: the metric."""
import json, sys
sys.path.insert(0, "formats")
import numpy as np
import tgs_stream

def blur(a, r):  # box blur of radius r, edges clamped
    p = np.pad(a, r, mode="edge")
    c = np.cumsum(np.cumsum(p, 0), 1)
    c = np.pad(c, ((1, 0), (1, 0)))
    k = 2 * r + 1
    return (c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]) / (k * k)

def noisy(mask, rng):
    m = mask[0].astype(np.float64)
    kind = rng.integers(0, 9)
    if kind == 0:    # emptied: all below 0.5, some above lower cuts
        p = rng.uniform(0, 0.45, m.shape)
    elif kind == 1:  # filled
        p = rng.uniform(0.55, 1, m.shape)
    elif kind == 2:  # the mask itself, exactly 0 and 1
        p = m.copy()
    elif kind == 3:  # quantised onto the sweep's cuts (float32 k/20)
        p = np.round(np.clip(blur(m, 3) + rng.normal(0, 0.1, m.shape), 0, 1) * 20) / 20
    else:            # shifted, blurred, noisy
        s = np.roll(m, (rng.integers(-6, 7), rng.integers(-6, 7)), (0, 1))
        p = np.clip(blur(s, int(rng.integers(1, 6))) + rng.normal(0, 0.15, m.shape), 0, 1)
    return p.astype(np.float32)[None]

def gen(src, dst, seed, variants):
    rng = np.random.default_rng(seed)
    out = []
    for s in tgs_stream.read(src):
        for v in range(variants):
            p = noisy(s["mask"], rng)
            out.append({"id": "%s-%d" % (s["id"], v), "mask": s["mask"], "prob": p,
                        "mask2": (p.astype(np.float64) > 0.5).astype(np.uint8),
                        "maskf": s["mask"].astype(np.float32)})
    # IoU exactly k/20 for k = 10..20: truth the first 20 pixels, prediction the first k
    for k in range(10, 21):
        t = np.zeros(101 * 101, np.uint8); t[:20] = 1
        p = np.full(101 * 101, 0.1, np.float32); p[:k] = 0.9
        out.append({"id": "edge-%d" % k, "mask": t.reshape(1, 101, 101), "prob": p.reshape(1, 101, 101),
                    "mask2": (p > 0.5).astype(np.uint8).reshape(1, 101, 101),
                    "maskf": t.astype(np.float32).reshape(1, 101, 101)})
    # the empty cases
    for name, truth, pred in (("ee", 0, 0), ("ep", 0, 1), ("pe", 1, 0)):
        t = np.zeros((1, 101, 101), np.uint8); t[0, 50, 40:60] = truth
        p = np.zeros((1, 101, 101), np.float32); p[0, 3, 3] = pred
        out.append({"id": name, "mask": t, "prob": p, "mask2": (p > 0.5).astype(np.uint8), "maskf": t.astype(np.float32)})
    tgs_stream.write(dst, out)

def ref(path, thresholds):
    """The metric written from its definition, vectorised over images: one
    result per threshold, each with the sweep."""
    probs, truths = [], []
    for s in tgs_stream.read(path):
        probs.append(s["prob"].reshape(-1).astype(np.float64))
        truths.append(s["mask"].reshape(-1) != 0)
    P, Tr = np.array(probs), np.array(truths)
    ntrue = Tr.sum(1)
    cache = {}
    def at(cut):
        if cut in cache:
            return cache[cut]
        pred = P > cut
        inter = (pred & Tr).sum(1)
        union = ntrue + pred.sum(1) - inter
        npred = pred.sum(1)
        # IoU > k/20  <=>  20 inter > k union (union > 0), counted for k = 10..19
        hits = (20 * inter[:, None] > np.arange(10, 20)[None, :] * union[:, None]).sum(1)
        score = np.where(ntrue == 0, np.where(npred == 0, 1.0, 0.0), hits / 10.0)
        iou = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
        cache[cut] = score, iou, npred
        return cache[cut]
    npix = Tr.shape[1]
    bins = np.where(ntrue == 0, 0, np.where(10 * ntrue <= npix, 1, np.where(2 * ntrue <= npix, 2, 3)))
    sweep = []
    for k in range(1, 20):
        s, i, _ = at(k / 20)
        sweep.append((k / 20, s.mean(), i.mean()))
    best = max(sweep, key=lambda e: (e[1], -abs(e[0] - 0.5), -e[0]))[0]
    out = []
    for t in thresholds:
        score, iou, npred = at(t)
        r = {"images": len(P), "map": score.mean(), "mean_iou": iou.mean(), "bins": [], "sweep": sweep, "best": best}
        # where 1 - mAP goes: salt images predicted empty, empty images given salt, the rest
        missed, false_salt = (ntrue > 0) & (npred == 0), (ntrue == 0) & (npred > 0)
        r["lost"] = {"missed_images": int(missed.sum()), "false_salt_images": int(false_salt.sum()),
                     "salt_images": int((ntrue > 0).sum()), "empty_images": int((ntrue == 0).sum()),
                     "missed": missed.mean(), "false_salt": false_salt.mean(),
                     "shape": (1 - score)[~missed & ~false_salt].sum() / len(P)}
        for b in range(4):
            sel = bins == b
            r["bins"].append((int(sel.sum()), score[sel].mean() if sel.any() else None, iou[sel].mean() if sel.any() else None))
        out.append(r)
    return out

def close(a, b):
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= 1e-9)

def compare(want, got):
    bad = []
    if got["images"] != want["images"]: bad.append("images %s != %s" % (got["images"], want["images"]))
    for key in ("map", "mean_iou"):
        if not close(got[key], want[key]): bad.append("%s %r != %r" % (key, got[key], want[key]))
    for g, w in zip(got["bins"], want["bins"]):
        if g["images"] != w[0] or not close(g["map"], w[1]) or not close(g["mean_iou"], w[2]):
            bad.append("bin %s: %r != %r" % (g["bin"], (g["images"], g["map"], g["mean_iou"]), w))
    for key, w in want["lost"].items():
        g = got["lost"][key]
        if (g != w) if isinstance(w, int) else not close(g, w): bad.append("lost %s %r != %r" % (key, g, w))
    if len(got["sweep"]) != 19: bad.append("sweep has %d entries" % len(got["sweep"]))
    for g, w in zip(got["sweep"], want["sweep"]):
        if g["threshold"] != w[0] or not close(g["map"], w[1]) or not close(g["mean_iou"], w[2]):
            bad.append("sweep %r != %r" % (g, w))
    if got["best"]["threshold"] != want["best"]: bad.append("best %r != %r" % (got["best"], want["best"]))
    spread = len(set(round(w[1], 12) for w in want["sweep"]))
    if spread < 5:
        bad.append("sweep too flat to test anything")
    return "%d images, mAP %.6f, %d distinct sweep values" % (want["images"], want["map"], spread), bad

if sys.argv[1] == "gen":
    gen(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
else:  # ref PRED T:GOT.json ...: one line per pair, "ok T what" or "bad T why"
    pairs = [a.split(":", 1) for a in sys.argv[3:]]
    for (t, got), want in zip(pairs, ref(sys.argv[2], [float(t) for t, _ in pairs])):
        what, bad = compare(want, json.load(open(got)))
        print("%s %s %s" % ("bad" if bad else "ok", t, "; ".join(bad[:4]) if bad else what))
PY

against_numpy() { # LABEL STREAM VARIANTS
	label=$1
	if ! "$PYTHON" "$T/ref.py" gen "$2" "$T/$label-pred.tsr" 7 "$3" 2>"$T/err"; then
		fail "$label: make noisy predictions" "$(tail -n 3 "$T/err")"
		return
	fi
	pairs=
	for t in 0.5 0.3 0.75; do
		if ! "$B/tgs-eval" --sweep --json --threshold $t "$T/$label-pred.tsr" >"$T/got$t.json" 2>"$T/err"; then
			fail "$label: tgs-eval --sweep --json --threshold $t" "$(cat "$T/err")"
			return
		fi
		pairs="$pairs $t:$T/got$t.json"
	done
	if ! "$PYTHON" "$T/ref.py" ref "$T/$label-pred.tsr" $pairs >"$T/cmp" 2>&1; then
		fail "$label: numpy's metric" "$(tail -n 4 "$T/cmp")"
		return
	fi
	while read -r verdict t what; do
		if [ "$verdict" = ok ]; then ok "$label: numpy's metric agrees to 1e-9 at threshold $t, per bin, in where the score is lost and over the sweep ($what)"
		else fail "$label: numpy's metric agrees at threshold $t" "$what"; fi
	done <"$T/cmp"
	# a u8 mask prediction scores as the probabilities cut at 0.5; an f32 truth as the u8 one
	"$B/tgs-eval" --json "$T/$label-pred.tsr" | sed 's/"file":"[^"]*",//' >"$T/p.json"
	check_sh "$label: a u8 prediction (--prob mask2) scores as prob > 0.5" \
		"'$B/tgs-eval' --json --prob mask2 '$T/$label-pred.tsr' | sed 's/\"file\":\"[^\"]*\",//' | cmp - '$T/p.json'"
	check_sh "$label: an f32 truth (--mask maskf) scores as the u8 one" \
		"'$B/tgs-eval' --json --mask maskf '$T/$label-pred.tsr' | sed 's/\"file\":\"[^\"]*\",//' | cmp - '$T/p.json'"
}
if have_numpy; then
	against_numpy mini "$T/mini.tsr" 12
	if have_shared && [ -s "$T/train.tsr" ]; then against_numpy shared "$T/train.tsr" 1
	else skip "shared: numpy's metric agrees" "no $SHARED"; fi
else
	skip "numpy's metric agrees" "no numpy in $PYTHON"
fi

# ---- the text output ----
if have_numpy && [ -s "$T/mini-pred.tsr" ]; then
	"$B/tgs-eval" --sweep "$T/mini-pred.tsr" >"$T/text"
	if [ "$(sed -n 1p "$T/text")" = "images     $("$B/tgs-info" "$T/mini-pred.tsr" | sed -n 's/.*: \([0-9]*\) samples.*/\1/p')" ] &&
		grep -Eq '^mAP        0\.[0-9]{6}$' "$T/text" && grep -Eq '^empty   0 +[0-9]+  [01]\.[0-9]{6}  [01]\.[0-9]{6}$' "$T/text" &&
		[ "$(grep -Ec '^0\.[0-9]{2} +[01]\.[0-9]{6}  [01]\.[0-9]{6}$' "$T/text")" -eq 19 ] &&
		grep -Eq '^missed      0\.[0-9]{6}  [0-9]+ of [0-9]+ salt images predicted empty$' "$T/text" &&
		grep -Eq '^false salt  0\.[0-9]{6}  [0-9]+ of [0-9]+ empty images given salt$' "$T/text" &&
		grep -Eq '^shape       0\.[0-9]{6}  ' "$T/text" &&
		grep -Eq '^best       0\.[0-9]{2}  mAP [01]\.[0-9]{6}$' "$T/text"; then
		ok "text output: images, mAP, bins, where it is lost, 19 sweep lines, best"
	else
		fail "text output format" "$(head -n 12 "$T/text")"
	fi
else
	skip "text output format" "no numpy to make predictions"
fi

# ---- bad input ----
refuses "no prob record" "mini.tsr: sample 1 \(28f865caaa\): no 'prob' record" "$B/tgs-eval" "$T/mini.tsr"
refuses "no such mask record" "sample 1 \(28f865caaa\): no 'truth' record" "$B/tgs-eval" --prob mask --mask truth "$T/mini.tsr"
: >"$T/empty.tsr"
refuses "empty stream" "empty.tsr: empty stream" "$B/tgs-eval" --prob mask "$T/empty.tsr"
head -c 30000 "$T/mini.tsr" >"$T/trunc.tsr"
refuses "truncated stream" "trunc.tsr: record [0-9]+ .*truncated" "$B/tgs-eval" --prob mask "$T/trunc.tsr"
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" --neighbors depth -o "$T/rgb.tsr"
refuses "3-channel prediction" "rgb.tsr: sample 1 .*'image' has 3 channels, expected 1" "$B/tgs-eval" --prob image "$T/rgb.tsr"
refuses "string as prediction" "record 'id' has dtype str" "$B/tgs-eval" --prob id "$T/mini.tsr"
refuses "u8 image as a mask prediction" "sample 1 \(28f865caaa\): record 'image' holds [0-9]+ at pixel [0-9]+; a u8 prediction is a mask of 0 and 1" \
	"$B/tgs-eval" --prob image "$T/mini.tsr"
if have_numpy; then
	"$PYTHON" - "$T" <<'PY'
import sys
sys.path.insert(0, "formats")
import numpy as np, tgs_stream
t = sys.argv[1]
m = np.zeros((1, 101, 101), np.uint8); m[0, :10] = 1
p = np.full((1, 101, 101), 0.25, np.float32)
good = {"id": "good1", "mask": m, "prob": p}
def w(name, **bad):
    s = {"id": "bad", "mask": m, "prob": p}
    s.update(bad)
    tgs_stream.write("%s/%s.tsr" % (t, name), [good, dict(good, id="good2"), {k: v for k, v in s.items() if v is not None}])
nan = p.copy(); nan[0, 1, 2] = np.nan
big = p.copy(); big[0, 0, 7] = 1.5
neg = p.copy(); neg[0, 0, 0] = -0.001
two = m.copy(); two[0, 5, 5] = 2
half = m.astype(np.float32); half[0, 0, 0] = 0.5
w("nan", prob=nan)
w("big", prob=big)
w("neg", prob=neg)
w("shape", prob=np.zeros((1, 50, 50), np.float32))
w("shape2d", mask=np.zeros((101, 100), np.uint8))
w("f64", prob=p.astype(np.float64))
w("nomask", mask=None)
w("twos", mask=two)
w("halfmask", mask=half)
w("flat", prob=p.reshape(-1))
PY
	refuses "NaN probability" "nan.tsr: sample 3 \(bad\): record 'prob': pixel 103 holds nan, not a probability in \[0, 1\]" "$B/tgs-eval" "$T/nan.tsr"
	refuses "probability above 1" "big.tsr: sample 3 \(bad\): record 'prob': pixel 7 holds 1.5" "$B/tgs-eval" "$T/big.tsr"
	refuses "negative probability" "neg.tsr: sample 3 \(bad\): record 'prob': pixel 0 holds -0.001" "$B/tgs-eval" "$T/neg.tsr"
	refuses "prediction and mask of different sizes" "shape.tsr: sample 3 \(bad\): 'prob' is 50x50 but 'mask' is 101x101" "$B/tgs-eval" "$T/shape.tsr"
	refuses "2-d mask of another size" "sample 3 \(bad\): 'prob' is 101x101 but 'mask' is 101x100" "$B/tgs-eval" "$T/shape2d.tsr"
	refuses "f64 prediction" "sample 3 \(bad\): record 'prob' has dtype f64" "$B/tgs-eval" "$T/f64.tsr"
	refuses "sample without a mask" "nomask.tsr: sample 3 \(bad\): no 'mask' record" "$B/tgs-eval" "$T/nomask.tsr"
	refuses "mask holding 2" "sample 3 \(bad\): record 'mask' holds 2 at pixel 510; a mask holds 0 and 1" "$B/tgs-eval" "$T/twos.tsr"
	refuses "f32 mask holding 0.5" "sample 3 \(bad\): record 'mask' holds 0.5 at pixel 0" "$B/tgs-eval" "$T/halfmask.tsr"
	refuses "1-d prediction" "sample 3 \(bad\): record 'prob' has 1 dimensions" "$B/tgs-eval" "$T/flat.tsr"
	refuses "bad sample with -o" "nan.tsr: sample 3" "$B/tgs-eval" -o "$T/score.txt" "$T/nan.tsr"
	if [ -e "$T/score.txt" ] || ls "$T" | grep -q 'score.txt.tmp'; then fail "no -o file after refused input" "$(ls "$T")"
	else ok "no -o file after refused input"; fi
	refuses "bad sample with --per-image" "nan.tsr: sample 3" "$B/tgs-eval" --per-image "$T/per.tsv" "$T/nan.tsr"
	if [ -e "$T/per.tsv" ] || ls "$T" | grep -q 'per.tsv.tmp'; then fail "no --per-image file after refused input" "$(ls "$T")"
	else ok "no --per-image file after refused input"; fi
else
	skip "bad probabilities and shapes" "no numpy to write them"
fi

# ---- --per-image: a line per image whose scores average to the mAP ----
if have_numpy && [ -s "$T/mini-pred.tsr" ]; then
	for t in 0.5 0.3; do
		"$B/tgs-eval" -q --json --threshold $t --per-image "$T/per$t.tsv" "$T/mini-pred.tsr" >"$T/per$t.json"
		verdict=$("$PYTHON" - "$T/mini-pred.tsr" "$T/per$t.tsv" "$T/per$t.json" $t <<'PY'
import json, sys
sys.path.insert(0, "formats")
import numpy as np
import tgs_stream
stream, tsv, js, t = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
lines = open(tsv).read().splitlines()
bad = []
if lines[0].split("\t") != ["id", "bin", "salt_px", "pred_px", "iou", "score"]: bad.append("header %r" % lines[0])
rows = [l.split("\t") for l in lines[1:]]
samples = list(tgs_stream.read(stream))
if len(rows) != len(samples): bad.append("%d lines for %d images" % (len(rows), len(samples)))
for i, (r, s) in enumerate(zip(rows, samples)):
    truth, pred = s["mask"].reshape(-1) != 0, s["prob"].reshape(-1).astype(np.float64) > t
    inter, nt, npd = int((truth & pred).sum()), int(truth.sum()), int(pred.sum())
    uni = nt + npd - inter
    iou = 1.0 if uni == 0 else inter / uni
    score = (1.0 if npd == 0 else 0.0) if nt == 0 else sum(20 * inter > k * uni for k in range(10, 20)) / 10
    want = [str(s["id"]), int(nt), int(npd), iou, score]
    got = [r[0], int(r[2]), int(r[3]), float(r[4]), float(r[5])]
    if got[:3] != want[:3] or abs(got[3] - iou) > 1e-6 or got[4] != score: bad.append("image %d: %r != %r" % (i, got, want))
mean = np.mean([float(r[5]) for r in rows])
m = json.load(open(js))["map"]
if abs(mean - m) > 1e-12: bad.append("mean score %r != map %r" % (mean, m))
print("bad " + "; ".join(bad[:3]) if bad else "ok %d images, mean score %.6f = mAP" % (len(rows), mean))
PY
)
		case $verdict in
		ok*) ok "--per-image at $t: id, counts, IoU and score agree with numpy per image; ${verdict#ok }" ;;
		*) fail "--per-image at $t agrees with numpy" "$verdict" ;;
		esac
	done
else
	skip "--per-image agrees with numpy" "no numpy to make predictions"
fi
refuses "--per-image and the report both on stdout" "--per-image and the report would both go to stdout" \
	"$B/tgs-eval" --per-image - "$T/mini.tsr"
refuses "--per-image - and -o -: stdout named as such" "--per-image and the report would both go to stdout" \
	"$B/tgs-eval" --per-image - -o - "$T/mini.tsr"
refuses "--per-image and -o the same file" "would both go to $T/x.txt" "$B/tgs-eval" --per-image "$T/x.txt" -o "$T/x.txt" "$T/mini.tsr"
check_sh "--per-image - with -o FILE: the lines on stdout" \
	"'$B/tgs-eval' --prob mask --per-image - -o '$T/rep.txt' '$T/mini.tsr' | sed -n '1p;13p' | cut -f1 | tr '\n' ' ' | grep -q '^id ' && [ \$('$B/tgs-eval' --prob mask --per-image - -o '$T/rep.txt' '$T/mini.tsr' | wc -l) -eq 13 ]"

# ---- usage ----
refuses "threshold above 1" "--threshold: 1.5 is out of range" "$B/tgs-eval" --threshold 1.5 "$T/mini.tsr"
refuses "threshold not a number" "--threshold: 'half' is not a number" "$B/tgs-eval" --threshold half "$T/mini.tsr"
refuses "two input files" "unexpected argument" "$B/tgs-eval" "$T/mini.tsr" "$T/mini.tsr"
refuses "unknown option" "unknown option '--frobnicate'" "$B/tgs-eval" --frobnicate
"$B/tgs-eval" --threshold 2 "$T/mini.tsr" >/dev/null 2>&1
rc=$?
[ "$rc" -eq 2 ] && ok "usage errors exit 2" || fail "usage errors exit 2" "exit $rc"

# ---- decisions: --tune on some tiles, --decisions (and tgs-rle encode) on them ----
if have_numpy; then
	"$PYTHON" - "$T/dec.tsr" <<'PY'
import sys
sys.path.insert(0, "formats")
import numpy as np, tgs_stream
r = np.random.default_rng(3)
out = []
for k in range(30):
    y, x = np.mgrid[:101, :101]
    truth = ((y - 50) ** 2 + (x - 40) ** 2 < (5 + k) ** 2) if k % 3 else np.zeros((101, 101), bool)
    p = np.where(truth, 0.5 + 0.5 * r.random((101, 101)), 0.3 * r.random((101, 101)) ** 3)
    if k % 5 == 0: p[10:13, 80:83] = 0.9 # a speck
    salt = 0.6 + 0.4 * r.random() if k % 3 else 0.5 * r.random()
    out.append({"id": "t%02d" % k, "mask": truth[None].astype(np.uint8), "prob": p[None].astype(np.float32), "salt": np.float32(salt)})
tgs_stream.write(sys.argv[1], out)
PY
	"$B/tgs-eval" -q --tune "$T/dec.txt" -o "$T/tune.out" "$T/dec.tsr"
	tuned=$(sed -n 's/^tuned .*: mAP \([0-9.]*\) (0.5 alone .*/\1/p' "$T/tune.out")
	check_sh "--tune: a decisions file of three lines after its comments, and a report line" \
		"[ \$(grep -vc '^#' '$T/dec.txt') -eq 3 ] && grep -q '^threshold ' '$T/dec.txt' && grep -q '^min_area ' '$T/dec.txt' && [ -n '$tuned' ]"
	check_sh "--decisions with the file on the same tiles: the mAP --tune reported ($tuned)" \
		"'$B/tgs-eval' -q --decisions '$T/dec.txt' '$T/dec.tsr' | grep -qx 'mAP        $tuned'"
	check_sh "tgs-rle encode --decisions, decoded and scored: the same mAP" \
		"'$B/tgs-rle' encode -q --decisions '$T/dec.txt' '$T/dec.tsr' | '$B/tgs-rle' decode -q | '$PYTHON' -c '
import sys; sys.path.insert(0, \"formats\"); import tgs_stream
m = {s[\"id\"]: s[\"mask\"] for s in tgs_stream.read(sys.stdin.buffer)}
src = list(tgs_stream.read(\"$T/dec.tsr\"))
tgs_stream.write(\"$T/decided.tsr\", [{\"id\": s[\"id\"], \"mask\": s[\"mask\"], \"prob\": m[s[\"id\"]]} for s in src])' &&
		 '$B/tgs-eval' -q '$T/decided.tsr' | grep -qx 'mAP        $tuned'"
	check_sh "... and its options override the file: --min-area 0 --salt-gate 0 is the plain cut" \
		"'$B/tgs-rle' encode -q --decisions '$T/dec.txt' --threshold 0.5 --min-area 0 --salt-gate 0 '$T/dec.tsr' | cmp - <('$B/tgs-rle' encode -q '$T/dec.tsr')"
	printf 'threshold 0.5\nmin_area 10\nmin_area 20\n' >"$T/bad.dec"
	refuses "--decisions: a key given twice" "bad.dec: line 3: min_area given twice" "$B/tgs-eval" -q --decisions "$T/bad.dec" "$T/dec.tsr"
	refuses "encode --salt-gate on u8 masks" "work on f32 probabilities, not 'prob' \(u8\)" "$B/tgs-rle" encode -q --salt-gate 0.5 "$T/decided.tsr"
	"$PYTHON" -c "import sys; sys.path.insert(0, 'formats'); import tgs_stream
tgs_stream.write('$T/nosalt.tsr', [{k: v for k, v in s.items() if k != 'salt'} for s in tgs_stream.read('$T/dec.tsr')])"
	refuses "encode --salt-gate on samples without 'salt'" "sample 1 \(t00\): a presence gate of 0.5 needs the tile's 'salt' record" \
		"$B/tgs-rle" encode -q --salt-gate 0.5 "$T/nosalt.tsr"
	# calibration: a probability of 0.25 where a quarter of the pixels are salt is calibrated
	"$PYTHON" -c "import sys; sys.path.insert(0, 'formats'); import numpy as np, tgs_stream
m = np.zeros((1, 20, 20), np.uint8); m[0, :5] = 1
tgs_stream.write('$T/cal.tsr', [{'id': 'c%d' % k, 'mask': m, 'prob': np.full((1, 20, 20), 0.25 + 0.01 * k, np.float32)} for k in range(3)])"
	"$B/tgs-eval" -q --reliability "$T/rel.png" "$T/cal.tsr" >"$T/cal.out"
	check_sh "--reliability: the ECE in the report (0.26 said where 0.25 is seen: 0.01 on average) and a 220x220 PNG" \
		"grep -qx 'calibration  ECE 0.010000 over 20 bins of 0.05 -> .*rel.png' '$T/cal.out' &&
		 '$PYTHON' -c 'import struct, sys; b = open(\"$T/rel.png\", \"rb\").read(); assert b[:8] == b\"\\x89PNG\\r\\n\\x1a\\n\" and struct.unpack(\">II\", b[16:24]) == (220, 220)'"
else
	skip "decisions" "no numpy"
fi
refuses "--decisions with --sweep" "--decisions fixes the threshold" "$B/tgs-eval" --decisions /dev/null --sweep /dev/null
refuses "--decisions with --tune" "tune on some tiles, apply to others" "$B/tgs-eval" --decisions /dev/null --tune x /dev/null
refuses "decode --min-area" "are for encode" "$B/tgs-rle" decode --min-area 5 /dev/null
exit 0
