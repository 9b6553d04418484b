# The TensorBoard events file that tgs-train and tgs-mae write beside
# log.csv (DIR/events.out.tfevents.tgs), read by a decoder of its own here
# (TFRecord framing with its CRC-32C, the Event and Summary protobufs, in
# plain Python) and, when $PYTHON has the tensorboard package, by
# TensorBoard's EventAccumulator: an event per row of log.csv, at step =
# epoch, a scalar per other number of the row under its tag, wall times
# that advance by the row's seconds; a resume keeps the records it had,
# byte for byte, and appends; a resume from an earlier checkpoint, which
# cuts log.csv, cuts the events too.
. tests/lib.sh
export PYTHONDONTWRITEBYTECODE=1
TR="$B/tgs-train"
MAE="$B/tgs-mae"
TINY="resunet widths=4,8,16 blocks=1,1,1"
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" --neighbors depth -o "$T/mini.tsr"
train() {
	d=$1
	shift
	"$TR" -q -o "$T/$d" --val "$T/mini.tsr" --arch "$TINY" --batch 5 --lr 0.01 --threads 2 "$@"
}
EV=events.out.tfevents.tgs

cat >"$T/tbevents.py" <<'PY'
"""check EVENTS LOG: EVENTS is LOG for TensorBoard. dump EVENTS: its
steps, tags and values, a line each, without wall times. tensorboard DIR
LOG: the same check through tensorboard's EventAccumulator. Stdlib only,
but for the last."""
import csv, math, struct, sys

def crc32c(b, table=[]):
    if not table:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
    c = 0xFFFFFFFF
    for x in b:
        c = table[(c ^ x) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF

def masked(b):
    c = crc32c(b)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

def varint(b, i):
    v = s = 0
    while True:
        x = b[i]; i += 1
        v |= (x & 0x7F) << s; s += 7
        if not x & 0x80:
            return v, i

def fields(b):
    """(number, value) of each field of a message: ints, bytes, or the
    raw 8 or 4 bytes of a fixed field."""
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, i = varint(b, i)
        elif wire == 1:
            v, i = b[i:i + 8], i + 8
        elif wire == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wire == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wire)
        assert i <= len(b), "a field past the end of its message"
        yield num, v

def records(path):
    b = open(path, "rb").read()
    at = 0
    while at < len(b):
        head = b[at:at + 8]
        n, = struct.unpack("<Q", head)
        assert struct.unpack("<I", b[at + 8:at + 12])[0] == masked(head), "record at %d: the length's CRC" % at
        data = b[at + 12:at + 12 + n]
        assert len(data) == n, "record at %d: truncated" % at
        assert struct.unpack("<I", b[at + 12 + n:at + 16 + n])[0] == masked(data), "record at %d: the data's CRC" % at
        at += 16 + n
        yield data

def events(path):
    """[(wall, step, version, {tag: value})]"""
    out = []
    for data in records(path):
        wall, step, version, scalars = None, 0, None, {}
        for num, v in fields(data):
            if num == 1:
                wall, = struct.unpack("<d", v)
            elif num == 2:
                step = v - (1 << 64) if v >= 1 << 63 else v
            elif num == 3:
                version = v.decode()
            elif num == 5:
                for n2, value in fields(v):
                    assert n2 == 1, "a Summary field %d" % n2
                    f = dict(fields(value))
                    assert set(f) == {1, 2}, "a Value with fields %s" % sorted(f)
                    scalars[f[1].decode()] = struct.unpack("<f", f[2])[0]
            else:
                raise AssertionError("an Event field %d" % num)
        out.append((wall, step, version, scalars))
    return out

def tag(col):
    """tbevent.h's rule"""
    if col.endswith("_loss") and len(col) > 5:
        return "loss/" + col[:-5]
    for p in ("train_", "val_"):
        if col.startswith(p) and len(col) > len(p):
            return p[:-1] + "/" + col[len(p):]
    return "speed/" + col if col in ("img_s", "seconds") else col

def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]

def expected(log):
    """[(step, seconds, {tag: value})] from log.csv"""
    rows = list(csv.DictReader(open(log)))
    out = []
    for r in rows:
        want = {}
        for k, v in r.items():
            if k == "epoch" or v == "":
                continue
            want[tag(k)] = f32(float(v))
        out.append((int(r["epoch"]), float(r.get("seconds") or 0), want))
    return out

def check(path, log):
    ev, want = events(path), expected(log)
    assert ev and ev[0][2] == "brain.Event:2" and not ev[0][3], "the first record is not the version"
    assert len(ev) == len(want) + 1, "%d events for %d rows" % (len(ev) - 1, len(want))
    wall = ev[0][0]
    for (w, step, version, scalars), (epoch, secs, vals) in zip(ev[1:], want):
        assert version is None and step == epoch, "step %d for epoch %d" % (step, epoch)
        assert scalars == vals, "epoch %d: %s, the log says %s" % (epoch, scalars, vals)
        assert abs(w - wall - secs) < 1e-3, "epoch %d: wall time %.3f, %.3f after the last, its seconds %g" % (epoch, w, w - wall, secs)
        wall = w
    print("%d events, %d scalars" % (len(want), sum(len(v) for _, _, v in want)))

def tensorboard(d, log):
    from tensorboard.backend.event_processing import event_accumulator as ea
    acc = ea.EventAccumulator(d, size_guidance={ea.SCALARS: 0})
    acc.Reload()
    want = expected(log)
    tags = sorted({t for _, _, v in want for t in v})
    assert sorted(acc.Tags()["scalars"]) == tags, "tags %s, the log's %s" % (acc.Tags()["scalars"], tags)
    for t in tags:
        got = [(s.step, s.value) for s in acc.Scalars(t)]
        exp = [(e, v[t]) for e, _, v in want if t in v]
        assert got == exp, "%s: %s, the log says %s" % (t, got, exp)
    print("%d tags" % len(tags))

if sys.argv[1] == "check":
    check(sys.argv[2], sys.argv[3])
elif sys.argv[1] == "dump":
    for _, step, _, scalars in events(sys.argv[2]):
        for t in sorted(scalars):
            if len(sys.argv) < 4 or not t.startswith(sys.argv[3]):
                print(step, t, repr(scalars[t]))
elif sys.argv[1] == "tensorboard":
    tensorboard(sys.argv[2], sys.argv[3])
PY
# events DIR: DIR's events file is its log.csv
events() { "$PYTHON" "$T/tbevents.py" check "$T/$1/$EV" "$T/$1/log.csv"; }
# dump DIR: its steps, tags and values, but the timing ones (speed/)
dump() { "$PYTHON" "$T/tbevents.py" dump "$T/$1/$EV" speed/; }

# ---- a run ----
if train a --epochs 4 "$T/mini.tsr" 2>"$T/err"; then ok "4 epochs on mini"; else fail "4 epochs on mini" "$(cat "$T/err")"; fi
check_sh "the run directory: the checkpoints, log.csv and one events file, no temporaries" \
	"[ \"\$(ls '$T/a' | tr '\n' ' ')\" = 'best.ckpt $EV last.ckpt log.csv ' ]"
check "the events: CRCs, the version record, an event per row of log.csv (step, tags, values), wall times by its seconds" events a
check_sh "the tags: grouped as the dashboard shows them" \
	"'$PYTHON' '$T/tbevents.py' dump '$T/a/$EV' | awk '\$1 == 1 { print \$2 }' | tr '\n' ' ' |
	 grep -qx 'loss/train loss/val lr speed/img_s speed/seconds stage step train/bce train/cls train/dice val/iou val/map val/map50 val/threshold '"
if "$PYTHON" -c 'import tensorboard' 2>/dev/null; then
	check "tensorboard's EventAccumulator reads the same scalars as log.csv" "$PYTHON" "$T/tbevents.py" tensorboard "$T/a" "$T/a/log.csv"
else
	skip "tensorboard's EventAccumulator reads the same scalars as log.csv" "tensorboard package not installed"
fi

# ---- resume: 2 epochs, then --resume to 4 ----
train r --epochs 2 "$T/mini.tsr" && cp "$T/r/$EV" "$T/ev2" && cp "$T/r/last.ckpt" "$T/e2.ckpt" && ino=$(stat -c %i "$T/r/$EV") &&
	"$TR" -q -o "$T/r" --val "$T/mini.tsr" --resume "$T/r/last.ckpt" --epochs 4 "$T/mini.tsr" 2>"$T/err"
check "resumed: the events are log.csv's" events r
# TensorBoard keeps the file open and reads what is appended; a file
# renamed into its place it would not see
check_sh "resumed: the records of epochs 1-2 kept byte for byte, 3-4 appended to the same file" \
	"cmp -n \$(wc -c < '$T/ev2') '$T/ev2' '$T/r/$EV' && [ \$(wc -c < '$T/r/$EV') -gt \$(wc -c < '$T/ev2') ] &&
	 [ \$(stat -c %i '$T/r/$EV') = '${ino:-}' ]"
check_sh "resumed: the same steps, tags and values as the run straight through (but the timings)" "cmp <(dump a) <(dump r)"
# from the checkpoint of epoch 2 again: log.csv loses epochs 3-4, and so do the events
"$TR" -q -o "$T/r" --val "$T/mini.tsr" --resume "$T/e2.ckpt" --epochs 3 "$T/mini.tsr" 2>"$T/err"
check_sh "resumed from an earlier checkpoint: log.csv cut to 3 rows, the events too" \
	"[ \$(wc -l < '$T/r/log.csv') -eq 4 ] && '$PYTHON' '$T/tbevents.py' check '$T/r/$EV' '$T/r/log.csv' | grep -q '^3 events'"

# ---- tgs-mae: its own log, with no val columns without --val ----
"$MAE" -q -o "$T/m" --arch "$TINY" --batch 4 --lr 3e-3 --threads 2 --epochs 2 --val "$T/mini.tsr" "$T/mini.tsr" 2>"$T/err"
check "tgs-mae: the events are log.csv's" events m
check_sh "tgs-mae: loss/train and loss/val side by side" \
	"'$PYTHON' '$T/tbevents.py' dump '$T/m/$EV' | awk '\$1 == 2 { print \$2 }' | tr '\n' ' ' | grep -qx 'loss/train loss/val lr speed/img_s speed/seconds step '"
"$MAE" -q -o "$T/m0" --arch "$TINY" --batch 4 --lr 3e-3 --threads 2 --epochs 2 "$T/mini.tsr" 2>"$T/err"
check_sh "tgs-mae without --val: no loss/val" \
	"'$PYTHON' '$T/tbevents.py' check '$T/m0/$EV' '$T/m0/log.csv' && ! '$PYTHON' '$T/tbevents.py' dump '$T/m0/$EV' | grep -q loss/val"
