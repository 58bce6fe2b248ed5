#!/usr/bin/env bash
# Runs every test suite in one pytest session. pytest's "no tests collected" (exit 5)
# is turned into a failure, so a broken collection can never pass silently.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pytest "$@"
rc=$?
if [[ $rc -eq 5 ]]; then
  echo "error: pytest collected no tests; refusing to report success" >&2
  exit 1
fi
exit $rc
