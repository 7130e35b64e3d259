#!/usr/bin/env bash
# Installs what the analysis side of meshbench needs beyond Deno:
#   - Jupyter (nbconvert, ipykernel, jupyter-client) from Debian, to execute the notebooks;
#   - the Deno Jupyter kernel (`deno jupyter --install`);
#   - Debian's Chromium and the DejaVu fonts, for the report's browser test (driven by
#     npm:playwright-core, pinned in deno.json; it never downloads a browser of its own).
#
# Idempotent: installs only what is missing, and says how long each step took.
# Jupyter runs with Debian's /usr/bin/python3 (another python may come first on PATH).
set -euo pipefail

# Debian 12 (bookworm) versions. Jupyter and fonts are pinned exactly. Chromium is a
# Debian-security package whose old builds leave the archive when a new one lands, so an
# exact pin would break installs within weeks: it is installed from the archive and its
# version must be at least CHROMIUM_MIN_MAJOR (recorded in the output).
JUPYTER_PACKAGES=(
  "jupyter-nbconvert=6.5.3-3"
  "python3-ipykernel=6.17.0-1"
  "jupyter-client=7.4.9-2"
  "fonts-dejavu-core=2.37-6"
)
CHROMIUM_MIN_MAJOR=120

log() { printf 'install_analysis: %s\n' "$*" >&2; }

installed_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

missing=()
for spec in "${JUPYTER_PACKAGES[@]}"; do
  name="${spec%%=*}"
  want="${spec#*=}"
  have="$(installed_version "$name")"
  if [[ "$have" != "$want" ]]; then missing+=("$spec"); fi
done
if [[ -z "$(installed_version chromium)" ]]; then missing+=("chromium"); fi

if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  start=$SECONDS
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
  log "apt install took $((SECONDS - start)) s"
else
  log "Jupyter, Chromium and fonts already installed"
fi

chromium_version="$(/usr/bin/chromium --version 2>/dev/null | grep -oE '[0-9]+(\.[0-9]+)+' | head -1)"
if [[ -z "$chromium_version" ]]; then
  log "Chromium is installed but /usr/bin/chromium --version printed no version"
  exit 1
fi
if ((${chromium_version%%.*} < CHROMIUM_MIN_MAJOR)); then
  log "Chromium $chromium_version is older than $CHROMIUM_MIN_MAJOR"
  exit 1
fi
log "chromium $chromium_version, $(/usr/bin/jupyter nbconvert --version 2>/dev/null | head -1 | sed 's/^/nbconvert /')"

# The Deno kernel: `deno jupyter --install` looks for `jupyter` on PATH, so put Debian's first.
# The kernel list is read into a variable before matching: `jupyter ... | grep -q` under
# pipefail fails whenever grep exits before jupyter has written everything (SIGPIPE), which
# sent a machine that already had the kernel into a reinstall that refuses to overwrite.
deno_kernel_installed() {
  local specs
  specs="$(PATH="/usr/bin:$PATH" /usr/bin/jupyter kernelspec list --json 2>/dev/null)" || return 1
  [[ "$specs" == *'"deno"'* ]]
}
if ! deno_kernel_installed; then
  start=$SECONDS
  PATH="/usr/bin:$PATH" deno jupyter --install --force >/dev/null 2>&1
  deno_kernel_installed || {
    log "deno jupyter --install ran but Jupyter has no deno kernel"
    exit 1
  }
  log "Deno kernel installed in $((SECONDS - start)) s"
else
  log "Deno kernel already installed"
fi
