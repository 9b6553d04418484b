# Every op of the op list (lib/common/nn/ops.def) runs forward and backward
# on every backend compiled in, against the CPU (ggml's test-backend-ops):
# the op tests call opcheck_backends for each case (tests/unit/opcheck.h),
# and here they run again with OPCHECK_COVERAGE set, which lists the ops
# each backend ran; an op no case covers is a failure, so a new op cannot
# come without its cross-backend check.
. tests/lib.sh
TB=${TGS_TESTBIN:-build/tests}
: >"$T/cov"
for t in "$TB"/test_op_* "$TB"/test_loss; do
	[ -x "$t" ] || { fail "op test $t" "not built"; continue; }
	OPCHECK_COVERAGE="$T/cov" "$t" >"$T/out" 2>&1
	n=$(grep -c '^ok - sim against cpu' "$T/out")
	if grep -q '^not ok - sim against cpu' "$T/out"; then fail "${t##*/}: every case on sim as on cpu" "$(grep -m 1 '^not ok - sim' "$T/out")"
	else ok "${t##*/}: $n cases on sim, the same bytes as on cpu"; fi
done
sed -n 's/^TGS_OP([A-Z0-9_]*, *[a-z0-9_]*, *"\([a-z0-9_]*\)").*/\1/p' lib/common/nn/ops.def >"$T/ops"
[ -s "$T/ops" ] || fail "the op list read" "no TGS_OP lines in lib/common/nn/ops.def"
missing=
while read -r op; do
	grep -q "^$op backward\$" "$T/cov" || missing="$missing $op"
done <"$T/ops"
if [ -z "$missing" ]; then ok "all $(wc -l <"$T/ops") ops of nn/ops.def run forward and backward on sim against cpu"
else fail "every op of nn/ops.def covered on sim, forward and backward" "not covered:$missing"; fi
exit 0
