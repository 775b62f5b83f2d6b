#!/bin/sh
# Rebuilds the committed plugin modules in plugins/wasm/ from source.
#
#   plugins/build.sh          build and copy into plugins/wasm/
#   plugins/build.sh --check  build into a temporary directory and fail if any committed
#                             module differs from its source (stale)
#
# Needs Debian's toolchain (TOOLCHAIN.md):
#   apt-get install -y --no-install-recommends rustc cargo libstd-rust-dev-wasm32 lld-14 \
#     clang-16 lld-16 wabt
# The committed modules are built with exactly that toolchain (rustc 1.63, clang 16); a
# different compiler gives different bytes, so --check insists on it. Without it, a plain
# build falls back to a rustup toolchain that has the wasm32-unknown-unknown target.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
check=no
[ "${1:-}" = "--check" ] && check=yes

if [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/wasm32-unknown-unknown ]; then
    rustc=/usr/bin/rustc
    cargo=/usr/bin/cargo
    path=/usr/bin:$PATH
elif [ "$check" = no ] && command -v rustup >/dev/null 2>&1 \
    && rustup target list --installed 2>/dev/null | grep -q wasm32-unknown-unknown; then
    echo "build.sh: Debian toolchain not found; using rustup's (output will differ from the committed modules)" >&2
    rustc=$(rustup which rustc)
    cargo=$(rustup which cargo)
    path=$PATH
else
    echo "build.sh: needs Debian's rustc + libstd-rust-dev-wasm32 (see the header of this script)" >&2
    exit 2
fi
command -v clang-16 >/dev/null || { echo "build.sh: needs clang-16 and lld-16" >&2; exit 2; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# Rust plugins: own workspace and lockfile (v3), never the main workspace's.
# - strip=symbols: kilobytes instead of megabytes;
# - a 32 KiB wasm stack keeps a small plugin in one 64 KiB page (cheaper fresh instances);
# - target features beyond the MVP that wasmtime enables by default (ABI.md §1): bulk-memory
#   turns the plugin's memcpy/memset into memory.copy/memory.fill (≈ 4 % less time and fuel
#   for ep_zones at 1 000 zones); mutable-globals and nontrapping-fptoint are, like it, part
#   of WebAssembly 2.0 and on by default in newer LLVM releases. (Rust 1.63's std for wasm32 is
#   prebuilt without them; only the plugin and kit code use them.)
# Plugin crates are crate-type = ["cdylib"] only: with an rlib as well cargo does not pass the
# profile's lto, and the kit's helpers stay out-of-line calls per bucket.
rustflags="-C strip=symbols -C link-arg=-zstack-size=32768"
rustflags="$rustflags -C target-feature=+bulk-memory,+mutable-globals,+nontrapping-fptoint"
(cd "$here" && PATH=$path RUSTC=$rustc RUSTFLAGS="$rustflags" \
    CARGO_TARGET_DIR="$here/target" "$cargo" build --locked --release \
    --target wasm32-unknown-unknown -q)
for p in sentinel_override ep_zones; do
    cp "$here/target/wasm32-unknown-unknown/release/$p.wasm" "$out/$p.wasm"
done

# C plugins.
cflags="--target=wasm32 -O2 -nostdlib -Wall -Wextra -Werror -Wl,--no-entry -Wl,--export-dynamic -Wl,--strip-all -Wl,-z,stack-size=32768 -I $here/../include"
# shellcheck disable=SC2086
clang-16 $cflags -o "$out/largest_remainder.wasm" "$here/largest_remainder/largest_remainder.c"
# shellcheck disable=SC2086
clang-16 $cflags -o "$out/standard_compliance.wasm" "$here/compliance_c/standard_compliance.c"

# Pins: the sha256 of every module, for loaders that require one (weblm_policy_load, C tests).
(cd "$out" && sha256sum -- *.wasm >SHA256SUMS)

status=0
for f in "$out"/*.wasm "$out/SHA256SUMS"; do
    name=$(basename "$f")
    if [ "$check" = yes ]; then
        if ! cmp -s "$f" "$here/wasm/$name"; then
            echo "stale: plugins/wasm/$name does not match its source (run plugins/build.sh)" >&2
            status=1
        fi
    else
        cp "$f" "$here/wasm/$name"
        case "$name" in
        *.wasm) echo "plugins/wasm/$name  $(wc -c <"$f") bytes  sha256 $(sha256sum "$f" | cut -d' ' -f1)" ;;
        esac
    fi
done
[ "$check" = yes ] && [ $status -eq 0 ] && echo "plugins/wasm is up to date"
exit $status
