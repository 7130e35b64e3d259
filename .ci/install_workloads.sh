#!/usr/bin/env bash
# Installs what meshbench's gRPC, WebSocket, Redis and ML workloads need on the local target:
#   ghz                  the gRPC load generator (go install, pinned) into Go's bin directory
#   meshbench-grpc-echo  meshbench's gRPC test server, built from servers/grpc (its go.mod pins
#                        grpc-go and protobuf) into Go's bin directory
#   redis-server, redis-benchmark (Debian redis-server, redis-tools)
#   scikit-learn for Debian's /usr/bin/python3 (Debian python3-sklearn, pinned)
# The WebSocket echo server and client are Deno code and need nothing here.
#
# Go's bin directory is $GOBIN, else $(go env GOPATH)/bin, where the local target looks for
# Go tools (vegeta lives there too). Idempotent: ghz is reinstalled only when the installed
# one is not $GHZ_VERSION; meshbench-grpc-echo is rebuilt every time (go's build cache makes
# that a second when nothing changed). Needs Go >= 1.25 (/usr/local/go/bin/go).
set -euo pipefail

GHZ_VERSION="v0.120.0"                 # github.com/bojand/ghz
SKLEARN_DEB_VERSION="1.2.1+dfsg-1"     # Debian 12 python3-sklearn

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PATH="$PATH:/usr/local/go/bin"
export CGO_ENABLED=0

log() { printf 'install_workloads: %s\n' "$*" >&2; }

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-benchmark >/dev/null || missing+=(redis-tools)
if ! /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
  missing+=("python3-sklearn=$SKLEARN_DEB_VERSION")
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  # Another apt may hold the lock for a while: wait for it, bounded.
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null; then
  log "go not found on PATH or in /usr/local/go/bin: cannot build ghz and meshbench-grpc-echo"
  exit 1
fi
gobin="$(go env GOBIN)"
[[ -n "$gobin" ]] || gobin="$(go env GOPATH)/bin"
mkdir -p "$gobin"

installed_ghz="$("$gobin/ghz" --version 2>&1 || true)"  # kingpin prints the version on stderr
if [[ "$installed_ghz" != "$GHZ_VERSION" ]]; then
  log "go install github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION into $gobin"
  GOBIN="$gobin" go install -trimpath -ldflags "-s -w -X main.version=$GHZ_VERSION" \
    "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
fi
ghz_version="$("$gobin/ghz" --version 2>&1)"
[[ "$ghz_version" == "$GHZ_VERSION" ]] || { log "ghz reports \"$ghz_version\", expected $GHZ_VERSION"; exit 1; }

log "go build servers/grpc -> $gobin/meshbench-grpc-echo"
(cd "$repo/servers/grpc" && go build -trimpath -ldflags "-s -w" -o "$gobin/meshbench-grpc-echo" .)

log "ready: ghz $ghz_version, meshbench-grpc-echo, $(redis-server --version | cut -d' ' -f1-3)," \
  "scikit-learn $(/usr/bin/python3 -c 'import sklearn; print(sklearn.__version__)')"
