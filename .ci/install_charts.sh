#!/usr/bin/env bash
# Fetches the meshes' real Helm charts into .testenv/charts, for the tests that render them
# with meshbench's values (lib/cluster/charts_test.ts). The chart repositories are not
# reachable from here; the charts come from the projects' Go modules on the Go module proxy:
#   - Cilium: github.com/cilium/cilium at the exact release meshbench pins (v1.18.11, CILIUM_VERSION),
#     chart install/kubernetes/cilium.
#   - Istio: istio.io/istio has no release versions on the proxy, only pseudo-versions of
#     commits; the newest one served is pinned below (its charts are the source charts, with
#     the placeholder version 1.0.0), so the Istio checks are of that commit, not of the pinned 1.27.9.
#   - Linkerd: github.com/linkerd/linkerd2 is not served by the proxy (403): not fetched.
# Layout: .testenv/charts/<family>/<chart> with the chart names meshbench's install steps
# use, .testenv/charts/cilium/crds/ with Cilium's CiliumNetworkPolicy and CiliumEndpoint
# CRDs, and .testenv/charts/charts.env naming the sources. Idempotent; the Go module cache
# keeps the downloads.
set -euo pipefail

CILIUM_MODULE="github.com/cilium/cilium@v1.18.11"
ISTIO_MODULE="istio.io/istio@v0.0.0-20260827124520-eed52ebb66ad"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$repo/.testenv/charts"
export PATH="$PATH:/usr/local/go/bin"

log() { printf 'install_charts: %s\n' "$*" >&2; }

stamp="cilium=$CILIUM_MODULE+crds istio=$ISTIO_MODULE"
if [[ -f "$out/charts.env" ]] && grep -qxF "SOURCES=\"$stamp\"" "$out/charts.env"; then
  log "charts present ($stamp)"
  exit 0
fi
if ! command -v go >/dev/null; then
  log "go not found on PATH or in /usr/local/go/bin: cannot fetch the charts"
  exit 1
fi

module_dir() {
  local dir
  dir="$(cd "$(mktemp -d)" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -d "$dir" ]] || { log "could not download $1"; exit 1; }
  printf '%s' "$dir"
}

start=$SECONDS
rm -rf "$out.tmp"
mkdir -p "$out.tmp/cilium" "$out.tmp/istio"
cilium="$(module_dir "$CILIUM_MODULE")"
istio="$(module_dir "$ISTIO_MODULE")"
cp -r "$cilium/install/kubernetes/cilium" "$out.tmp/cilium/cilium"
# Cilium's real CRDs for the policies meshbench applies (validated by the test API server).
mkdir -p "$out.tmp/cilium/crds"
for crd in ciliumnetworkpolicies ciliumendpoints; do
  cp "$cilium/pkg/k8s/apis/cilium.io/client/crds/v2/$crd.yaml" "$out.tmp/cilium/crds/"
done
cp -r "$istio/manifests/charts/base" "$out.tmp/istio/base"
cp -r "$istio/manifests/charts/istio-control/istio-discovery" "$out.tmp/istio/istiod"
cp -r "$istio/manifests/charts/istio-cni" "$out.tmp/istio/cni"
cp -r "$istio/manifests/charts/ztunnel" "$out.tmp/istio/ztunnel"
chmod -R u+w "$out.tmp"
printf 'SOURCES="%s"\nCILIUM_MODULE="%s"\nISTIO_MODULE="%s"\n' "$stamp" "$CILIUM_MODULE" \
  "$ISTIO_MODULE" >"$out.tmp/charts.env"
rm -rf "$out"
mv "$out.tmp" "$out"
log "charts in $out ($stamp) in $((SECONDS - start)) s"
