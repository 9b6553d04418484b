# tgs-show: the PNG's size, the panels' colours where they are known, the
# orders, and refusals. The predictions are made with numpy, so that what
# each pixel must be is known.
. tests/lib.sh
if ! have_numpy; then
	skip "tgs-show" "no numpy"
	exit 0
fi
"$PYTHON" - "$T" <<'PY'
import sys
sys.path.insert(0, "formats")
import numpy as np, tgs_stream
d = sys.argv[1]
out = []
for k in range(6):
    img = np.full((3, 20, 20), 10 * k, np.uint8)
    mask = np.zeros((1, 20, 20), np.uint8); mask[0, :10] = 1         # top half salt
    prob = np.zeros((1, 20, 20), np.float32); prob[0, :, :10] = 0.9   # left half predicted
    if k == 4: prob[0] = mask[0] * 0.9                                 # a perfect one
    var = np.full((1, 20, 20), 0.01 * k, np.float32)
    out.append({"id": "t%d" % k, "image": img, "mask": mask, "prob": prob, "var": var})
tgs_stream.write(d + "/p.tsr", out)
tgs_stream.write(d + "/novar.tsr", [{k: v for k, v in s.items() if k != "var"} for s in out])
PY
cat >"$T/png.py" <<'PY'
import sys, struct, zlib
import numpy as np
def read(path):
    b = open(path, "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, w = 8, b"", None
    while at < len(b):
        n, = struct.unpack(">I", b[at:at + 4]); t = b[at + 4:at + 8]; c = b[at + 8:at + 8 + n]; at += 12 + n
        if t == b"IHDR": w, h = struct.unpack(">II", c[:8])
        if t == b"IDAT": idat += c
    raw = zlib.decompress(idat); stride = 3 * w + 1
    prev, rows = bytearray(3 * w), []
    for y in range(h): # undo the PNG filters: none, sub, up, average, paeth
        f, line = raw[y * stride], bytearray(raw[y * stride + 1:(y + 1) * stride])
        for i in range(3 * w):
            a = line[i - 3] if i >= 3 else 0; b = prev[i]; c = prev[i - 3] if i >= 3 else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(np.frombuffer(bytes(line), np.uint8).reshape(w, 3)); prev = line
    return np.stack(rows)
g = read(sys.argv[1])
# rows of 12 + 20 + 2 pixels from y = 2; panels of 20 + 2 from x = 2
def px(row, panel, y, x): return tuple(g[2 + row * 34 + 12 + y, 2 + panel * 22 + x])
want = sys.argv[2]
if want == "first":
    assert g.shape == (2 + 6 * 34, 2 + 5 * 22, 3), g.shape
    assert px(0, 0, 5, 5) == (0, 0, 0) and px(1, 0, 5, 5) == (10, 10, 10), "the tile"
    assert px(0, 1, 5, 5) == (255, 255, 255) and px(0, 1, 15, 5) == (0, 0, 0), "the truth"
    assert px(0, 2, 5, 5) == (230, 230, 230) and px(0, 2, 5, 15) == (0, 0, 0), "the prediction"
    assert px(0, 4, 5, 5) == (0, 200, 0) and px(0, 4, 15, 5) == (220, 0, 0) and px(0, 4, 5, 15) == (0, 80, 255), "errors"
    assert px(0, 4, 15, 15) == (0, 0, 0), "a true negative"
    assert px(0, 3, 5, 5) == (0, 0, 0) and px(5, 3, 5, 5)[0] > 0, "the heat of var"
    assert (g[3:13, 4:12] == 230).any(), "a label"
elif want == "worst":  # the perfect tile last; the others in stream order
    assert g.shape[0] == 2 + 3 * 34 and px(0, 0, 5, 5) == (0, 0, 0) and px(2, 0, 5, 5) == (20, 20, 20), "worst"
elif want == "uncertain":  # var 0.05, 0.04: tiles 5 and 4
    assert px(0, 0, 5, 5) == (50, 50, 50) and px(1, 0, 5, 5) == (40, 40, 40), "uncertain"
print("ok")
PY
S="$B/tgs-show"
check_sh "6 tiles: the size, the tile, truth, prediction, heat and error colours" \
	"'$S' -q -o '$T/a.png' '$T/p.tsr' && '$PYTHON' '$T/png.py' '$T/a.png' first"
check_sh "--order worst -n 3: the worst first, the perfect tile left out" \
	"'$S' -q -n 3 --order worst -o '$T/w.png' '$T/p.tsr' && '$PYTHON' '$T/png.py' '$T/w.png' worst"
check_sh "--order uncertain -n 2: the highest mean var first" \
	"'$S' -q -n 2 --order uncertain -o '$T/u.png' '$T/p.tsr' && '$PYTHON' '$T/png.py' '$T/u.png' uncertain"
check_sh "--order random: the same seed, the same picture; from a pipe too" \
	"'$S' -q -n 3 --order random --seed 2 -o '$T/r1.png' '$T/p.tsr' && cat '$T/p.tsr' | '$S' -q -n 3 --order random --seed 2 -o '$T/r2.png' && cmp '$T/r1.png' '$T/r2.png'"
refuses "--order uncertain without var" "sample 1: --order uncertain needs its 'var' record" "$S" -q --order uncertain -o "$T/x.png" "$T/novar.tsr"
refuses "no -o" "no -o PNG" "$S" "$T/p.tsr"
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" -o "$T/raw.tsr"
refuses "a stream without predictions" "sample 1: no 'prob' record" "$S" -q -o "$T/x.png" "$T/raw.tsr"
check_sh "no picture left by a refused run" "[ ! -e '$T/x.png' ]"
refuses "--order best" "--order: 'best' is not stream, worst, uncertain or random" "$S" -o "$T/x.png" --order best "$T/p.tsr"
exit 0
