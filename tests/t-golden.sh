# Golden bytes: a seeded short tgs-train run (SGD, EMA, staged losses,
# dropout, validation) and tgs-mcdrop on its best checkpoint give the bytes
# recorded in tests/data/golden.txt, and the same bytes on --device sim. The engine's reorganisations (issue
# 22: the nn/ layout, the device contract, one training library) must
# change no byte a user sees; this test is what says so.
#
# The bytes depend on the kernels OpenBLAS picks for the processor, so the
# record is keyed by `tgs-train --version`'s engine line; on an engine not
# recorded the test says so and skips. To record this machine's bytes (on
# the code before a change that must keep them):
#     TGS_GOLDEN_RECORD=1 sh tests/t-golden.sh
. tests/lib.sh
GOLDEN=tests/data/golden.txt
engine=$("$B/tgs-train" --version | sed -n 2p)
"$B/tgs-stack25d" -q --images "$MINI/images" --masks "$MINI/masks" --depths "$MINI/depths.csv" --neighbors depth -o "$T/mini.tsr"
"$B/tgs-train" -q -o "$T/run" --val "$T/mini.tsr" --threads 2 --seed 7 \
	--arch "resunet widths=4,8,16 blocks=1,1,1 dropout=0.1 hcw=4" --batch 5 --epochs 3 \
	--loss bce=1,dice=1,cls=0.1 --loss2 lovasz-sym=1,cls=0.1 --stage2-epoch 2 \
	--optim sgd --nesterov --lr 0.02 --wd 1e-4 --sched cosine:3:1:1e-3,warmup=1 --ema 0.9 "$T/mini.tsr" 2>"$T/train.err" ||
	fail "the seeded run" "$(cat "$T/train.err")"
"$B/tgs-mcdrop" -q --threads 2 -m "$T/run/best.ckpt" -o "$T/pred.tsr" "$T/mini.tsr" 2>"$T/mc.err" ||
	fail "tgs-mcdrop on its best.ckpt" "$(cat "$T/mc.err")"
sed 's/,[^,]*,[^,]*$//' "$T/run/log.csv" >"$T/log.rows" # without img_s and seconds
for f in run/last.ckpt run/best.ckpt log.rows pred.tsr; do
	printf '%s\t%s\t%s\n' "$(sha256sum <"$T/$f" | cut -c1-64)" "${f#run/}" "$engine"
done >"$T/now.txt"

# The same run on the sim backend (the CPU kernels behind memory the host
# cannot touch, nn/sim/): the same bytes on any machine, and no host access
# to device memory on the way (that would be a SIGSEGV).
"$B/tgs-train" -q -o "$T/sim" --device sim --val "$T/mini.tsr" --threads 2 --seed 7 \
	--arch "resunet widths=4,8,16 blocks=1,1,1 dropout=0.1 hcw=4" --batch 5 --epochs 3 \
	--loss bce=1,dice=1,cls=0.1 --loss2 lovasz-sym=1,cls=0.1 --stage2-epoch 2 \
	--optim sgd --nesterov --lr 0.02 --wd 1e-4 --sched cosine:3:1:1e-3,warmup=1 --ema 0.9 "$T/mini.tsr" 2>"$T/sim.err" ||
	fail "the seeded run on --device sim" "$(cat "$T/sim.err")"
check_sh "--device sim: last.ckpt, best.ckpt and the log as on cpu, byte for byte" \
	"cmp '$T/run/last.ckpt' '$T/sim/last.ckpt' && cmp '$T/run/best.ckpt' '$T/sim/best.ckpt' &&
	 sed 's/,[^,]*,[^,]*\$//' '$T/sim/log.csv' | cmp - '$T/log.rows'"
check_sh "--device sim: tgs-mcdrop's predictions as on cpu, byte for byte" \
	"'$B/tgs-mcdrop' -q --device sim --threads 2 -m '$T/sim/best.ckpt' '$T/mini.tsr' | cmp - '$T/pred.tsr'"
"$B/tgs-train" -o "$T/sim2" --device sim --threads 2 --arch "resunet widths=4,8 blocks=1,1" --batch 12 --epochs 1 "$T/mini.tsr" 2>"$T/sim2.err"
check_sh "--device sim: what crossed to the device is said at the end" \
	"grep -Eq '^sim: [0-9]+ bytes to the device in [0-9]+ uploads, [0-9]+ bytes back in [0-9]+ downloads\$' '$T/sim2.err'"

if [ -n "${TGS_GOLDEN_RECORD:-}" ]; then
	{ [ -f "$GOLDEN" ] && grep -vF "	$engine" "$GOLDEN"; cat "$T/now.txt"; } >"$T/new.txt"
	cp "$T/new.txt" "$GOLDEN"
	echo "recorded $(wc -l <"$T/now.txt") hashes for '$engine' in $GOLDEN"
	exit 0
fi
if ! grep -qF "	$engine" "$GOLDEN" 2>/dev/null; then
	skip "golden bytes" "none recorded for this engine ('$engine'); these are: $(cut -f1,2 "$T/now.txt" | tr '\t\n' ' ;')"
	exit 0
fi
while IFS='	' read -r sum what _; do
	want=$(grep -F "	$engine" "$GOLDEN" | awk -F'\t' -v w="$what" '$2 == w { print $1 }')
	if [ "$sum" = "$want" ]; then ok "golden bytes: $what"
	else fail "golden bytes: $what" "sha256 $sum, recorded $want"; fi
done <"$T/now.txt"
exit 0
