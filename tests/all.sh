#!/usr/bin/env bash
# Runs every weblm test: the Rust workspace (unit, property, integration, multi-process), then
# libweblm end to end (header freshness, C tests under valgrind, C++ header check, examples,
# pkg-config install, Python package + pytest), then the wasm plugins (kit tests with Debian's
# rustc 1.63, hostile fixtures, committed modules rebuilt and compared). Installs missing prerequisites first
# (scripts/deps.sh), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo test --workspace
bash tests/ffi.sh
bash tests/plugins.sh
