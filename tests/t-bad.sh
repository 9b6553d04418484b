# Bad input: each case must end in one clear line naming the problem, exit
# 1 (or 2 for usage), never a crash, and no output file left behind.
. tests/lib.sh

"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" -o "$T/good.tsr"
"$B/tgs-stack25d" -q --images "$MINI/images" --depths "$MINI/depths.csv" --neighbors depth -o "$T/rgb.tsr"
size=$(wc -c <"$T/good.tsr")

# ---- streams ----
echo "this is not a stream" >"$T/text"
refuses "wrong magic" "text: record 1 .*bad magic" "$B/tgs-rle" encode "$T/text"
head -c $((size - 100)) "$T/good.tsr" >"$T/trunc.tsr"
refuses "truncated record" "trunc.tsr: record [0-9]+ 'mask'.*truncated data" "$B/tgs-rle" encode "$T/trunc.tsr"
head -c 5 "$T/good.tsr" >"$T/trunc5.tsr"
refuses "truncated header" "truncated record header" "$B/tgs-info" "$T/trunc5.tsr"
cp "$T/good.tsr" "$T/flip.tsr"
printf 'Z' | dd of="$T/flip.tsr" bs=1 seek=$((size / 2 + 500)) conv=notrunc 2>/dev/null
refuses "corrupted byte" "flip.tsr: record [0-9]+ .*checksum mismatch" "$B/tgs-info" "$T/flip.tsr"
refuses "dtype mismatch (string as mask)" "sample 1 .*record 'id' has dtype str" "$B/tgs-rle" encode --prob id "$T/good.tsr"
refuses "shape mismatch (3 channels as mask)" "sample 1 .*'image' has 3 channels, expected 1" "$B/tgs-rle" encode --prob image "$T/rgb.tsr"
refuses "sample without the record" "sample 1 .*no 'mask' record" "$B/tgs-rle" encode --prob mask "$T/rgb.tsr"
cat "$T/good.tsr" "$T/good.tsr" >"$T/twice.tsr"
refuses "duplicate ids in a stream" "sample 13: id [0-9a-f]+ repeats sample 1" "$B/tgs-rle" encode "$T/twice.tsr"
refuses "missing stream file" "nosuch.tsr: No such file" "$B/tgs-info" "$T/nosuch.tsr"

# ---- PNGs ----
mkdir -p "$T/small"
printf 'id,rle_mask\nsmalltile,1 5\n' >"$T/small.csv"
"$B/tgs-rle" decode -q --size 100x101 --png "$T/small" "$T/small.csv"
refuses "PNG not 101x101" "smalltile.png: is 100x101, expected 101x101" "$B/tgs-stack25d" --images "$T/small"
mkdir -p "$T/notpng"
echo "hello" >"$T/notpng/fake.png"
refuses "not a PNG at all" "fake.png: not a PNG file" "$B/tgs-stack25d" --images "$T/notpng"
mkdir -p "$T/halfmasks"
cp "$MINI/masks/"*.png "$T/halfmasks/"
victim=$(ls "$T/halfmasks" | head -n 1)
rm "$T/halfmasks/$victim"
refuses "missing mask file" "${victim%.png}.png: No such file" "$B/tgs-stack25d" -q --images "$MINI/images" --masks "$T/halfmasks"
refuses "missing images folder" "nowhere: No such file" "$B/tgs-stack25d" --images "$T/nowhere"
# PNG kinds we refuse rather than guess at: colour, palette, gray+alpha
if have_numpy; then
	"$PYTHON" - "$T" <<'PY'
import struct, sys, zlib
def png(path, w, h, color_type, depth, rows):
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    raw = b"".join(b"\0" + r for r in rows)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0))
        + (chunk(b"PLTE", bytes(range(256)) * 3) if color_type == 3 else b"") + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
import os
t = sys.argv[1]
for d in ("colour", "palette", "grayalpha", "gray16", "rgbgray"): os.makedirs(f"{t}/{d}", exist_ok=True)
png(f"{t}/colour/c.png", 101, 101, 2, 8, [bytes([10, 20, 30] * 101)] * 101)
png(f"{t}/palette/p.png", 101, 101, 3, 8, [bytes(101)] * 101)
png(f"{t}/grayalpha/a.png", 101, 101, 4, 8, [bytes(202)] * 101)
png(f"{t}/gray16/g.png", 101, 101, 0, 16, [bytes([0x12, 0x34] * 101)] * 101)
png(f"{t}/rgbgray/r.png", 101, 101, 6, 8, [bytes([77, 77, 77, 0] * 101)] * 101)
PY
	refuses "colour PNG" "c.png: colour image \(R,G,B = 10,20,30" "$B/tgs-stack25d" --images "$T/colour"
	refuses "palette PNG" "p.png: unsupported PNG" "$B/tgs-stack25d" --images "$T/palette"
	refuses "gray+alpha PNG" "a.png: unsupported PNG" "$B/tgs-stack25d" --images "$T/grayalpha"
	# accepted kinds: 16-bit gray scales down by 256, RGBA with R=G=B keeps its gray
	check_sh "16-bit gray image scales to 8 bits" "'$B/tgs-stack25d' --images '$T/gray16' | '$B/tgs-info' | grep -Eq 'image .* 18 +18 +18\$'"
	check_sh "RGBA with R=G=B reads as gray" "'$B/tgs-stack25d' --images '$T/rgbgray' | '$B/tgs-info' | grep -Eq 'image .* 77 +77 +77\$'"
else
	skip "PNG kinds" "no numpy (python3) to write test PNGs"
fi

# ---- CSVs and RLE ----
printf 'id,depth\na,1\n' >"$T/badhdr.csv"
refuses "depths with a wrong header" "badhdr.csv: line 1: expected the header 'id,z'" "$B/tgs-stack25d" --images "$MINI/images" --depths "$T/badhdr.csv"
printf 'id,z\n%s,deep\n' "$(ls "$MINI/images" | head -n 1 | sed 's/.png//')" >"$T/badnum.csv"
refuses "depths with a bad number" "badnum.csv: line 2: depth 'deep'" "$B/tgs-stack25d" --images "$MINI/images" --depths "$T/badnum.csv"
printf 'id,z\nnotatile,5\n' >"$T/fewdepths.csv"
refuses "tile without a depth" "fewdepths.csv: no depth for tile" "$B/tgs-stack25d" --images "$MINI/images" --depths "$T/fewdepths.csv"
rle_case() { # NAME PATTERN CSV-BODY
	printf 'id,rle_mask\n%b' "$3" >"$T/case.csv"
	refuses "$1" "$2" "$B/tgs-rle" decode -o "$T/case.tsr" "$T/case.csv"
}
rle_case "RLE odd count" "case.csv: line 3 \(b\): run 2: start 9 has no length" 'a,1 2\nb,1 2 9\n'
rle_case "RLE overlap" "line 2 \(a\): run 2: starts at 3, inside or before" 'a,1 5 3 2\n'
rle_case "RLE out of range" "line 2 \(a\): run 1: 10200 5 runs past the last pixel 10201" 'a,10200 5\n'
rle_case "RLE not a number" "line 2 \(a\): run 1: 'x' is not a positive integer" 'a,x 5\n'
rle_case "RLE duplicate ids" "line 4: id a repeats line 2" 'a,1 2\nb,\na,5 1\n'
rle_case "CSV wrong field count" "line 2: 3 fields, expected 2" 'a,1 2,3\n'
rle_case "CSV unterminated quote" "line 2: unterminated quoted field" '"a,1 2\n'
printf 'id,mask\na,1 2\n' >"$T/hdr.csv"
refuses "CSV wrong header" "hdr.csv: line 1: expected the header 'id,rle_mask'" "$B/tgs-rle" decode "$T/hdr.csv"
if [ -e "$T/case.tsr" ] || ls "$T" | grep -q 'tmp-'; then fail "no partial output after refused input" "$(ls "$T")"; else ok "no partial output after refused input"; fi
rm -rf "$T/pngout"
printf 'id,rle_mask\na,1 2\nb,1 2 3\n' >"$T/late.csv"
refuses "bad row after good ones" "late.csv: line 3" "$B/tgs-rle" decode --png "$T/pngout" "$T/late.csv"
if [ -e "$T/pngout" ]; then fail "no PNGs written when a later row is bad" "$(ls "$T/pngout")"; else ok "no PNGs written when a later row is bad"; fi

# ---- outputs and usage ----
refuses "stack failing midway leaves no -o file" "No such file" "$B/tgs-stack25d" -q --images "$MINI/images" --masks "$T/halfmasks" -o "$T/partial.tsr"
if [ -e "$T/partial.tsr" ] || ls "$T" | grep -q 'partial.tsr.tmp'; then fail "no partial -o file" "$(ls "$T")"; else ok "no partial -o file or temporary left"; fi
# -o naming a FIFO or a device writes into it: renaming a finished
# temporary over it would leave a plain file in its place (run as root,
# -o /dev/null once replaced /dev/null itself)
mkfifo "$T/fifo"
timeout 20 cat "$T/fifo" >"$T/fromfifo" &
"$B/tgs-rle" encode -o "$T/fifo" "$T/good.tsr"
rc=$?
wait
"$B/tgs-rle" encode "$T/good.tsr" >"$T/direct.csv"
if [ $rc -eq 0 ] && [ -p "$T/fifo" ] && cmp -s "$T/direct.csv" "$T/fromfifo"; then
	ok "-o FIFO writes into the FIFO and leaves it one"
else
	fail "-o FIFO writes into the FIFO and leaves it one" "exit $rc; $(ls -l "$T/fifo")"
fi
if [ -c /dev/full ]; then
	refuses "-o /dev/full: a write error, said" "/dev/full: write error" "$B/tgs-stack25d" -q --images "$MINI/images" -o /dev/full
	if [ -c /dev/full ]; then ok "-o /dev/full leaves the device as it was"; else fail "-o /dev/full leaves the device as it was" "$(ls -l /dev/full)"; fi
else
	skip "-o /dev/full: a write error, said" "no /dev/full here"
fi
refuses "-o a directory" "is a directory" "$B/tgs-rle" encode -o "$T" "$T/good.tsr"
refuses "unknown option is a usage error" "unknown option '--frobnicate'" "$B/tgs-rle" encode --frobnicate
refuses "short option without its value" "option '-o' needs a value" "$B/tgs-rle" encode -o
"$B/tgs-rle" encode --frobnicate >/dev/null 2>&1
[ $? -eq 2 ] && ok "usage errors exit 2" || fail "usage errors exit 2" "exit $?"
refuses "missing subcommand" "missing command" "$B/tgs-rle"
refuses "bad --size" "--size: '10by10' is not S or WxH" "$B/tgs-rle" decode --size 10by10
refuses "neighbours without depths" "--neighbors depth needs --depths" "$B/tgs-stack25d" --images "$MINI/images" --neighbors depth
if command -v script >/dev/null 2>&1; then
	script -qec "'$B/tgs-stack25d' --images '$MINI/images'" /dev/null >"$T/tty" 2>&1
	if grep -q "refusing to write a tensor stream to a terminal" "$T/tty"; then ok "binary never goes to a terminal"; else fail "binary never goes to a terminal" "$(head -c 200 "$T/tty")"; fi
	script -qec "'$B/tgs-rle' decode -o - '$MINI/train.csv'" /dev/null >"$T/tty" 2>&1
	if grep -q "refusing to write a tensor stream to a terminal" "$T/tty"; then ok "-o - at a terminal is refused too"; else fail "-o - at a terminal is refused too" "$(head -c 200 "$T/tty")"; fi
else
	skip "binary never goes to a terminal" "no script(1) to make a terminal"
fi

# ---- issue 21: the hostile-input sweep ----
# Streams made by hand (the tools no longer write such things): rec(NAME,
# DTYPE, DIMS, DATA, FLAGS) is a record as in formats/tensor-stream.md,
# CRCs included; text(NAME, BYTES, FLAGS) a str record.
mkstream() { # FILE PYTHON-EXPRESSION (a bytes object made with rec())
	"$PYTHON" - "$1" "$2" <<'PY'
import struct, sys, zlib
def rec(name, code, dims, data, flags):
    h = b"TGSR" + bytes([1, code, len(dims), flags]) + struct.pack("<HH", len(name), 0) + struct.pack("<%dI" % len(dims), *dims) + name
    return h + struct.pack("<I", zlib.crc32(h)) + data + struct.pack("<I", zlib.crc32(data))
def text(name, b, flags): return rec(name, 7, [len(b)], b, flags)
def f32(*v): return struct.pack("<%df" % len(v), *v)
nan, inf = float("nan"), float("inf")
open(sys.argv[1], "wb").write(eval(sys.argv[2]))
PY
}
# 7: decode grows its buffer by bytes, not by 4096 masks (64 GiB at
# 4096x4096); out of memory names the file and line. The address-space
# limits are left out under ASan, which reserves terabytes of shadow.
printf 'id,rle_mask\nbig,1 5\n' >"$T/big.csv"
if [ -z "${TGS_SANITIZED:-}" ]; then
	check_sh "decode --size 4096x4096 of one row fits in 1 GB" \
		"(ulimit -v 1000000; '$B/tgs-rle' decode -q --size 4096x4096 '$T/big.csv') | '$B/tgs-info' | grep -Eq '^  mask +1 u8 +\[1,4096,4096\]'"
	refuses "decode out of memory names the file and line" "big.csv: line 2: out of memory" \
		sh -c "ulimit -v 150000; exec '$B/tgs-rle' decode -q --size 16384x16384 -o '$T/huge.tsr' '$T/big.csv'"
else
	check_sh "decode --size 4096x4096 of one row" "'$B/tgs-rle' decode -q --size 4096x4096 '$T/big.csv' | '$B/tgs-info' | grep -Eq '^  mask +1 u8 +\[1,4096,4096\]'"
fi
# 8: encode takes the thresholds tgs-eval takes, 0..1
refuses "encode --threshold 2 (every mask empty)" "--threshold: 2 is out of range \[0, 1\]" "$B/tgs-rle" encode --threshold 2 "$T/good.tsr"
refuses "encode --threshold -0.5 (every pixel salt)" "--threshold: -0.5 is out of range \[0, 1\]" "$B/tgs-rle" encode --threshold -0.5 "$T/good.tsr"
check "encode --threshold 0 and 1 are taken" sh -c "'$B/tgs-rle' encode -q --threshold 0 '$T/good.tsr' && '$B/tgs-rle' encode -q --threshold 1 '$T/good.tsr'"
# 9: str records are UTF-8, checked by the reader and the writer
mkdir -p "$T/badname" "$T/commaname"
cp "$MINI/images/$(ls "$MINI/images" | head -n 1)" "$T/badname/$(printf 'a\377b').png"
cp "$MINI/images/$(ls "$MINI/images" | head -n 1)" "$T/commaname/a,b.png"
refuses "stack: a file name that is not UTF-8" 'badname/a\\xffb.png: the file name is not UTF-8' "$B/tgs-stack25d" -q --images "$T/badname" -o "$T/bad.tsr"
refuses "stack: a file name that is not a tile id" "commaname/a,b.png: the name is not a valid tile id" "$B/tgs-stack25d" -q --images "$T/commaname" -o "$T/bad.tsr"
if [ -e "$T/bad.tsr" ]; then fail "no output from a refused folder" "bad.tsr was written"; else ok "no output from a refused folder"; fi
if command -v "$PYTHON" >/dev/null 2>&1; then
	mkstream "$T/latin1.tsr" 'text(b"id", b"a\xffb", 0) + rec(b"mask", 1, [1, 1, 1], b"\x01", 1)'
	refuses "info: an id that is not UTF-8" "latin1.tsr: record 1 'id' \(byte 0\): string is not valid UTF-8 \(its byte 1\)" "$B/tgs-info" "$T/latin1.tsr"
	refuses "fold: an id that is not UTF-8" "latin1.tsr: record 1 'id' .*not valid UTF-8" "$B/tgs-fold" -k 2 -i 0 "$T/latin1.tsr"
	refuses "encode: an id that is not UTF-8" "record 1 'id' .*not valid UTF-8" sh -c "cat '$T/latin1.tsr' | '$B/tgs-rle' encode"
	mkstream "$T/overlong.tsr" 'text(b"note", b"\xc0\xaf", 1)'
	refuses "info: an overlong UTF-8 form" "record 1 'note' .*not valid UTF-8 \(its byte 0\)" "$B/tgs-info" "$T/overlong.tsr"
	mkstream "$T/utf8.tsr" 'text(b"note", "\u00d6l\u00fc".encode(), 1)'
	check_sh "info: UTF-8 text is read" "'$B/tgs-info' -v '$T/utf8.tsr' | grep -q 'note=\"Ölü\"'"
	mkstream "$T/long.tsr" 'text(b"note", b"x" * 46 + "\u00e9\u00e9".encode(), 1)'
	check_sh "info: a long example is cut between characters" "'$B/tgs-info' '$T/long.tsr' | '$PYTHON' -c 'import sys; sys.stdin.buffer.read().decode(\"utf-8\")'"
	# 12: NaN and infinities are counted, not folded into min/max/mean
	mkstream "$T/nan.tsr" 'text(b"id", b"a", 0) + rec(b"prob", 5, [1, 2, 2], f32(nan, nan, nan, nan), 0) + rec(b"odd", 5, [5], f32(0, nan, 1, inf, -inf), 0) + rec(b"one", 5, [], f32(nan), 1)'
	"$B/tgs-info" -v "$T/nan.tsr" >"$T/nan.out" 2>&1
	if grep -Eq '^  prob +1 f32 +\[1,2,2\] +- +- +-  \(4 nan\)$' "$T/nan.out" && grep -Eq '^  odd +1 f32 +\[5\] +0 +1 +0.5  \(1 nan, 1 \+inf, 1 -inf\)$' "$T/nan.out" &&
		grep -Eq '^  one +1 f32 +\[\] +- +- +-  \(1 nan\)$' "$T/nan.out" && grep -q ' prob:f32\[1,2,2\](4 nan) odd:f32\[5\](0..1 mean 0.5; 1 nan, 1 +inf, 1 -inf) one:f32=nan$' "$T/nan.out"; then
		ok "info: NaN and inf counted apart from min/max/mean"
	else
		fail "info: NaN and inf counted apart from min/max/mean" "$(cat "$T/nan.out")"
	fi
else
	skip "hand-made streams" "no $PYTHON"
fi
if have_numpy; then
	cat >"$T/utf8.py" <<'PY'
import sys
sys.path.insert(0, "formats")
import tgs_stream
try:
    list(tgs_stream.read(sys.argv[1]))
    print("read: no error")
except tgs_stream.StreamError as e:
    print("read: %s" % e)
try:
    tgs_stream.write(sys.argv[2], [{"id": "a\udcffb"}])
    print("write: no error")
except ValueError as e:
    print("write: %s" % e)
PY
	"$PYTHON" "$T/utf8.py" "$T/latin1.tsr" "$T/py.tsr" >"$T/py.out" 2>&1
	if grep -q "^read: .*latin1.tsr: record 1 'id' (byte 0): string is not valid UTF-8 (its byte 1)$" "$T/py.out" &&
		grep -q "^write: record 'id': string is not valid UTF-8" "$T/py.out"; then
		ok "tgs_stream.py refuses text that is not UTF-8, reading and writing"
	else
		fail "tgs_stream.py refuses text that is not UTF-8, reading and writing" "$(cat "$T/py.out")"
	fi
else
	skip "tgs_stream.py and UTF-8" "no numpy"
fi
# 10: a CSV of just the header is an empty submission, both ways
printf 'id,rle_mask\n' >"$T/empty.csv"
check_sh "decode of a header-only CSV: an empty stream" "'$B/tgs-rle' decode -q -o '$T/empty.tsr' '$T/empty.csv' 2>'$T/empty.err' && [ ! -s '$T/empty.err' ] && [ -f '$T/empty.tsr' ] && [ ! -s '$T/empty.tsr' ]"
check_sh "decode --png of a header-only CSV: an empty folder" "'$B/tgs-rle' decode -q --png '$T/emptypng' '$T/empty.csv' 2>'$T/empty.err' && [ ! -s '$T/empty.err' ] && [ -d '$T/emptypng' ] && [ -z \"\$(ls '$T/emptypng')\" ]"
# ... but encode refuses a stream of no samples unless asked: it is most
# often a predictor that failed upstream, and a header-only CSV with exit 0
# passes for a finished submission
: >"$T/none.tsr"
refuses "encode of an empty stream is refused" "none.tsr: no samples to encode \(an empty submission\? --allow-empty writes the header alone\)$" \
	"$B/tgs-rle" encode -q -o "$T/none.csv" "$T/none.tsr"
[ "$rc" -eq 1 ] && ok "encode of an empty stream: exit 1" || fail "encode of an empty stream: exit 1" "exit $rc"
if [ -e "$T/none.csv" ] || ls "$T" | grep -q 'none.csv.tmp'; then fail "encode of an empty stream: no -o file" "$(ls "$T")"; else ok "encode of an empty stream: no -o file or temporary left"; fi
refuses "encode of an empty pipe (a predictor that failed) is refused, naming stdin" "<stdin>: no samples to encode" \
	sh -c "false | '$B/tgs-rle' encode -q"
echo "an old submission" >"$T/old.csv"
"$B/tgs-rle" encode -q -o "$T/old.csv" "$T/none.tsr" 2>/dev/null
if [ $? -eq 1 ] && [ "$(cat "$T/old.csv")" = "an old submission" ]; then ok "encode of an empty stream leaves an existing -o file as it was"; else fail "encode of an empty stream leaves an existing -o file as it was" "$(head -c 100 "$T/old.csv")"; fi
check_sh "encode --allow-empty of an empty stream: exactly the header" "'$B/tgs-rle' encode -q --allow-empty '$T/none.tsr' 2>'$T/empty.err' | cmp - '$T/empty.csv' && [ ! -s '$T/empty.err' ]"
check_sh "encode --allow-empty -o: a file of exactly the header" "'$B/tgs-rle' encode -q --allow-empty -o '$T/none.csv' < '$T/none.tsr' && cmp '$T/none.csv' '$T/empty.csv'"
check_sh "a header-only CSV round trips with decode | encode --allow-empty" "'$B/tgs-rle' decode -q '$T/empty.csv' | '$B/tgs-rle' encode -q --allow-empty | cmp - '$T/empty.csv'"
check_sh "encode --allow-empty changes nothing for a stream with samples" "'$B/tgs-rle' encode -q --allow-empty '$T/good.tsr' | cmp - <('$B/tgs-rle' encode -q '$T/good.tsr')"
usage_error "decode --allow-empty is a usage error" "--allow-empty is for encode" "$B/tgs-rle" decode --allow-empty "$T/empty.csv"
# 13: an id twice is refused by every tool that relies on ids being unique
refuses "fold: duplicate ids (a train/val leak)" "twice.tsr: sample 13: id 28f865caaa repeats sample 1" "$B/tgs-fold" -q -k 5 -i 0 -o "$T/leak.tsr" "$T/twice.tsr"
refuses "fold --complement from a pipe: duplicate ids" "<stdin>: sample 13: id 28f865caaa repeats sample 1" sh -c "cat '$T/twice.tsr' | '$B/tgs-fold' -q -k 5 -i 0 --complement -o '$T/leak.tsr'"
if [ -e "$T/leak.tsr" ]; then fail "no fold written from duplicate ids" "leak.tsr was written"; else ok "no fold written from duplicate ids"; fi
refuses "eval: duplicate ids (scored twice)" "twice.tsr: sample 13: id 28f865caaa repeats sample 1" "$B/tgs-eval" -q --prob mask "$T/twice.tsr"
printf '%s\n' 28f865caaa 302ea1ac81 28f865caaa 302ea1ac81 >"$T/ids2"
refuses "stack --ids: a repeat names both lines" "ids2: line 3: id 28f865caaa repeats line 1" "$B/tgs-stack25d" -q --images "$MINI/images" --ids "$T/ids2"
# output directories: made with their parents, and removed again when the tool fails before writing into them
check_sh "decode --png: a folder whose parents are missing is made with them" \
	"'$B/tgs-rle' decode -q --png '$T/pngs/a/b' '$T/small.csv' && [ -f '$T/pngs/a/b/smalltile.png' ]"
: >"$T/aplainfile"
refuses "decode --png: a parent that is a file" "--png: .*aplainfile: not a directory" "$B/tgs-rle" decode -q --png "$T/aplainfile/x" "$T/empty.csv"
# an 'id' that is not a tile id (a comma breaks the CSV, a newline the one-line messages): refused by every reader
if have_numpy; then
	"$PYTHON" - "$T/badid.tsr" <<'PY'
import sys
sys.path.insert(0, "formats")
import numpy as np, tgs_stream
tgs_stream._id_problem = lambda data: None # write what the writer would refuse
tgs_stream.write(sys.argv[1], [{"id": "a,b", "mask": np.zeros((1, 101, 101), np.uint8)}, {"id": "c\nd", "mask": np.zeros((1, 101, 101), np.uint8)}])
PY
	for tool in "tgs-info" "tgs-fold -k 2 -i 0" "tgs-rle encode" "tgs-eval --prob mask"; do
		refuses "$tool: an id holding a comma" "badid.tsr: record 1 'id' \(byte 0\): not a tile id: its byte 1 is 0x2c" $B/$tool "$T/badid.tsr"
	done
else
	skip "ids that are not tile ids" "no numpy"
fi
