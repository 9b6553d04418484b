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
refuses "dtype mismatch (string as mask)" "sample 1 .*record 'id' has dtype str" "$B/tgs-rle" encode --record id "$T/good.tsr"
refuses "shape mismatch (3 channels as mask)" "sample 1 .*'image' has 3 channels, expected 1" "$B/tgs-rle" encode --record image "$T/rgb.tsr"
refuses "sample without the record" "sample 1 .*no 'mask' record" "$B/tgs-rle" encode --record mask "$T/rgb.tsr"
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
refuses "bad --size" "--size: '10by10' is not WxH" "$B/tgs-rle" decode --size 10by10
refuses "neighbours without depths" "--neighbors depth needs --depths" "$B/tgs-stack25d" --images "$MINI/images" --neighbors depth
if command -v script >/dev/null 2>&1; then
	script -qec "'$B/tgs-stack25d' --images '$MINI/images'" /dev/null >"$T/tty" 2>&1
	if grep -q "refusing to write a tensor stream to a terminal" "$T/tty"; then ok "binary never goes to a terminal"; else fail "binary never goes to a terminal" "$(head -c 200 "$T/tty")"; fi
	script -qec "'$B/tgs-rle' decode -o - '$MINI/train.csv'" /dev/null >"$T/tty" 2>&1
	if grep -q "refusing to write a tensor stream to a terminal" "$T/tty"; then ok "-o - at a terminal is refused too"; else fail "-o - at a terminal is refused too" "$(head -c 200 "$T/tty")"; fi
else
	skip "binary never goes to a terminal" "no script(1) to make a terminal"
fi
