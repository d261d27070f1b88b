"""`helm test` Pods: a chart checks what it installed from inside the cluster.

Each test is a Pod annotated `helm.sh/hook: test` that sends one request with curl and
fails unless the answer is a 2xx whose body has the expected key; `helm test <release>`,
Flux `spec.test.enable` and `ct install` run them. The Pod is deleted before the next run
and after success (kept on failure, so `kubectl logs` shows why).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from cdk8s import ApiObject
from constructs import Construct

from mlstack.lib import podsecurity
from mlstack.lib.component import spec_object
from mlstack.lib.slots import slot

HOOK = {
    "helm.sh/hook": "test",
    "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
}


#: A curl call needs little; limits keep a stuck test from starving the namespace.
RESOURCES = {
    "requests": {"cpu": "10m", "memory": "16Mi"},
    "limits": {"cpu": "100m", "memory": "64Mi"},
}
#: checkov's pod checks that cannot apply to a one-shot hook Pod.
SKIPS = podsecurity.checkov_skips(
    CKV_K8S_8="a helm test Pod runs one request and exits: no liveness probe",
    CKV_K8S_9="a helm test Pod serves nothing: no readiness probe",
    CKV_K8S_43="the curl image is pinned by tag in data/versions.yaml (Renovate bumps it)",
)


def script(url: str, body: dict[str, Any], expect: str | None) -> str:
    """Shell for the curl image: retry while the model warms up, then check the answer."""
    request = (
        "curl -sS --fail-with-body --retry 10 --retry-all-errors --retry-delay 6 "
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))} {url}"
    )
    check = f' && echo "$out" | grep -q {shlex.quote(json.dumps(expect))}' if expect else ""
    return f'set -e; out="$({request})"; echo "$out"{check}'


def request_test(
    scope: Construct,
    name: str,
    *,
    url: str,
    body: dict[str, Any],
    expect: str | None,
    image_path: str,
    condition: str | None = None,
    pod: dict[str, Any] | None = None,
) -> ApiObject:
    """A test Pod named `name` that POSTs `body` to `url`; image from `.Values.<image_path>`;
    hardened (lib/podsecurity.py: it runs in namespaces that enforce `restricted`); `pod`:
    further pod spec fields (pull secrets)."""
    container = {
        "name": "request",
        "image": slot(image_path),
        "command": ["/bin/sh", "-c", script(url, body, expect)],
        "imagePullPolicy": "Always",
        "resources": RESOURCES,
    }
    spec = podsecurity.hardened_pod([container], restartPolicy="Never", **(pod or {}))
    return spec_object(
        scope, name, "v1", "Pod", name, spec, when=condition, annotations={**HOOK, **SKIPS}
    )
