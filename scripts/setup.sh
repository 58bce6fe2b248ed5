#!/usr/bin/env bash
# Idempotent developer setup: one virtualenv at .venv with every service installed
# editable plus the test and lint tools, and the system packages the tests need.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=lib/common.sh
source scripts/lib/common.sh

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install Python 3.11 (or set PYTHON=/path/to/python3.11)."

# System packages: redis-server for the store, wrk for the HTTP benchmarks, Chromium
# for the browser tests of the web client (browser downloads do not work offline).
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v wrk >/dev/null || missing+=(wrk)
command -v chromium >/dev/null || missing+=(chromium)
if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    say "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    die "missing system packages: ${missing[*]}. Install them (e.g. 'sudo apt-get install ${missing[*]}') and run 'make setup' again."
  fi
fi

if [[ ! -x .venv/bin/python ]]; then
  say "creating virtualenv .venv"
  "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi

editable=()
for project in services/*/pyproject.toml tools/*/pyproject.toml; do
  editable+=(-e "$(dirname "$project")")
done
say "installing $(( ${#editable[@]} / 2 )) packages (editable) and dev tools into .venv"
.venv/bin/pip install -q "${editable[@]}" -r requirements-dev.txt
say "setup complete"
