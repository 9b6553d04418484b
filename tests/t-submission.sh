# make submission end to end on a tiny synthetic set (tgs-synth): a tiny
# model, two folds, a few epochs, so the whole flow runs in seconds. The
# CSV has one row per test tile with the right ids and decodes; the report
# gives the four out-of-fold figures; a second make does nothing, a changed
# setting redoes only the stages after it (make -n); a failing stage fails
# the target and leaves no submission; a test image that cannot be read
# stops the flow before any training.
. tests/lib.sh
if [ ! -x "$B/tgs-synth" ]; then
	fail "tgs-synth built" "no $B/tgs-synth"
	exit 0
fi
if ! command -v bash >/dev/null; then
	skip "make submission" "no bash (the recipes run under bash -o pipefail)"
	exit 0
fi
"$B/tgs-synth" -q -o "$T/data" --train 48 --test 20 --seed 3 || { fail "tgs-synth" "exit $?"; exit 0; }
ls "$T/data/test/images" | sed -n 's/\.png$//p' | LC_ALL=C sort >"$T/want-ids"

# sub ARGS...: the flow on $T/data with the tiny settings (ARGS override).
# B and O name the build under test (the sanitizer's in make test-sanitize)
# as a pair, so that make finds its tools up to date and never relinks one
# from the other build's objects.
O=${TGS_TESTBIN%/tests}
sub() {
	make --no-print-directory -s B="$TGS_BIN" O="$O" DATA="$T/data" WORK="$T/w" SUBMISSION="$T/sub.csv" \
		FOLDS=2 SUB_EPOCHS=2 SUB_MAE_EPOCHS=1 MAE_VAL=4 PASSES=2 \
		SUB_MODEL="resunet widths=4,8,16 blocks=1,1,1 dropout=0.1" \
		REFINE_FLAGS="--epochs 1 --arch 'resunet widths=4,8 blocks=1,1' --seed 1" "$@"
}

if sub submission >"$T/log" 2>&1; then ok "make submission on a synthetic set"
else fail "make submission on a synthetic set" "exit $?: $(tail -n 5 "$T/log")"; exit 0; fi
if [ "$(head -n 1 "$T/sub.csv")" = id,rle_mask ] &&
	tail -n +2 "$T/sub.csv" | cut -d, -f1 | LC_ALL=C sort | cmp -s - "$T/want-ids"; then
	ok "submission.csv: the header, one row per test tile, their ids"
else fail "submission.csv: the header, one row per test tile, their ids" "$(head -n 3 "$T/sub.csv")"; fi
check_sh "submission.csv decodes (tgs-rle decode)" \
	"'$B/tgs-rle' decode -q '$T/sub.csv' | '$B/tgs-info' | grep -q '^<stdin>: 20 samples'"
n=$(grep -cE '^after (train|uncertainty|refine|decisions) +[01]\.[0-9]{4} ' "$T/log")
if [ "$n" = 4 ]; then ok "the report gives the four out-of-fold figures"
else fail "the report gives the four out-of-fold figures" "$(cat "$T/log")"; fi

# make's view of what is done
if sub -q "$T/sub.csv"; then ok "a second make submission has nothing to do"
else fail "a second make submission has nothing to do" "make -q says $T/sub.csv is out of date"; fi
rm -f "$T/w/sub/decisions.txt"
if sub -q "$T/sub.csv"; then fail "a removed stage's file is made again" "make -q says $T/sub.csv is up to date"
elif sub submission >/dev/null 2>&1 && [ -s "$T/w/sub/decisions.txt" ]; then ok "a removed stage's file is made again"
else fail "a removed stage's file is made again" "no decisions.txt after make submission"; fi
sub -n submission PASSES=3 >"$T/plan" 2>&1
if grep -q 'tgs-mcdrop' "$T/plan" && ! grep -qE 'tgs-(train|mae) ' "$T/plan"; then
	ok "make -n with PASSES changed: the predictions again, not the models"
else fail "make -n with PASSES changed: the predictions again, not the models" "$(grep -E 'tgs-' "$T/plan" | head -c 300)"; fi

# a failing stage: PASSES=0 is refused by tgs-mcdrop
if sub submission PASSES=0 SUBMISSION="$T/new.csv" >"$T/log" 2>&1; then
	fail "a failing stage fails make submission" "exit 0"
elif [ -e "$T/new.csv" ]; then fail "a failing stage leaves no submission" "$T/new.csv is there"
else ok "a failing stage fails make submission and leaves no submission"; fi

# a damaged test image: the flow stops at the data, before any training
cp -r "$T/data" "$T/bad"
f=$(ls "$T/bad/test/images" | head -n 1)
head -c 100 "$T/data/test/images/$f" >"$T/bad/test/images/$f"
if sub submission DATA="$T/bad" WORK="$T/wb" SUBMISSION="$T/bad.csv" >"$T/log" 2>&1; then
	fail "a damaged test PNG stops the flow" "exit 0"
elif [ -e "$T/bad.csv" ] || ls "$T/wb/sub"/f*/best.ckpt >/dev/null 2>&1; then
	fail "a damaged test PNG stops the flow before training" "$(ls "$T/wb/sub")"
elif grep -q "$f" "$T/log"; then ok "a damaged test PNG stops the flow before training, naming the file"
else fail "a damaged test PNG stops the flow, naming the file" "$(tail -n 3 "$T/log")"; fi
exit 0
