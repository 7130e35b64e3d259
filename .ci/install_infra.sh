#!/usr/bin/env bash
# Installs what `deno task infra:check` and the infra tests need, pinned, idempotent:
#   - Ansible (ansible-core + ansible-lint) in a venv under /opt/meshbench/infra-venv,
#     linked into /usr/local/bin;
#   - Terraform >= 1.7 if present, otherwise OpenTofu built from its Go module source.
# The OCI provider itself cannot be installed here (its registry and Go module are out of
# reach); `infra:check` says so and runs the provider-free checks.
set -euo pipefail

ANSIBLE_CORE_VERSION="2.19.14"
ANSIBLE_LINT_VERSION="26.10.1"
OPENTOFU_VERSION="v1.10.6"
PREFIX="/opt/meshbench"
VENV="$PREFIX/infra-venv"
GO="${GO:-/usr/local/go/bin/go}"
TOFU_INSTALL_DIR="${TOFU_INSTALL_DIR:-/usr/local/bin}"

log() { printf '[install_infra] %s\n' "$*"; }

# A TF_CLI_CONFIG_FILE naming a missing file only makes every terraform/tofu call warn.
if [[ -n "${TF_CLI_CONFIG_FILE:-}" && ! -e "$TF_CLI_CONFIG_FILE" ]]; then
  unset TF_CLI_CONFIG_FILE
fi

install_ansible() {
  local core="" lint=""
  if [[ -x "$VENV/bin/python" ]]; then
    # sed reads all of pip's output (grep -q would close the pipe early and, under
    # pipefail, fail the check).
    core="$("$VENV/bin/python" -m pip show ansible-core 2>/dev/null | sed -n 's/^Version: //p')"
    lint="$("$VENV/bin/python" -m pip show ansible-lint 2>/dev/null | sed -n 's/^Version: //p')"
  fi
  if [[ "$core" == "$ANSIBLE_CORE_VERSION" && "$lint" == "$ANSIBLE_LINT_VERSION" &&
    -x "$VENV/bin/ansible-playbook" ]]; then
    log "ansible-core $ANSIBLE_CORE_VERSION and ansible-lint $ANSIBLE_LINT_VERSION already installed"
  else
    log "installing ansible-core $ANSIBLE_CORE_VERSION and ansible-lint $ANSIBLE_LINT_VERSION into $VENV"
    mkdir -p "$PREFIX"
    if ! python3 -m venv --help >/dev/null 2>&1; then
      apt-get update -qq && apt-get install -y -qq python3-venv
    fi
    [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
      "ansible-core==$ANSIBLE_CORE_VERSION" "ansible-lint==$ANSIBLE_LINT_VERSION"
  fi
  for tool in ansible ansible-playbook ansible-lint ansible-inventory ansible-galaxy ansible-config; do
    ln -sfn "$VENV/bin/$tool" "/usr/local/bin/$tool"
  done
}

terraform_ok() {
  # True when a Terraform or OpenTofu >= 1.7 is on PATH.
  local bin="$1" v
  command -v "$bin" >/dev/null 2>&1 || return 1
  v="$(TF_CLI_CONFIG_FILE=/dev/null "$bin" version 2>/dev/null | sed -nE '1s/^[^0-9]*v?([0-9]+\.[0-9]+).*/\1/p')"
  [[ -n "$v" ]] || return 1
  awk -v v="$v" 'BEGIN { split(v, a, "."); exit !((a[1] > 1) || (a[1] == 1 && a[2] >= 7)) }'
}

install_terraform() {
  if terraform_ok terraform; then
    log "using $(TF_CLI_CONFIG_FILE=/dev/null terraform version | sed -n 1p)"
    return
  fi
  if terraform_ok tofu; then
    log "using $(tofu version | sed -n 1p)"
    return
  fi
  log "building OpenTofu $OPENTOFU_VERSION from its Go module (a few minutes)"
  local dir work
  # OpenTofu's go.mod has replace directives, so `go install pkg@version` refuses it;
  # build inside a copy of the downloaded module instead.
  dir="$("$GO" mod download -json "github.com/opentofu/opentofu@$OPENTOFU_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  work="$(mktemp -d)"
  cp -r "$dir" "$work/src"
  chmod -R u+w "$work/src"
  (cd "$work/src" && "$GO" build -trimpath \
    -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$TOFU_INSTALL_DIR/tofu" ./cmd/tofu)
  rm -rf "$work"
  terraform_ok "$TOFU_INSTALL_DIR/tofu" || { log "OpenTofu build did not produce a working tofu"; exit 1; }
  log "installed $("$TOFU_INSTALL_DIR/tofu" version | sed -n 1p) at $TOFU_INSTALL_DIR/tofu"
}

install_ansible
install_terraform
log "done"
