#!/bin/sh
# Regenerate the seed corpora in tests/fuzz/corpus/ (they are kept in the
# repository, so this runs only when the formats change):
#   make && sh tests/fuzz/make-corpus.sh
# fuzz_stream: valid streams made by the tools, two samples each: two real
#   tiles of tests/data/mini (id, image, depth, mask: about 41 KB), and two
#   tiny 5x4 masks from tgs-rle decode (id, mask) so most mutations land in
#   headers rather than pixels.
# fuzz_rle: RLE strings, good and bad, and CSV files (first byte \001, which
#   tells fuzz_rle to read the rest as CSV).
set -eu
cd "$(dirname "$0")/../.."
B=${TGS_BIN:-bin}
C=tests/fuzz/corpus
rm -rf "$C"
mkdir -p "$C/fuzz_stream" "$C/fuzz_rle"
t=$(mktemp -d "${TMPDIR:-/tmp}/tgs-corpus.XXXXXX")
trap 'rm -rf "$t"' EXIT

# -- streams
printf '%s\n' 75efad62c1 575d24d81d >"$t/ids"
"$B/tgs-stack25d" -q --images tests/data/mini/images --masks tests/data/mini/masks \
	--depths tests/data/mini/depths.csv --ids "$t/ids" -o "$C/fuzz_stream/mini2.tgs"
printf 'id,rle_mask\na,1 3 7 2\nb,\n' >"$t/tiny.csv"
"$B/tgs-rle" decode -q --size 5x4 -o "$C/fuzz_stream/tiny2.tgs" "$t/tiny.csv"

# -- RLE text: one seed per file, no trailing newline
n=0
seed() {
	n=$((n + 1))
	printf '%s' "$1" >"$C/fuzz_rle/rle$n"
}
seed ''                       # empty mask
seed '1 1'                    # first pixel
seed '10201 1'                # last pixel
seed '1 10201'                # every pixel
seed '5051 5151'              # a real one from train.csv
seed '1 2 5 3 100 50 10000 202'
seed '1 2 3 1'                # touching runs (allowed; encode merges them)
seed '  1 1   3 2 '           # extra spaces
seed '0 1'                    # start 0
seed '1 0'                    # length 0
seed '10201 2'                # past the end
seed '5 3 6 1'                # overlap
seed '9 1 3 1'                # out of order
seed '1 2 3'                  # odd count
seed '4294967296 1'           # over 32 bits
seed '1 2x'                   # junk in a token
seed '-1 2'                   # sign

# -- CSV files for the CSV mode
csv() {
	n=$((n + 1))
	printf '\001%b' "$1" >"$C/fuzz_rle/csv$n"
}
csv 'id,rle_mask\n575d24d81d,\na266a2a9df,5051 5151\n'
csv 'id,rle_mask\r\n"a""b","1 2 5 3"\r\n\r\nc,10201 1\n'
csv 'id,rle_mask\nx,"1 2\n'          # unterminated quote
csv 'id,rle_mask\nx,1 2"\ny,"3 4"z\n' # stray quote, text after a quote
csv 'a,b,c\n,,\n,\n'
echo "wrote $(ls "$C/fuzz_stream" | wc -l) stream seeds, $(ls "$C/fuzz_rle" | wc -l) rle seeds"
