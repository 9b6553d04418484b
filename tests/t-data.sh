# The data path end to end: tiles -> stream -> RLE CSV, against Kaggle's own
# train.csv, and the CSV -> stream -> CSV round trip. On the 12 tiles in
# tests/data/mini always; on all of ../shared/data/tgs when it is there.
. tests/lib.sh

# sort a CSV's body, keeping the header first
sorted() { head -n 1 "$1"; tail -n +2 "$1" | LC_ALL=C sort; }

data_path() { # DIR LABEL
	dir=$1 label=$2
	if ! "$B/tgs-stack25d" -q --images "$dir/train/images" --masks "$dir/train/masks" -o "$T/$label.tsr" 2>"$T/err"; then
		fail "$label: stack" "$(cat "$T/err")"
		return
	fi
	check "$label: encode" "$B/tgs-rle" encode -o "$T/$label.csv" "$T/$label.tsr"
	sorted "$dir/train.csv" >"$T/want.csv"
	sorted "$T/$label.csv" >"$T/got.csv"
	n=$(tail -n +2 "$T/got.csv" | wc -l)
	if cmp -s "$T/want.csv" "$T/got.csv"; then ok "$label: stack | encode reproduces train.csv ($n rows)"; else fail "$label: stack | encode reproduces train.csv" "$(diff "$T/want.csv" "$T/got.csv" | head -n 4)"; fi
	check_sh "$label: decode | encode round trips train.csv" "'$B/tgs-rle' decode '$dir/train.csv' | '$B/tgs-rle' encode | cmp - '$dir/train.csv'"
	# decode to PNGs, then stack those as masks: the same CSV again
	check "$label: decode --png" "$B/tgs-rle" decode -q --png "$T/$label-png" "$dir/train.csv"
	check_sh "$label: PNG masks written by decode stack back to train.csv" \
		"'$B/tgs-stack25d' -q --images '$dir/train/images' --masks '$T/$label-png' | '$B/tgs-rle' encode | tail -n +2 | LC_ALL=C sort | cmp - <(tail -n +2 '$T/want.csv')"
}

mkdir -p "$T/mini/train"
ln -s "$PWD/$MINI/images" "$T/mini/train/images"
ln -s "$PWD/$MINI/masks" "$T/mini/train/masks"
cp "$MINI/train.csv" "$T/mini/train.csv"
data_path "$T/mini" mini
if have_shared; then data_path "$SHARED" shared; else skip "shared: data path" "no $SHARED (a clone without ../shared)"; fi

# 2.5D: the channels are the depth-order neighbours, checked in numpy-free
# shell by comparing against 1-channel stacks of the neighbour tiles.
"$B/tgs-stack25d" -q --images "$MINI/images" --depths "$MINI/depths.csv" --neighbors depth --depth-channel -o "$T/25d.tsr"
"$B/tgs-info" "$T/25d.tsr" >"$T/info"
if grep -Eq '^  image +12 u8 +\[4,101,101\]' "$T/info" && grep -Eq '^  depth +12 f32' "$T/info"; then ok "2.5D stack has 3 neighbour channels, a depth channel and depths"; else fail "2.5D stack shape" "$(cat "$T/info")"; fi
# the tile order by depth, and its middle tile's neighbours
order=$(tail -n +2 "$MINI/depths.csv" | LC_ALL=C sort -t, -k2,2n -k1,1 | cut -d, -f1)
mid=$(echo "$order" | sed -n 6p) up=$(echo "$order" | sed -n 5p) down=$(echo "$order" | sed -n 7p)
for id in "$up" "$mid" "$down"; do echo "$id"; done >"$T/three"
"$B/tgs-stack25d" -q --images "$MINI/images" --ids "$T/three" -o "$T/three.tsr"
echo "$mid" >"$T/one"
"$B/tgs-stack25d" -q --images "$MINI/images" --depths "$MINI/depths.csv" --neighbors depth --ids "$T/one" -o "$T/one.tsr"
# the image record's data: 3 x 10201 bytes of the 2.5D sample equal the three
# 1-channel tiles' data in order (payload offsets found by their sizes)
if have_numpy && "$PYTHON" - "$T/one.tsr" "$T/three.tsr" <<'PY'
import sys
sys.path.insert(0, "formats")
import tgs_stream, numpy as np
one = list(tgs_stream.read(sys.argv[1]))[0]["image"]
three = np.concatenate([s["image"] for s in tgs_stream.read(sys.argv[2])])
sys.exit(0 if one.shape == (3, 101, 101) and np.array_equal(one, three) else 1)
PY
then ok "depth neighbours are the tiles above and below in depth order"
else if have_numpy; then fail "depth neighbours" "channels differ from the neighbour tiles"; else skip "depth neighbours" "no numpy"; fi; fi

# --ids keeps the file's order; a CSV with an id column works too
printf '%s\n' "$down" "$up" >"$T/two"
"$B/tgs-stack25d" -q --images "$MINI/images" --ids "$T/two" | "$B/tgs-info" -v >"$T/v"
if sed -n 1p "$T/v" | grep -q "\"$down\"" && sed -n 2p "$T/v" | grep -q "\"$up\""; then ok "--ids keeps the listed order"; else fail "--ids order" "$(head -n 2 "$T/v")"; fi
check_sh "--ids takes a CSV with an id column" "'$B/tgs-stack25d' -q --images '$MINI/images' --ids '$MINI/train.csv' | '$B/tgs-info' | grep -q '12 samples'"

# a UTF-8 byte-order mark at the start of a CSV (Excel writes one) is skipped
# by every reader: the output is byte for byte the BOM-less file's
bom() { printf '\357\273\277'; cat "$1"; } # bom FILE: FILE behind EF BB BF
bom "$MINI/depths.csv" >"$T/bom-depths.csv"
bom "$MINI/train.csv" >"$T/bom-train.csv"
bom "$T/two" >"$T/bom-two"
bom "$MINI/depths.csv" | sed 's/$/\r/' >"$T/excel-depths.csv"
# same NAME 'CMD' 'REFERENCE-CMD': both succeed, the reference writes
# something, and CMD writes the same bytes
same() {
	bash -o pipefail -c "$2" >"$T/same.got" 2>"$T/err"
	rc=$?
	if [ $rc -ne 0 ]; then fail "$1" "exit $rc: $(head -c 300 "$T/err")"; return; fi
	bash -o pipefail -c "$3" >"$T/same.want" 2>"$T/err"
	rc=$?
	if [ $rc -ne 0 ]; then fail "$1" "the reference: exit $rc: $(head -c 300 "$T/err")"
	elif [ ! -s "$T/same.want" ]; then fail "$1" "the reference wrote nothing"
	elif ! cmp -s "$T/same.got" "$T/same.want"; then fail "$1" "$(cmp "$T/same.got" "$T/same.want" 2>&1)"
	else ok "$1"; fi
}
stack="'$B/tgs-stack25d' -q --images '$MINI/images'"
same "stack --depths: a BOM-prefixed depths.csv gives the same stream" \
	"$stack --depths '$T/bom-depths.csv' --neighbors depth --depth-channel" "$stack --depths '$MINI/depths.csv' --neighbors depth --depth-channel"
same "stack --depths: Excel's depths.csv (BOM and CRLF) gives the same stream" \
	"$stack --depths '$T/excel-depths.csv' --neighbors depth --depth-channel" "$stack --depths '$MINI/depths.csv' --neighbors depth --depth-channel"
same "stack --ids: a BOM-prefixed id list gives the same stream" "$stack --ids '$T/bom-two'" "$stack --ids '$T/two'"
same "stack --ids: a BOM-prefixed train.csv (its header still skipped) gives the same stream" \
	"$stack --ids '$T/bom-train.csv'" "$stack --ids '$MINI/train.csv'"
same "rle decode: a BOM-prefixed train.csv gives the same stream" "'$B/tgs-rle' decode -q '$T/bom-train.csv'" "'$B/tgs-rle' decode -q '$MINI/train.csv'"
same "rle decode: a BOM-prefixed train.csv on stdin, encoded back, is train.csv without the BOM" \
	"'$B/tgs-rle' decode -q < '$T/bom-train.csv' | '$B/tgs-rle' encode -q" "cat '$MINI/train.csv'"

# encode picks prob over mask, thresholds with >, and --prob overrides
check_sh "streams concatenate with cat" "cat '$T/mini.tsr' '$T/mini.tsr' | '$B/tgs-info' | grep -q '24 samples'"
