#!/usr/bin/env bash
# Provide Renovate's JSON schema (renovate-schema.json, shipped in the npm package
# `renovate` at the version the Makefile pins) so the tests validate renovate.json offline.
# Usage: fetch-renovate-schema.sh <version> <destination file>
set -euo pipefail
version="$1"
dest="$2"
command -v npm >/dev/null 2>&1 || { echo "error: npm is needed to fetch renovate@$version's schema: install Node.js/npm" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# npm pack checks the tarball against the registry's integrity hash.
(cd "$work" && npm pack --silent "renovate@$version" >/dev/null 2>"$work/err") || {
  echo "error: npm pack renovate@$version failed: $(tail -n1 "$work/err")" >&2; exit 1; }
tar -xzf "$work/renovate-$version.tgz" -C "$work" package/renovate-schema.json
mkdir -p "$(dirname "$dest")"
mv "$work/package/renovate-schema.json" "$dest"
