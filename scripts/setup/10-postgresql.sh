#!/usr/bin/env bash
# PostgreSQL for the store suite (test/store/postgres.test.ts): Debian's cluster <version>/main on
# 127.0.0.1:5432, a role `corral` (password `corral`) and a database `corral_test` owned by it.
# Idempotent: installs, creates and starts only what is missing.
source "$(dirname "$0")/lib.sh"

apt_install postgresql

version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
cluster_status() { pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" { print $4 }'; }

if [ -z "$(cluster_status)" ]; then
  log "creating cluster $version/main"
  pg_createcluster "$version" main >/dev/null
fi
# Some machine images ship the cluster's configuration owned by a uid that is not postgres; pg_ctlcluster then
# refuses to start or restart it ("Config owner ... and data owner ... do not match"). Debian's owner is postgres.
conf_dir=/etc/postgresql/$version/main
if [ -d "$conf_dir" ] && [ "$(stat -c %U "$conf_dir/postgresql.conf")" != postgres ]; then
  log "giving $conf_dir back to postgres"
  chown -R postgres:postgres "$conf_dir"
fi
if [ "$(cluster_status)" != "online" ]; then
  log "starting cluster $version/main"
  pg_ctlcluster "$version" main start
fi
wait_for "PostgreSQL $version/main" 60 su postgres -c "psql -qAtc 'select 1'"

psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -qAt $*"; }
if [ "$(psql_admin "-c \"SELECT 1 FROM pg_roles WHERE rolname = 'corral'\"")" != "1" ]; then
  log "creating role corral"
  psql_admin "-c \"CREATE ROLE corral LOGIN PASSWORD 'corral'\""
fi
if [ "$(psql_admin "-c \"SELECT 1 FROM pg_database WHERE datname = 'corral_test'\"")" != "1" ]; then
  log "creating database corral_test"
  psql_admin "-c \"CREATE DATABASE corral_test OWNER corral\""
fi
wait_for "corral's login on 127.0.0.1:5432" 30 env PGPASSWORD=corral psql -h 127.0.0.1 -U corral -d corral_test -qAtc 'select 1'
log "PostgreSQL $version ready: postgres://corral:corral@127.0.0.1:5432/corral_test"
