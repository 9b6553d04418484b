# The build itself: warning-free with -Werror, the CUDA/cuDNN detection
# (against fake toolchains, so both answers are checked on any machine),
# and install/uninstall honouring DESTDIR, PREFIX and MANPREFIX.
. tests/lib.sh

if make -s --no-print-directory O="$T/obj" B="$T/bin" CFLAGS="-O2 -Werror" all >"$T/build.log" 2>&1; then
	ok "builds with -Wall -Wextra -Werror"
else
	fail "builds with -Wall -Wextra -Werror" "$(grep -m 3 -E 'error|warning' "$T/build.log")"
fi

# fake toolchain: an nvcc that reports a release, a cudnn_version.h
mkdir -p "$T/cuda/bin" "$T/cuda/include" "$T/empty"
printf '#!/bin/sh\necho "Cuda compilation tools, release 12.4, V12.4.131"\n' >"$T/cuda/bin/nvcc"
chmod +x "$T/cuda/bin/nvcc"
printf '#define CUDNN_MAJOR 8\n#define CUDNN_MINOR 9\n#define CUDNN_PATCHLEVEL 7\n' >"$T/cuda/include/cudnn_version.h"
make -s --no-print-directory config NVCC="$T/cuda/bin/nvcc" CUDA_HOME= >"$T/cfg" 2>&1
grep -q "nvcc: found $T/cuda/bin/nvcc (CUDA 12.4)" "$T/cfg" && ok "detects nvcc and its release" || fail "detects nvcc" "$(cat "$T/cfg")"
grep -q "cuDNN: found 8.9.7 ($T/cuda/include/cudnn_version.h)" "$T/cfg" && ok "finds cuDNN beside nvcc and reads its version" || fail "finds cuDNN" "$(cat "$T/cfg")"
mkdir -p "$T/other/include"
printf '#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 1\n#define CUDNN_PATCHLEVEL 0\n' >"$T/other/include/cudnn_version.h"
make -s --no-print-directory config NVCC="$T/cuda/bin/nvcc" CUDA_HOME="$T/other" >"$T/cfg" 2>&1
grep -q "cuDNN: found 9.1.0 ($T/other/include/cudnn_version.h)" "$T/cfg" && ok "CUDA_HOME is honoured" || fail "CUDA_HOME is honoured" "$(cat "$T/cfg")"
CUDNN_SEARCH="$T/empty" make -s --no-print-directory config NVCC="$T/nonexistent/nvcc" CUDA_HOME= >"$T/cfg" 2>&1
grep -q "nvcc: not found (NVCC=$T/nonexistent/nvcc is not executable)" "$T/cfg" && ok "says when nvcc is missing" || fail "says when nvcc is missing" "$(cat "$T/cfg")"
grep -q "cuDNN: not found" "$T/cfg" && ok "says when cuDNN is missing" || fail "says when cuDNN is missing" "$(cat "$T/cfg")"
PATH="$T/empty:/usr/bin:/bin" CUDNN_SEARCH="$T/empty" make -s --no-print-directory config CUDA_HOME= >"$T/cfg" 2>&1
grep -q "nvcc: not found$" "$T/cfg" && ok "no nvcc on PATH" || fail "no nvcc on PATH" "$(cat "$T/cfg")"

# install and uninstall into a staging root
root="$T/root"
if make -s --no-print-directory install DESTDIR="$root" PREFIX=/opt/tgs MANPREFIX=/opt/tgs/man >"$T/inst" 2>&1; then
	missing=
	for t in tgs-stack25d tgs-rle tgs-info; do
		[ -x "$root/opt/tgs/bin/$t" ] || missing="$missing bin/$t"
		[ -f "$root/opt/tgs/man/man1/$t.1" ] || missing="$missing man1/$t.1"
	done
	[ -z "$missing" ] && ok "install puts tools and man pages under DESTDIR/PREFIX and MANPREFIX" || fail "install" "missing:$missing"
	"$root/opt/tgs/bin/tgs-info" --version | grep -q "tgs-info (tgs)" && ok "installed tool runs" || fail "installed tool runs" "no version"
	make -s --no-print-directory uninstall DESTDIR="$root" PREFIX=/opt/tgs MANPREFIX=/opt/tgs/man >/dev/null 2>&1
	left=$(find "$root" -type f | wc -l)
	[ "$left" -eq 0 ] && ok "uninstall removes every installed file" || fail "uninstall" "$left files left: $(find "$root" -type f | head -n 3)"
else
	fail "install" "$(tail -n 3 "$T/inst")"
fi
