# tgs-synth: the Kaggle layout (folders, PNG kinds, CSVs, ids), readable by
# tgs-stack25d, train.csv what tgs-rle encode makes of the masks, a tile a
# function of (seed, set, index), the empty fraction and the depths as
# asked, salt that brightness alone does not find, and bad arguments,
# existing directories and signals leaving nothing behind.
. tests/lib.sh
S="$B/tgs-synth"
if [ ! -x "$S" ]; then
	fail "tgs-synth built" "no $S (is it in the Makefile's TOOLS?)"
	exit 0
fi

check "40 train and 20 test tiles" "$S" -q --train 40 --test 20 --seed 3 -o "$T/a"
D=$T/a
count() { ls "$1" 2>/dev/null | grep -c '\.png$'; }
check_sh "layout: 40 images, 40 masks, 20 test images, train.csv and depths.csv" \
	"[ $(count "$D/train/images") -eq 40 ] && [ $(count "$D/train/masks") -eq 40 ] && [ $(count "$D/test/images") -eq 20 ] &&
	 [ \$(wc -l < '$D/train.csv') -eq 41 ] && [ \$(wc -l < '$D/depths.csv') -eq 61 ] &&
	 [ \"\$(head -n 1 '$D/train.csv')\" = id,rle_mask ] && [ \"\$(head -n 1 '$D/depths.csv')\" = id,z ] &&
	 [ \"\$(ls -A '$D' | tr '\n' ' ')\" = 'depths.csv test train train.csv ' ]"
ls "$D/train/images" | sed 's/\.png$//' >"$T/train.ids"
ls "$D/test/images" | sed 's/\.png$//' >"$T/test.ids"
check_sh "ids: 10 lowercase hex digits, unique over train and test" \
	"! cat '$T/train.ids' '$T/test.ids' | grep -vqxE '[0-9a-f]{10}' && [ \$(cat '$T/train.ids' '$T/test.ids' | sort -u | wc -l) -eq 60 ]"
check_sh "the same ids in train/images, train/masks, train.csv; depths.csv has every tile" \
	"ls '$D/train/masks' | sed 's/\.png\$//' | cmp - '$T/train.ids' &&
	 tail -n +2 '$D/train.csv' | cut -d, -f1 | LC_ALL=C sort | cmp - '$T/train.ids' &&
	 tail -n +2 '$D/depths.csv' | cut -d, -f1 | LC_ALL=C sort | cmp - <(cat '$T/train.ids' '$T/test.ids' | LC_ALL=C sort) &&
	 ! tail -n +2 '$D/depths.csv' | cut -d, -f2 | grep -vqxE '[0-9]+'"
# IHDR: bit depth and colour type at bytes 24 and 25 (2: RGB, 0: gray)
ihdr() { od -An -tu1 -j16 -N10 "$1" | awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 "x" $5 * 16777216 + $6 * 65536 + $7 * 256 + $8, $9, $10 }'; }
img=$(ls "$D/train/images" | head -n 1)
kinds="$(ihdr "$D/train/images/$img"), $(ihdr "$D/train/masks/$img"), $(ihdr "$D/test/images/$(ls "$D/test/images" | head -n 1)")"
if [ "$kinds" = "101x101 8 2, 101x101 8 0, 101x101 8 2" ]; then ok "images are 101x101 8-bit RGB, masks 8-bit gray"
else fail "images are 101x101 8-bit RGB, masks 8-bit gray" "size, bit depth, colour type: $kinds"; fi
if command -v "$PYTHON" >/dev/null 2>&1; then
	check "PNG pixels: images gray (R = G = B), masks 0 or 255" "$PYTHON" - "$D" <<'PY'
import os, struct, sys, zlib
def pixels(path):
    data, pos, idat = open(path, "rb").read(), 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IHDR": w, h, depth, ctype = struct.unpack(">IIBB", data[pos + 8:pos + 18])
        if kind == b"IDAT": idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    bpp, raw, prev, rows = {0: 1, 2: 3}[ctype], zlib.decompress(idat), None, []
    stride = w * bpp
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        up = prev or bytearray(stride)
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = up[i], up[i - bpp] if i >= bpp else 0
            p = a + b - c
            pred = [0, a, b, (a + b) // 2, a if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c) else b if abs(p - b) <= abs(p - c) else c][f]
            line[i] = (line[i] + pred) & 255
        rows.append(line)
        prev = line
    return bpp, rows
d = sys.argv[1]
for name in sorted(os.listdir(d + "/train/images"))[:4]:
    bpp, rows = pixels(d + "/train/images/" + name)
    assert bpp == 3 and all(r[0::3] == r[1::3] == r[2::3] for r in rows), name
    _, m = pixels(d + "/train/masks/" + name)
    assert set(b for r in m for b in r) <= {0, 255}, name
PY
else
	skip "PNG pixels: images gray, masks 0 or 255" "no $PYTHON"
fi

check_sh "tgs-stack25d reads the training tiles, masks and depths" \
	"'$B/tgs-stack25d' -q --images '$D/train/images' --masks '$D/train/masks' --depths '$D/depths.csv' -o '$T/train.tsr' &&
	 '$B/tgs-info' '$T/train.tsr' | grep -q ': 40 samples'"
check_sh "tgs-stack25d reads the test tiles, 2.5D with the depth channel" \
	"'$B/tgs-stack25d' -q --images '$D/test/images' --depths '$D/depths.csv' --neighbors depth --depth-channel | '$B/tgs-info' | grep -q ': 20 samples'"
# as pipelines/data.mk's data-check does
check_sh "train.csv is what tgs-rle encode makes of the stacked masks (sorted)" \
	"'$B/tgs-rle' encode -o '$T/check.csv' '$T/train.tsr' &&
	 tail -n +2 '$T/check.csv' | LC_ALL=C sort | cmp - <(tail -n +2 '$D/train.csv' | LC_ALL=C sort)"

# ---- determinism ----
"$S" -q --train 40 --test 20 --seed 3 -o "$T/b" 2>/dev/null
"$S" -q --train 40 --test 20 --seed 4 -o "$T/c" 2>/dev/null
check "the same seed gives the same bytes" diff -r "$T/a" "$T/b"
check_sh "another seed gives other ids and other tiles" \
	"[ -d '$T/c' ] && ! cmp -s '$T/a/depths.csv' '$T/c/depths.csv' && [ -z \"\$(comm -12 <(ls '$T/a/train/images') <(ls '$T/c/train/images'))\" ]"
"$S" -q --train 10 --test 0 --seed 3 -o "$T/few" 2>/dev/null
check_sh "tile i is the same whatever the counts (--train 10 is 10 of --train 40's, byte for byte)" \
	"[ $(count "$T/few/train/images") -eq 10 ] && [ $(count "$T/few/test/images") -eq 0 ] &&
	 for f in '$T/few/train/images'/* '$T/few/train/masks'/*; do cmp \"\$f\" '$D/'\"\${f#$T/few/}\" || exit 1; done"

# ---- the empty fraction, depth and brightness ----
"$S" -q --train 400 --test 0 --size 32 --seed 1 -o "$T/e4" 2>/dev/null
"$S" -q --train 50 --test 0 --size 32 --empty 0 -o "$T/e0" 2>/dev/null
"$S" -q --train 50 --test 0 --size 32 --empty 1 -o "$T/e1" 2>/dev/null
nempty() { tail -n +2 "$1/train.csv" | grep -c ',$'; }
check_sh "--empty 0.4 (default): 400 tiles, 120..200 empty; --empty 0 none, --empty 1 all" \
	"n=$(nempty "$T/e4"); [ \$n -ge 120 ] && [ \$n -le 200 ] && [ $(nempty "$T/e0") -eq 0 ] && [ $(nempty "$T/e1") -eq 50 ]"
check_sh "--size 32: 32x32 tiles that tgs-stack25d --size 32x32 reads" \
	"'$B/tgs-stack25d' -q --images '$T/e4/train/images' --masks '$T/e4/train/masks' --size 32x32 | '$B/tgs-info' | grep -q '\[1,32,32\]'"
# salt tiles lie deeper on average than empty ones
check_sh "depth correlates with salt: salt tiles' mean z is larger than empty tiles'" \
	"awk -F, 'NR == FNR { if (FNR > 1) salt[\$1] = (\$2 != \"\"); next }
		FNR > 1 && (\$1 in salt) { s[salt[\$1]] += \$2; n[salt[\$1]]++ }
		END { exit !(n[0] && n[1] && s[1] / n[1] > s[0] / n[0] + 50) }' '$T/e4/train.csv' '$T/e4/depths.csv'"
if have_numpy; then
	"$S" -q --train 200 --test 0 --seed 2 -o "$T/f" 2>/dev/null
	"$B/tgs-stack25d" -q --images "$T/f/train/images" --masks "$T/f/train/masks" -o "$T/f.tsr" 2>/dev/null
	check "brightness alone does not find the salt: no threshold beats predicting nothing" \
		env PYTHONPATH=formats "$PYTHON" - "$T/f.tsr" <<'PY'
import sys, numpy as np, tgs_stream
s = list(tgs_stream.read(sys.argv[1]))
x = np.stack([t["image"][0] for t in s]).reshape(len(s), -1).astype(np.int16)
m = np.stack([t["mask"][0] for t in s]).reshape(len(s), -1) > 0
ths = np.arange(0.5, 1.0, 0.05)
def score(p):
    inter, union = (p & m).sum(1), (p | m).sum(1)
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return (iou[:, None] > ths).mean(1).mean()
nothing = score(np.zeros_like(m))
best = max(max(score(x > t), score(x < t)) for t in range(20, 240, 5))
assert 0.25 < nothing < 0.55, nothing
assert best < nothing, (best, nothing)
assert abs(x[m].mean() - x[~m].mean()) < 10, (x[m].mean(), x[~m].mean())
PY
else
	skip "brightness alone does not find the salt" "no numpy in $PYTHON"
fi

# ---- refusals: one line, nothing left behind ----
usage_error "--train -1" "--train: -1 is out of range" "$S" -o "$T/no" --train -1
usage_error "--test not a number" "--test: 'ten' is not an integer" "$S" -o "$T/no" --test ten
usage_error "--size 8" "--size: 8 is out of range \[16, 1024\]" "$S" -o "$T/no" --size 8
usage_error "--empty 1.5" "--empty: 1.5 is out of range" "$S" -o "$T/no" --empty 1.5
usage_error "--seed -1" "--seed: '-1' is not a non-negative integer" "$S" -o "$T/no" --seed -1
usage_error "no -o" "-o DIR, the directory to write, is required" "$S" --train 3
usage_error "-o -" "-o -: a dataset is a directory" "$S" -o -
usage_error "-o ." "name the directory to make, not '.'" "$S" -o .
usage_error "unknown option" "unknown option '--depth'" "$S" -o "$T/no" --depth 3
usage_error "an extra argument" "unexpected argument 'x'" "$S" -o "$T/no" x
refuses "an existing non-empty directory" "a: exists and is not empty" "$S" -q -o "$T/a" --train 2
check_sh "... is left as it was" "diff -r '$T/a' '$T/b'"
: >"$T/file"
refuses "an existing file" "file: exists and is not a directory" "$S" -q -o "$T/file" --train 2
check_sh "... is left as it was" "[ -f '$T/file' ] && [ ! -s '$T/file' ]"
mkdir "$T/empty"
check_sh "an existing empty directory is filled" \
	"'$S' -q -o '$T/empty/' --train 2 --test 1 && [ \$(ls '$T/empty/train/images' | wc -l) -eq 2 ] && [ -s '$T/empty/depths.csv' ]"
check_sh "missing parents are made (mkdir -p)" "'$S' -q -o '$T/p1/p2/d' --train 1 --test 0 && [ -f '$T/p1/p2/d/train.csv' ]"
# a signal mid-run removes the temporary tree and the parents it made
"$S" -q -o "$T/s1/s2/sig" --train 1000000 2>/dev/null &
pid=$!
i=0
while [ $i -lt 100 ] && ! ls -d "$T"/s1/s2/sig.tmp-* >/dev/null 2>&1; do sleep 0.05; i=$((i + 1)); done
kill -TERM $pid
wait $pid 2>/dev/null
rc=$?
if [ $i -ge 100 ]; then fail "SIGTERM mid-run leaves nothing" "no temporary directory appeared"
elif [ "$rc" -ne 143 ] || [ -e "$T/s1" ]; then fail "SIGTERM mid-run leaves nothing" "exit $rc; left: $(ls -R "$T/s1" 2>/dev/null | head -c 200)"
else ok "SIGTERM mid-run leaves nothing (no DIR, no DIR.tmp-*, no parents it made)"; fi
check_sh "nothing else written: no 'no', no *.tmp-*" "[ ! -e '$T/no' ] && [ -z \"\$(find '$T' -name '*.tmp-*')\" ]"
exit 0
