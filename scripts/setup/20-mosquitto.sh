#!/usr/bin/env bash
# Installs mosquitto (Debian 12: 2.0.x, MQTT 5) for the messaging suites. Tests start their own mosquitto
# instances on free loopback ports with generated configs (packages/core/src/messaging/mosquitto.ts), so the
# Debian default instance must NOT run: it would hold 1883 on every interface and share nothing with us.
source "$(dirname "$0")/lib.sh"

apt_install mosquitto

# The package's init script may have started the default instance (or a previous run left it up).
if [ -x /etc/init.d/mosquitto ]; then
  /etc/init.d/mosquitto stop >/dev/null 2>&1 || true
fi
# Stop only a daemon started from the Debian default config; our test instances use other config files.
if [ -f /run/mosquitto/mosquitto.pid ]; then
  pid=$(cat /run/mosquitto/mosquitto.pid 2>/dev/null || true)
  if [ -n "$pid" ] && grep -q '/etc/mosquitto/mosquitto.conf' "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
  fi
fi
# Keep it from coming back with the next boot of a machine that has an init system.
if command -v update-rc.d >/dev/null 2>&1; then
  update-rc.d mosquitto disable >/dev/null 2>&1 || true
fi

if ss -ltn 2>/dev/null | grep -q ':1883 '; then
  log "warning: something still listens on 1883 (tests use their own free ports, so they are unaffected)"
fi
/usr/sbin/mosquitto -h 2>&1 | head -n 1 | sed 's/^/[setup 20-mosquitto] /' >&2 || true
log "mosquitto installed; the default instance is stopped"
