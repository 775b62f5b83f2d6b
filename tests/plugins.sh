#!/usr/bin/env bash
# Plugin checks beyond `cargo test --workspace`: installs Debian's wasm toolchain when missing,
# runs the plugin kit's unit tests with Debian's rustc 1.63 (the version plugins build with),
# and rebuilds plugins/wasm/*.wasm from source, failing if a committed module is stale.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(rustc cargo libstd-rust-dev-wasm32 lld-14 clang-16 lld-16 wabt)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "plugins: installing apt packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The kit's own tests, with the old toolchain and the plugins' own lockfile.
(cd plugins && PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=target \
  /usr/bin/cargo test --locked -q -p weblm-plugin-kit)
# Every hostile fixture is valid text.
for f in plugins/hostile/*.wat; do wat2wasm "$f" -o /dev/null; done
# Committed modules match their sources.
plugins/build.sh --check
