#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs and starts the services the suites use,
# installs the npm dependencies, builds, lints, then runs every unit and integration suite on the host's Node
# (the 20.19 floor), then the unit suites and a short end to end on Node 22 and 24 (scripts/test-node-matrix.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup/all.sh
npm ci --no-audit --no-fund
npm run build
# The micro guest image (kernel + initramfs with the agent bundle just built) for the real-VM suites.
bash scripts/guest-image/build.sh --agent packages/agent/dist/corral-agent.mjs
# Its postgresql variant (test/e2e/postgresql-volume.test.ts, the bench's PostgreSQL row); shares the package cache.
bash scripts/guest-image/build.sh --variant postgresql --agent packages/agent/dist/corral-agent.mjs
npm run lint
npm test
bash scripts/test-node-matrix.sh 22 24
