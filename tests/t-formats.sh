# formats/: the numpy reader and writer (formats/tgs_stream.py) against the
# C tools in both directions, its own round trip and damage checks, and the
# hex dump in formats/tensor-stream.md against what both sides write.
. tests/lib.sh
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in formats/

if ! have_numpy; then
	skip "formats" "no numpy in $PYTHON"
	exit 0
fi

# py NAME ARGS...: run a Python check read from a here-document, with
# formats/ importable. A failed assert fails the check with a one-line
# message: the check's line, its source and the exception.
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

# Kaggle's RLE in numpy, shared by the checks below: pixels numbered from 1
# down each column, then across.
cat >"$T/rle.py" <<'PY'
import numpy as np
def rle_decode(text, h=101, w=101):
    flat = np.zeros(h * w, np.uint8)
    v = [int(t) for t in text.split()]
    for start, n in zip(v[0::2], v[1::2]):
        flat[start - 1:start - 1 + n] = 1
    return flat.reshape(w, h).T  # column-major -> (H, W)
def train_masks(path):
    rows = [line.rstrip("\n").split(",") for line in open(path)][1:]
    return {i: rle_decode(r) for i, r in rows}
PY

# ---- the C writer, the Python reader ----
if ! "$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" \
	--neighbors depth -o "$T/c.tsr" 2>"$T/err" ||
	! "$B/tgs-stack25d" -q --images "$MINI/images" -o "$T/plain.tsr" 2>"$T/err"; then
	fail "tgs-stack25d" "$(cat "$T/err")"
	exit 0
fi
py "python reads tgs-stack25d's stream: ids, order, dtypes, shapes, depths" "$T/c.tsr" "$MINI" <<'PY'
import os, sys, numpy as np, tgs_stream
path, mini = sys.argv[1:]
samples = list(tgs_stream.read(path))
want_ids = sorted(f[:-4] for f in os.listdir(mini + "/images") if f.endswith(".png"))
depths = dict(l.strip().split(",") for l in open(mini + "/depths.csv").readlines()[1:])
assert [s["id"] for s in samples] == want_ids, [s["id"] for s in samples]
for s in samples:
    assert list(s) == ["id", "image", "depth", "mask"], list(s)
    assert type(s["id"]) is str
    for name, dt, shape in (("image", "<u1", (3, 101, 101)), ("depth", "<f4", ()), ("mask", "<u1", (1, 101, 101))):
        a = s[name]
        assert a.dtype == np.dtype(dt) and a.shape == shape, (s["id"], name, a.dtype, a.shape)
    assert s["depth"] == float(depths[s["id"]]), (s["id"], s["depth"])
PY
py "python reads the masks as train.csv says (numpy RLE decode)" "$T/c.tsr" "$T/plain.tsr" "$MINI/train.csv" "$T" <<'PY'
import sys, numpy as np, tgs_stream
sys.path.insert(0, sys.argv[4])
from rle import train_masks
want = train_masks(sys.argv[3])
samples = list(tgs_stream.read(sys.argv[1]))
assert len(samples) == len(want) == 12
assert sum(int(s["mask"].sum()) for s in samples) > 10000  # salt there to get wrong
for s in samples:
    assert set(np.unique(s["mask"])) <= {0, 1}, s["id"]
    assert np.array_equal(s["mask"][0], want[s["id"]]), s["id"]
# the 2.5D image's middle channel is the tile itself, as the 1-channel stack has it
plain = {s["id"]: s["image"] for s in tgs_stream.read(sys.argv[2])}
for s in samples:
    assert plain[s["id"]].shape == (1, 101, 101)
    assert np.array_equal(s["image"][1], plain[s["id"]][0]), s["id"]
PY

# ---- the Python writer, the C reader ----
py "python writes a stream of masks (bool, u8, f32 prob, extra records)" "$MINI/train.csv" "$T" <<'PY'
import sys, numpy as np, tgs_stream
sys.path.insert(0, sys.argv[2])
from rle import train_masks
samples = []
for k, (i, m) in enumerate(train_masks(sys.argv[1]).items()):
    s = {"id": i, "note": "kept as is", "count": np.int64(k)}
    if k % 3 == 0:
        s["mask"] = m[None].astype(bool)                       # written as u8
    elif k % 3 == 1:
        s["mask"] = np.zeros((1, 101, 101), np.uint8)          # wrong on purpose:
        s["prob"] = (m[None] * 0.9 + 0.05).astype(np.float32)  # encode must prefer prob
    else:
        s["mask"] = m[None]
    samples.append(s)
assert tgs_stream.write(sys.argv[2] + "/py.tsr", samples) == 12
PY
check "tgs-rle encode reads the python stream" "$B/tgs-rle" encode -q -o "$T/py.csv" "$T/py.tsr"
if cmp -s "$T/py.csv" "$MINI/train.csv"; then
	ok "its CSV is train.csv byte for byte"
else
	fail "its CSV is train.csv byte for byte" "$(diff "$MINI/train.csv" "$T/py.csv" 2>&1 | head -n 4)"
fi

# ---- the Python round trip ----
py "python round trip: every dtype, 0-d, empty, 8-d, unicode, big-endian and strided input" "$T" <<'PY'
import io, sys, numpy as np, tgs_stream
r = np.random.default_rng(7)
a = [
    {"id": "tile-a", "u8": r.integers(0, 256, (2, 3, 4)).astype(np.uint8),
     "u16": np.array([0, 1, 65535], np.uint16), "i32": np.array([[-2**31, 2**31 - 1]], np.int32),
     "i64": np.int64(-2**63), "f32": r.random((1, 5, 7), np.float32), "f64": np.float64(np.pi),
     "big": np.arange(6, dtype=">f4").reshape(2, 3), "strided": np.arange(20, dtype=np.int32)[::3],
     "t": np.arange(12, dtype=np.uint16).reshape(3, 4).T, "b": np.array([True, False])},
    {"id": "tile-b", "name": "Zürich, ünïcödé", "empty": np.zeros((0, 4), np.float64), "s": "",
     "eight": np.ones((1, 2, 1, 2, 1, 2, 1, 2), np.uint8), "nan": np.array([np.nan, -np.inf], np.float32)},
    {"x": 1.5, "n": 7},  # Python scalars: f64, i64; no id needed by the format
]
buf = io.BytesIO()
tgs_stream.write(buf, a)
buf.seek(0)
b = list(tgs_stream.read(buf))
assert len(b) == len(a)
for sa, sb in zip(a, b):
    assert list(sa) == list(sb), (list(sa), list(sb))
    for k in sa:
        if isinstance(sa[k], str):
            assert sb[k] == sa[k], k
            continue
        want = np.asarray(sa[k])
        want = want.astype(np.uint8) if want.dtype == bool else want
        got = sb[k]
        assert got.dtype == want.dtype.newbyteorder("<") and got.dtype.byteorder in "<|=", (k, got.dtype)
        assert got.shape == want.shape, (k, got.shape)
        assert np.array_equal(got, want, equal_nan=True), k
# a file path works like a file object, and cat of two streams is one stream
p = sys.argv[1] + "/rt.tsr"
tgs_stream.write(p, a)
with open(p, "rb") as f:
    data = f.read()
assert data == buf.getvalue()
with open(p, "wb") as f:
    f.write(data + data)
assert [s.get("id") for s in tgs_stream.read(p)] == ["tile-a", "tile-b", None] * 2
PY
py "python writer refuses what the format cannot hold" <<'PY'
import io, numpy as np, tgs_stream
bad = [
    [{"x": np.zeros(3, np.int8)}], [{"x": np.zeros(3, np.float16)}], [{"x": np.zeros(3, np.uint32)}],
    [{"a b": np.uint8(1)}], [{"a,b": np.uint8(1)}], [{"": np.uint8(1)}], [{"x" * 256: np.uint8(1)}],
    [{"x": np.zeros((1,) * 9, np.uint8)}], [{"x": "nul\0inside"}], [{}], [{"x": np.array(["a"])}],
    [{"id": "a,b"}], [{"id": ""}], [{"id": "Zürich"}],
]
for samples in bad:
    buf = io.BytesIO()
    try:
        tgs_stream.write(buf, samples)
    except ValueError:
        assert buf.getvalue() == b"", samples  # nothing of the bad sample written
        continue
    raise AssertionError("accepted %r" % (samples,))
tgs_stream.write(io.BytesIO(), [{"x" * 255: np.uint8(1)}])  # the longest name is fine
PY

py "python writer to a path: whole or nothing (a refused sample leaves the old file, no temporary)" "$T" <<'PY'
import os, sys, numpy as np, tgs_stream
d = sys.argv[1]
p = os.path.join(d, "whole.tsr")
assert tgs_stream.write(p, [{"id": "a", "x": np.uint8(1)}]) == 1
good = open(p, "rb").read()
def samples():
    yield {"id": "b", "x": np.uint8(2)}
    yield {"id": "c", "x": np.zeros(3, np.int8)}  # refused: i8
try:
    tgs_stream.write(p, samples())
    raise AssertionError("accepted an i8 record")
except ValueError:
    pass
assert open(p, "rb").read() == good, "the old file was touched"
p2 = os.path.join(d, "never.tsr")
try:
    tgs_stream.write(p2, samples())
except ValueError:
    pass
assert not os.path.exists(p2), "a refused stream left its file"
left = [f for f in os.listdir(d) if ".tmp-" in f]
assert not left, left
assert tgs_stream.write(os.devnull, [{"id": "a"}]) == 1  # a device is written as is
PY

# ---- damage: the Python reader ----
py "python reader: flipped data byte, header byte, truncation, bad magic" "$T/c.tsr" "$T" <<'PY'
import sys, tgs_stream
src, tmp = sys.argv[1:]
data = open(src, "rb").read()
rec = 36 + 33 + 3 * 10201 + 4 + 29 + 32 + 10201 + 4  # a sample: id, image, depth, mask
assert len(data) == 12 * rec, len(data)
def expect(blob, pattern, nsamples):
    p = tmp + "/bad.tsr"
    open(p, "wb").write(blob)
    got = []
    try:
        for s in tgs_stream.read(p):
            got.append(s["id"])
    except tgs_stream.StreamError as e:
        assert isinstance(e, ValueError)
        msg = str(e)
        assert msg.startswith(p + ": ") and pattern in msg, (pattern, msg)
        assert len(got) == nsamples, (pattern, got)
        return
    raise AssertionError("no error for " + pattern)
flip = lambda b, at: b[:at] + bytes([b[at] ^ 0x10]) + b[at + 1:]
m = 3 * rec - 10201 - 4 + 5000  # inside sample 3's mask data
expect(flip(data, m), "record 12 'mask' (byte %d): data checksum mismatch" % (3 * rec - 10237), 2)
expect(flip(data, 2 * rec + 14), "record 9 (byte %d): header checksum mismatch" % (2 * rec), 2)
expect(flip(data, rec + 1), "record 5 (byte %d): bad magic" % rec, 1)
expect(data[:rec + 36 + 33 + 500], "record 6 'image' (byte %d): truncated data (500 of 30603 bytes)" % (rec + 36), 1)
expect(data[:rec + 36], "stream ends inside sample 2 (truncated?)", 1)
expect(data[:rec + 20], "record 5 (byte %d): truncated record header" % rec, 1)
expect(data[:len(data) - 2], "record 48 'mask'", 11)
# cut at a sample boundary it is a whole, shorter stream
open(tmp + "/cut.tsr", "wb").write(data[:3 * rec])
assert [s["id"] for s in tgs_stream.read(tmp + "/cut.tsr")] == [s["id"] for s in tgs_stream.read(src)][:3]
PY
printf 'TGSR\002' >"$T/v2.tsr"
head -c 100 "$T/c.tsr" | tail -c +6 >>"$T/v2.tsr"
check_sh "python script: summary of a stream, one line for a damaged one" \
	"PYTHONPATH= '$PYTHON' formats/tgs_stream.py '$T/c.tsr' | tail -n 1 | grep -qx '12 samples' &&
	! '$PYTHON' formats/tgs_stream.py '$T/v2.tsr' >/dev/null 2>'$T/e' && grep -qx 'tgs_stream: .*v2.tsr: record 1 (byte 0): unsupported version 2.*' '$T/e'"

# ---- damage: the C reader on a Python-written stream ----
# the last record is sample 12's mask (u8 1x101x101): a byte in its dims,
# one in its data, one in its data CRC
size=$(wc -c <"$T/py.tsr")
for at in $((size - 4 - 10201 - 32 + 14)) $((size - 4 - 5000)) $((size - 3)); do
	cp "$T/py.tsr" "$T/flip$at.tsr"
	# flip one bit of the byte at offset $at
	"$PYTHON" -c 'import sys; p, at = sys.argv[1], int(sys.argv[2]); b = bytearray(open(p, "rb").read()); b[at] ^= 4; open(p, "wb").write(b)' "$T/flip$at.tsr" "$at"
	refuses "tgs-rle refuses the python stream with byte $at of $size flipped" \
		"flip$at.tsr: record [0-9]+ .*checksum mismatch" "$B/tgs-rle" encode -q "$T/flip$at.tsr"
done

# ---- the hex dump in formats/tensor-stream.md ----
echo 28f865caaa >"$T/one.ids"
"$B/tgs-stack25d" -q --images "$MINI/images" --depths "$MINI/depths.csv" --ids "$T/one.ids" -o "$T/one.tsr"
py "the hex dump in tensor-stream.md is what tgs_stream.write and tgs-stack25d write" formats/tensor-stream.md "$T/one.tsr" <<'PY'
import io, re, sys, numpy as np, tgs_stream
md, c_path = sys.argv[1:]
text = open(md).read().split("## Example", 1)[1].split("```")[1]
dump, at = b"", 0
for line in text.splitlines():
    if not re.match(r"[0-9a-f]{4}  ", line):
        continue
    offset, hexes, _ = re.split(r"\s{2,}", line, 2)
    assert int(offset, 16) == at, line  # offsets add up
    dump += bytes.fromhex(hexes)
    at = len(dump)
assert len(dump) == 65, len(dump)
buf = io.BytesIO()
tgs_stream.write(buf, [{"id": "28f865caaa", "depth": np.float32(147)}])
assert buf.getvalue() == dump, buf.getvalue().hex()
# the C stream is the same with an image record (33 + 10201 + 4 bytes) between
c = open(c_path, "rb").read()
assert len(c) == 65 + 33 + 10201 + 4 and c[36:40] == b"TGSR" and c[36 + 12 + 12:36 + 12 + 12 + 5] == b"image", len(c)
assert c[:36] + c[36 + 33 + 10201 + 4:] == dump
PY
