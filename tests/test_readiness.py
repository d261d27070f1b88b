"""Readiness gates decided from manifests, verdicts from objects shaped as the API returns them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlstack import versions
from mlstack.lifecycle import readiness
from mlstack.lifecycle.readiness import Gate, Ref


def _metallb_crds(schema_dir: Path) -> dict[str, dict[str, Any]]:
    folder = schema_dir / "crds" / str(versions.load().projects["metallb"].crds)
    docs = [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]
    return {d["spec"]["names"]["kind"]: d for d in docs}


def test_declares_conditions_reads_real_crds(schema_dir: Path) -> None:
    crds = _metallb_crds(schema_dir)
    assert readiness.declares_conditions(crds["ConfigurationState"], "v1beta1")
    assert not readiness.declares_conditions(crds["IPAddressPool"], "v1beta1")
    assert not readiness.declares_conditions(crds["IPAddressPool"], "v9")


def _manifest(schema_dir: Path) -> list[dict[str, Any]]:
    """A MetalLB-like release: CRD, controller, speaker, webhook, and two custom resources."""
    crd = _metallb_crds(schema_dir)["IPAddressPool"]
    return [
        crd,
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "metallb-webhook-service"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "metallb-controller"}},
        {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "metallb-speaker"}},
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": "metallb-webhook-configuration"},
            "webhooks": [
                {
                    "name": f"{k}.metallb.io",
                    "clientConfig": {
                        "service": {
                            "name": "metallb-webhook-service",
                            "namespace": "metallb-system",
                            "path": f"/validate-{k}",
                        }
                    },
                }
                for k in ("ipaddresspoolvalidationwebhook", "l2advertisementvalidationwebhook")
            ],
        },
        {"apiVersion": "metallb.io/v1beta1", "kind": "IPAddressPool", "metadata": {"name": "p"}},
        {
            "apiVersion": "operator.knative.dev/v1beta1",
            "kind": "KnativeServing",
            "metadata": {"name": "knative-serving", "namespace": "knative-serving"},
        },
    ]


def test_gates_from_a_manifest(schema_dir: Path) -> None:
    known = readiness.known_conditions({("operator.knative.dev", "KnativeServing"): "Ready"})
    gates = readiness.gates(_manifest(schema_dir), "metallb-system", known)
    assert [g.describe() for g in gates] == [
        "CustomResourceDefinition ipaddresspools.metallb.io Established",
        "Deployment metallb-system/metallb-controller available",
        "DaemonSet metallb-system/metallb-speaker rolled out",
        "webhook Service metallb-system/metallb-webhook-service has a ready endpoint",
        "KnativeServing knative-serving/knative-serving Ready",
    ]  # the webhook Service appears once although two webhooks call it


def test_webhook_endpoint_awaited_only_where_its_service_ships(schema_dir: Path) -> None:
    """istio-base registers istiod's webhook before the istiod release creates the Service:
    a release that does not ship a webhook's Service must not wait for its endpoint (it
    never comes within that release), and a same-named Service elsewhere is not it."""
    known = readiness.known_conditions({})
    without = [o for o in _manifest(schema_dir) if o["kind"] != "Service"]
    assert not [
        g for g in readiness.gates(without, "metallb-system", known) if g.what == "endpoints"
    ]
    elsewhere = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "metallb-webhook-service", "namespace": "other"},
    }
    gates = readiness.gates([*without, elsewhere], "metallb-system", known)
    assert not [g for g in gates if g.what == "endpoints"]


def _cond(kind: str, status: str, **extra: str) -> dict[str, str]:
    return {"type": kind, "status": status, "lastTransitionTime": "2026-10-01T10:00:00Z", **extra}


def test_crd_established() -> None:
    crd: dict[str, Any] = {
        "kind": "CustomResourceDefinition",
        "status": {
            "conditions": [
                _cond("NamesAccepted", "True", reason="NoConflicts"),
                _cond("Established", "False", reason="Installing"),
            ]
        },
    }
    assert not readiness.crd_established(crd).done
    crd["status"]["conditions"][1] = _cond("Established", "True", reason="InitialNamesAccepted")
    assert readiness.crd_established(crd).done
    conflict = {"status": {"conditions": [_cond("NamesAccepted", "False", message="plural taken")]}}
    assert "plural taken" in readiness.crd_established(conflict).detail


def _deployment(
    available: int, updated: int, generation: int = 2, observed: int = 2
) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "metallb-controller", "generation": generation},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": observed,
            "replicas": 1,
            "updatedReplicas": updated,
            "readyReplicas": available,
            "availableReplicas": available,
            "conditions": [
                _cond(
                    "Available", "True" if available else "False", reason="MinimumReplicasAvailable"
                ),
                _cond("Progressing", "True", reason="NewReplicaSetAvailable"),
            ],
        },
    }


def test_deployment_available() -> None:
    assert readiness.deployment_available(_deployment(1, 1)).done
    assert not readiness.deployment_available(_deployment(0, 1)).done
    stale = readiness.deployment_available(_deployment(1, 1, generation=3, observed=2))
    assert not stale.done and "not observed" in stale.detail
    stuck = _deployment(0, 1)
    stuck["status"]["conditions"][1] = _cond(
        "Progressing",
        "False",
        reason="ProgressDeadlineExceeded",
        message='ReplicaSet "x" has timed out',
    )
    assert "timed out" in readiness.deployment_available(stuck).detail


def test_daemonset_rolled_out() -> None:
    ds = {
        "kind": "DaemonSet",
        "metadata": {"generation": 1},
        "status": {
            "desiredNumberScheduled": 1,
            "numberReady": 0,
            "updatedNumberScheduled": 1,
            "observedGeneration": 1,
        },
    }
    assert not readiness.rolled_out(ds).done
    ds["status"]["numberReady"] = 1
    assert readiness.rolled_out(ds).done


def _slice(*ready: bool | None) -> dict[str, Any]:
    endpoints = []
    for i, flag in enumerate(ready):
        conditions = {} if flag is None else {"ready": flag, "serving": flag, "terminating": False}
        endpoints.append({"addresses": [f"10.42.0.{i + 10}"], "conditions": conditions})
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"labels": {"kubernetes.io/service-name": "metallb-webhook-service"}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [{"name": "", "port": 9443, "protocol": "TCP"}],
    }


def test_webhook_endpoints() -> None:
    assert not readiness.endpoints_ready([]).done
    assert not readiness.endpoints_ready([_slice(False)]).done
    assert readiness.endpoints_ready([_slice(False), _slice(True)]).done
    assert readiness.endpoints_ready([_slice(None)]).done  # unset `ready` means ready


def test_knative_serving_ready() -> None:
    ks = {
        "apiVersion": "operator.knative.dev/v1beta1",
        "kind": "KnativeServing",
        "metadata": {"name": "knative-serving", "generation": 1},
        "status": {
            "observedGeneration": 1,
            "version": "1.23.0",
            "conditions": [
                _cond("DependenciesInstalled", "True"),
                _cond(
                    "DeploymentsAvailable",
                    "False",
                    reason="NotReady",
                    message="Waiting on deployments: webhook",
                ),
                _cond("InstallSucceeded", "True"),
                _cond(
                    "Ready", "False", reason="NotReady", message="Waiting on deployments: webhook"
                ),
                _cond("VersionMigrationEligible", "True"),
            ],
        },
    }
    verdict = readiness.resource_ready(ks)
    assert not verdict.done and "Waiting on deployments: webhook" in verdict.detail
    ks["status"]["conditions"][3] = _cond("Ready", "True")
    assert readiness.resource_ready(ks).done
    assert not readiness.resource_ready({"status": {}}).done


def test_evaluate_dispatches_and_handles_missing_objects() -> None:
    gate = Gate("available", Ref("apps/v1", "Deployment", "d", "ns"))
    assert readiness.evaluate(gate, None).detail == "not found yet"
    assert readiness.evaluate(gate, _deployment(1, 1)).done
    svc = Gate("endpoints", Ref("v1", "Service", "s", "ns"))
    assert readiness.evaluate(svc, {"kind": "Service"}, [_slice(True)]).done


@pytest.mark.parametrize(
    ("api_version", "custom"),
    [
        ("v1", False),
        ("apps/v1", False),
        ("networking.k8s.io/v1", False),
        ("metallb.io/v1beta1", True),
        ("gateway.networking.k8s.io/v1", True),
    ],
)
def test_is_custom(api_version: str, custom: bool) -> None:
    assert readiness.is_custom({"apiVersion": api_version}) is custom


def _webhook_config(name: str, namespace: str, service: str) -> dict[str, Any]:
    return {
        "kind": "ValidatingWebhookConfiguration",
        "apiVersion": "admissionregistration.k8s.io/v1",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": f"{name}.x",
                "clientConfig": {"service": {"namespace": namespace, "name": service}},
            }
        ],
    }


def test_webhooks_to_delete_before_uninstall() -> None:
    configs = [
        _webhook_config(
            "metallb-webhook-configuration", "metallb-system", "metallb-webhook-service"
        ),
        _webhook_config("validation.webhook.serving.knative.dev", "knative-serving", "webhook"),
        _webhook_config("cert-manager-webhook", "cert-manager", "cert-manager-webhook"),
    ]
    found = readiness.webhooks_served_by(
        configs, {("metallb-system", "metallb-webhook-service")}, {"knative-serving"}
    )
    assert [r.name for r in found] == [
        "metallb-webhook-configuration",
        "validation.webhook.serving.knative.dev",
    ]


def test_helm_owned_finds_kept_crds() -> None:
    def crd(name: str, release: str) -> dict[str, Any]:
        notes = {
            "meta.helm.sh/release-name": release,
            "meta.helm.sh/release-namespace": "metallb-system",
            "helm.sh/resource-policy": "keep",
        }
        return {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "annotations": notes},
        }

    objects = [crd("ipaddresspools.metallb.io", "metallb"), crd("other.example.com", "other")]
    refs = readiness.helm_owned(objects, {("metallb", "metallb-system")})
    assert [r.name for r in refs] == ["ipaddresspools.metallb.io"]


# --- condition gates only where the controller is known to set the condition ------------

#: API groups of Istio kinds: Istio 1.30 writes no Ready condition on them.
ISTIO_GROUPS = ("networking.istio.io", "security.istio.io")


def test_every_condition_has_evidence_at_the_pinned_version(schema_dir: Path) -> None:
    """Each `conditions:` entry cites the upstream version its row pins, and the kind's
    upstream CRD declares status.conditions (the condition has somewhere to live)."""
    from mlstack import registry
    from mlstack.lib import schemas, table

    known = registry.conditions()
    assert known, "no kind has a known condition: every install would wait on nothing"
    crds = schemas.upstream_crds(schema_dir)
    rows = yaml.safe_load(table.TABLE.read_text())
    for release, row in rows.items():
        pinned = versions.load().projects[registry.by_id()[release].project].version
        for key, entry in (row.get("conditions") or {}).items():
            group, kind = key.split("/")
            assert known[(group, kind)] == entry["type"]
            assert pinned in entry["evidence"], f"{release}.conditions.{key}: cite {pinned}"
            served = [
                s for (api, k), s in crds.items() if k == kind and api.startswith(f"{group}/")
            ]
            assert served, f"{key}: no upstream CRD to check it against"
            assert all("conditions" in s["properties"]["status"]["properties"] for s in served)


def test_a_condition_without_evidence_is_refused(tmp_path: Path) -> None:
    from mlstack.errors import UserError
    from mlstack.lib import table

    rows = yaml.safe_load(table.TABLE.read_text())
    rows["cert-manager"]["conditions"]["cert-manager.io/Certificate"] = {"type": "Ready"}
    path = tmp_path / "components.yaml"
    path.write_text(yaml.safe_dump(rows, sort_keys=False))
    with pytest.raises(UserError, match=r"cert-manager\.conditions\..*evidence"):
        table.load(path)


def test_istio_kinds_get_no_condition_gate() -> None:
    """The objects model-auth renders (AuthorizationPolicy, RequestAuthentication, a
    VirtualService) declare status.conditions in Istio's CRDs; no gate may wait on them."""
    from mlstack import registry

    known = readiness.known_conditions(registry.conditions())
    objects = [
        {"apiVersion": f"{group}/v1", "kind": kind, "metadata": {"name": "x"}}
        for group in ISTIO_GROUPS
        for kind in ("AuthorizationPolicy", "RequestAuthentication", "VirtualService", "Gateway")
    ]
    assert readiness.gates(objects, "istio-system", known) == []
