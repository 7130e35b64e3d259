#!/usr/bin/env bash
# Installs what meshbench's gRPC, WebSocket, Redis and ML workloads need on the local target:
#   .testenv/bin/ghz        ghz, the gRPC load generator (go install, pinned)
#   .testenv/bin/grpc_echo  meshbench's gRPC test server (servers/grpc, built from its go.mod)
#   redis-server, redis-benchmark (Debian redis-server / redis-tools)
#   scikit-learn for Debian's /usr/bin/python3 (Debian python3-sklearn, pinned)
# The WebSocket echo server and client are Deno code and need nothing here.
#
# Idempotent: ghz is cached per version outside the work tree (CI clones afresh) in
# ${MESHBENCH_TESTENV_CACHE:-$HOME/.cache/meshbench-testenv}; grpc_echo is rebuilt only when
# its sources change (go build's own cache). Needs Go >= 1.24 (/usr/local/go/bin/go).
set -euo pipefail

GHZ_VERSION="v0.120.0"                 # github.com/bojand/ghz
SKLEARN_DEB_VERSION="1.2.1+dfsg-1"     # Debian 12 python3-sklearn

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$repo/.testenv/bin"
cache_root="${MESHBENCH_TESTENV_CACHE:-$HOME/.cache/meshbench-testenv}"
ghz_cache="$cache_root/ghz-$GHZ_VERSION"
export PATH="$PATH:/usr/local/go/bin"
export CGO_ENABLED=0

log() { printf 'install_workloads: %s\n' "$*" >&2; }

apt_updated=0
apt_install() {
  if [[ $apt_updated -eq 0 ]]; then
    apt-get update -qq
    apt_updated=1
  fi
  # Another apt may hold the lock for a while (CI runs install scripts one after another, a
  # developer's machine may not): wait for it, bounded.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
}

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
if ! /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
  missing+=("python3-sklearn=$SKLEARN_DEB_VERSION")
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  log "apt-get install ${missing[*]}"
  apt_install "${missing[@]}"
fi

if ! command -v go >/dev/null; then
  log "go not found on PATH or in /usr/local/go/bin: cannot build ghz and grpc_echo"
  exit 1
fi

if [[ ! -x "$ghz_cache/ghz" ]]; then
  log "go install github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
  mkdir -p "$ghz_cache.tmp"
  GOBIN="$ghz_cache.tmp" go install -trimpath -ldflags "-s -w -X main.version=$GHZ_VERSION" \
    "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
  rm -rf "$ghz_cache"
  mv "$ghz_cache.tmp" "$ghz_cache"
fi

mkdir -p "$bin_dir"
if ! cmp -s "$ghz_cache/ghz" "$bin_dir/ghz"; then cp -f "$ghz_cache/ghz" "$bin_dir/ghz"; fi

log "go build servers/grpc -> $bin_dir/grpc_echo"
(cd "$repo/servers/grpc" && go build -trimpath -ldflags "-s -w" -o "$bin_dir/grpc_echo" .)

ghz_version="$("$bin_dir/ghz" --version 2>&1)"  # kingpin prints the version on stderr
[[ "$ghz_version" == "$GHZ_VERSION" ]] || { log "ghz reports \"$ghz_version\", expected $GHZ_VERSION"; exit 1; }
log "ready: ghz $ghz_version, grpc_echo, $(redis-server --version | cut -d' ' -f1-3)," \
  "scikit-learn $(/usr/bin/python3 -c 'import sklearn; print(sklearn.__version__)')"
