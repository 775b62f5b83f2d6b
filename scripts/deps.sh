#!/usr/bin/env bash
# Installs what weblm's build and tests need and a fresh machine may lack. Idempotent: each step
# is skipped when its tool is already there. Used by tests/all.sh and .ci/run.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v c++ >/dev/null 2>&1 || need_apt+=(g++)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v valgrind >/dev/null 2>&1 || need_apt+=(valgrind)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "deps: installing apt packages: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# cbindgen generates include/weblm.h; pinned because the committed header is its output.
CBINDGEN_VERSION=0.29.4
if ! cbindgen --version 2>/dev/null | grep -qx "cbindgen $CBINDGEN_VERSION"; then
  echo "deps: installing cbindgen $CBINDGEN_VERSION"
  cargo install --locked --quiet cbindgen --version "$CBINDGEN_VERSION"
fi

# pytest runs the Python package's tests.
if ! python3 -c "import pytest" 2>/dev/null; then
  echo "deps: installing pytest"
  python3 -m pip install --quiet --disable-pip-version-check pytest
fi
