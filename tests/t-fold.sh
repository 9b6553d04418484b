# tgs-fold: the folds partition the input exactly (each sample in exactly
# one validation part; fold I and its complement are the input, bytes and
# order kept), the strata are balanced, the split is a function of the seed
# (and the same from a file, a pipe or a redirected stdin), and bad
# arguments and input are refused in one line.
. tests/lib.sh

"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" -o "$T/mini.tsr"

cat >"$T/folds.py" <<'PY'
"""check IN K BINS DIR: DIR/val<I>.tsr and DIR/fit<I>.tsr for I < K are
fold I and its complement of IN. Prints one line: 'ok what' or 'bad why'."""
import struct, sys
sys.path.insert(0, "formats")
import numpy as np
import tgs_stream

SIZE = {1: 1, 2: 2, 3: 4, 4: 8, 5: 4, 6: 8, 7: 1}

def samples(path):
    """The raw bytes of each sample, walking the record headers."""
    data, out, at, start = open(path, "rb").read(), [], 0, 0
    while at < len(data):
        dtype, ndim, flags, name_len = data[at + 5], data[at + 6], data[at + 7], struct.unpack_from("<H", data, at + 8)[0]
        dims = struct.unpack_from("<%dI" % ndim, data, at + 12)
        at += 12 + 4 * ndim + name_len + 4 + int(np.prod(dims, dtype=np.int64)) * SIZE[dtype] + 4
        if flags & 1:
            out.append(data[start:at])
            start = at
    return out

def subsequence(part, whole):
    it = iter(whole)
    return all(any(p == w for w in it) for p in part)

src, k, nbins, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
whole = samples(src)
info = list(tgs_stream.read(src))
cov = [float((s["mask"] != 0).mean()) for s in info]
index = {b: i for i, b in enumerate(whole)}
if len(index) != len(whole):
    print("bad the input repeats a sample"); sys.exit(0)
# the strata, from the definition: empty; then quantile bins by (coverage, order)
stratum = [0] * len(whole)
full = sorted((c, i) for i, c in enumerate(cov) if c > 0)
for r, (c, i) in enumerate(full):
    stratum[i] = 1 + r * nbins // len(full)
fold_of = [None] * len(whole)
for i in range(k):
    val, fit = samples("%s/val%d.tsr" % (d, i)), samples("%s/fit%d.tsr" % (d, i))
    if not subsequence(val, whole) or not subsequence(fit, whole):
        print("bad fold %d: a part is not an in-order subsequence of the input (changed bytes or order)" % i); sys.exit(0)
    if sorted(val + fit) != sorted(whole):
        print("bad fold %d: fold + complement is not the input: %d + %d samples of %d" % (i, len(val), len(fit), len(whole))); sys.exit(0)
    for b in val:
        if fold_of[index[b]] is not None:
            print("bad sample %d is in folds %d and %d" % (index[b] + 1, fold_of[index[b]], i)); sys.exit(0)
        fold_of[index[b]] = i
if None in fold_of:
    print("bad sample %d is in no fold" % (fold_of.index(None) + 1)); sys.exit(0)
sizes = np.bincount(fold_of, minlength=k)
counts = np.zeros((nbins + 1, k), int)
for s, f in zip(stratum, fold_of):
    counts[s, f] += 1
spread = counts.max(1) - counts.min(1)
if sizes.max() - sizes.min() > 1 or spread.max() > 1:
    print("bad unbalanced: fold sizes %s; per stratum (empty first) %s" % (sizes.tolist(), counts.tolist())); sys.exit(0)
print("ok %d samples in folds of %s, %s empty masks per fold" % (len(whole), "/".join(map(str, sizes)), "/".join(map(str, counts[0]))))
PY

partition() { # LABEL STREAM K [OPTIONS...]
	label=$1 in=$2 k=$3
	shift 3
	rm -rf "$T/folds" && mkdir "$T/folds"
	i=0
	while [ $i -lt "$k" ]; do
		if ! "$B/tgs-fold" -q -k "$k" -i $i "$@" -o "$T/folds/val$i.tsr" "$in" 2>"$T/err" ||
			! "$B/tgs-fold" -q -k "$k" -i $i --complement "$@" -o "$T/folds/fit$i.tsr" "$in" 2>>"$T/err"; then
			fail "$label: tgs-fold -k $k -i $i" "$(cat "$T/err")"
			return
		fi
		i=$((i + 1))
	done
	bins=5
	case " $* " in *" --bins "*) bins=$(echo "$*" | sed 's/.*--bins \([0-9]*\).*/\1/') ;; esac
	if ! have_numpy; then
		skip "$label: folds partition the input" "no numpy"
		return
	fi
	"$PYTHON" "$T/folds.py" "$in" "$k" "$bins" "$T/folds" >"$T/verdict" 2>&1
	read -r verdict what <"$T/verdict"
	if [ "$verdict" = ok ]; then ok "$label: -k $k${*:+ $*}: every sample in exactly one fold, fold + complement = the input in order, strata within 1 ($what)"
	else fail "$label: -k $k${*:+ $*}: folds partition the input, balanced" "$(head -c 400 "$T/verdict")"; fi
}

partition mini "$T/mini.tsr" 3
partition mini "$T/mini.tsr" 2 --bins 2 --seed 9
partition mini "$T/mini.tsr" 5 --bins 1 --mask mask
if have_shared; then
	if "$B/tgs-stack25d" -q --images "$SHARED/train/images" --masks "$SHARED/train/masks" -o "$T/train.tsr" 2>"$T/err"; then
		partition shared "$T/train.tsr" 5
		partition shared "$T/train.tsr" 4 --bins 10 --seed 12345
	else
		fail "shared: stack the training tiles" "$(cat "$T/err")"
	fi
else
	skip "shared: folds partition the input" "no $SHARED (a clone without ../shared)"
fi

# ---- determinism ----
big=$T/mini.tsr
[ -s "$T/train.tsr" ] && big=$T/train.tsr
"$B/tgs-fold" -q -k 5 -i 2 --seed 7 "$big" >"$T/a"
"$B/tgs-fold" -q -k 5 -i 2 --seed 7 "$big" >"$T/b"
"$B/tgs-fold" -q -k 5 -i 2 --seed 8 "$big" >"$T/c"
if cmp -s "$T/a" "$T/b" && [ -s "$T/a" ]; then ok "the same seed gives the same bytes"; else fail "the same seed gives the same bytes" "outputs differ"; fi
if cmp -s "$T/a" "$T/c"; then fail "another seed gives another split" "seeds 7 and 8 wrote the same fold"; else ok "another seed gives another split"; fi
check_sh "a pipe gives the same bytes as the file" "cat '$big' | '$B/tgs-fold' -q -k 5 -i 2 --seed 7 | cmp - '$T/a'"
check_sh "stdin from the file gives the same bytes" "'$B/tgs-fold' -q -k 5 -i 2 --seed 7 - < '$big' | cmp - '$T/a'"
# stdin redirected from a file, already part read: the first sample is not
# input, and the split of the rest is what the rest alone gives
first=$(( $(wc -c <"$T/mini.tsr") / 12 ))
tail -c +$((first + 1)) "$T/mini.tsr" >"$T/rest.tsr"
check_sh "stdin that starts inside a file is read from where it stands" \
	"{ dd bs=$first count=1 of=/dev/null 2>/dev/null; '$B/tgs-fold' -q -k 3 -i 1; } < '$T/mini.tsr' | cmp - <('$B/tgs-fold' -q -k 3 -i 1 '$T/rest.tsr')"
# the split of the 12 mini tiles with seed 0 is fixed: the RNG and the deal
# are the same on every machine and in every version
"$B/tgs-fold" -q -k 3 -i 0 "$T/mini.tsr" | "$B/tgs-info" -v | grep -o 'id="[^"]*"' | tr -d '"' | tr '\n' ' ' >"$T/ids"
want="id=40dcff68b3 id=7845115d01 id=9842f69f8d id=ef51bbcde7 "
if [ "$(cat "$T/ids")" = "$want" ]; then ok "mini -k 3 -i 0 --seed 0 is the fixed split"; else fail "mini -k 3 -i 0 is the fixed split" "got $(cat "$T/ids"), want $want"; fi
# more folds than samples: the extra folds are empty streams
check_sh "more folds than samples: fold 19 of 20 of 12 samples is empty" \
	"'$B/tgs-fold' -k 20 -i 19 '$T/mini.tsr' -o '$T/none.tsr' && [ -f '$T/none.tsr' ] && [ ! -s '$T/none.tsr' ]"
# other records (image channels, depth) pass through untouched
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" --neighbors depth --depth-channel -o "$T/rgb.tsr"
check_sh "all records kept: folds of a 2.5D stream, concatenated, have the input's size" \
	"[ \$(for i in 0 1 2 3; do '$B/tgs-fold' -k 4 -i \$i '$T/rgb.tsr'; done | wc -c) -eq \$(wc -c < '$T/rgb.tsr') ]"

# ---- bad arguments: one line, exit 2 ----
usage_case() { # NAME PATTERN ARGS...
	name=$1 pat=$2
	shift 2
	refuses "$name" "$pat" "$B/tgs-fold" "$@"
	"$B/tgs-fold" "$@" >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 2 ] || not2="$not2 $name (exit $rc);"
}
not2=
usage_case "I = K" "-i 3: there is no such fold; -k 3 makes folds 0..2" -k 3 -i 3 "$T/mini.tsr"
usage_case "I > K, -i first" "-i 9: there is no such fold; -k 5 makes folds 0..4" -i 9 -k 5 "$T/mini.tsr"
usage_case "K = 1" "-k: 1 is out of range \[2, 1000\]" -k 1 -i 0 "$T/mini.tsr"
usage_case "K = 0" "-k: 0 is out of range" -k 0 -i 0 "$T/mini.tsr"
usage_case "negative I" "-i: -1 is out of range" -k 3 -i -1 "$T/mini.tsr"
usage_case "no -k" "-k K, the number of folds, is required" -i 0 "$T/mini.tsr"
usage_case "no -i" "-i I, the fold to write, is required" -k 5 "$T/mini.tsr"
usage_case "K not a number" "-k: 'five' is not an integer" -k five -i 0 "$T/mini.tsr"
usage_case "--bins 0" "--bins: 0 is out of range" -k 5 -i 0 --bins 0 "$T/mini.tsr"
usage_case "negative seed" "--seed: '-3' is not a non-negative integer" -k 5 -i 0 --seed -3 "$T/mini.tsr"
usage_case "two inputs" "unexpected argument" -k 5 -i 0 "$T/mini.tsr" "$T/mini.tsr"
usage_case "unknown option" "unknown option '--stratify'" -k 5 -i 0 --stratify "$T/mini.tsr"
if [ -z "$not2" ]; then ok "bad arguments exit 2"; else fail "bad arguments exit 2" "$not2"; fi

# ---- bad input: one line, exit 1, no output ----
"$B/tgs-stack25d" -q --images "$MINI/images" -o "$T/nomask.tsr"
refuses "sample without a mask" "nomask.tsr: sample 1 \(28f865caaa\): no 'mask' record" "$B/tgs-fold" -k 3 -i 0 "$T/nomask.tsr"
refuses "sample without a mask, from a pipe" "<stdin>: sample 1 \(28f865caaa\): no 'mask' record" sh -c "cat '$T/nomask.tsr' | '$B/tgs-fold' -k 3 -i 0"
refuses "3-channel mask" "rgb.tsr: sample 1 \(28f865caaa\): record 'image' has 4 channels, expected 1" "$B/tgs-fold" -k 3 -i 0 --mask image "$T/rgb.tsr"
refuses "string as mask" "record 'id' has dtype str" "$B/tgs-fold" -k 3 -i 0 --mask id "$T/mini.tsr"
: >"$T/empty.tsr"
refuses "empty file" "empty.tsr: empty stream, nothing to split" "$B/tgs-fold" -k 3 -i 0 "$T/empty.tsr"
refuses "empty pipe" "<stdin>: empty stream, nothing to split" sh -c "cat /dev/null | '$B/tgs-fold' -k 3 -i 0 -o '$T/out.tsr'"
head -c 50000 "$T/mini.tsr" >"$T/trunc.tsr"
refuses "truncated stream" "trunc.tsr: record [0-9]+ .*truncated" "$B/tgs-fold" -k 3 -i 0 -o "$T/out.tsr" "$T/trunc.tsr"
refuses "truncated stream, from a pipe" "<stdin>: record [0-9]+ .*truncated" sh -c "cat '$T/trunc.tsr' | '$B/tgs-fold' -k 3 -i 0 -o '$T/out.tsr'"
if [ -e "$T/out.tsr" ] || ls "$T" | grep -q 'out.tsr.tmp'; then fail "no -o file after refused input" "$(ls "$T")"; else ok "no -o file after refused input"; fi
refuses "missing file" "nowhere.tsr: No such file" "$B/tgs-fold" -k 3 -i 0 "$T/nowhere.tsr"
if command -v script >/dev/null 2>&1; then
	script -qec "'$B/tgs-fold' -k 3 -i 0 '$T/mini.tsr'" /dev/null >"$T/tty" 2>&1
	if grep -q "refusing to write a tensor stream to a terminal" "$T/tty"; then ok "binary never goes to a terminal"; else fail "binary never goes to a terminal" "$(head -c 200 "$T/tty")"; fi
else
	skip "binary never goes to a terminal" "no script(1) to make a terminal"
fi
exit 0
