#!/usr/bin/env bash
# The libweblm benchmark: acquire+release pairs on an in-memory embedded server,
#  1. Rust-native Ledger vs the C ABI functions called from Rust (one process),
#  2. the C ABI from a C program linked to the release libweblm.so,
#  3. Python ctypes (weblm package and raw ctypes),
# then the ratio C-from-C / Rust-native. Release profile. Usage: bash ffi/bench/run.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cargo build -q --release -p weblm-ffi -p weblm
REL="${CARGO_TARGET_DIR:-$ROOT/target}/release"
"$REL/weblm" keygen --out-dir "$WORK" >/dev/null
"$REL/weblm" issue --key "$WORK/vendor.key" --host bench-host --product-version 5.0 -o "$WORK/lic.toml" >/dev/null
"$REL/weblm" add-code "$WORK/lic.toml" --key "$WORK/vendor.key" --feature VALUE_IR_VOIP_PORTS \
    --feature-version 5.0 --count 1000 --start 2026-01-01 >/dev/null
cc -O2 -std=c11 -Wall -Wextra -Werror -I include ffi/bench/acquire_release.c -L"$REL" -lweblm \
    -Wl,-rpath,"$REL" -o "$WORK/bench"

echo "== cargo bench -p weblm-ffi --bench acquire_release"
cargo bench -q -p weblm-ffi --bench acquire_release 2>/dev/null | tee "$WORK/rust.out"
echo "== ffi/bench/acquire_release.c (cc -O2, release libweblm.so)"
"$WORK/bench" "$WORK/lic.toml" "$WORK/vendor.pub" bench-host | tee "$WORK/c.out"
echo "== ffi/bench/bench.py"
WEBLM_LIB="$REL/libweblm.so" python3 ffi/bench/bench.py "$WORK/lic.toml" "$WORK/vendor.pub" bench-host
native=$(sed -n 's/^rust-native ledger: *\([0-9.]*\).*/\1/p' "$WORK/rust.out")
cabi=$(sed -n 's/^C ABI from C: *\([0-9.]*\).*/\1/p' "$WORK/c.out")
python3 -c "print(f'ratio C ABI (from C) / Rust-native: {$cabi / $native:.2f} (target <= 1.5)')"
