#!/usr/bin/env bash
# Installs what weblm's build and tests need and a fresh machine may lack. Idempotent: each step
# is skipped when its tool is already there. Used by tests/all.sh and .ci/run.
set -euo pipefail

need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "deps: installing apt packages: ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi
