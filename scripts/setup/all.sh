#!/usr/bin/env bash
# Installs and starts everything the test suite and the examples need, on a bare machine or again on one
# where it already ran. Each numbered script owns one service; run one alone to set up just that.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
for script in "$here"/[0-9][0-9]-*.sh; do
  echo "== $(basename "$script")"
  bash "$script"
done
