#!/bin/sh
# Say which parts of the CUDA toolchain this machine has. Called by make
# with $(NVCC) and $(CUDA_HOME), either of which may be empty: then nvcc is
# looked up on PATH and CUDA_HOME derived from it. Prints one line each for
# nvcc and cuDNN, and the backends that will be built.
nvcc=$1
cuda_home=$2
if [ -z "$nvcc" ]; then
	nvcc=$(command -v nvcc 2>/dev/null)
fi
if [ -n "$nvcc" ] && [ -x "$nvcc" ]; then
	ver=$("$nvcc" --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9.]*\).*/\1/p' | head -n 1)
	echo "config: nvcc: found $nvcc (CUDA ${ver:-version unknown})"
	if [ -z "$cuda_home" ]; then
		cuda_home=$(cd "$(dirname "$nvcc")/.." 2>/dev/null && pwd -P)
	fi
else
	echo "config: nvcc: not found${nvcc:+ (NVCC=$nvcc is not executable)}"
	nvcc=
fi
cudnn_h=
# CUDNN_SEARCH (folders, space-separated) replaces the usual places; the
# tests use it to check both answers on any machine.
for d in ${CUDNN_SEARCH:-${cuda_home:+"$cuda_home/include"} /usr/include /usr/include/x86_64-linux-gnu /usr/local/include}; do
	if [ -f "$d/cudnn_version.h" ]; then
		cudnn_h=$d/cudnn_version.h
		break
	fi
done
if [ -n "$cudnn_h" ]; then
	major=$(sed -n 's/^#define CUDNN_MAJOR[ \t]*\([0-9]*\).*/\1/p' "$cudnn_h")
	minor=$(sed -n 's/^#define CUDNN_MINOR[ \t]*\([0-9]*\).*/\1/p' "$cudnn_h")
	patch=$(sed -n 's/^#define CUDNN_PATCHLEVEL[ \t]*\([0-9]*\).*/\1/p' "$cudnn_h")
	echo "config: cuDNN: found $major.$minor.$patch ($cudnn_h)"
else
	echo "config: cuDNN: not found"
fi
echo "config: backends: cpu, sim (the CUDA backend is not written yet)"
