#!/usr/bin/env bash
# Copies Linkerd's Helm charts at the release meshbench pins into .testenv/charts/linkerd, for
# lib/cluster/charts_test.ts (its Linkerd test is skipped without them). The Go module proxy
# does not serve github.com/linkerd/linkerd2 and the chart repository is not reachable from
# here, so the charts come from a git checkout of linkerd/linkerd2 that holds the release tag:
#   bash .ci/install_linkerd_charts.sh /path/to/linkerd2
# The tag is read from the checkout's history (git archive), not from its work tree, so the
# charts are the release's whatever is checked out. Layout: linkerd-control-plane and
# linkerd-crds, each with the shared partials chart under charts/ (their file:// dependency).
set -euo pipefail

LINKERD_TAG="edge-25.10.2" # LINKERD_VERSION in lib/cluster/meshes.ts (tested equal)

src="${1:?usage: install_linkerd_charts.sh LINKERD2_CHECKOUT}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$repo/.testenv/charts/linkerd"

if ! git -C "$src" rev-parse --verify --quiet "refs/tags/$LINKERD_TAG" >/dev/null; then
  printf 'install_linkerd_charts: %s has no tag %s\n' "$src" "$LINKERD_TAG" >&2
  exit 1
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
git -C "$src" archive "$LINKERD_TAG" charts/linkerd-control-plane charts/linkerd-crds \
  charts/partials | tar -x -C "$tmp"
mkdir -p "$tmp/out"
for chart in linkerd-control-plane linkerd-crds; do
  cp -r "$tmp/charts/$chart" "$tmp/out/$chart"
  mkdir -p "$tmp/out/$chart/charts"
  cp -r "$tmp/charts/partials" "$tmp/out/$chart/charts/partials"
done
printf 'LINKERD_TAG="%s"\n' "$LINKERD_TAG" >"$tmp/out/linkerd.env"
mkdir -p "$(dirname "$out")"
rm -rf "$out"
mv "$tmp/out" "$out"
printf 'install_linkerd_charts: charts of linkerd/linkerd2 %s in %s\n' "$LINKERD_TAG" "$out" >&2
