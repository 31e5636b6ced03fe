#!/usr/bin/env bash
# The main job, from a fresh machine: installs libvirtd and QEMU, builds corral and the micro guest image,
# then boots a real VM with Redis inside through the whole control plane and shows BUILD → ACTIVE.
# Extra arguments go to examples/quickstart.ts (e.g. --keep to leave the instance running).
set -euo pipefail
cd "$(dirname "$0")/.."
for script in scripts/setup/35-qemu.sh scripts/setup/40-libvirt.sh; do
  [ -f "$script" ] && bash "$script"
done
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
npm run build >/dev/null
bash scripts/guest-image/build.sh --agent packages/agent/dist/corral-agent.mjs
exec node --import tsx examples/quickstart.ts "$@"
