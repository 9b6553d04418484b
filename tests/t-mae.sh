# tgs-mae on the 12 mini tiles with a tiny model (each run well under a
# second): the files it writes (log, encoder.ckpt, recon.png, last.ckpt),
# the reconstruction loss goes down; the same seed gives the same bytes;
# --resume from a stream that ended early, fed the whole stream again or
# the rest of it, ends byte for byte where the uninterrupted run ends; tgs-train --init of
# the encoder changes the starting weights of the encoder and nothing
# else; a swinunet encoder too; a padded stream's 'norm' taken or checked;
# bad options and inputs refused in one line with no files left. (Masking by seed and the loss on hidden patches
# alone: tests/unit/test_mae.c.)
. tests/lib.sh
export PYTHONDONTWRITEBYTECODE=1
MAE="$B/tgs-mae"
TR="$B/tgs-train"
A="$B/tgs-augment"
if [ ! -x "$MAE" ]; then
	fail "tgs-mae built" "no $MAE (is it in the Makefile's TOOLS?)"
	exit 0
fi
TINY="resunet widths=4,8,16 blocks=1,1,1"
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" -o "$T/mini.tsr"
# mae DIR ARGS...: a quiet run of the tiny model
mae() {
	d=$1
	shift
	"$MAE" -q -o "$T/$d" --arch "$TINY" --batch 4 --lr 3e-3 --threads 2 "$@"
}
# rows DIR: the log without its timing columns (img_s, seconds)
rows() { sed 's/,[^,]*,[^,]*$//' "$T/$1/log.csv"; }

# ---- a run ----
if mae a --epochs 8 --val "$T/mini.tsr" "$T/mini.tsr" 2>"$T/err"; then ok "8 epochs on mini"; else fail "8 epochs on mini" "$(cat "$T/err")"; fi
check_sh "the log: a header and 8 rows, epochs 1..8, the val loss filled" \
	"head -n 1 '$T/a/log.csv' | grep -qx 'epoch,step,lr,train_loss,val_loss,img_s,seconds' &&
	 [ \$(wc -l < '$T/a/log.csv') -eq 9 ] && [ \"\$(cut -d, -f1 '$T/a/log.csv' | tail -n 8 | tr '\n' ' ')\" = '1 2 3 4 5 6 7 8 ' ] &&
	 tail -n 8 '$T/a/log.csv' | cut -d, -f5 | grep -qvx ''"
first=$(sed -n 2p "$T/a/log.csv" | cut -d, -f4)
last=$(tail -n 1 "$T/a/log.csv" | cut -d, -f4)
if awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < 0.92 * a) }'; then ok "the reconstruction loss goes down ($first -> $last)"
else fail "the reconstruction loss goes down" "epoch 1: $first, epoch 8: $last"; fi
# recon.png: 8 rows (of --val) of three 104 x 104 panels
check_sh "recon.png: a grey PNG of 8 rows of 3 panels (masked, reconstruction, original)" \
	"'$PYTHON' -c '
import struct, sys
b = open(sys.argv[1], \"rb\").read(33)
assert b[:8] == b\"\\x89PNG\\r\\n\\x1a\\n\", \"not a PNG\"
w, h, depth, colour = struct.unpack(\">IIBB\", b[16:26])
assert colour == 0 and w >= 3 * 104 and w < 3 * 104 + 20 and h >= 8 * 104 and h < 8 * 104 + 80, (w, h, colour)
' '$T/a/recon.png'"
"$MAE" -o "$T/one" --arch "$TINY" --epochs 2 --batch 4 --threads 2 "$T/mini.tsr" 2>"$T/one.err"
check_sh "the run says its shape, an epoch line each, and where the encoder is" \
	"grep -q '^mae: resunet .* 104x104 inputs in 676 patches of 4x4, 406 hidden (ratio 0.6)\$' '$T/one.err' &&
	 grep -q '^epoch 2: ' '$T/one.err' && grep -q 'the encoder is .*one/encoder.ckpt (tgs-train --init)' '$T/one.err'"

check_sh "tgs-info: encoder.ckpt is tgs-mae's encoder, last.ckpt a run to resume" \
	"'$B/tgs-info' '$T/one/encoder.ckpt' | grep -q '^  from  *tgs-mae, the encoder for tgs-train --init, epoch 2\$' &&
	 '$B/tgs-info' '$T/one/last.ckpt' | grep -q '^  from  *tgs-mae, a run to --resume, epoch 2, step '"

# a swinunet with patch tokens learns nothing here (man tgs-mae, BUGS): said once at the start; not with
# tokens=conv, the default ($SWIN has no tokens=)
SWIN="swinunet embed=8 depths=2,2 heads=2,2 window=2 mlp=2 drop_path=0.1 stem=4,8 scse=2 hcw=3"
"$MAE" -o "$T/swp1" --arch "$SWIN tokens=patch" --epochs 1 --batch 4 --threads 2 --size 112 "$T/mini.tsr" 2>"$T/swp1.err"
"$MAE" -o "$T/swp2" --arch "$SWIN" --epochs 1 --batch 4 --threads 2 --size 112 "$T/mini.tsr" 2>"$T/swp2.err"
check_sh "swinunet with patch tokens: a note that it learns nothing here, pointing to tokens=conv; none by default (conv)" \
	"[ \$(grep -c 'note: a swinunet encoder with patch tokens learns nothing here.*tokens=conv does' '$T/swp1.err') -eq 1 ] &&
	 [ -s '$T/swp2/encoder.ckpt' ] && ! grep -q 'note:' '$T/swp2.err'"

# ---- determinism ----
mae d1 --epochs 2 "$T/mini.tsr" && mae d2 --epochs 2 "$T/mini.tsr" && mae d3 --epochs 2 --seed 1 "$T/mini.tsr"
check "the same seed, the same bytes (last.ckpt)" cmp "$T/d1/last.ckpt" "$T/d2/last.ckpt"
check "the same seed, the same bytes (encoder.ckpt)" cmp "$T/d1/encoder.ckpt" "$T/d2/encoder.ckpt"
check_sh "another seed, other weights" "! cmp -s '$T/d1/last.ckpt' '$T/d3/last.ckpt'"
check_sh "the same seed, the same log rows" "cmp <(rows d1) <(rows d2)"

# ---- resume: a stream that ends after 2 of 4 epochs, then the whole stream ----
"$A" -q --train --size 104 --seed 3 --epochs 4 "$T/mini.tsr" | mae p4 --epochs 4
"$A" -q --train --size 104 --seed 3 --epochs 2 "$T/mini.tsr" | mae q4 --epochs 4
check_sh "a stream of 2 epochs ends a 4-epoch run after 2, with last.ckpt" "[ \$(wc -l < '$T/q4/log.csv') -eq 3 ] && [ -s '$T/q4/last.ckpt' ]"
check_sh "--resume fed the whole stream again reads through what was done, to the uninterrupted run's bytes" \
	"'$A' -q --train --size 104 --seed 3 --epochs 4 '$T/mini.tsr' | '$MAE' -q -o '$T/q4' --threads 2 --resume '$T/q4/last.ckpt' &&
	 cmp '$T/p4/last.ckpt' '$T/q4/last.ckpt' && cmp '$T/p4/encoder.ckpt' '$T/q4/encoder.ckpt'"
check_sh "... and the same log rows, written once" "cmp <(rows p4) <(rows q4)"
"$A" -q --train --size 104 --seed 3 --epochs 2 "$T/mini.tsr" | mae f4 --epochs 4
check_sh "--resume fed the rest of the stream (tgs-augment --first-epoch 2): the same bytes" \
	"'$A' -q --train --size 104 --seed 3 --first-epoch 2 --epochs 2 '$T/mini.tsr' | '$MAE' -q -o '$T/f4' --threads 2 --resume '$T/f4/last.ckpt' &&
	 cmp '$T/p4/last.ckpt' '$T/f4/last.ckpt'"
refuses "a fresh run on a stream that starts later" "the stream starts at epoch 2, the run is at epoch 0" \
	bash -c "'$A' -q --train --size 104 --seed 3 --first-epoch 2 --epochs 2 '$T/mini.tsr' | '$MAE' -q -o '$T/s5' --arch '$TINY'"
refuses "--resume with another ratio" "--ratio 0.7: the run in .*q4/last.ckpt has '0.6'; a resumed run keeps its options" \
	"$MAE" -q -o "$T/q4" --resume "$T/q4/last.ckpt" --ratio 0.7 "$T/mini.tsr"
refuses "--resume of a file that is not a checkpoint" "mini.tsr: header length" \
	"$MAE" -q -o "$T/q9" --resume "$T/mini.tsr" "$T/mini.tsr"

# ---- tgs-train --init: the encoder's starting weights, nothing else ----
# lr 1e-12 with plain SGD leaves every weight where it started (to 1e-9),
# so last.ckpt shows the starting weights of a run with and without --init
init_run() {
	d=$1
	shift
	"$TR" -q -o "$T/$d" --arch "$TINY" --optim sgd --momentum 0 --lr 1e-12 --epochs 1 --batch 4 --threads 2 "$@" "$T/mini.tsr"
}
init_run i0 && init_run i1 --init "$T/a/encoder.ckpt"
"$TR" -o "$T/i2" --arch "$TINY" --epochs 1 --batch 4 --threads 2 --init "$T/a/encoder.ckpt" "$T/mini.tsr" 2>"$T/init.err"
n_enc=$("$PYTHON" -c '
import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
print(len([k for k in json.loads(f.read(n)) if k != "__metadata__"]))' "$T/a/encoder.ckpt" 2>/dev/null)
check_sh "--init: tgs-train loads all $n_enc tensors of encoder.ckpt and says so" \
	"grep -q '^init: $n_enc of the model.s [0-9]* tensors loaded from .*a/encoder.ckpt\$' '$T/init.err'"
cat >"$T/init.py" <<'PY'
"""init.py ENC NOINIT INIT: the weights of INIT (a run from ENC) are ENC's
where ENC has the tensor and NOINIT's (the same seed's random start)
elsewhere; ENC's are not the random start. BN running statistics move
in training, so only the parameters are compared."""
import json, struct, sys
import numpy as np

def load(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    head.pop("__metadata__", None)
    out = {}
    for k, v in head.items():
        a, b = v["data_offsets"]
        dt = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "<u1"}[v["dtype"]]
        out[k] = np.frombuffer(data[a:b], dtype=dt).reshape(v["shape"])
    return out

enc, r0, r1 = (load(p) for p in sys.argv[1:4])
params = [k for k in r1 if "running_" not in k and "num_batches" not in k and not k.startswith("optim")]
in_enc = [k for k in params if k in enc]
rest = [k for k in params if k not in enc]
assert in_enc and rest, (len(in_enc), len(rest))
for k in in_enc:
    assert np.abs(r1[k] - enc[k]).max() <= 1e-6, k + ": not the encoder checkpoint's"
for k in rest:
    assert np.abs(r1[k] - r0[k]).max() <= 1e-6, k + ": not the random start of a run without --init"
moved = [k for k in in_enc if np.abs(enc[k] - r0[k]).max() > 1e-3]
assert len(moved) > len(in_enc) // 2, "the pretrained encoder is the random start: %d of %d differ" % (len(moved), len(in_enc))
print(len(in_enc), len(rest))
PY
if have_numpy; then
	check "--init: the encoder's tensors start as encoder.ckpt's, the rest as a run without --init" \
		"$PYTHON" "$T/init.py" "$T/a/encoder.ckpt" "$T/i0/last.ckpt" "$T/i1/last.ckpt"
else
	skip "--init: the encoder's tensors start as encoder.ckpt's" "no numpy"
fi

# ---- the hybrid: a swinunet encoder pretrains and loads the same way ($SWIN above; patch tokens here) ----
check "swinunet tokens=patch: an epoch of pretraining at 112 x 112" "$MAE" -q -o "$T/sw" --arch "$SWIN tokens=patch" --batch 4 --threads 2 --epochs 1 --size 112 "$T/mini.tsr"
"$TR" -o "$T/sw2" --arch "$SWIN tokens=patch" --epochs 1 --batch 4 --threads 2 --size 112 --init "$T/sw/encoder.ckpt" "$T/mini.tsr" 2>"$T/swinit.err"
check_sh "swinunet tokens=patch: tgs-train --init takes its encoder" "grep -q '^init: [1-9][0-9]* of the model.s [0-9]* tensors loaded from .*sw/encoder.ckpt\$' '$T/swinit.err'"
refuses "swinunet: a size its windows do not tile, refused" "windows of 7 do not tile" \
	"$MAE" -q -o "$T/sw3" --arch swinunet --size 128 "$T/mini.tsr"
# tokens=conv's encoder (swp2, above, the default) loads into a tokens=conv
# model, and a patch-token model refuses it by the embedding's shape
"$TR" -o "$T/swc" --arch "$SWIN tokens=conv" --epochs 1 --batch 4 --threads 2 --size 112 --init "$T/swp2/encoder.ckpt" "$T/mini.tsr" 2>"$T/swc.err"
check_sh "swinunet tokens=conv: tgs-train --init takes its encoder" "grep -q '^init: [1-9][0-9]* of the model.s [0-9]* tensors loaded from .*swp2/encoder.ckpt\$' '$T/swc.err'"
refuses "swinunet tokens=conv: a patch-token model refuses its encoder" "tensor 'patch.proj.weight' is F32 \\[8, 8, 3, 3\\], the model's is F32 \\[8, 1, 4, 4\\]" \
	"$TR" -o "$T/swd" --arch "$SWIN tokens=patch" --epochs 1 --batch 4 --threads 2 --size 112 --init "$T/swp2/encoder.ckpt" "$T/mini.tsr"

# A checkpoint from before tokens= existed has none in its spec and was made
# with patch tokens: sw2's last.ckpt with " tokens=patch" cut from its
# metadata (as those were written) predicts as before, not as a conv model
"$PYTHON" - "$T/sw2/last.ckpt" "$T/old.ckpt" <<'PY'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
h = json.loads(b[8:8 + n])
m = h["__metadata__"]
assert " tokens=patch" in m["arch"], m["arch"]
m["arch"] = m["arch"].replace(" tokens=patch", "")
m["options"] = m["options"].replace(" tokens=patch", "")
j = json.dumps(h, separators=(",", ":")).encode()
j += b" " * (-len(j) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(j)) + j + b[8 + n:])
PY
check_sh "a checkpoint without tokens= in its spec (older ones) is a patch-token model: the same predictions" \
	"! grep -q 'tokens=' '$T/old.ckpt' && '$B/tgs-mcdrop' -q -m '$T/old.ckpt' -o '$T/old.pred' '$T/mini.tsr' &&
	 '$B/tgs-mcdrop' -q -m '$T/sw2/last.ckpt' -o '$T/new.pred' '$T/mini.tsr' && cmp '$T/old.pred' '$T/new.pred'"
mkdir -p "$T/swold" && cp "$T/old.ckpt" "$T/swold/last.ckpt"
check "and tgs-train resumes it, as the patch-token model it is" \
	"$TR" -q -o "$T/swold" --resume "$T/swold/last.ckpt" --epochs 2 --threads 2 "$T/mini.tsr"

# ---- bad options and inputs: one line, exit 1 or 2, no files ----
usage_refused() {
	name=$1 pat=$2 d=$3
	shift 3
	refuses "$name" "$pat" "$@"
	check_sh "$name: no files written" "[ ! -e '$T/$d/encoder.ckpt' ] && [ ! -e '$T/$d/last.ckpt' ] && [ ! -e '$T/$d/recon.png' ]"
}
# --warmup: the rate climbs to its peak; a run's options keep it
mae w0 --epochs 3 --lr 2e-3 "$T/mini.tsr"
mae w1 --epochs 3 --warmup 2 --lr 2e-3 "$T/mini.tsr"
check_sh "--warmup 2: epoch 1 at half the peak rate (0.001 against 0.002 without)" \
	"[ \"\$(sed -n 2p '$T/w1/log.csv' | cut -d, -f3)\" = 0.001 ] && [ \"\$(sed -n 2p '$T/w0/log.csv' | cut -d, -f3)\" = 0.002 ]"
check_sh "without --warmup the cosine ends at 1/100 of the peak (epoch 3 of 3 at 0.000515)" \
	"[ \"\$(sed -n 4p '$T/w0/log.csv' | cut -d, -f3)\" = 0.000515 ]"
usage_refused "--warmup as long as the run" "--warmup 3: want fewer than --epochs 3" x10 "$MAE" -q -o "$T/x10" --epochs 3 --warmup 3 "$T/mini.tsr"
usage_refused "--ratio 0" "--ratio 0: want 0 < R < 1" x1 "$MAE" -q -o "$T/x1" --ratio 0 "$T/mini.tsr"
usage_refused "--ratio 1" "--ratio 1: want 0 < R < 1" x2 "$MAE" -q -o "$T/x2" --ratio 1 "$T/mini.tsr"
usage_refused "--ratio nan" "--ratio" x3 "$MAE" -q -o "$T/x3" --ratio nan "$T/mini.tsr"
refuses "no -o" "no -o DIR" "$MAE" -q "$T/mini.tsr"
usage_refused "--arch of an unknown architecture" "unknown architecture 'bogus'" x4 "$MAE" -q -o "$T/x4" --arch bogus "$T/mini.tsr"
usage_refused "--size not a multiple of the stride" "--size 100 is not a multiple of the model's stride 16" x5 \
	"$MAE" -q -o "$T/x5" --arch resunet --size 100 "$T/mini.tsr"
usage_refused "an empty input" "no samples" x6 "$MAE" -q -o "$T/x6" --arch "$TINY" /dev/null
usage_refused "a CSV for a stream" "depths.csv" x7 "$MAE" -q -o "$T/x7" --arch "$TINY" "$MINI/depths.csv"
usage_refused "an empty --val" "no validation samples" x8 "$MAE" -q -o "$T/x8" --arch "$TINY" --val /dev/null "$T/mini.tsr"
head -c 5000 "$T/mini.tsr" >"$T/cut.tsr"
usage_refused "a stream cut in a record" "cut.tsr" x9 "$MAE" -q -o "$T/x9" --arch "$TINY" "$T/cut.tsr"
"$A" -q --size 104 --norm 0.5,0.2 -o "$T/n52.tsr" "$T/mini.tsr"
usage_refused "a padded stream whose 'norm' is not --norm" "n52.tsr: sample 1 \([0-9a-f]+\): 'norm' is 0.5,0.2, the model takes 0,1 \(--norm\)\$" x10 \
	"$MAE" -q -o "$T/x10" --arch "$TINY" --norm 0,1 "$T/n52.tsr"
usage_refused "--val padded with another norm than the run's" "n52.tsr: sample 1 \([0-9a-f]+\): 'norm' is 0.5,0.2, the model takes 0,1" x11 \
	"$MAE" -q -o "$T/x11" --arch "$TINY" --val "$T/n52.tsr" "$T/mini.tsr"
check_sh "no --norm: a padded stream's 'norm' taken (encoder.ckpt's norm 0.5,0.2)" \
	"'$MAE' -q -o '$T/n52' --arch '$TINY' --batch 4 --threads 2 --epochs 1 '$T/n52.tsr' && grep -aq '\"norm\":\"0.5,0.2\"' '$T/n52/encoder.ckpt'"
