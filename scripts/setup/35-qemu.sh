#!/usr/bin/env bash
# QEMU for software-emulated (TCG) guests, plus what the guest image builder needs on the host:
# cpio and zstd to pack the initramfs, binutils to strip the host's node, xorriso for test seed ISOs.
# No service to start: qemu runs per test. libvirt itself is installed by 40-libvirt.sh.
source "$(dirname "$0")/lib.sh"

apt_install qemu-system-x86 qemu-utils cpio zstd binutils xorriso ca-certificates
log "qemu ready: $(qemu-system-x86_64 --version | head -1)"
