#!/bin/sh
# Install the system packages tgs needs that are missing, with apt-get
# (through sudo when not root). Does nothing, quietly, when all are present.
#   build: a C compiler, make, libpng, OpenBLAS (the engine), pkg-config
#   tests: numpy (formats/tgs_stream.py, the numpy cross-checks), clang and
#          its libFuzzer runtime (fuzz targets), mandoc (man page lint),
#          util-linux's script (a terminal for one test)
# DEPS_EXTRA adds packages (CI adds none; the engine issue will add torch).
set -eu
want="gcc make libc6-dev libpng-dev libopenblas-dev pkg-config python3 python3-numpy clang libclang-rt-dev mandoc bsdutils ${DEPS_EXTRA:-}"
missing=
for p in $want; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
	echo "deps: missing packages:$missing; install them with your package manager" >&2
	exit 1
fi
sudo=
[ "$(id -u)" -eq 0 ] || sudo=sudo
echo "deps: installing$missing"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: done"
