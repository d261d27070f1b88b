#!/usr/bin/env bash
# Create VENV with the pinned Python packages, or say in one line what the machine lacks:
# a Python 3.11+, the venv module, or a reachable package index (proxy, mirror).
# pip's own output goes to VENV/pip.log; only its first ERROR line is repeated here.
set -euo pipefail
python="${1:?usage: setup-venv.sh PYTHON VENV STAMP}"
venv="${2:?usage: setup-venv.sh PYTHON VENV STAMP}"
stamp="${3:?usage: setup-venv.sh PYTHON VENV STAMP}"

if [ ! -x "$venv/bin/python" ]; then
  command -v "$python" >/dev/null 2>&1 || {
    echo "error: no $python on PATH: install Python 3.11+ or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
  version="$("$python" --version 2>&1 | sed -nE 's/^Python ([0-9]+\.[0-9]+).*/\1/p')"
  major="${version%%.*}"; minor="${version#*.}"
  if [ -z "$version" ] || [ "$major" -ne 3 ] || [ "$minor" -lt 11 ]; then
    echo "error: $python is Python ${version:-unknown}; mlstack needs 3.11+: install it and run make PYTHON=python3.11 setup" >&2
    exit 1
  fi
  "$python" -m venv "$venv" >/dev/null 2>&1 || {
    rm -rf "$venv"
    echo "error: $python -m venv failed: install the venv module (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }
fi
log="$venv/pip.log"
if ! "$venv/bin/python" -m pip install --disable-pip-version-check -e '.[dev]' >"$log" 2>&1; then
  reason="$(grep -m1 -oE 'ERROR: .*' "$log" | sed 's/^ERROR: //' || true)"
  [ -n "$reason" ] || reason="$(tail -n1 "$log")"
  echo "error: pip could not install the pinned packages (${reason:-no output}; full log $log): behind a proxy set HTTPS_PROXY, or point PIP_INDEX_URL at a PyPI mirror" >&2
  exit 1
fi
rm -f "$venv"/.installed*
touch "$stamp"
