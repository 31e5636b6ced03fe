#!/usr/bin/env bash
# Installs and starts a one-node OpenStack test cloud from Debian 12's packages, on 127.0.0.1 only:
# MariaDB, RabbitMQ, Keystone, Glance, Placement, Nova (fake compute driver, and a libvirt compute for real
# VMs under QEMU), API-only Neutron, Cinder (fake volume driver).
# Idempotent: on a bare machine it installs everything; on one where it ran before it only starts what
# is not running (and restarts a service whose config file it changed). Quiet: one line per step; all
# command output goes to /var/log/corral-openstack/. See README.md beside this file.
#
# The passwords below are fixed test-only values of a cloud bound to loopback; they are not secrets.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source=../setup/lib.sh
source "$repo/scripts/setup/lib.sh"

CONF=$here/conf
LOG_DIR=/var/log/corral-openstack
STATE_DIR=/var/lib/corral-openstack
LOG=$LOG_DIR/setup.log
PY=/usr/bin/python3 # Debian's python: openstacksdk is a Debian package, not in the pyenv python on PATH
DB_PASS=corral-db-pass
RABBIT_PASS=corral-rabbit-pass
ADMIN_PASS=corral-admin-pass
DEMO_PASS=corral-demo-pass
FAKE_HOST=corral-fake
# Cinder (fake volume driver) is on unless CORRAL_OPENSTACK_CINDER=0.
CINDER=${CORRAL_OPENSTACK_CINDER:-1}
[ "$CINDER" = 0 ] || CINDER=1
# The libvirt compute (real VMs through the host's libvirtd, scripts/setup/40-libvirt.sh) is on unless
# CORRAL_OPENSTACK_QEMU=0.
QEMU=${CORRAL_OPENSTACK_QEMU:-1}
[ "$QEMU" = 0 ] || QEMU=1
QEMU_HOST=corral-qemu
QEMU_PIDFILE=$STATE_DIR/nova-compute-qemu.pid
QEMU_LOG=/var/log/nova/nova-compute-qemu.log
mkdir -p "$LOG_DIR" "$STATE_DIR"
started=$SECONDS

step() {
  printf '[openstack %4ss] %s\n' "$((SECONDS - started))" "$*" >&2
  printf '\n=== %s %s\n' "$(date -u +%T)" "$*" >>"$LOG"
}

# fail MESSAGE LOGFILE...: says what failed, shows the end of the logs that explain it, exits.
fail() {
  local message=$1
  shift
  printf '[openstack %4ss] FAILED: %s\n' "$((SECONDS - started))" "$message" >&2
  for file in "$@" "$LOG"; do
    [ -f "$file" ] || continue
    printf -- '--- last lines of %s\n' "$file" >&2
    tail -n 30 "$file" >&2
  done
  exit 1
}
trap 'fail "command at line $LINENO of setup.sh (exit $?)"' ERR

# quiet CMD...: runs CMD with its output in the setup log.
quiet() { "$@" >>"$LOG" 2>&1; }

# as USER CMD...: runs a management command as the service's user (files it creates stay theirs).
as() {
  local user=$1
  shift
  runuser -u "$user" -- "$@" >>"$LOG" 2>&1
}

# stamped NAME PACKAGE CMD...: runs CMD once per version of PACKAGE (database migrations take 5-60 s
# each; a re-run on the same packages skips them).
stamped() {
  local name=$1 package=$2 version
  shift 2
  version=$(dpkg-query -W -f='${Version}' "$package")
  if [ "$(cat "$STATE_DIR/$name.done" 2>/dev/null)" = "$version" ]; then return 0; fi
  "$@"
  echo "$version" >"$STATE_DIR/$name.done"
}

# put SRC DEST GROUP SERVICE: installs a config file; marks SERVICE for a restart if the file changed.
declare -A changed=()
put() {
  local src=$1 dest=$2 group=$3 service=$4
  if cmp -s "$src" "$dest"; then return 0; fi
  if [ -f "$dest" ] && [ ! -f "$dest.corral-orig" ]; then cp -p "$dest" "$dest.corral-orig"; fi
  install -D -m 0640 -o root -g "$group" "$src" "$dest"
  changed[$service]=1
}

# put_text DEST GROUP SERVICE TEXT: like put, from a string.
put_text() {
  local tmp
  tmp=$(mktemp)
  printf '%s\n' "$4" >"$tmp"
  put "$tmp" "$1" "$2" "$3"
  rm -f "$tmp"
}

# uwsgi_defaults NAME PORT INI PROCESSES THREADS: the init scripts bind every interface with many
# workers; /etc/default/NAME is sourced after and overrides their arguments.
uwsgi_defaults() {
  put_text "/etc/default/$1" root "$1" "# Written by corral's test/openstack-cloud/setup.sh: loopback only, few workers.
DAEMON_ARGS=\"--ini $3 --http-socket 127.0.0.1:$2 --processes $4 --threads $5\""
}

# service_up NAME: starts /etc/init.d/NAME unless it runs; restarts it if its config changed.
service_up() {
  local name=$1
  if [ -n "${changed[$name]:-}" ]; then
    quiet "/etc/init.d/$name" restart || true
  fi
  quiet "/etc/init.d/$name" start || true
}

http_ok() { curl -fsS -o /dev/null --max-time 5 "$1"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
sql() { mysql --protocol=socket -uroot -N -B -e "$1"; }

# wait_api NAME URL SECONDS LOGFILE...: waits for an API's version document.
wait_api() {
  local name=$1 url=$2 seconds=$3
  shift 3
  wait_for "$name at $url" "$seconds" http_ok "$url" 2>>"$LOG" || fail "$name did not answer at $url" "$@"
}

# ---------------------------------------------------------------------------------------------------
step "packages (about 2.5 min on a bare machine)"
apt_install mariadb-server rabbitmq-server python3-pymysql keystone python3-openstackclient \
  python3-openstacksdk glance placement-api nova-api nova-conductor nova-scheduler nova-compute \
  neutron-server curl 2>>"$LOG" >>"$LOG" || fail "apt-get install failed"
if [ "$CINDER" = 1 ]; then
  apt_install cinder-api cinder-scheduler cinder-volume 2>>"$LOG" >>"$LOG" || fail "apt-get install failed"
fi
if [ "$QEMU" = 1 ]; then
  # Nova's libvirt driver: python3-libvirt, qemu-img for the disks, genisoimage for config drives. libvirtd
  # and QEMU themselves come from scripts/setup/40-libvirt.sh (started below if it is not running).
  apt_install nova-compute-kvm python3-libvirt qemu-utils genisoimage 2>>"$LOG" >>"$LOG" ||
    fail "apt-get install failed"
fi

step "mariadb and rabbitmq on 127.0.0.1"
put "$CONF/mariadb.cnf" /etc/mysql/mariadb.conf.d/99-corral.cnf root mariadb
put "$CONF/rabbitmq-env.conf" /etc/rabbitmq/rabbitmq-env.conf rabbitmq rabbitmq-server
put "$CONF/rabbitmq.conf" /etc/rabbitmq/rabbitmq.conf rabbitmq rabbitmq-server
chmod 0644 /etc/mysql/mariadb.conf.d/99-corral.cnf
if ! port_open 3306 || [ -n "${changed[mariadb]:-}" ]; then service_up mariadb; fi
if ! port_open 5672 || [ -n "${changed[rabbitmq-server]:-}" ]; then
  # The init script waits for the node itself; run it in the background while MariaDB comes up.
  ( "/etc/init.d/rabbitmq-server" "$([ -n "${changed[rabbitmq-server]:-}" ] && echo restart || echo start)" \
    >>"$LOG_DIR/rabbitmq-start.log" 2>&1 || true ) &
  rabbit_job=$!
fi
wait_for "mariadb" 60 mysqladmin --protocol=socket -uroot ping 2>>"$LOG" ||
  fail "mariadb did not start" /var/log/mysql/error.log
sql_setup=""
for db in keystone glance placement nova nova_api nova_cell0 neutron cinder; do
  sql_setup+="CREATE DATABASE IF NOT EXISTS $db;"
done
for user in keystone glance placement nova neutron cinder; do
  sql_setup+="CREATE USER IF NOT EXISTS '$user'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';"
  sql_setup+="CREATE USER IF NOT EXISTS '$user'@'localhost' IDENTIFIED BY '$DB_PASS';"
done
for pair in keystone:keystone glance:glance placement:placement nova:nova nova:nova_api nova:nova_cell0 \
  neutron:neutron cinder:cinder; do
  sql_setup+="GRANT ALL PRIVILEGES ON ${pair#*:}.* TO '${pair%%:*}'@'127.0.0.1';"
  sql_setup+="GRANT ALL PRIVILEGES ON ${pair#*:}.* TO '${pair%%:*}'@'localhost';"
done
quiet sql "$sql_setup"
if [ -n "${rabbit_job:-}" ]; then wait "$rabbit_job"; fi
wait_for "rabbitmq" 90 port_open 5672 2>>"$LOG" ||
  fail "rabbitmq did not start" "$LOG_DIR/rabbitmq-start.log" /var/log/rabbitmq/rabbit@localhost.log
if ! rabbitmqctl -q list_users 2>>"$LOG" | grep -q '^openstack\b'; then
  quiet rabbitmqctl add_user openstack "$RABBIT_PASS"
  quiet rabbitmqctl set_permissions -p / openstack '.*' '.*' '.*'
fi

step "configuration files"
put "$CONF/keystone.conf" /etc/keystone/keystone.conf keystone keystone
put "$CONF/glance-api.conf" /etc/glance/glance-api.conf glance glance-api
put "$CONF/placement.conf" /etc/placement/placement.conf placement placement-api
put "$CONF/nova.conf" /etc/nova/nova.conf nova nova
put "$CONF/nova-compute.conf" /etc/nova/nova-compute.conf nova nova-compute
put "$CONF/neutron.conf" /etc/neutron/neutron.conf neutron neutron-api
put "$CONF/ml2_conf.ini" /etc/neutron/plugins/ml2/ml2_conf.ini neutron neutron-api
if [ "$CINDER" = 1 ]; then
  put "$CONF/cinder.conf" /etc/cinder/cinder.conf cinder cinder
  uwsgi_defaults cinder-api 8776 /etc/cinder/cinder-api-uwsgi.ini 1 1
  [ -z "${changed[cinder]:-}" ] || for name in cinder-api cinder-scheduler cinder-volume; do changed[$name]=1; done
  install -d -o cinder -g cinder /var/lib/cinder/tmp
fi
uwsgi_defaults keystone 5000 /etc/keystone/keystone-uwsgi.ini 2 4
uwsgi_defaults placement-api 8778 /etc/placement/placement-api-uwsgi.ini 1 4
# One thread per process for the eventlet-based APIs: neutron under uwsgi threads deadlocks ("greenlet.error:
# cannot switch to a different thread") once requests overlap. Each neutron worker needs a warm-up
# query before its first GET /v2.0/ports (bootstrap.py resources does it).
uwsgi_defaults nova-api 8774 /etc/nova/nova-api-uwsgi.ini 2 1
uwsgi_defaults neutron-server 9696 /etc/neutron/neutron-api-uwsgi.ini 2 1
# neutron-api's init script sources /etc/default/neutron-server (its NAME); restart follows either.
[ -n "${changed[neutron-server]:-}" ] && changed[neutron-api]=1
if [ -n "${changed[nova]:-}" ]; then
  for name in nova-api nova-conductor nova-scheduler nova-compute; do changed[$name]=1; done
fi
install -d -o nova -g nova /var/lib/nova/tmp /var/lib/nova/instances
if [ "$QEMU" = 1 ]; then
  put "$CONF/nova-compute-qemu.conf" /etc/nova/nova-compute-qemu.conf nova nova-compute-qemu
  [ -z "${changed[nova]:-}" ] || changed[nova-compute-qemu]=1
  for key in state_path instances_path lock_path; do
    install -d -m 0750 "$(sed -n "s/^$key = //p" "$CONF/nova-compute-qemu.conf")"
  done
fi
install -d -o glance -g glance /var/lib/glance/tmp /var/lib/glance/images
install -d -o neutron -g neutron /var/lib/neutron/tmp

# ---------------------------------------------------------------------------------------------------
step "databases, keystone and the APIs (in parallel)"
keystone_chain() {
  stamped keystone-db keystone as keystone keystone-manage db_sync
  if [ ! -f /etc/keystone/fernet-keys/0 ]; then
    quiet keystone-manage fernet_setup --keystone-user keystone --keystone-group keystone
  fi
  if [ ! -f /etc/keystone/credential-keys/0 ]; then
    quiet keystone-manage credential_setup --keystone-user keystone --keystone-group keystone
  fi
  stamped keystone-bootstrap keystone quiet keystone-manage bootstrap --bootstrap-password "$ADMIN_PASS" \
    --bootstrap-admin-url http://127.0.0.1:5000/v3/ --bootstrap-internal-url http://127.0.0.1:5000/v3/ \
    --bootstrap-public-url http://127.0.0.1:5000/v3/ --bootstrap-region-id RegionOne
  service_up keystone
  wait_api keystone http://127.0.0.1:5000/v3 90 /var/log/keystone/keystone.log
  "$PY" "$here/bootstrap.py" identity "$([ "$CINDER" = 1 ] && echo --cinder)" >>"$LOG" 2>&1
}
nova_chain() {
  stamped nova-db nova-common nova_db
}
nova_db() {
  as nova nova-manage api_db sync
  if ! runuser -u nova -- nova-manage cell_v2 list_cells 2>/dev/null | grep -q ' cell0 '; then
    as nova nova-manage cell_v2 map_cell0
  fi
  if ! runuser -u nova -- nova-manage cell_v2 list_cells 2>/dev/null | grep -q ' cell1 '; then
    as nova nova-manage cell_v2 create_cell --name=cell1
  fi
  as nova nova-manage db sync
}
fake_agent_row() {
  # Neutron binds a port only on a host with a live L2 agent. This row never expires (heartbeat in the far
  # future) and claims an OVS agent with physnet1 mapped, so fake servers on corral-net go ACTIVE.
  agent_conf='{"bridge_mappings": {"physnet1": "br-corral"}, "tunnel_types": [], "integration_bridge": "br-int",
   "datapath_type": "system", "ovs_hybrid_plug": false, "l2_population": false, "devices": 0,
   "ovs_capabilities": {"datapath_types": ["system"], "iface_types": ["internal", "system"]}}'
  quiet sql "USE neutron;
  INSERT INTO agents (id, agent_type, \`binary\`, topic, host, admin_state_up, created_at, started_at,
    heartbeat_timestamp, description, configurations, \`load\`)
  SELECT UUID(), 'Open vSwitch agent', 'neutron-openvswitch-agent', 'N/A', '$FAKE_HOST', 1, NOW(), NOW(),
    '2099-01-01 00:00:00', 'corral test cloud: fake agent, no data plane', '$agent_conf', 0 FROM DUAL
  WHERE NOT EXISTS (SELECT 1 FROM agents WHERE host = '$FAKE_HOST' AND agent_type = 'Open vSwitch agent');"
}
neutron_chain() {
  stamped neutron-db neutron-common as neutron neutron-db-manage --config-file /etc/neutron/neutron.conf \
    --config-file /etc/neutron/plugins/ml2/ml2_conf.ini upgrade head
  fake_agent_row
  service_up neutron-api
}
declare -A jobs=()
run_job() {
  local job=$1
  shift
  (
    t0=$SECONDS
    "$@"
    echo "job $job done in $((SECONDS - t0))s" >>"$LOG"
  ) >"$LOG_DIR/$job.log" 2>&1 &
  jobs[$job]=$!
}
declare -A service_logs=(
  [keystone]=/var/log/keystone/keystone.log [glance]=/var/log/glance/glance-api.log
  [placement]=/var/log/placement/placement-api.log [neutron]=/var/log/neutron/neutron-api.log
  [nova]=/var/log/nova/nova-manage.log [cinder]=/var/log/cinder/cinder-manage.log
)
trap - ERR # the jobs report their own failures below
glance_chain() {
  stamped glance-db glance-common as glance glance-manage db_sync
  service_up glance-api
}
placement_chain() {
  stamped placement-db placement-common as placement placement-manage db sync
  service_up placement-api
}
run_job keystone keystone_chain
run_job glance glance_chain
run_job placement placement_chain
run_job neutron neutron_chain
run_job nova nova_chain
if [ "$CINDER" = 1 ]; then
  run_job cinder stamped cinder-db cinder-common as cinder cinder-manage db sync
fi
for name in "${!jobs[@]}"; do
  wait "${jobs[$name]}" || fail "$name step" "$LOG_DIR/$name.log" "${service_logs[$name]}"
done
trap 'fail "command at line $LINENO of setup.sh (exit $?)"' ERR

step "waiting for the APIs, then nova-compute $FAKE_HOST"
wait_api glance http://127.0.0.1:9292/ 90 /var/log/glance/glance-api.log
wait_api placement http://127.0.0.1:8778/ 90 /var/log/placement/placement-api.log
wait_api neutron http://127.0.0.1:9696/ 90 /var/log/neutron/neutron-api.log
"$PY" "$here/bootstrap.py" warm-neutron >>"$LOG" 2>&1 || fail "neutron warm-up" /var/log/neutron/neutron-api.log
# Nova starts only now: nova-scheduler exits at start when the catalog has no placement endpoint yet, and
# nova-compute's first resource report would fail with the next try a minute away.
for name in nova-api nova-conductor nova-scheduler; do service_up "$name"; done
if [ "$CINDER" = 1 ]; then
  for name in cinder-api cinder-scheduler cinder-volume; do service_up "$name"; done
fi
wait_api nova http://127.0.0.1:8774/v2.1 90 /var/log/nova/nova-api.log
service_up nova-compute

qemu_started_at=
# qemu_compute_up: the libvirt compute, run as root (the host libvirtd's socket needs no polkit then), with
# its own config file after nova.conf and its own pidfile (the init script's belongs to the fake compute).
qemu_running() {
  local pid
  pid=$(cat "$QEMU_PIDFILE" 2>/dev/null) || return 1
  kill -0 "$pid" 2>/dev/null && grep -qa nova-compute-qemu.conf "/proc/$pid/cmdline"
}
qemu_compute_up() {
  if ! virsh -c qemu:///system version >/dev/null 2>&1; then
    quiet bash "$repo/scripts/setup/40-libvirt.sh" || fail "libvirtd (scripts/setup/40-libvirt.sh)"
  fi
  if qemu_running && [ -n "${changed[nova-compute-qemu]:-}" ]; then
    kill "$(cat "$QEMU_PIDFILE")" 2>/dev/null || true
    wait_for "the old nova-compute $QEMU_HOST to stop" 60 sh -c "! kill -0 $(cat "$QEMU_PIDFILE") 2>/dev/null" 2>>"$LOG"
  fi
  if ! qemu_running; then
    # A service row from before a kill would look alive for up to a minute: wait for a report after this start.
    qemu_started_at=$(date -u '+%F %T')
    start-stop-daemon --start --quiet --background --make-pidfile --pidfile "$QEMU_PIDFILE" \
      --chdir /var/lib/nova --startas /usr/bin/nova-compute -- --config-file=/etc/nova/nova.conf \
      --config-file=/etc/nova/nova-compute-qemu.conf --log-file="$QEMU_LOG"
  fi
}
if [ "$QEMU" = 1 ]; then qemu_compute_up; fi

# Conductor, scheduler and the fake compute each report to the cell database every 10 s.
nova_services_up() {
  [ "$(sql "SELECT COUNT(DISTINCT \`binary\`) FROM nova.services WHERE deleted = 0 AND
    (\`binary\` IN ('nova-conductor', 'nova-scheduler') OR host = '$FAKE_HOST') AND
    COALESCE(updated_at, created_at) > UTC_TIMESTAMP() - INTERVAL 60 SECOND")" = 3 ]
}
wait_for "nova conductor, scheduler and compute $FAKE_HOST to report" 120 nova_services_up 2>>"$LOG" ||
  fail "a nova service is not up" /var/log/nova/nova-scheduler.log /var/log/nova/nova-conductor.log \
    /var/log/nova/nova-compute.log
if [ -z "$(sql "SELECT id FROM nova_api.host_mappings WHERE host='$FAKE_HOST'")" ]; then
  as nova nova-manage cell_v2 discover_hosts
fi
provider_ready() {
  [ -n "$(sql "SELECT i.id FROM placement.resource_providers r JOIN placement.inventories i
    ON i.resource_provider_id = r.id WHERE r.name='$FAKE_HOST' LIMIT 1")" ]
}
wait_for "placement inventory of $FAKE_HOST" 120 provider_ready 2>>"$LOG" ||
  fail "the fake compute did not report to placement" /var/log/nova/nova-compute.log

if [ "$QEMU" = 1 ]; then
  step "nova-compute $QEMU_HOST (libvirt, QEMU software emulation)"
  qemu_service_up() {
    [ -n "$(sql "SELECT id FROM nova.services WHERE deleted = 0 AND host = '$QEMU_HOST' AND
      COALESCE(updated_at, created_at) > UTC_TIMESTAMP() - INTERVAL 60 SECOND AND
      COALESCE(updated_at, created_at) >= '${qemu_started_at:-1970-01-01 00:00:00}'")" ]
  }
  wait_for "nova-compute $QEMU_HOST to report" 120 qemu_service_up 2>>"$LOG" ||
    fail "nova-compute $QEMU_HOST is not up" "$QEMU_LOG"
  # The libvirt driver names its node after the machine (libvirt's hostname), unlike the fake driver.
  qemu_node() {
    sql "SELECT c.hypervisor_hostname FROM nova.compute_nodes c JOIN placement.resource_providers r
      ON r.uuid = c.uuid JOIN placement.inventories i ON i.resource_provider_id = r.id
      WHERE c.host = '$QEMU_HOST' AND c.deleted = 0 ORDER BY c.id DESC LIMIT 1"
  }
  qemu_node_ready() { [ -n "$(qemu_node)" ]; }
  wait_for "placement inventory of $QEMU_HOST" 120 qemu_node_ready 2>>"$LOG" ||
    fail "nova-compute $QEMU_HOST did not report to placement" "$QEMU_LOG"
  if [ -z "$(sql "SELECT id FROM nova_api.host_mappings WHERE host='$QEMU_HOST'")" ]; then
    as nova nova-manage cell_v2 discover_hosts
  fi
  # Its aggregate takes only flavors that require CUSTOM_CORRAL_QEMU (flavor corral.qemu): the fake-driver
  # suites' servers never land on it.
  "$PY" "$here/bootstrap.py" qemu "$(qemu_node)" >>"$LOG" 2>&1 || fail "bootstrap.py qemu" /var/log/nova/nova-api.log
fi

if [ "$CINDER" = 1 ]; then
  wait_api cinder http://127.0.0.1:8776/ 90 /var/log/cinder/cinder-api.log
  cinder_volume_up() {
    [ -n "$(sql "SELECT id FROM cinder.services WHERE \`binary\` = 'cinder-volume' AND deleted = 0 AND
      disabled = 0 AND COALESCE(updated_at, created_at) > UTC_TIMESTAMP() - INTERVAL 60 SECOND LIMIT 1")" ]
  }
  wait_for "cinder-volume to report" 120 cinder_volume_up 2>>"$LOG" ||
    fail "cinder-volume is not up" /var/log/cinder/cinder-volume.log /var/log/cinder/cinder-scheduler.log
fi

step "flavors, image, network"
"$PY" "$here/bootstrap.py" resources >>"$LOG" 2>&1 ||
  fail "bootstrap.py resources" /var/log/neutron/neutron-api.log /var/log/glance/glance-api.log

step "clouds.yaml"
clouds="# Written by corral's test/openstack-cloud/setup.sh: the test cloud on 127.0.0.1 (test-only credentials).
clouds:
  corral-admin:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: admin
      password: $ADMIN_PASS
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
    interface: public
  corral-demo:
    auth:
      auth_url: http://127.0.0.1:5000/v3
      username: demo
      password: $DEMO_PASS
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
    interface: public"
mkdir -p /etc/openstack "$repo/.cache/openstack"
printf '%s\n' "$clouds" >/etc/openstack/clouds.yaml
printf '%s\n' "$clouds" >"$repo/.cache/openstack/clouds.yaml"

step "ready in $((SECONDS - started))s: keystone :5000 glance :9292 placement :8778 nova :8774 neutron :9696$(
  [ "$CINDER" = 1 ] && echo " cinder :8776")$([ "$QEMU" = 1 ] && echo "; computes $FAKE_HOST (fake), $QEMU_HOST (libvirt)")"
