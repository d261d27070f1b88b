#!/usr/bin/env bash
# Provide checkov (PyPI) in its own virtualenv, .tools/checkov: its pins (packaging<24)
# cannot share .venv with pytest 9. The version is the `policy` extra of pyproject.toml.
set -euo pipefail
python="${1:?usage: setup-checkov.sh PYTHON}"
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.tools/checkov"
pin="$(sed -nE 's/^policy = \["(checkov==[0-9.]+)"\]$/\1/p' "$root/pyproject.toml")"
[ -n "$pin" ] || { echo "error: pyproject.toml has no policy = [\"checkov==X.Y.Z\"] pin" >&2; exit 1; }
stamp="$venv/.installed-$pin"
[ -f "$stamp" ] && exit 0
echo "setup: installing $pin into .tools/checkov (once; about a minute)"
rm -rf "$venv"
"$python" -m venv "$venv"
log="$venv/pip.log"
if ! "$venv/bin/python" -m pip install --disable-pip-version-check "$pin" >"$log" 2>&1; then
  echo "error: pip could not install $pin (full log $log): behind a proxy set HTTPS_PROXY, or point PIP_INDEX_URL at a PyPI mirror" >&2
  exit 1
fi
touch "$stamp"
