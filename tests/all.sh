#!/usr/bin/env bash
# Runs every weblm test: the Rust workspace (unit, property, integration, multi-process).
# Installs missing prerequisites first (scripts/deps.sh), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cargo test --workspace
