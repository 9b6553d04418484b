# Short libFuzzer runs (5 s each) of the stream reader and the RLE decoder
# (tests/fuzz/): any crash, leak, UB or broken round trip fails, naming the
# saved input. `make fuzz` runs them for longer. Skips where clang cannot
# link libFuzzer.
. tests/lib.sh

CC_FUZZ=${FUZZ_CC:-clang}
SECS=${FUZZ_TEST_SECONDS:-5}
O_FUZZ=build/fuzz-t

if [ -n "${TGS_SANITIZED:-}" ]; then
	skip "fuzz" "the fuzz targets are always sanitized; they ran in the plain suite"
	exit 0
fi
if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
	skip "fuzz" "no $CC_FUZZ (apt-get install clang)"
	exit 0
fi
# The real question is whether clang can link libFuzzer with the
# sanitizers (the runtime, e.g. libclang_rt.fuzzer-x86_64.a, comes apart).
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$T/probe.c"
if ! "$CC_FUZZ" -fsanitize=fuzzer,address,undefined -o "$T/probe" "$T/probe.c" >"$T/probe.log" 2>&1; then
	skip "fuzz" "$CC_FUZZ cannot link libFuzzer: $(head -c 200 "$T/probe.log")"
	exit 0
fi

if ! make -s --no-print-directory fuzz-build O="$O_FUZZ" FUZZ_CC="$CC_FUZZ" >"$T/build.log" 2>&1; then
	fail "fuzz targets build" "$(grep -m 3 -E 'error' "$T/build.log")"
	exit 0
fi
ok "fuzz targets build"

for t in fuzz_stream fuzz_rle; do
	# every seed must pass as it is, before any mutation
	if "$O_FUZZ/fuzz/$t" tests/fuzz/corpus/$t/* >"$T/seeds.log" 2>&1; then
		ok "$t: seeds pass"
	else
		fail "$t: seeds pass" "$(grep -m 2 -E 'ERROR|runtime error' "$T/seeds.log")"
	fi
	if sh tests/fuzz/run.sh "$O_FUZZ/fuzz/$t" "$SECS" >"$T/run.out" 2>&1; then
		ok "$t: $SECS s of fuzzing: $(cat "$T/run.out")"
	else
		fail "$t: $SECS s of fuzzing" "$(cat "$T/run.out")"
	fi
done

# run.sh itself must notice a crash, exit non-zero and say where the input
# is: a target that aborts on inputs starting "hi", seeded with "h".
printf '#include <stdint.h>\n#include <stddef.h>\n#include <stdlib.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { if (n >= 2 && d[0] == 0x68 && d[1] == 0x69) abort(); return 0; }\n' >"$T/crashy.c"
mkdir -p "$T/seeds" "$T/art"
printf h >"$T/seeds/h"
if "$CC_FUZZ" -fsanitize=fuzzer -o "$T/crashy" "$T/crashy.c" >"$T/probe.log" 2>&1; then
	FUZZ_CORPUS="$T/seeds" FUZZ_ARTIFACTS="$T/art" sh tests/fuzz/run.sh "$T/crashy" 30 >"$T/run.out" 2>&1
	rc=$?
	input=$(sed -n 's/.*: \([^ ]*crash-[0-9a-f]*\) (log.*/\1/p' "$T/run.out")
	if [ "$rc" -ne 0 ] && [ -n "$input" ] && [ "$(head -c 2 "$input")" = hi ]; then
		ok "run.sh fails on a crash and names the input"
	else
		fail "run.sh fails on a crash and names the input" "exit $rc: $(cat "$T/run.out")"
	fi
else
	fail "run.sh fails on a crash" "cannot build the crashing target: $(head -c 200 "$T/probe.log")"
fi
