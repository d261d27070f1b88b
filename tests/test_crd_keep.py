"""CRDs survive `helm uninstall` through the charts themselves, not an install-time hook.

The keep policy must sit in what the chart renders, so `make`, plain `helm`, Argo CD and
Flux (which all install the same chart with the same values files) behave alike. Each
mechanism is checked against the real upstream data at the pinned versions.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mlstack import resolve
from mlstack.lib import schemas

KEEP = {"helm.sh/resource-policy": "keep"}


def _defaults(component_id: str) -> dict[str, object]:
    """The chart's own defaults (its values.yaml): what plain helm and GitOps install."""
    return resolve.chart_defaults()[component_id]


def test_cert_manager_keeps_its_crds(schema_dir: Path) -> None:
    upstream = yaml.safe_load(
        (schema_dir / "chart-values/cert-manager-1.21.1/values.yaml").read_text()
    )
    assert "keep" in upstream["crds"], "upstream cert-manager lost its crds.keep option"
    assert _defaults("cert-manager")["cert-manager"]["crds"] == {"enabled": True, "keep": True}


def test_seldon_marks_its_crd_keep(schema_dir: Path) -> None:
    upstream = yaml.safe_load(
        (schema_dir / "chart-values/seldon-core-operator-1.17.1/values.yaml").read_text()
    )
    assert "annotations" in upstream["crd"], "upstream seldon-core-operator lost crd.annotations"
    assert _defaults("seldon-core-operator")["seldonCoreOperator"]["crd"]["annotations"] == KEEP


def test_istio_crds_carry_keep_upstream(schema_dir: Path) -> None:
    crds = schemas.crd_documents(schema_dir / "crds" / "istio-1.30.3")
    assert len(crds) > 10
    missing = [
        c["metadata"]["name"]
        for c in crds
        if (c["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") != "keep"
    ]
    assert not missing, f"istio CRDs without the keep policy: {missing}"


def test_uninstall_refuses_to_take_unkept_crds_without_purge() -> None:
    """A chart that renders its CRDs without the keep policy would delete them (and every
    resource of those kinds) on `helm uninstall`: without PURGE=1 nothing is removed."""
    import pytest

    from mlstack.errors import UserError
    from mlstack.lifecycle import uninstall

    crd = {"kind": "CustomResourceDefinition", "metadata": {"name": "ipaddresspools.metallb.io"}}
    kept = {
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "certificates.cert-manager.io", "annotations": KEEP},
    }
    other = {"kind": "Deployment", "metadata": {"name": "controller"}}
    assert uninstall.unkept_crds([crd, kept, other]) == ["ipaddresspools.metallb.io"]
    uninstall.refuse_crd_loss("k3d", {})  # nothing would be lost: no refusal
    with pytest.raises(UserError) as err:
        uninstall.refuse_crd_loss("k3d", {"metallb": ["ipaddresspools.metallb.io"]})
    message = str(err.value)
    assert "\n" not in message and "metallb: 1 CRD(s)" in message and "PURGE=1" in message
