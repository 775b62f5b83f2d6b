#!/usr/bin/env bash
# Installs libweblm like a C library:
#   PREFIX/include/weblm.h
#   PREFIX/lib/libweblm.so, PREFIX/lib/libweblm.a
#   PREFIX/lib/pkgconfig/weblm.pc
# Usage: ffi/install.sh PREFIX        (e.g. /usr/local; builds the release profile)
#        CARGO_PROFILE=debug ffi/install.sh PREFIX   (uses the dev profile, as the tests do)
# Then: cc app.c $(pkg-config --cflags --libs weblm)
#   or, static: cc app.c $(pkg-config --cflags weblm) PREFIX/lib/libweblm.a \
#                 $(pkg-config --static --libs-only-l weblm | sed 's/-lweblm//')
set -euo pipefail
if [ $# -ne 1 ]; then
    echo "usage: $0 PREFIX" >&2
    exit 2
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$1"
PREFIX="$(cd "$1" && pwd)"
PROFILE="${CARGO_PROFILE:-release}"
cd "$ROOT"
if [ "$PROFILE" = release ]; then
    cargo build -q --release -p weblm-ffi
    OUT="${CARGO_TARGET_DIR:-$ROOT/target}/release"
else
    cargo build -q -p weblm-ffi
    OUT="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
fi
VERSION="$(sed -n 's/^#define WEBLM_VERSION "\(.*\)"$/\1/p' include/weblm.h)"
[ -n "$VERSION" ] || { echo "no WEBLM_VERSION in include/weblm.h" >&2; exit 1; }

install -d "$PREFIX/include" "$PREFIX/lib/pkgconfig"
install -m 0644 include/weblm.h "$PREFIX/include/weblm.h"
install -m 0755 "$OUT/libweblm.so" "$PREFIX/lib/libweblm.so"
install -m 0644 "$OUT/libweblm.a" "$PREFIX/lib/libweblm.a"
cat >"$PREFIX/lib/pkgconfig/weblm.pc" <<PC
prefix=$PREFIX
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: weblm
Description: weblm licensing runtime: license files, entitlements, embedded license server
Version: $VERSION
Libs: -L\${libdir} -lweblm
Libs.private: -lpthread -ldl -lm
Cflags: -I\${includedir}
PC
echo "installed libweblm $VERSION under $PREFIX"
