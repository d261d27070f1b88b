"""`helm test` Pods: a chart checks what it installed from inside the cluster.

Each test is a Pod annotated `helm.sh/hook: test` that sends one request with curl and
fails unless the answer is a 2xx carrying the expected key or text; `helm test
<release>`, Flux `spec.test.enable` and `ct install` run them. The Pod is deleted before
the next run and after success (kept on failure, so `kubectl logs` shows why).

The script is a constant: the request comes from the Pod's environment (URL, METHOD,
BODY, EXPECT_KEY, EXPECT_TEXT), so a template never quotes user data into shell, and the
same Pod shape serves one test per catalogue entry (components/models.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mlstack.lib import podsecurity

HOOK = {
    "helm.sh/hook": "test",
    "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
}
#: Retry while the model warms up (scale from zero, model download).
_CURL = "curl -sS --fail-with-body --retry 10 --retry-all-errors --retry-delay 6"
#: BODY is the request's JSON ("null": none); METHOD defaults like smoke's: POST with a
#: body, else GET; EXPECT_KEY "data.ndarray" is checked as the key "ndarray".
SCRIPT = (
    f'set -e; if [ "$BODY" != null ]; then out="$({_CURL} -X "${{METHOD:-POST}}" '
    """-H 'Content-Type: application/json' -d "$BODY" "$URL")"; """
    f'else out="$({_CURL} -X "${{METHOD:-GET}}" "$URL")"; fi; echo "$out"; '
    '[ -z "$EXPECT_TEXT" ] || echo "$out" | grep -qF -- "$EXPECT_TEXT"; '
    '[ -z "$EXPECT_KEY" ] || echo "$out" | grep -qF -- "\\"${EXPECT_KEY##*.}\\""'
)
ENV = ("URL", "METHOD", "BODY", "EXPECT_KEY", "EXPECT_TEXT")
#: How a template declares a test hook: YAML of a synthesized object, or the
#: `dict "helm.sh/hook" "test"` of a catalogue template (lib/catalogue.py).
_MARKS = ("helm.sh/hook: test", '"helm.sh/hook" "test"')


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


def has_tests(templates: Iterable[str]) -> bool:
    """Whether a chart's templates include `helm test` Pods (NOTES, Flux `test.enable`)."""
    return any(mark in text for text in templates for mark in _MARKS)


def request_pod(name: Any, image: Any, env: dict[str, Any], pull_secrets: Any) -> dict[str, Any]:
    """A test Pod (as data, for a catalogue structure) whose request is `env` (keys ENV);
    hardened (lib/podsecurity.py: it runs in namespaces that enforce `restricted`)."""
    assert set(env) == set(ENV), sorted(env)
    container = {
        "name": "request",
        "image": image,
        "imagePullPolicy": "Always",
        "command": ["/bin/sh", "-c", SCRIPT],
        "env": [{"name": k, "value": env[k]} for k in ENV],
        "resources": RESOURCES,
    }
    spec = podsecurity.hardened_pod(
        [container], restartPolicy="Never", imagePullSecrets=pull_secrets
    )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {**HOOK, **SKIPS}},
        "spec": spec,
    }
