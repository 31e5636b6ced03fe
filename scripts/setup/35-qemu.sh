#!/usr/bin/env bash
# QEMU for software-emulated (TCG) guests, plus what the guest image builder needs on the host:
# cpio, lz4 and zstd to pack the initramfs, xz-utils to unpack the kernel, binutils to strip the host's
# node and read ELF headers, xorriso for the test seed ISOs.
# No service to start: qemu runs per test. libvirt itself is installed by 40-libvirt.sh.
source "$(dirname "$0")/lib.sh"

apt_install qemu-system-x86 qemu-utils cpio lz4 zstd xz-utils binutils xorriso
log "qemu ready: $(qemu-system-x86_64 --version | head -1)"
