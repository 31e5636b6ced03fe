#!/usr/bin/env bash
# Datastore binaries for the guest agent's managers (packages/agent): redis-server and the PostgreSQL 15
# server binaries. The agent's managers run their OWN servers (own config, data dir and port under the
# agent's stateDir); nothing here starts a datastore. The shared PostgreSQL test cluster on 5432 belongs
# to 10-postgresql.sh and is not touched.
source "$(dirname "$0")/lib.sh"

apt_install redis-server redis-tools postgresql

# Debian's package may start a redis-server on 6379 (with or without systemd); the agent's tests run
# their own, so stop the packaged one if it is running and keep it from holding the port.
if [ -x /etc/init.d/redis-server ] && pgrep -x redis-server >/dev/null 2>&1; then
  /etc/init.d/redis-server stop >/dev/null 2>&1 || true
fi
if command -v redis-cli >/dev/null && redis-cli -p 6379 ping >/dev/null 2>&1; then
  log "a redis-server still answers on 6379; shutting it down"
  redis-cli -p 6379 shutdown nosave >/dev/null 2>&1 || true
fi

test -x "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)/initdb" || { log "PostgreSQL server binaries missing"; exit 1; }
command -v redis-server >/dev/null || { log "redis-server missing"; exit 1; }
id postgres >/dev/null 2>&1 || { log "unix user postgres missing (the postgresql package creates it)"; exit 1; }
log "redis-server $(redis-server --version | awk '{print $3}' | sed 's/^v=//') and PostgreSQL $(ls /usr/lib/postgresql | sort -V | tail -n1) ready"
