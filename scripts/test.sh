#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs and starts the services the suites use,
# installs the npm dependencies, builds, lints, then runs every unit and integration suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup/all.sh
npm ci --no-audit --no-fund
npm run build
npm run lint
npm test
