#!/usr/bin/env bash
# libvirtd + virtlogd + QEMU for provider-libvirt and its tests (test/provider-libvirt).
# No systemd here: the daemons are started directly when not already running. Idempotent.
# The `default` NAT network is never started (guests use QEMU user-mode networking only; nothing is bridged).
source "$(dirname "$0")/lib.sh"

apt_install libvirt-daemon-system libvirt-daemon qemu-system-x86 qemu-utils busybox-static cpio openssl

mkdir -p /var/run/libvirt /var/lib/corral/pool /var/log/corral

# Keep libvirtd from auto-starting the default NAT network (it would create virbr0 and route guests out).
for link in /etc/libvirt/qemu/networks/autostart/*.xml; do
  [ -e "$link" ] || continue
  log "disabling autostart of network $(basename "$link" .xml)"
  rm -f "$link"
done

# QEMU runs as root here: the guest console logs and pool files live in root-owned directories, and the
# containerised machine has no libvirt-qemu user namespace tricks to rely on. DAC labels off keeps
# libvirt from chowning the pool's files.
qemu_conf=/etc/libvirt/qemu.conf
if ! grep -q '^# corral settings' "$qemu_conf" 2>/dev/null; then
  log "configuring $qemu_conf"
  cat >>"$qemu_conf" <<'CONF'
# corral settings
user = "root"
group = "root"
dynamic_ownership = 0
security_driver = "none"
remember_owner = 0
CONF
fi

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if ! running /var/run/virtlogd.pid && ! pgrep -x virtlogd >/dev/null; then
  log "starting virtlogd"
  virtlogd -d
fi
if ! running /var/run/libvirtd.pid && ! pgrep -x libvirtd >/dev/null; then
  log "starting libvirtd"
  libvirtd -d
fi
wait_for "libvirtd socket" 60 test -S /var/run/libvirt/libvirt-sock
wait_for "libvirtd answering" 60 virsh -c qemu:///system version
log "libvirtd is up"
