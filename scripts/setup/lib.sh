# Shared helpers for the setup scripts. Source it; every function is idempotent.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

log() { printf '[setup %s] %s\n' "$(basename "${0%.sh}")" "$*" >&2; }

# apt_install PKG...: installs the packages that are not installed yet. Runs `apt-get update` once per
# machine boot (a stamp in /run), and waits for dpkg's lock instead of failing when another install runs.
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ ! -f /run/corral-apt-updated ]; then
    apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null
    touch /run/corral-apt-updated
  fi
  log "installing ${missing[*]}"
  # Packages may not start services here (no systemd as PID 1); each setup script starts its own.
  # Keep config files we already rewrote (no conffile prompt on a re-run that adds packages).
  apt-get -o DPkg::Lock::Timeout=900 -o Dpkg::Options::=--force-confdef \
    -o Dpkg::Options::=--force-confold install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# wait_for DESCRIPTION SECONDS COMMAND...: retries COMMAND once a second until it succeeds.
wait_for() {
  local what=$1 seconds=$2
  shift 2
  for _ in $(seq "$seconds"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "gave up waiting for $what after ${seconds}s"
  return 1
}
