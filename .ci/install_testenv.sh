#!/usr/bin/env bash
# Installs the binaries of meshbench's local test control plane into .testenv/bin:
# etcd, kube-apiserver, kube-controller-manager, kube-scheduler (all built from the pinned
# k8s.io/kubernetes module, whose k8s.io/* staging modules are replaced by their matching
# published versions) and kwok (sigs.k8s.io/kwok/cmd/kwok, pinned); metrics-server
# (sigs.k8s.io/metrics-server, pinned), which serves metrics.k8s.io from kwok's simulated
# kubelet metrics; fortio and helm.
#
# Idempotent: built binaries are cached per version outside the work tree (CI clones afresh)
# in ${MESHBENCH_TESTENV_CACHE:-$HOME/.cache/meshbench-testenv} and copied into .testenv/bin.
# Needs Go >= 1.26 (/usr/local/go/bin/go) and openssl (Debian package, installed if absent).
set -euo pipefail

K8S_VERSION="v1.34.4"  # k8s.io/kubernetes; staging modules at v0.34.4; bundles etcd server v3.6.4
KWOK_VERSION="v0.8.0"  # sigs.k8s.io/kwok
FORTIO_VERSION="v1.66.5"  # fortio.org/fortio: the cluster's load generator (image fortio/fortio:1.66.5),
                          # run by exec into kwok pods in tests (newer releases need grol.io, not served)
HELM_VERSION="v3.19.5"    # helm.sh/helm/v3: installs the meshes' charts (and a fixture chart in tests)
METRICS_SERVER_VERSION="v0.9.0"  # sigs.k8s.io/metrics-server: 0.9.x supports Kubernetes 1.34+;
                                 # reads the node annotation kwok's resource metrics path needs;
                                 # its go.mod asks for Go 1.26.4 (older 1.26 fetch that toolchain)

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="$repo/.testenv/bin"
cache_root="${MESHBENCH_TESTENV_CACHE:-$HOME/.cache/meshbench-testenv}"
cache="$cache_root/k8s-$K8S_VERSION-kwok-$KWOK_VERSION"
binaries=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
export PATH="$PATH:/usr/local/go/bin"
export CGO_ENABLED=0

log() { printf 'install_testenv: %s\n' "$*" >&2; }

if ! command -v openssl >/dev/null; then
  log "installing openssl (Debian)"
  apt-get update -qq && apt-get install -y -qq openssl >/dev/null
fi
if ! command -v go >/dev/null; then
  log "go not found on PATH or in /usr/local/go/bin: cannot build the test control plane"
  exit 1
fi

have_all() {
  local dir="$1" b
  for b in "${binaries[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}

if ! have_all "$cache"; then
  start=$(date +%s)
  mkdir -p "$cache.tmp"
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  minor="${K8S_VERSION#v1.}"
  staging_version="v0.$minor"
  log "building kube components $K8S_VERSION (staging $staging_version) in $work"
  (
    cd "$work"
    go mod init meshbench.local/testenv >/dev/null 2>&1
    # Every k8s.io/* module that k8s.io/kubernetes replaces with ./staging/src/... is replaced
    # here by its published version of the same release.
    modfile="$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" |
      sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
    [[ -f "$modfile" ]] || { log "could not download go.mod of k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
    staging=$(grep -oE '^[[:space:]]*k8s\.io/[a-z0-9-]+ => \./staging/' "$modfile" | awk '{print $1}')
    [[ -n "$staging" ]] || { log "no staging replace directives in $modfile"; exit 1; }
    for m in $staging; do
      go mod edit -replace "$m=$m@$staging_version"
    done
    go mod edit -require "k8s.io/kubernetes@$K8S_VERSION"
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
)
GO
    # tidy keeps the versions k8s.io/kubernetes requires (etcd server included): no upgrades.
    go mod tidy
    grep -q "k8s.io/kubernetes $K8S_VERSION" go.mod ||
      { log "go mod tidy moved k8s.io/kubernetes away from $K8S_VERSION"; exit 1; }
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION"
    ldflags="$ldflags -X k8s.io/component-base/version.gitMajor=1"
    ldflags="$ldflags -X k8s.io/component-base/version.gitMinor=${minor%%.*}"
    for c in kube-apiserver kube-controller-manager kube-scheduler; do
      log "go build $c"
      go build -trimpath -ldflags "$ldflags" -o "$cache.tmp/$c" "k8s.io/kubernetes/cmd/$c"
    done
    log "go build etcd (the version k8s.io/kubernetes@$K8S_VERSION requires)"
    go build -trimpath -ldflags "-s -w" -o "$cache.tmp/etcd" go.etcd.io/etcd/server/v3
  )
  log "go install sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  GOBIN="$cache.tmp" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  rm -rf "$cache"
  mv "$cache.tmp" "$cache"
  log "built in $(($(date +%s) - start)) s"
fi

fortio_cache="$cache_root/fortio-$FORTIO_VERSION"
if [[ ! -x "$fortio_cache/fortio" ]]; then
  log "go install fortio.org/fortio@$FORTIO_VERSION"
  mkdir -p "$fortio_cache.tmp"
  GOBIN="$fortio_cache.tmp" go install -trimpath -ldflags "-s -w" "fortio.org/fortio@$FORTIO_VERSION"
  rm -rf "$fortio_cache"
  mv "$fortio_cache.tmp" "$fortio_cache"
fi

helm_cache="$cache_root/helm-$HELM_VERSION"
if [[ ! -x "$helm_cache/helm" ]]; then
  log "go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mkdir -p "$helm_cache.tmp"
  GOBIN="$helm_cache.tmp" go install -trimpath -ldflags "-s -w" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  rm -rf "$helm_cache"
  mv "$helm_cache.tmp" "$helm_cache"
fi

metrics_server_cache="$cache_root/metrics-server-$METRICS_SERVER_VERSION"
if [[ ! -x "$metrics_server_cache/metrics-server" ]]; then
  log "go install sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
  mkdir -p "$metrics_server_cache.tmp"
  # The version variable is the one metrics-server's own Makefile sets.
  GOBIN="$metrics_server_cache.tmp" go install -trimpath \
    -ldflags "-s -w -X k8s.io/client-go/pkg/version.gitVersion=$METRICS_SERVER_VERSION" \
    "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION"
  rm -rf "$metrics_server_cache"
  mv "$metrics_server_cache.tmp" "$metrics_server_cache"
fi

mkdir -p "$bin_dir"
for b in "${binaries[@]}"; do
  if ! cmp -s "$cache/$b" "$bin_dir/$b"; then cp -f "$cache/$b" "$bin_dir/$b"; fi
done
for extra in "$fortio_cache/fortio" "$helm_cache/helm" "$metrics_server_cache/metrics-server"; do
  if ! cmp -s "$extra" "$bin_dir/${extra##*/}"; then cp -f "$extra" "$bin_dir/${extra##*/}"; fi
done
printf 'K8S_VERSION=%s\nKWOK_VERSION=%s\nFORTIO_VERSION=%s\nHELM_VERSION=%s\nMETRICS_SERVER_VERSION=%s\n' \
  "$K8S_VERSION" "$KWOK_VERSION" "$FORTIO_VERSION" "$HELM_VERSION" "$METRICS_SERVER_VERSION" \
  > "$bin_dir/testenv-versions.env"
log "binaries ready in $bin_dir: ${binaries[*]} fortio helm metrics-server"
