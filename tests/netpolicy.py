"""NetworkPolicy admission as a policy-enforcing network plugin decides it (ingress only).

A test helper, not shipped: the rendered policies are checked by asking whether a
connection from one pod to another would be admitted. Semantics from the Kubernetes API
(networking.k8s.io/v1): a pod selected by no Ingress policy accepts everything; otherwise a
connection is admitted when some rule of a selecting policy matches its port and peer; a
peer's podSelector alone means the policy's own namespace; namespaces carry the
`kubernetes.io/metadata.name` label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(default_factory=dict)


def _matches(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[op]
        if not ok:
            return False
    return True


def _peer_matches(peer: dict[str, Any], source: Pod, policy_ns: str) -> bool:
    if "ipBlock" in peer:
        return False  # pod-to-pod checks here: pod IPs are in no ipBlock we render
    ns_labels = {"kubernetes.io/metadata.name": source.namespace}
    if "namespaceSelector" in peer:
        if not _matches(peer["namespaceSelector"], ns_labels):
            return False
    elif source.namespace != policy_ns:
        return False
    return "podSelector" not in peer or _matches(peer["podSelector"], source.labels)


def admits(policies: list[dict[str, Any]], source: Pod, dest: Pod, port: int) -> bool:
    """Whether `source` may open a connection to `dest` on `port`."""
    selecting = [
        p
        for p in policies
        if p.get("kind") == "NetworkPolicy"
        and p["metadata"].get("namespace") == dest.namespace
        and _matches(p["spec"].get("podSelector", {}), dest.labels)
        and "Ingress" in (p["spec"].get("policyTypes") or ["Ingress"])
    ]
    if not selecting:
        return True
    for policy in selecting:
        for rule in policy["spec"].get("ingress") or []:
            ports = rule.get("ports")
            if ports and not any(p.get("port") in (None, port) for p in ports):
                continue
            peers = rule.get("from")
            if not peers or any(_peer_matches(peer, source, dest.namespace) for peer in peers):
                return True
    return False
