# tgs-train on the 12 mini tiles with a tiny model (each run well under a
# second): the loss goes down; the checkpoints follow the safetensors
# layout (checked by an independent parser: json, struct, numpy); the same
# seed gives the same bytes; --resume, after a normal end or a SIGINT in
# the middle of an epoch, from a file or from tgs-augment's stream, ends
# byte for byte where the uninterrupted run ends; NaN stops the run and
# keeps the last good checkpoint; staged losses, --init, --patience; a
# padded stream's 'norm' taken or checked; bad checkpoints, bad options and
# streams of another norm refused in one line.
. tests/lib.sh
export PYTHONDONTWRITEBYTECODE=1
TR="$B/tgs-train"
if [ ! -x "$TR" ]; then
	fail "tgs-train built" "no $TR (is it in the Makefile's TOOLS?)"
	exit 0
fi
TINY="resunet widths=4,8,16 blocks=1,1,1"
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" --neighbors depth -o "$T/mini.tsr"
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" -o "$T/mini1.tsr"
# train DIR ARGS...: a quiet run of the tiny model on mini, validated on mini
train() {
	d=$1
	shift
	"$TR" -q -o "$T/$d" --val "$T/mini.tsr" --arch "$TINY" --batch 5 --lr 0.01 --threads 2 "$@"
}
# rows DIR: the log without its timing columns (img_s, seconds)
rows() { sed 's/,[^,]*,[^,]*$//' "$T/$1/log.csv"; }

# ---- a run ----
if train a --epochs 8 "$T/mini.tsr" 2>"$T/err"; then ok "8 epochs on mini"; else fail "8 epochs on mini" "$(cat "$T/err")"; fi
check_sh "the log: a header and 8 rows, epochs 1..8" \
	"head -n 1 '$T/a/log.csv' | grep -q '^epoch,stage,step,lr,train_loss,train_bce,train_dice,.*,val_map,val_threshold,val_iou,val_map50,img_s,seconds\$' &&
	 [ \$(wc -l < '$T/a/log.csv') -eq 9 ] && [ \"\$(cut -d, -f1 '$T/a/log.csv' | tail -n 8 | tr '\n' ' ')\" = '1 2 3 4 5 6 7 8 ' ]"
first=$(sed -n 2p "$T/a/log.csv" | cut -d, -f5)
low=$(tail -n 4 "$T/a/log.csv" | cut -d, -f5 | sort -g | head -n 1)
if awk -v a="$first" -v b="$low" 'BEGIN { exit !(b < 0.95 * a) }'; then ok "the training loss goes down (epoch 1: $first; epochs 5-8 down to $low)"
else fail "the training loss goes down" "epoch 1: $first, epochs 5-8: $(tail -n 4 "$T/a/log.csv" | cut -d, -f5 | tr '\n' ' ')"; fi
"$TR" -o "$T/eta" --val "$T/mini.tsr" --arch "$TINY" --batch 5 --threads 2 --epochs 2 "$T/mini.tsr" 2>"$T/eta.err"
check_sh "the epoch lines end with the epoch's time, and an ETA while epochs are left" \
	"grep -q '^epoch 1: .* img/s, [0-9]*s, ETA [0-9]*s\$' '$T/eta.err' && grep -q '^epoch 2: .* img/s, [0-9]*s\$' '$T/eta.err'"
check_sh "12 tiles in batches of 5: 3 steps an epoch (the last batch of 2 trained too)" "[ \"\$(sed -n 9p '$T/a/log.csv' | cut -d, -f3)\" = 24 ]"
log_cols "$T/a/log.csv" val_map val_threshold val_loss >"$T/vals"
check_sh "the val columns are filled: mAP and threshold in range" \
	"awk -F, '{ if (\$1 < 0 || \$1 > 1 || \$2 < 0.05 || \$2 > 0.95 || \$3 == \"\") exit 1 }' '$T/vals'"

# ---- the files, read by an independent safetensors parser ----
cat >"$T/st.py" <<'PY'
"""check PATH EPOCH: PATH follows the safetensors layout and tgs's rules
(formats/safetensors.md), read with json, struct and numpy alone."""
import json, struct, sys
import numpy as np

SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2, "U32": 4, "I32": 4, "F32": 4,
        "U64": 8, "I64": 8, "F64": 8}
NP = {"U8": "<u1", "U16": "<u2", "I32": "<i4", "I64": "<i8", "F32": "<f4", "F64": "<f8"}

def no_repeats(pairs):
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), "a repeated JSON key"
    return dict(pairs)

def load(path):
    b = open(path, "rb").read()
    n, = struct.unpack("<Q", b[:8])
    assert 8 + n <= len(b), "header length past the end"
    hb = b[8:8 + n]
    assert hb[:1] == b"{", "header does not start with {"
    h = json.loads(hb.decode("utf-8"), object_pairs_hook=no_repeats)
    meta = h.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()), "metadata not str -> str"
    buf = b[8 + n:]
    at, out = 0, {}
    for s, e, k in sorted((v["data_offsets"][0], v["data_offsets"][1], k) for k, v in h.items()):
        info = h[k]
        assert set(info) == {"dtype", "shape", "data_offsets"}, k
        assert s == at and e >= s, "tensor %s at %d, expected %d" % (k, s, at)
        count = int(np.prod(info["shape"], dtype=np.int64))
        assert e - s == count * SIZE[info["dtype"]], "tensor %s: size" % k
        out[k] = np.frombuffer(buf[s:e], dtype=NP[info["dtype"]]).reshape(info["shape"])
        at = e
    assert at == len(buf), "the tensors do not cover the buffer"
    return n, h, meta, out

def check(path, epoch):
    n, h, meta, t = load(path)
    assert n % 8 == 0, "header length %d not a multiple of 8" % n
    order = sorted(h, key=lambda k: h[k]["data_offsets"][0])
    assert order == sorted(h, key=lambda k: (-SIZE[h[k]["dtype"]], k.encode())), "not in the package's order"
    for k in h:
        assert (8 + n + h[k]["data_offsets"][0]) % SIZE[h[k]["dtype"]] == 0, "%s not aligned" % k
    for key in ("format", "tgs_version", "arch", "epoch", "metric", "options", "size", "norm"):
        assert key in meta, "no metadata " + key
    assert meta["format"] == "tgs" and meta["epoch"] == epoch, meta
    opts = json.loads(meta["options"])
    assert opts["model"] == meta["arch"] and opts["batch"] == 5 and opts["lr"] == 0.01, opts
    best = path.endswith("best.ckpt")  # the model alone, and the threshold it was scored at
    if best:
        assert not [k for k in t if k.startswith(("optim.", "train."))], "best.ckpt holds training state"
        d = [l for l in meta["decisions"].splitlines() if not l.startswith("#")]
        assert len(d) == 1 and d[0].startswith("threshold ") and 0 < float(d[0].split()[1]) < 1, meta["decisions"]
    else:
        assert int(t["train.epoch"]) == int(epoch) and t["train.epoch"].dtype == np.int64
        assert "decisions" not in meta
    assert 0 <= float(meta["metric"]) <= 1
    params = [k for k in t if not k.startswith(("optim.", "train."))]
    assert all(h[k]["dtype"] == "F32" for k in params)
    assert all(np.isfinite(t[k]).all() for k in params), "a parameter is not finite"
    assert all((t[k] > 0).all() for k in params if k.endswith("running_var"))
    assert t["stem.conv.weight"].shape == (4, 3, 3, 3), t["stem.conv.weight"].shape
    for k in params if not best else []:
        if not k.endswith(("running_mean", "running_var")):
            assert "optim.exp_avg." + k in t and "optim.exp_avg_sq." + k in t, "no Adam state for " + k
    print("%d tensors (%d parameters and buffers), header %d bytes, metric %s" % (len(t), len(params), n, meta["metric"]))

def meta(path, key):
    print(load(path)[2][key])

def finite(path):
    """every F32 and F64 tensor of PATH is finite"""
    t = load(path)[3]
    bad = [k for k in t if t[k].dtype.kind == "f" and not np.isfinite(t[k]).all()]
    assert not bad, "not finite: " + ", ".join(bad)

def poison(src, dst, name, value):
    """SRC with element 0 of tensor NAME set to VALUE (nan, inf), as DST"""
    n, h, _, _ = load(src)
    b = bytearray(open(src, "rb").read())
    at = 8 + n + h[name]["data_offsets"][0]
    b[at:at + 4] = struct.pack("<f", float(value))
    open(dst, "wb").write(b)

def corrupt(src, d):
    b = open(src, "rb").read()
    n, = struct.unpack("<Q", b[:8])
    open(d + "/cut.ckpt", "wb").write(b[: len(b) // 2])
    open(d + "/hdr.ckpt", "wb").write(struct.pack("<Q", 1 << 40) + b[8:])
    open(d + "/json.ckpt", "wb").write(b[:8] + b[8:8 + n].replace(b'"dtype"', b'"dtype" ', 1)[:n].replace(b":", b";", 1) + b[8 + n:])
    open(d + "/junk.ckpt", "wb").write(bytes(range(256)) * 4)
    open(d + "/empty.ckpt", "wb").write(b"")
    # valid safetensors, but not tgs's: written here, format "pt"
    hd = json.dumps({"__metadata__": {"format": "pt"}, "w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    hd += b" " * (-len(hd) % 8)
    open(d + "/pt.ckpt", "wb").write(struct.pack("<Q", len(hd)) + hd + b"\0" * 8)

getattr(sys.modules[__name__], sys.argv[1])(*sys.argv[2:])
PY
best=$(log_cols "$T/a/log.csv" epoch val_map | awk -F, 'BEGIN { m = -1 } $2 > m { m = $2; e = $1 } END { print e }')
if have_numpy; then
	for f in last:8 best:$best; do
		if "$PYTHON" "$T/st.py" check "$T/a/${f%:*}.ckpt" "${f#*:}" >"$T/out" 2>&1; then
			ok "${f%:*}.ckpt (epoch ${f#*:}) read by an independent safetensors parser: $(cat "$T/out")"
		else
			fail "${f%:*}.ckpt (epoch ${f#*:}) read by an independent safetensors parser" "$(tail -n 3 "$T/out")"
		fi
	done
else
	skip "the checkpoints read by an independent parser" "no numpy in $PYTHON"
fi

# ---- determinism ----
train a2 --epochs 3 "$T/mini.tsr" && train a3 --epochs 3 "$T/mini.tsr" && train a4 --epochs 3 --seed 1 "$T/mini.tsr"
check "the same seed, the same bytes (last.ckpt)" cmp "$T/a2/last.ckpt" "$T/a3/last.ckpt"
check_sh "another seed, other weights" "! cmp -s '$T/a2/last.ckpt' '$T/a4/last.ckpt'"
check_sh "the same seed, the same log rows" "cmp <(rows a2) <(rows a3)"

# ---- resume: 4 epochs straight = 2, then --resume for 2 more ----
train s4 --epochs 4 "$T/mini.tsr" && train r4 --epochs 2 "$T/mini.tsr" &&
	"$TR" -q -o "$T/r4" --val "$T/mini.tsr" --resume "$T/r4/last.ckpt" --epochs 4 "$T/mini.tsr" 2>"$T/err"
check "file: 2 epochs + --resume 2 = 4 straight, byte for byte (last.ckpt)" cmp "$T/s4/last.ckpt" "$T/r4/last.ckpt"
check_sh "file: ... and the same log rows, written once" "cmp <(rows s4) <(rows r4)"
# the stream of tgs-augment: 4 epochs, or 2 then --first-epoch 2
A="$B/tgs-augment"
"$A" -q --train --size 104 --seed 3 --epochs 4 "$T/mini.tsr" | train p4 --epochs 4
"$A" -q --train --size 104 --seed 3 --epochs 2 "$T/mini.tsr" | train q4 --epochs 4
"$A" -q --train --size 104 --seed 3 --first-epoch 2 --epochs 2 "$T/mini.tsr" |
	"$TR" -q -o "$T/q4" --val "$T/mini.tsr" --resume "$T/q4/last.ckpt" 2>"$T/err"
check "stream: tgs-augment --epochs 2, then --first-epoch 2 and --resume = 4 straight" cmp "$T/p4/last.ckpt" "$T/q4/last.ckpt"
check_sh "stream: ... and the same log rows" "cmp <(rows p4) <(rows q4)"
cp "$T/q4/log.csv" "$T/q4.log"
"$A" -q --train --size 104 --seed 3 --epochs 2 "$T/mini.tsr" | train q8 --epochs 4
cp "$T/q8/last.ckpt" "$T/e2.ckpt"
check_sh "stream: a resume fed the whole stream again reads through what was done, to the same bytes" \
	"'$A' -q --train --size 104 --seed 3 --epochs 4 '$T/mini.tsr' | '$TR' -q -o '$T/q8' --val '$T/mini.tsr' --resume '$T/q8/last.ckpt' &&
	 cmp '$T/p4/last.ckpt' '$T/q8/last.ckpt'"
refuses "stream: a resume whose stream starts later" "the stream starts at epoch 3, the run is at epoch 2" \
	bash -c "'$A' -q --train --size 104 --seed 3 --first-epoch 3 --epochs 1 '$T/mini.tsr' | '$TR' -q -o '$T/q6' --resume '$T/e2.ckpt'"
refuses "stream: a fresh run on a stream that starts later" "the stream starts at epoch 2, the run is at epoch 0" \
	bash -c "'$A' -q --size 104 --first-epoch 2 '$T/mini.tsr' | '$TR' -q -o '$T/q7' --arch '$TINY'"

# ---- --ema: a moving average validated and saved, the training untouched ----
train m4 --epochs 4 --ema 0.9 "$T/mini.tsr" && train n4 --epochs 2 --ema 0.9 "$T/mini.tsr" &&
	"$TR" -q -o "$T/n4" --val "$T/mini.tsr" --resume "$T/n4/last.ckpt" --epochs 4 "$T/mini.tsr" 2>"$T/err"
check "--ema: 2 epochs + --resume 2 = 4 straight, byte for byte (last.ckpt)" cmp "$T/m4/last.ckpt" "$T/n4/last.ckpt"
log_cols "$T/m4/log.csv" val_loss >"$T/m4.val"
log_cols "$T/s4/log.csv" val_loss >"$T/s4.val"
check_sh "--ema: the same training losses as without it, other val losses (the average is validated)" \
	"cmp <(cut -d, -f1-13 '$T/m4/log.csv') <(cut -d, -f1-13 '$T/s4/log.csv') && ! cmp -s '$T/m4.val' '$T/s4.val'"
if have_numpy; then
	check_sh "--ema: the model's names hold the average, train.live.<name> the trained weights (s4's, bit for bit)" \
		"'$PYTHON' - '$T/m4/last.ckpt' '$T/s4/last.ckpt' <<'PY'
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: np.frombuffer(b, '<f4', (v['data_offsets'][1] - v['data_offsets'][0]) // 4, 8 + n + v['data_offsets'][0])
            for k, v in h.items() if k != '__metadata__' and v['dtype'] == 'F32'}
m, s = load(sys.argv[1]), load(sys.argv[2])
w = 'stem.conv.weight'
assert np.array_equal(m['train.live.' + w], s[w]) and not np.array_equal(m[w], s[w])
assert all(np.array_equal(m['train.live.' + k], s[k]) for k in s if not k.startswith(('optim.', 'train.')))
PY"
fi
check_sh "--ema: tgs-mcdrop runs the average" "'$B/tgs-mcdrop' -q -m '$T/m4/best.ckpt' --threads 2 '$T/mini.tsr' | '$B/tgs-eval' -q | grep -q '^mAP'"
refuses "--ema: a resume with another decay" "--ema 0.5: the run in .* has --ema '0.9'" "$TR" -q -o "$T/n4" --resume "$T/n4/last.ckpt" --ema 0.5 "$T/mini.tsr"
refuses "--ema: a decay of 1" "--ema" "$TR" -q -o "$T/u" --ema 1 "$T/mini.tsr"

# ---- SIGINT in the middle of an epoch ----
train x30 --epochs 30 "$T/mini.tsr"
"$TR" -q -o "$T/sig" --val "$T/mini.tsr" --arch "$TINY" --batch 5 --lr 0.01 --threads 2 --epochs 30 "$T/mini.tsr" 2>"$T/sigerr" &
pid=$!
i=0
while [ "$(cat "$T/sig/log.csv" 2>/dev/null | wc -l)" -lt 3 ] && [ $i -lt 400 ]; do
	sleep 0.02
	i=$((i + 1))
done
sleep 0.03
kill -INT $pid
wait $pid
rc=$?
rows_done=$(($(wc -l <"$T/sig/log.csv") - 1))
if [ $rc -eq 130 ] && grep -q "^tgs-train: SIGINT: stopped in epoch [0-9]* after step [0-9]*; saved .*sig/last.ckpt (continue with --resume" "$T/sigerr"; then
	ok "SIGINT: exit 130 after saving, with a message ($(sed 's/.*SIGINT: //; s/;.*//' "$T/sigerr"))"
else
	fail "SIGINT: exit 130 after saving, with a message" "exit $rc, $rows_done epochs done: $(cat "$T/sigerr")"
fi
if [ $rows_done -ge 30 ]; then
	skip "SIGINT: a valid last.ckpt, resumed to the same bytes" "the run finished before the signal came"
else
	if have_numpy; then
		check "SIGINT: last.ckpt is a valid checkpoint" "$PYTHON" "$T/st.py" meta "$T/sig/last.ckpt" epoch
	fi
	"$TR" -q -o "$T/sig" --val "$T/mini.tsr" --resume "$T/sig/last.ckpt" "$T/mini.tsr" 2>"$T/err"
	check "SIGINT: --resume ends as the uninterrupted run, byte for byte" cmp "$T/x30/last.ckpt" "$T/sig/last.ckpt"
	check_sh "SIGINT: ... with the same log rows" "cmp <(rows x30) <(rows sig)"
fi

# ---- NaN ----
refuses "NaN at once: stopped, no checkpoint" "epoch 1, step [0-9]+: the (loss|gradients).* is (NaN|[+-]Inf); stopped before any checkpoint" \
	"$TR" -q -o "$T/nan1" --arch "$TINY" --batch 4 --epochs 3 --lr 1e30 "$T/mini.tsr"
check_sh "NaN at once: no checkpoint written" "[ ! -e '$T/nan1/last.ckpt' ] && ! ls '$T/nan1' | grep -q tmp"
refuses "NaN in epoch 3 (lr x 1e30 from epoch 3)" "epoch 3, step [0-9]+: .* is (NaN|[+-]Inf); stopped, .*nan2/last.ckpt left as it was" \
	train nan2 --epochs 6 --sched step:2:1e30 "$T/mini.tsr"
# weights that go bad while the loss stays finite: an infinite batch norm
# variance reached the checkpoint before it was checked
"$TR" -q -o "$T/nan3" --arch "resunet widths=4,8 blocks=1,1" --threads 1 --epochs 8 --sched step:3:1e15 "$T/mini1.tsr" 2>"$T/nan3.err"
check_sh "lr x 1e15 from epoch 4: stopped in one line naming what is not finite" \
	"[ \$(wc -l < '$T/nan3.err') -eq 1 ] && grep -Eq '^tgs-train: epoch [0-9]+, step [0-9]+: .* is (NaN|[+-]Inf); stopped' '$T/nan3.err'"
if have_numpy; then
	check "... and every tensor of the last.ckpt kept is finite" "$PYTHON" "$T/st.py" finite "$T/nan3/last.ckpt"
fi
"$B/tgs-mcdrop" -q -m "$T/nan3/last.ckpt" --threads 2 "$T/mini1.tsr" >"$T/nan3.tsr" 2>"$T/err"
rc=$?
if [ $rc -eq 0 ] && "$B/tgs-info" "$T/nan3.tsr" | awk '$1 == "prob" || $1 == "salt" { n++; if ($6 !~ /^[0-9.e+-]+$/ || $7 !~ /^[0-9.e+-]+$/) bad = 1 } END { exit !(n == 2 && !bad) }'; then
	ok "tgs-mcdrop on it: finite predictions"
elif [ $rc -eq 1 ] && [ "$(wc -l <"$T/err")" -eq 1 ] && grep -q "a damaged checkpoint" "$T/err"; then
	ok "tgs-mcdrop on it: refused in one line ($(cat "$T/err"))"
else
	fail "tgs-mcdrop on a checkpoint of weights gone huge: finite output or one line" "exit $rc: $(head -c 300 "$T/err")"
fi
if have_numpy; then
	check_sh "NaN: last.ckpt is the good one of epoch 2" "[ \"\$('$PYTHON' '$T/st.py' meta '$T/nan2/last.ckpt' epoch)\" = 2 ] && [ \$(wc -l < '$T/nan2/log.csv') -eq 3 ]"
fi

# ---- staged losses, patience, --init, other inputs ----
train st --epochs 3 --loss bce=1,dice=1 --loss2 lovasz=1,cls=0.5 --stage2-epoch 2 "$T/mini.tsr"
check_sh "--loss2 from --stage2-epoch 2: stages 1 1 2, the parts of each" \
	"[ \"\$(cut -d, -f2 '$T/st/log.csv' | tail -n 3 | tr '\n' ' ')\" = '1 1 2 ' ] &&
	 sed -n 2p '$T/st/log.csv' | awk -F, '\$6 != \"\" && \$7 != \"\" && \$10 == \"\" && \$12 == \"\" { ok = 1 } END { exit !ok }' &&
	 sed -n 4p '$T/st/log.csv' | awk -F, '\$6 == \"\" && \$7 == \"\" && \$10 != \"\" && \$12 != \"\" { ok = 1 } END { exit !ok }'"
train ds --epochs 3 --arch "$TINY ds=1" --loss bce=1,dice=1,deep=0.5 "$T/mini.tsr"
log_cols "$T/ds/log.csv" train_deep >"$T/deep"
check_sh "deep supervision (ds=1, deep=0.5): the train_deep column filled, finite, and falling" \
	"awk '{ d = \$1; if (d == \"\" || d + 0 != d || d <= 0) exit 1; if (NR == 1) f = d; l = d } END { exit !(NR == 3 && l < f) }' '$T/deep'"
check_sh "a ds=1 checkpoint predicts (tgs-mcdrop ignores the aux maps)" \
	"'$B/tgs-mcdrop' -q -m '$T/ds/last.ckpt' --threads 2 '$T/mini.tsr' | '$B/tgs-eval' -q | grep -q '^mAP'"
refuses "the loss deep on a model without ds=1" "deep.*ds=1" train nods --epochs 1 --loss bce=1,deep=0.5 "$T/mini.tsr"
train pat --epochs 40 --patience 2 --lr 1e-9 "$T/mini.tsr" 2>/dev/null
check_sh "--patience 2 stops after 2 epochs without a better mAP" "[ \$(wc -l < '$T/pat/log.csv') -eq 4 ]"
"$TR" -o "$T/ini" --arch "$TINY" --init "$T/a/last.ckpt" --epochs 1 "$T/mini.tsr" 2>"$T/init.err"
check_sh "--init: every tensor of the same model loaded, and said" "grep -qx 'init: 86 of the model.s 86 tensors loaded from .*a/last.ckpt' '$T/init.err'"
"$TR" -o "$T/ini2" --arch "$TINY scse=0" --init "$T/a/last.ckpt" --epochs 1 "$T/mini.tsr" 2>"$T/init.err"
check_sh "--init: a model without scSE takes the tensors it has of one with" "grep -qx 'init: 74 of the model.s 74 tensors loaded from .*a/last.ckpt' '$T/init.err'"
refuses "--init: a same-named tensor of another shape" "--init: .*: tensor 'stem.conv.weight' is F32 \[4, 3, 3, 3\], the model's is F32 \[8, 3, 3, 3\]" \
	"$TR" -q -o "$T/ini3" --arch "resunet widths=8,8,16 blocks=1,1,1" --init "$T/a/last.ckpt" "$T/mini.tsr"
check_sh "raw 1-channel tiles from stdin, --size 112, --optim sgd, cosine per step" \
	"'$TR' -q -o '$T/one' --arch '$TINY' --size 112 --optim sgd --lr 0.05 --nesterov --sched cosine:4,warmup=2 --sched-unit step --clip 1 --epochs 2 < '$T/mini1.tsr' &&
	 grep -aq 'size..:112,' '$T/one/last.ckpt' && grep -aq 'optim..:..sgd..,..lr..:0.05,..wd..:0,..momentum..:0.9,..nesterov..:true' '$T/one/last.ckpt'"

# ---- refusals ----
if have_numpy; then
	"$PYTHON" "$T/st.py" corrupt "$T/a/last.ckpt" "$T"
	refuses "--resume: a truncated checkpoint" "cut.ckpt: .*(past the buffer|truncated|past the end)" "$TR" -q -o "$T/c1" --resume "$T/cut.ckpt" "$T/mini.tsr"
	refuses "--resume: an absurd header length" "hdr.ckpt: header length [0-9]+ is larger" "$TR" -q -o "$T/c2" --resume "$T/hdr.ckpt" "$T/mini.tsr"
	refuses "--resume: broken JSON" "json.ckpt: header byte [0-9]+: expected ':'" "$TR" -q -o "$T/c3" --resume "$T/json.ckpt" "$T/mini.tsr"
	refuses "--resume: not a checkpoint at all" "junk.ckpt: header length" "$TR" -q -o "$T/c4" --resume "$T/junk.ckpt" "$T/mini.tsr"
	refuses "--resume: an empty file" "empty.ckpt: 0 bytes, too short" "$TR" -q -o "$T/c5" --resume "$T/empty.ckpt" "$T/mini.tsr"
	refuses "--resume: safetensors, but not tgs-train's" "pt.ckpt: no metadata 'options'" "$TR" -q -o "$T/c6" --resume "$T/pt.ckpt" "$T/mini.tsr"
	refuses "--init: a file that is not safetensors" "--init: .*junk.ckpt: header length" "$TR" -q -o "$T/c7" --init "$T/junk.ckpt" "$T/mini.tsr"
	refuses "--init: no tensor of the model in it" "--init: .*pt.ckpt: none of its tensors" "$TR" -q -o "$T/c8" --init "$T/pt.ckpt" "$T/mini.tsr"
fi
refuses "--resume with another --lr" "--lr 0.02: the run in .* has --lr '0.01'" "$TR" -q -o "$T/r4" --resume "$T/r4/last.ckpt" --lr 0.02 "$T/mini.tsr"
check_sh "--resume with the same options repeated is fine" \
	"'$TR' -q -o '$T/r4' --val '$T/mini.tsr' --arch '$TINY' --batch 5 --lr 0.01 --resume '$T/r4/last.ckpt' '$T/mini.tsr'"
# raw tiles have no epoch records: without --epochs the file is read once
timeout 60 "$TR" -q -o "$T/once" --arch "$TINY" --batch 5 --threads 2 "$T/mini1.tsr" 2>"$T/err"
check_sh "raw tiles without --epochs: one epoch, as --help says" "[ \$(wc -l < '$T/once/log.csv') -eq 2 ]"
usage_error "--resume with --epochs below the epochs done: a usage error" "--epochs 2: the run in .*a/last.ckpt has done 8 epochs already" \
	"$TR" -q -o "$T/less" --resume "$T/a/last.ckpt" --epochs 2 "$T/mini.tsr"
if "$TR" -o "$T/same" --resume "$T/a/last.ckpt" --epochs 8 "$T/mini.tsr" 2>"$T/same.err"; then
	check_sh "--resume with --epochs as done: nothing to train, said, exit 0, nothing written" \
		"grep -qx 'nothing to train: the run in .*a/last.ckpt has done its 8 epochs' '$T/same.err' && [ ! -e '$T/less' ] && [ ! -e '$T/same' ]"
else
	fail "--resume with --epochs as done: exit 0" "$(cat "$T/same.err")"
fi
# validation tiles that are also training tiles: said once, unless -q
"$TR" -o "$T/leak" --val "$T/mini.tsr" --arch "$TINY" --batch 5 --threads 2 --epochs 2 "$T/mini.tsr" 2>"$T/leak.err"
check_sh "training on the validation tiles: one warning, in the first epoch" \
	"[ \$(grep -c 'warning: 12 training samples of this epoch are validation tiles (.*mini.tsr): the val mAP is not a held-out score' '$T/leak.err') -eq 1 ]"
"$B/tgs-fold" -q -k 3 -i 0 -o "$T/f0.tsr" "$T/mini.tsr" && "$B/tgs-fold" -q -k 3 -i 0 --complement -o "$T/f0c.tsr" "$T/mini.tsr"
"$TR" -o "$T/noleak" --val "$T/f0.tsr" --arch "$TINY" --batch 5 --threads 2 --epochs 1 "$T/f0c.tsr" 2>"$T/noleak.err"
check_sh "a fold and its complement: no warning" "grep -q '^epoch 1:' '$T/noleak.err' && ! grep -q warning '$T/noleak.err'"
cat "$T/mini.tsr" "$T/mini.tsr" >"$T/val2.tsr"
refuses "--val holding a tile twice (scored twice)" "val2.tsr: sample 13: id [0-9a-f]+ repeats sample 1" "$TR" -q -o "$T/dupval" --val "$T/val2.tsr" "$T/mini.tsr"
refuses "a fresh run into a run's directory" "already holds a run .*--resume" train a --epochs 1 "$T/mini.tsr"
check_sh "-o: a run directory whose parents are missing is made with them" \
	"'$TR' -q -o '$T/new/runs/f0/' --arch '$TINY' --batch 5 --threads 2 --epochs 1 '$T/mini.tsr' && [ -f '$T/new/runs/f0/last.ckpt' ]"
: >"$T/plainfile"
refuses "-o: a parent that is a file" "plainfile" "$TR" -q -o "$T/plainfile/run" --arch "$TINY" "$T/mini.tsr"
refuses "no -o" "no -o DIR" "$TR" "$T/mini.tsr"
usage_error "-o ''" "-o: an empty directory name" "$TR" -o "" "$T/mini.tsr"
refuses "--resume: a directory" "--resume|$T: read error: Is a directory" "$TR" -q -o "$T/u11" --resume "$T" "$T/mini.tsr"
refuses "a bad --loss" "--loss: loss 'bce=1,mse=2': unknown loss 'mse'" "$TR" -o "$T/u" --loss bce=1,mse=2
refuses "--loss2 without --stage2-epoch" "--loss2 needs --stage2-epoch" "$TR" -o "$T/u" --loss2 lovasz=1 "$T/mini.tsr"
refuses "--patience without --val" "--patience needs --val" "$TR" -o "$T/u" --patience 3 "$T/mini.tsr"
refuses "--momentum with adam" "--momentum and --nesterov are for --optim sgd" "$TR" -o "$T/u" --momentum 0.5 "$T/mini.tsr"
refuses "a bad --sched" "--sched: " "$TR" -o "$T/u" --sched warm "$T/mini.tsr"
refuses "a bad --arch" "--arch: model: unknown architecture 'vgg'" "$TR" -q -o "$T/u" --arch vgg "$T/mini.tsr"
refuses "samples of 3 channels for a 1-channel model" "'image' has 3 channels, the model .* takes 1" "$TR" -q -o "$T/u" --arch "$TINY in=1" "$T/mini.tsr"
usage_error "--size not a multiple of the stride: a usage error" "--size 105 is not a multiple of the model's stride 4" \
	"$TR" -q -o "$T/u" --arch "$TINY" --size 105 "$T/mini.tsr"
refuses "validation samples without masks" "sample 1 \([0-9a-f]+\): no 'mask' record" \
	bash -c "'$B/tgs-stack25d' -q --images '$MINI/images' --depths '$MINI/depths.csv' --neighbors depth -o '$T/nomask.tsr' && '$TR' -q -o '$T/u2' --arch '$TINY' --val '$T/nomask.tsr' '$T/mini.tsr'"
head -c 50000 "$T/mini.tsr" >"$T/trunc.tsr"
refuses "a truncated training stream" "trunc.tsr: .*truncated" "$TR" -q -o "$T/u3" --arch "$TINY" "$T/trunc.tsr"
usage_error "--init of a model trained at another norm" "--init: .*a/last.ckpt was trained on inputs normalised 0,1; this run's are 0.5,0.2 \\(--norm\\)" \
	"$TR" -q -o "$T/u14" --arch "$TINY" --norm 0.5,0.2 --init "$T/a/last.ckpt" "$T/mini.tsr"
check "... and leaves no run directory" test ! -e "$T/u14"
refuses "--init of another model" "--init: .*a/last.ckpt: tensor 'stem.conv.weight' is F32" \
	"$TR" -q -o "$T/u5/deeper" --arch "resunet widths=8,16 blocks=1,1" --init "$T/a/last.ckpt" "$T/mini.tsr"
refuses "a stream that starts at epoch 1 (tgs-augment --first-epoch 1)" "starts at epoch 1, the run is at epoch 0" \
	bash -c "'$B/tgs-augment' -q --first-epoch 1 --size 104 '$T/mini.tsr' | '$TR' -q -o '$T/u6' --arch '$TINY'"
# padded streams say their norm (tgs-augment's 'norm' record): a run of
# another --norm refuses them, a run without --norm takes the stream's
"$B/tgs-augment" -q --size 104 --norm 0.5,0.2 -o "$T/n52.tsr" "$T/mini.tsr"
refuses "a padded stream whose 'norm' is not --norm" "n52.tsr: sample 1 \([0-9a-f]+\): 'norm' is 0.5,0.2, the model takes 0,1 \(--norm\)\$" \
	"$TR" -q -o "$T/u12" --arch "$TINY" --norm 0,1 "$T/n52.tsr"
refuses "--val padded with another norm than the run's" \
	"n52.tsr: sample 1 \([0-9a-f]+\): 'norm' is 0.5,0.2, the model takes 0,1 \(the default; give --norm\)\$" \
	"$TR" -q -o "$T/u13" --arch "$TINY" --val "$T/n52.tsr" "$T/mini.tsr"
check_sh "a padded stream and --val of the run's --norm 0.5,0.2: trained; the checkpoint's norm is 0.5,0.2" \
	"'$TR' -q -o '$T/nk' --arch '$TINY' --batch 5 --threads 2 --epochs 1 --norm 0.5,0.2 --val '$T/n52.tsr' '$T/n52.tsr' &&
	 grep -aq '\"norm\":\"0.5,0.2\"' '$T/nk/best.ckpt'"
check_sh "no --norm: the stream's 'norm' taken, the same bytes as --norm 0.5,0.2; tgs-mcdrop takes the stream with it" \
	"'$TR' -q -o '$T/nt' --arch '$TINY' --batch 5 --threads 2 --epochs 1 '$T/n52.tsr' &&
	 '$TR' -q -o '$T/nu' --arch '$TINY' --batch 5 --threads 2 --epochs 1 --norm 0.5,0.2 '$T/n52.tsr' && cmp '$T/nt/last.ckpt' '$T/nu/last.ckpt' &&
	 '$B/tgs-mcdrop' -q --threads 2 -m '$T/nt/last.ckpt' '$T/n52.tsr' | '$B/tgs-info' | grep -Eq '^  prob +12 f32'"
refuses "--resume of a 0.5,0.2 run on a padded stream of 0,1" "sample 1 \([0-9a-f]+\): 'norm' is 0,1, the model takes 0.5,0.2 \(the resumed run's --norm\)\$" \
	bash -c "'$B/tgs-augment' -q --size 104 '$T/mini.tsr' | '$TR' -q -o '$T/nt' --resume '$T/nt/last.ckpt' --epochs 2"
if have_numpy; then
	# the record is checked, never used: a stream without it trains to the same bytes
	"$B/tgs-augment" -q --train --size 104 -o "$T/n01.tsr" "$T/mini.tsr"
	"$PYTHON" -c "import sys; sys.path.insert(0, 'formats'); import tgs_stream
tgs_stream.write(sys.argv[2], [{k: v for k, v in s.items() if k != 'norm'} for s in tgs_stream.read(sys.argv[1])])" \
		"$T/n01.tsr" "$T/n01-none.tsr"
	check_sh "a padded stream without 'norm' records (from before them): trained, to the same bytes as with them" \
		"'$TR' -q -o '$T/nw' --arch '$TINY' --batch 5 --threads 2 --val '$T/n01.tsr' '$T/n01.tsr' &&
		 '$TR' -q -o '$T/nx' --arch '$TINY' --batch 5 --threads 2 --val '$T/n01-none.tsr' '$T/n01-none.tsr' &&
		 cmp '$T/nw/last.ckpt' '$T/nx/last.ckpt' && cmp '$T/nw/best.ckpt' '$T/nx/best.ckpt'"
fi
if have_numpy; then
	# sample 7 of 12 has a mask of 255s: found in the first epoch, after the run directory was made
	"$PYTHON" - "$T/mini1.tsr" "$T/mask255.tsr" <<'PY'
import sys
sys.path.insert(0, "formats")
import tgs_stream
s = list(tgs_stream.read(sys.argv[1]))
s[6]["mask"] = s[6]["mask"] * 255
tgs_stream.write(sys.argv[2], s)
PY
	refuses "a mask of 255s in sample 7" "mask255.tsr: sample 7 \([0-9a-f]+\): .*mask.* holds 255" "$TR" -q -o "$T/u7" --arch "$TINY" "$T/mask255.tsr"
	"$PYTHON" "$T/st.py" poison "$T/a/last.ckpt" "$T/nanw.ckpt" stem.conv.weight nan
	refuses "--resume: a checkpoint holding a NaN weight" "nanw.ckpt: tensor 'stem.conv.weight' holds NaN at element 0" \
		"$TR" -q -o "$T/u8" --resume "$T/nanw.ckpt" --epochs 9 "$T/mini.tsr"
	refuses "--init: a checkpoint holding a NaN weight" "--init: .*nanw.ckpt: tensor 'stem.conv.weight' holds NaN at element 0" \
		"$TR" -q -o "$T/u9" --arch "$TINY" --init "$T/nanw.ckpt" "$T/mini.tsr"
	refuses "tgs-mcdrop: a checkpoint holding a NaN weight" "nanw.ckpt: tensor 'stem.conv.weight' holds NaN at element 0" \
		"$B/tgs-mcdrop" -q -m "$T/nanw.ckpt" "$T/mini.tsr"
	"$PYTHON" "$T/st.py" poison "$T/a/last.ckpt" "$T/infv.ckpt" enc.0.0.bn1.running_var inf
	refuses "tgs-mcdrop: a checkpoint holding an infinite running variance" "infv.ckpt: tensor 'enc.0.0.bn1.running_var' holds \+Inf" \
		"$B/tgs-mcdrop" -q -m "$T/infv.ckpt" "$T/mini.tsr"
	"$PYTHON" "$T/st.py" poison "$T/a/last.ckpt" "$T/nanopt.ckpt" optim.exp_avg_sq.stem.conv.weight nan
	refuses "--resume: a checkpoint holding NaN optimizer state" "nanopt.ckpt: tensor 'optim.exp_avg_sq.stem.conv.weight' holds NaN" \
		"$TR" -q -o "$T/u10" --resume "$T/nanopt.ckpt" --epochs 9 "$T/mini.tsr"
fi
check_sh "refused starts leave no run directory behind" \
	"for d in u u2 u3 u5 u6 u7 u8 u9 u10 u12 u13 dupval; do [ ! -e '$T/'\$d ] || { echo \$d is there; exit 1; }; done"
refuses "a missing training file" "nothere.tsr" "$TR" -q -o "$T/u4" --arch "$TINY" "$T/nothere.tsr"
check_sh "... and no run directory for it" "[ ! -e '$T/u4' ]"
usage_error "--device cuda (not built in)" "--device: device 'cuda' is not built in" "$TR" -q -o "$T/dev" --device cuda "$T/mini.tsr"
usage_error "--device nonsense" "--device: unknown device 'tpu' \\(there are cpu, sim\\)" "$TR" -q -o "$T/dev" --device tpu "$T/mini.tsr"
exit 0
