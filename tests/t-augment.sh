# tgs-augment: identity settings, padding values, the crop and norm records, masks
# moving with images, determinism, epochs, pass-through, bad input and the
# preview, checked with numpy (formats/tgs_stream.py) on the 12 mini tiles
# and on small synthetic streams.
. tests/lib.sh
export PYTHONDONTWRITEBYTECODE=1
A="$B/tgs-augment"
if [ ! -x "$A" ]; then
	fail "tgs-augment built" "no $A (is it in the Makefile's TOOLS?)"
	exit 0
fi

"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" -o "$T/one.tsr"
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" --neighbors depth -o "$T/three.tsr"

# ---- without numpy: bytes, counts and refusals ----
check_sh "same seed, same bytes" "cmp <('$A' --train --seed 7 '$T/three.tsr') <('$A' --train --seed 7 '$T/three.tsr')"
check_sh "another seed, other bytes" "! cmp -s <('$A' --train --seed 7 '$T/three.tsr') <('$A' --train --seed 8 '$T/three.tsr')"
check_sh "--epochs 3 emits 3 x 12 samples" "'$A' -q --train --epochs 3 '$T/three.tsr' | '$B/tgs-info' | grep -q '36 samples'"
check_sh "every sample gets 'norm' (f32 [2]): --norm 0.5,0.25, and 0,1 without --norm" \
	"'$A' -q --norm 0.5,0.25 '$T/three.tsr' | '$B/tgs-info' | grep -Eq '^  norm +12 f32 +\[2\] +0.25 +0.5 +0.375\$' &&
	 '$A' -q --epochs 2 '$T/three.tsr' | '$B/tgs-info' | grep -Eq '^  norm +24 f32 +\[2\] +0 +1 +0.5\$'"
# a sample's output depends on the seed, epoch and its index only: the first
# 6 samples come out the same whether or not 6 more follow them
ls "$MINI/images" | head -n 6 | sed 's/.png$//' >"$T/six"
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" --neighbors depth --ids "$T/six" -o "$T/six.tsr"
"$A" --train --seed 3 "$T/six.tsr" >"$T/six.out"
"$A" --train --seed 3 "$T/three.tsr" | head -c "$(wc -c <"$T/six.out")" >"$T/twelve.head"
if cmp -s "$T/six.out" "$T/twelve.head"; then ok "a sample's output does not depend on the samples after it"; else fail "a sample's output does not depend on the samples after it" "the first 6 differ"; fi

# ---- bad input: one line, non-zero exit, no -o file ----
refuses "--hflip out of range" "--hflip: 2 is out of range" "$A" --hflip 2
refuses "unknown --pad" "--pad: 'wrap' is not a padding mode" "$A" --pad wrap
refuses "--norm with std 0" "--norm: STD must be above 0" "$A" --norm 0.5,0
refuses "--norm not MEAN,STD" "--norm: 'half' is not MEAN,STD" "$A" --norm half
refuses "--epochs 0" "--epochs: 0 is out of range" "$A" --epochs 0
refuses "--size 0" "--size: 0 is out of range" "$A" --size 0
refuses "--pad with --resize" "--pad and --resize" "$A" --pad zero --resize
refuses "--scale too large" "--scale: 1.5 is out of range" "$A" --scale 1.5
refuses "--cutout not a number" "--cutout: 'many' is not an integer" "$A" --cutout many
refuses "--pad none with --size 128" "sample 1 \([0-9a-f]+\): record 'image': the tile is 101x101; with no padding" "$A" --pad none -o "$T/bad.tsr" "$T/one.tsr"
refuses "a tile larger than --size" "sample 1 .*larger than the size 64; resize" "$A" --size 64 -o "$T/bad.tsr" "$T/one.tsr"
refuses "--preview-channel past the channels" "sample 1 .*--preview-channel 1: 'image' has channels 0..0 only" "$A" --preview "$T/bad.png" --preview-channel 1 "$T/one.tsr"
head -c 100000 "$T/one.tsr" >"$T/trunc.tsr"
refuses "truncated stream" "trunc.tsr: record [0-9]+ .*truncated" "$A" -o "$T/bad.tsr" "$T/trunc.tsr"
refuses "truncated stream with --epochs" "trunc.tsr: record [0-9]+ .*truncated" "$A" --epochs 2 -o "$T/bad.tsr" "$T/trunc.tsr"
"$A" --epochs 2 "$T/trunc.tsr" >"$T/out.tsr" 2>/dev/null
if [ -s "$T/out.tsr" ]; then fail "--epochs writes nothing when the input is bad" "$(wc -c <"$T/out.tsr") bytes"; else ok "--epochs writes nothing when the input is bad, even to stdout"; fi
if [ -e "$T/bad.tsr" ] || [ -e "$T/bad.png" ] || ls "$T" | grep -q 'tmp-'; then fail "no partial -o file after refused input" "$(ls "$T")"; else ok "no partial -o file after refused input"; fi

# ---- --synth: synthetic samples mixed into each pass ----
if [ -x "$B/tgs-synth" ]; then
	"$B/tgs-synth" -q --train 30 --test 0 --seed 2 -o "$T/gen"
	"$B/tgs-stack25d" -q --images "$T/gen/train/images" --masks "$T/gen/train/masks" --depths "$T/gen/depths.csv" -o "$T/gen.tsr"
	"$B/tgs-stack25d" -q --images "$T/gen/train/images" --depths "$T/gen/depths.csv" -o "$T/gen-nomask.tsr"
	ls "$T/gen/train/images" | head -n 5 | sed 's/.png$//' >"$T/gen5"
	"$B/tgs-stack25d" -q --images "$T/gen/train/images" --masks "$T/gen/train/masks" --ids "$T/gen5" -o "$T/gen5.tsr"
	"$B/tgs-synth" -q --train 3 --test 0 --size 64 -o "$T/gen64"
	"$B/tgs-stack25d" -q --images "$T/gen64/train/images" --masks "$T/gen64/train/masks" --size 64x64 -o "$T/gen64.tsr"
	samples() { "$B/tgs-info" "$1" | sed -n 's/.*: \([0-9]*\) samples.*/\1/p'; }
	"$A" --train --epochs 3 --seed 6 --synth "$T/gen.tsr" "$T/one.tsr" >"$T/mix.tsr"
	"$A" --train --epochs 3 --seed 6 --synth "$T/gen.tsr" --synth-frac 0.2 "$T/one.tsr" >"$T/mix2.tsr"
	"$A" --train --epochs 2 --seed 6 --synth "$T/gen5.tsr" --synth-frac 0.75 "$T/one.tsr" >"$T/mix75.tsr"
	"$A" --train --seed 6 --synth "$T/gen.tsr" "$T/one.tsr" >"$T/mix1.tsr"
	counts="$(samples "$T/mix.tsr") $(samples "$T/mix2.tsr") $(samples "$T/mix75.tsr") $(samples "$T/mix1.tsr")"
	if [ "$counts" = "72 45 96 24" ]; then ok "--synth: 3 passes of 12 real + 12 synthetic (P 0.5), of 12 + 3 (P 0.2), 2 of 12 + 36 (P 0.75), 1 pass of 24"
	else fail "--synth: samples per pass follow --synth-frac" "got $counts samples, want 72 45 96 24"; fi
	check_sh "--synth: the same seed gives the same bytes, another seed others" \
		"cmp '$T/mix.tsr' <('$A' --train --epochs 3 --seed 6 --synth '$T/gen.tsr' '$T/one.tsr') &&
		 ! cmp -s '$T/mix.tsr' <('$A' --train --epochs 3 --seed 7 --synth '$T/gen.tsr' '$T/one.tsr')"
	check_sh "--synth-frac 0 is --shuffle without --synth, byte for byte" \
		"cmp <('$A' --train --epochs 2 --seed 6 --synth '$T/gen.tsr' --synth-frac 0 '$T/one.tsr') <('$A' --train --epochs 2 --seed 6 '$T/one.tsr') &&
		 cmp <('$A' --train --seed 6 --synth '$T/gen.tsr' --synth-frac 0 '$T/one.tsr') <('$A' --train --shuffle --seed 6 '$T/one.tsr')"
	check_sh "--synth from stdin, the input named" "cat '$T/gen.tsr' | '$A' --train --epochs 3 --seed 6 --synth - '$T/one.tsr' | cmp - '$T/mix.tsr'"
	refuses "--synth with other channels" "gen.tsr: sample 1 \([0-9a-f]+\): 'image' is 1 x 101 x 101 \(C x H x W\), the input's 3 x 101 x 101; --synth needs the same channels" \
		"$A" --synth "$T/gen.tsr" -o "$T/bad.tsr" "$T/three.tsr"
	refuses "--synth with another tile size" "gen64.tsr: sample 1 .*'image' is 1 x 64 x 64 .*the input's 1 x 101 x 101" "$A" --synth "$T/gen64.tsr" -o "$T/bad.tsr" "$T/one.tsr"
	refuses "--synth without masks for an input with them" "gen-nomask.tsr: sample 1 .*no 'mask' record, and the input's samples have one" \
		"$A" --synth "$T/gen-nomask.tsr" -o "$T/bad.tsr" "$T/one.tsr"
	"$A" --epochs 2 --synth "$T/gen.tsr" "$T/three.tsr" >"$T/out.tsr" 2>/dev/null
	if [ -s "$T/out.tsr" ] || [ -e "$T/bad.tsr" ] || ls "$T" | grep -q 'tmp-'; then fail "--synth mismatch: nothing written" "$(ls "$T")"; else ok "--synth mismatch: nothing written, to -o or stdout"; fi
	refuses "--synth-frac 1" "--synth-frac: 1 is out of range \[0, 1\)" "$A" --synth "$T/gen.tsr" --synth-frac 1 "$T/one.tsr"
	refuses "--synth-frac -0.1" "--synth-frac: -0.1 is out of range \[0, 1\)" "$A" --synth "$T/gen.tsr" --synth-frac -0.1 "$T/one.tsr"
	refuses "--synth-frac without --synth" "--synth-frac needs --synth FILE" "$A" --synth-frac 0.3 "$T/one.tsr"
	refuses "--synth - with the input on stdin too" "--synth -: standard input is the input already" "$A" --synth - -o "$T/bad.tsr"
	refuses "--synth of a missing file" "nowhere.tsr: No such file" "$A" --synth "$T/nowhere.tsr" "$T/one.tsr"
	refuses "--synth of an empty stream" "empty-syn.tsr: no samples to draw 12 synthetic samples a pass from" \
		sh -c ": >'$T/empty-syn.tsr'; '$A' --synth '$T/empty-syn.tsr' -o '$T/bad.tsr' '$T/one.tsr'"
else
	fail "--synth" "no $B/tgs-synth to make the synthetic samples"
fi

if ! have_numpy; then
	skip "tgs-augment values" "no numpy in $PYTHON"
	exit 0
fi

# py NAME ARGS...: a Python check from a here-document, formats/ importable;
# a failed assert fails the check with the line that failed.
cat >"$T/run.py" <<'PY'
import runpy, sys, traceback
path = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    runpy.run_path(path, run_name="__main__")
except Exception as e:
    here = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == path] or [None]
    where = "line %d (%s): " % (here[-1].lineno, here[-1].line) if here[-1] else ""
    sys.exit(where + "%s: %s" % (type(e).__name__, e))
PY
py() {
	name=$1
	shift
	cat >"$T/check.py"
	check "$name" env PYTHONPATH=formats "$PYTHON" "$T/run.py" "$T/check.py" "$@"
}

# synthetic streams: extra records of every kind to pass through, a 2-D
# image, a sample without a mask, and bad samples
py "synthetic streams written" "$T" <<'PY'
import sys, numpy as np, tgs_stream
t = sys.argv[1]
rng = np.random.default_rng(1)
good = []
for k in range(4):
    mask = np.zeros((1, 101, 101), np.uint8)
    mask[0, 20 + 5 * k:70, 10:60 + 7 * k] = 1
    s = {"id": "syn%d" % k,
         "image": rng.integers(0, 256, (3, 101, 101), dtype=np.uint8),
         "extra": np.arange(7, dtype=np.float64) * k, "note": "kept \u00e9 %d" % k,
         "mask": mask, "depth": np.float32(100 + k), "crop": np.int32([9, 9, 9, 9]), "norm": np.float32([7, 7])}
    good.append(s)
good.append({"id": "flat", "image": rng.integers(0, 256, (101, 101), dtype=np.uint8), "tag": np.int64(-5)})
tgs_stream.write(t + "/syn.tsr", good)
# image == mask * 255, so geometry can be checked against the mask
tgs_stream.write(t + "/same.tsr", [{"id": "s%d" % i, "image": (s["mask"] * 255).astype(np.uint8), "mask": s["mask"]}
                                   for i, s in enumerate(good[:4])])
img = good[0]["image"]
bad = {"noimage": [{"id": "a", "mask": good[0]["mask"]}],
       "f32image": [{"id": "a", "image": img.astype(np.float32)}],
       "4dimage": [{"id": "a", "image": img[None]}],
       "mask2ch": [{"id": "a", "image": img, "mask": np.zeros((2, 101, 101), np.uint8)}],
       "masksize": [{"id": "a", "image": img, "mask": np.zeros((1, 100, 101), np.uint8)}],
       "mask255": [good[1], {"id": "b", "image": img, "mask": good[0]["mask"] * 255}]}
for name, samples in bad.items():
    tgs_stream.write(t + "/" + name + ".tsr", samples)
PY
refuses "a sample without an image" "noimage.tsr: sample 1 \(a\): no 'image' record" "$A" -o "$T/bad.tsr" "$T/noimage.tsr"
refuses "an f32 image" "sample 1 \(a\): record 'image' has dtype f32" "$A" -o "$T/bad.tsr" "$T/f32image.tsr"
refuses "a 4-D image" "sample 1 \(a\): record 'image' has 4 dimensions" "$A" -o "$T/bad.tsr" "$T/4dimage.tsr"
refuses "a 2-channel mask" "sample 1 \(a\): record 'mask' has 2 channels, expected 1" "$A" -o "$T/bad.tsr" "$T/mask2ch.tsr"
refuses "a mask of another size" "sample 1 \(a\): record 'mask' is 101x100, 'image' 101x101" "$A" -o "$T/bad.tsr" "$T/masksize.tsr"
refuses "a mask of 0/255 (second sample)" "mask255.tsr: sample 2 \(b\): record 'mask': holds 255 at y=20 x=10, expected 0 or 1" "$A" -o "$T/bad.tsr" "$T/mask255.tsr"
if [ -e "$T/bad.tsr" ] || ls "$T" | grep -q 'tmp-'; then fail "no partial -o file after a bad sample" "$(ls "$T")"; else ok "no partial -o file after a bad sample"; fi

"$A" --size 101 --pad none "$T/three.tsr" >"$T/id3.tsr"
"$A" --size 101 --pad none "$T/one.tsr" >"$T/id1.tsr"
py "identity settings reproduce the input values exactly" "$T/three.tsr" "$T/id3.tsr" "$T/one.tsr" "$T/id1.tsr" <<'PY'
import sys, numpy as np, tgs_stream
for src, dst in [(sys.argv[1], sys.argv[2]), (sys.argv[3], sys.argv[4])]:
    a, b = list(tgs_stream.read(src)), list(tgs_stream.read(dst))
    assert len(a) == len(b) == 12
    for x, y in zip(a, b):
        assert list(y) == list(x) + ["crop", "norm", "epoch"], list(y)
        assert y["id"] == x["id"] and y["depth"] == x["depth"]
        assert y["image"].dtype == np.float32 and y["image"].shape == x["image"].shape
        assert np.array_equal(y["image"], x["image"].astype(np.float32) / np.float32(255))
        assert y["mask"].dtype == np.float32 and np.array_equal(y["mask"], x["mask"].astype(np.float32))
        assert list(y["crop"]) == [0, 0, 101, 101] and y["crop"].dtype == np.int32
        assert y["epoch"].shape == () and y["epoch"] == 0 and y["epoch"].dtype == np.int32
        assert y["norm"].dtype == np.float32 and list(y["norm"]) == [0, 1], y["norm"]
PY

"$A" --size 101 --pad none --hflip 1 "$T/three.tsr" >"$T/hf.tsr"
"$A" --size 101 --pad none --vflip 1 "$T/three.tsr" >"$T/vf.tsr"
py "with hflip only, image and mask are the input mirrored; vflip likewise" "$T/three.tsr" "$T/hf.tsr" "$T/vf.tsr" <<'PY'
import sys, numpy as np, tgs_stream
a = list(tgs_stream.read(sys.argv[1]))
for path, axis in [(sys.argv[2], 2), (sys.argv[3], 1)]:
    for x, y in zip(a, tgs_stream.read(path)):
        assert np.array_equal(y["image"], np.flip(x["image"], axis).astype(np.float32) / np.float32(255))
        assert np.array_equal(y["mask"], np.flip(x["mask"], axis).astype(np.float32))
PY

for mode in reflect replicate zero; do
	for s in 128 101 150; do "$A" --size $s --pad $mode "$T/three.tsr" >"$T/pad-$mode-$s.tsr"; done
done
py "padding: reflect, replicate and zero values by hand and against numpy" "$T" <<'PY'
import sys, numpy as np, tgs_stream
t = sys.argv[1]
src = list(tgs_stream.read(t + "/three.tsr"))
f = [s["image"].astype(np.float32) / np.float32(255) for s in src]
m = [s["mask"].astype(np.float32) for s in src]
npmode = {"reflect": "reflect", "replicate": "edge", "zero": "constant"}
for mode in npmode:
    for size in (128, 101, 150):
        lo = (size - 101) // 2
        hi = size - 101 - lo
        for k, y in enumerate(tgs_stream.read("%s/pad-%s-%d.tsr" % (t, mode, size))):
            img, x = y["image"], f[k]
            assert img.shape == (3, size, size) and y["mask"].shape == (1, size, size)
            assert list(y["crop"]) == [lo, lo, 101, 101], y["crop"]
            pad = ((0, 0), (lo, hi), (lo, hi))
            assert np.array_equal(img, np.pad(x, pad, npmode[mode])), (mode, size, k)
            assert np.array_equal(y["mask"], np.pad(m[k], pad, npmode[mode])), (mode, size, k)
            if size != 128:
                continue
            # 13 above/left, 14 below/right; a few pixels by hand
            if mode == "reflect":
                assert img[1, 12, 13] == x[1, 1, 0] and img[1, 0, 0] == x[1, 13, 13]
                assert img[2, 127, 127] == x[2, 100 - 14, 100 - 14] and img[0, 113, 50] == x[0, 100, 37]
                assert img[0, 114, 13] == x[0, 99, 0] and img[0, 115, 13] == x[0, 98, 0]
            elif mode == "replicate":
                assert img[1, 0, 0] == x[1, 0, 0] and img[1, 127, 127] == x[1, 100, 100]
                assert img[0, 5, 60] == x[0, 0, 47] and img[2, 60, 120] == x[2, 47, 100]
            else:
                assert img[1, 0, 0] == 0 and img[1, 12, 13] == 0 and img[1, 13, 12] == 0 and img[1, 127, 127] == 0
                assert img[1, 13, 13] == x[1, 0, 0] and img[1, 113, 113] == x[1, 100, 100] and img[1, 114, 113] == 0
PY

"$A" --train --vflip 0.5 --cutout 2 --invert 0.3 --seed 5 --size 128 --norm 0.5,0.25 "$T/three.tsr" >"$T/aug.tsr"
"$A" --size 128 --norm 0.5,0.25 "$T/syn.tsr" >"$T/syn.out"
py "the crop record recovers the original tile exactly" "$T" <<'PY'
import sys, numpy as np, tgs_stream
t = sys.argv[1]
for name, src, out, norm in [("pad", "three.tsr", "pad-zero-150.tsr", (0, 1)), ("syn", "syn.tsr", "syn.out", (0.5, 0.25))]:
    for x, y in zip(tgs_stream.read(t + "/" + src), tgs_stream.read(t + "/" + out)):
        y0, x0, h, w = (int(v) for v in y["crop"])
        img = x["image"] if x["image"].ndim == 3 else x["image"][None]
        want = (img.astype(np.float32) / np.float32(255) - np.float32(norm[0])) / np.float32(norm[1])
        assert np.array_equal(y["image"][:, y0:y0 + h, x0:x0 + w], want), name
        if "mask" in x:
            assert np.array_equal(y["mask"][:, y0:y0 + h, x0:x0 + w], x["mask"].astype(np.float32)), name
PY
py "augmented masks stay 0/1 and values stay finite" "$T/aug.tsr" <<'PY'
import sys, numpy as np, tgs_stream
n = 0
for y in tgs_stream.read(sys.argv[1]):
    assert set(np.unique(y["mask"])) <= {0.0, 1.0}
    assert np.isfinite(y["image"]).all() and y["image"].shape == (3, 128, 128)
    assert list(y["crop"]) == [13, 13, 101, 101]
    assert y["norm"].dtype == np.float32 and y["norm"].shape == (2,) and list(y["norm"]) == [0.5, 0.25], y["norm"]
    n += 1
assert n == 12
PY

"$A" --hflip 0.5 --vflip 0.5 --scale 0.2 --shift 0.1 --seed 9 --epochs 4 --size 128 "$T/same.tsr" >"$T/same.out"
"$A" --hflip 0.5 --scale 0.2 --shift 0.1 --seed 9 --epochs 4 --resize --size 96 "$T/same.tsr" >"$T/same-r.out"
py "the mask moves with the image (image = 255 x mask, flips, scale and shift)" "$T" <<'PY'
import sys, numpy as np, tgs_stream
t = sys.argv[1]
for out, size in [("same.out", 128), ("same-r.out", 96)]:
    moved = 0
    for y in tgs_stream.read(t + "/" + out):
        img, mask = y["image"][0], y["mask"][0]
        assert img.shape == mask.shape == (size, size)
        assert set(np.unique(mask)) <= {0.0, 1.0}
        # bilinear image vs nearest mask: they may differ only at edges
        agree = ((img > 0.5) == (mask > 0.5)).mean()
        assert agree > 0.98, (out, y["id"], agree)
        moved += not np.array_equal(img, np.round(img))
    assert moved > 0, "no sample was warped"
PY

"$A" --resize --size 64 "$T/three.tsr" >"$T/r64.tsr"
"$A" --resize --size 101 "$T/three.tsr" >"$T/r101.tsr"
py "--resize: S x S, crop the whole, 101 is the identity" "$T" <<'PY'
import sys, numpy as np, tgs_stream
t = sys.argv[1]
for x, y, z in zip(tgs_stream.read(t + "/three.tsr"), tgs_stream.read(t + "/r64.tsr"), tgs_stream.read(t + "/r101.tsr")):
    assert y["image"].shape == (3, 64, 64) and y["mask"].shape == (1, 64, 64)
    assert list(y["crop"]) == [0, 0, 64, 64] and set(np.unique(y["mask"])) <= {0.0, 1.0}
    assert np.array_equal(z["image"], x["image"].astype(np.float32) / np.float32(255))
    assert np.array_equal(z["mask"], x["mask"].astype(np.float32))
PY

py "other records pass through unchanged, in order; a 2-D image and no mask work" "$T/syn.tsr" "$T/syn.out" <<'PY'
import sys, numpy as np, tgs_stream
a, b = list(tgs_stream.read(sys.argv[1])), list(tgs_stream.read(sys.argv[2]))
assert [s["id"] for s in b] == ["syn0", "syn1", "syn2", "syn3", "flat"]
for x, y in zip(a, b):
    # the old crop and norm are replaced: dropped from their places, ours come last
    assert list(y) == [k for k in x if k not in ("crop", "norm")] + ["crop", "norm", "epoch"], list(y)
    assert list(y["norm"]) == [0.5, 0.25], y["norm"]
    for k in x:
        if k in ("image", "mask", "crop", "norm"):
            continue
        if isinstance(x[k], str):
            assert y[k] == x[k]
        else:
            assert y[k].dtype == x[k].dtype and np.array_equal(y[k], x[k]), k
assert "mask" not in b[4] and b[4]["image"].shape == (1, 128, 128)
PY

"$A" --train --epochs 3 --seed 4 "$T/three.tsr" >"$T/e3.tsr"
"$A" --train --shuffle --seed 4 "$T/three.tsr" >"$T/e1.tsr"
"$A" --train --epochs 2 --first-epoch 1 --seed 4 "$T/three.tsr" >"$T/e12.tsr"
py "--epochs 3: each id once per epoch, epochs marked, orders differ, resumable" "$T" <<'PY'
import sys, numpy as np, tgs_stream
t = sys.argv[1]
src = [s["id"] for s in tgs_stream.read(t + "/three.tsr")]
out = list(tgs_stream.read(t + "/e3.tsr"))
assert len(out) == 36
assert [int(s["epoch"]) for s in out] == [0] * 12 + [1] * 12 + [2] * 12
orders = [[s["id"] for s in out[12 * e:12 * e + 12]] for e in range(3)]
for o in orders:
    assert sorted(o) == sorted(src)
assert len({tuple(o) for o in orders}) == 3 and tuple(src) not in {tuple(o) for o in orders}
# the same sample differs between epochs (fresh augmentation)
first = {s["id"]: s["image"] for s in out[:12]}
assert all(not np.array_equal(first[s["id"]], s["image"]) for s in out[12:24])
# epoch 0 is what --shuffle gives; --first-epoch 1 --epochs 2 is epochs 1, 2
def raw(p): return open(p, "rb").read()
e3 = raw(t + "/e3.tsr")
assert e3.startswith(raw(t + "/e1.tsr"))
assert e3.endswith(raw(t + "/e12.tsr"))
PY

# --keep-empty P: the output is the full output less some empty-mask samples,
# byte for byte (the coin has its own stream); P=1 is the default, P=0 drops
# every empty one, and P=0.5 keeps about half of the 4 x 40 empty passes
"$A" --train --epochs 40 --seed 5 "$T/three.tsr" >"$T/k1.tsr"
"$A" --train --epochs 40 --seed 5 --keep-empty 1 "$T/three.tsr" >"$T/k1b.tsr"
"$A" --train --epochs 40 --seed 5 --keep-empty 0.5 "$T/three.tsr" >"$T/k5.tsr"
"$A" --train --epochs 40 --seed 5 --keep-empty 0 "$T/three.tsr" >"$T/k0.tsr"
"$A" --train --seed 5 --keep-empty 0 "$T/three.tsr" >"$T/k0one.tsr"
check_sh "--keep-empty 1 is the default, same bytes" "cmp '$T/k1.tsr' '$T/k1b.tsr'"
py "--keep-empty: a subset of the full output in order, empty tiles thinned" "$T" <<'PY'
import sys, numpy as np, tgs_stream
t = sys.argv[1]
def load(n): return list(tgs_stream.read(t + "/" + n))
full, half, none, one = load("k1.tsr"), load("k5.tsr"), load("k0.tsr"), load("k0one.tsr")
def key(s): return (s["id"], int(s["epoch"]))
def empty(s): return not s["mask"].any()
assert len(full) == 480 and sum(map(empty, full)) == 160
def subset(sub):
    # every sample of sub is the full output's sample of that id and epoch,
    # in the same order, with the same arrays
    index = {key(s): i for i, s in enumerate(full)}
    pos = [index[key(s)] for s in sub]
    assert pos == sorted(pos)
    for s, i in zip(sub, pos):
        for k in ("image", "mask", "crop"):
            assert np.array_equal(s[k], full[i][k]), (key(s), k)
    return {key(s) for s in sub}
kept = subset(half)
salt = {key(s) for s in full if not empty(s)}
assert salt <= kept
nkept = sum(map(empty, half))
assert 60 <= nkept <= 100, nkept
assert subset(none) == salt and not any(map(empty, none))
assert len(one) == 8 and not any(map(empty, one))
PY
refuses "--keep-empty out of range" "--keep-empty: 1.5 is out of range" "$A" --keep-empty 1.5
refuses "--keep-empty on a sample without a mask" "syn.tsr: sample 5.*--keep-empty needs" "$A" --keep-empty 0.5 -o "$T/bad.tsr" "$T/syn.tsr"

"$A" --train --seed 1 --preview "$T/p.png" "$T/three.tsr" >"$T/p.out"
"$A" --train --seed 1 --size 101 --pad none --preview "$T/p5.png" --preview-count 5 -o "$T/p5.tsr" "$T/three.tsr"
"$A" --train --seed 1 --preview-count 5 --epochs 2 --preview "$T/pe.png" "$T/syn.tsr" >"$T/pe.out"
py "--preview writes valid PNGs of the expected size" "$T" <<'PY'
import struct, sys, zlib
t = sys.argv[1]
def png_size(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]
        if kind == b"IHDR": ihdr = struct.unpack(">IIBB", body[:10])
        if kind == b"IDAT": idat += body
        pos += 12 + n
    w, h, depth, ctype = ihdr
    assert depth == 8 and ctype == 2  # 8-bit RGB
    assert len(zlib.decompress(idat)) == h * (1 + 3 * w)
    return w, h
# 12 samples at 128: 8 columns x 2 rows of 130, plus a 2-pixel margin
assert png_size(t + "/p.png") == (8 * 130 + 2, 2 * 130 + 2), png_size(t + "/p.png")
assert png_size(t + "/p5.png") == (5 * 103 + 2, 105)
assert png_size(t + "/pe.png") == (5 * 130 + 2, 132)
PY
if [ -s "$T/p.out" ] || [ -s "$T/pe.out" ]; then fail "--preview without -o writes no stream" "$(wc -c <"$T/p.out") bytes"; else ok "--preview without -o writes no stream"; fi
check_sh "--preview with -o writes the stream too" "'$B/tgs-info' '$T/p5.tsr' | grep -q '12 samples'"
printf '' >"$T/empty.tsr"
refuses "--preview of an empty stream" "empty.tsr: no samples to preview" "$A" --preview "$T/e.png" "$T/empty.tsr"
check_sh "an empty stream gives an empty stream" "'$A' '$T/empty.tsr' | cmp - /dev/null"
if [ -s "$T/mix.tsr" ]; then
	"$A" --train --epochs 3 --seed 6 "$T/one.tsr" >"$T/nomix.tsr"
	py "--synth: each pass holds every real sample once and distinct synthetic ones, shuffled together; real samples augmented as without --synth" "$T" <<'PY'
import sys, collections, numpy as np, tgs_stream
t = sys.argv[1]
real = [s["id"] for s in tgs_stream.read(t + "/one.tsr")]
gen = {s["id"] for s in tgs_stream.read(t + "/gen.tsr")}
gen5 = {s["id"] for s in tgs_stream.read(t + "/gen5.tsr")}
plain = {(s["id"], int(s["epoch"])): s for s in tgs_stream.read(t + "/nomix.tsr")}
for name, per, nsyn, pool in [("mix.tsr", 24, 12, gen), ("mix2.tsr", 15, 3, gen), ("mix75.tsr", 48, 36, gen5)]:
    out = list(tgs_stream.read(t + "/" + name))
    epochs, mixed = len(out) // per, []
    assert [int(s["epoch"]) for s in out] == sum(([e] * per for e in range(epochs)), []), name
    for e in range(epochs):
        part = out[e * per:(e + 1) * per]
        ids = [s["id"] for s in part]
        assert sorted(i for i in ids if i in real) == sorted(real), (name, e)
        syn = [i for i in ids if i not in real]
        assert len(syn) == nsyn and set(syn) <= pool, (name, e, syn)
        counts = collections.Counter(syn).values()
        # without replacement while the pool lasts: counts differ by at most one
        assert max(counts) - min(counts) <= 1 and max(counts) == -(-nsyn // len(pool)), (name, e, counts)
        mixed.append(min(ids.index(i) for i in syn) < max(k for k, i in enumerate(ids) if i in real))
        for s in part:
            assert s["image"].shape == (1, 128, 128) and set(np.unique(s["mask"])) <= {0.0, 1.0}
            if s["id"] in real and name != "mix75.tsr":
                p = plain[(s["id"], e)]
                assert np.array_equal(s["image"], p["image"]) and np.array_equal(s["mask"], p["mask"]), (name, e, s["id"])
    # shuffled together: not the real samples first and the synthetic after
    assert any(mixed), name
# a synthetic tile drawn twice in a pass is augmented twice, differently
out = list(tgs_stream.read(t + "/mix75.tsr"))[:48]
seen = {}
for s in out:
    if s["id"] in gen5:
        assert not any(np.array_equal(s["image"], x) for x in seen.get(s["id"], [])), s["id"]
        seen.setdefault(s["id"], []).append(s["image"])
PY
fi
if command -v script >/dev/null 2>&1; then
	script -qec "'$A' '$T/one.tsr'" /dev/null >"$T/tty" 2>&1
	if grep -q "refusing to write a tensor stream to a terminal" "$T/tty"; then ok "no stream to a terminal"; else fail "no stream to a terminal" "$(head -c 200 "$T/tty")"; fi
else
	skip "no stream to a terminal" "no script(1)"
fi
exit 0
