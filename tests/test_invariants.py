"""Cross-component invariants: each one has a failing case whose message names both sides."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import gateway_variant, replacing
from mlstack import environments, generate, invariants, registry, versions
from mlstack.errors import UserError
from mlstack.lib import releases
from mlstack.lib.component import Component


@pytest.fixture
def values_dir(tmp_path: Path) -> Path:
    """A private copy of the committed values/ to edit."""
    target = tmp_path / "values"
    shutil.copytree(generate.VALUES_DIR, target)
    return target


def _write(values_dir: Path, env: str, release: str, data: dict[str, Any]) -> None:
    (values_dir / env / f"{release}.yaml").write_text(yaml.safe_dump(data))


def _with_project(**changes: dict[str, Any]) -> versions.Versions:
    data = versions.load()
    projects = dict(data.projects)
    for name, update in changes.items():
        projects[name] = projects[name].model_copy(update=update)
    return data.model_copy(update={"projects": projects})


def test_committed_tree_satisfies_every_invariant() -> None:
    invariants.check()


# --- compatibility matrix ---------------------------------------------------------------


def test_serving_outside_the_operators_bundled_range_fails() -> None:
    data = _with_project(**{"knative-serving": {"version": "1.24.0"}})
    with pytest.raises(
        UserError,
        match=r"knative-operator 1\.23\.0 supports knative-serving 1\.20\.0-1\.23\.0, "
        r"but projects\.knative-serving\.version is 1\.24\.0",
    ):
        invariants.check_compatibility(data)


def test_istio_outside_net_istio_range_fails() -> None:
    data = _with_project(istio={"version": "1.31.0"})
    with pytest.raises(
        UserError, match=r"net-istio 1\.23\.0 supports istio 1\.29-1\.30, but .*istio\.version is"
    ):
        invariants.check_compatibility(data)


def test_net_istio_must_match_serving_exactly() -> None:
    data = _with_project(**{"net-istio": {"version": "1.22.1"}})
    with pytest.raises(UserError, match=r"knative-serving 1\.23\.0 supports net-istio exactly"):
        invariants.check_compatibility(data)


def test_compatibility_bounds() -> None:
    edge = versions.Edge(subject="a", requires="b", min="1.29", max="1.30", evidence="x")
    assert edge.accepts("1.29.0") and edge.accepts("1.30.3") and edge.accepts("v1.30.3")
    assert not edge.accepts("1.28.9") and not edge.accepts("1.31.0")
    exact = versions.Edge(subject="a", requires="b", kind="exact", min="1.23.0", evidence="x")
    assert exact.accepts("1.23.0") and not exact.accepts("1.23.1")


def test_every_edge_names_evidence_and_the_gap_is_recorded() -> None:
    data = versions.load()
    assert all(len(edge.evidence) > 40 for edge in data.compatibility)
    (gap,) = [e for e in data.compatibility if e.status == "unverified"]
    assert (gap.subject, gap.requires) == ("net-istio", "istio")
    assert "GAP" in gap.evidence


def test_edge_naming_an_unknown_project_is_rejected(tmp_path: Path) -> None:
    text = versions.VERSIONS_FILE.read_text().replace("requires: net-istio", "requires: netistio")
    path = tmp_path / "versions.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=r"compatibility\.1\.requires: unknown project 'netistio'"):
        versions.load(path)


def test_project_reached_through_an_edge_must_support_the_env() -> None:
    data = _with_project(
        **{"net-istio": {"kubernetes": versions.KubeRange(min="1.34", max="1.34")}}
    )
    with pytest.raises(
        UserError,
        match=r"k3d supports Kubernetes 1\.35, but net-istio 1\.23\.0 \(required by "
        r"knative-serving\) supports 1\.34-1\.34",
    ):
        invariants.check_edge_kubernetes(environments.get("k3d"), data)


# --- Knative Serving version per environment ---------------------------------------------


def test_env_override_of_serving_version_outside_operator_range_fails(values_dir: Path) -> None:
    _write(values_dir, "eks", "knative-serving", {"version": "1.19"})
    with pytest.raises(
        UserError,
        match=r"environment eks: knative-serving version 1\.19 \(from "
        r"values/eks/knative-serving\.yaml\) is outside what knative-operator 1\.23\.0 installs",
    ):
        invariants.check(values_dir)


def test_env_override_within_range_passes(values_dir: Path) -> None:
    _write(values_dir, "eks", "knative-serving", {"version": "1.22"})
    invariants.check(values_dir)


# --- gateway labels <-> Knative selectors and config-istio services ----------------------


def test_hand_written_selector_that_misses_the_gateway_fails(values_dir: Path) -> None:
    _write(values_dir, "k3d", "knative-serving", {"localGateway": {"selector": {"istio": "x"}}})
    with pytest.raises(
        UserError,
        match=r"environment k3d: knative-serving \(values/k3d/knative-serving\.yaml\) "
        r"localGateway\.selector .* does not select the Istio gateway pods of release "
        r"istio-gateway in istio-system \(labels \{'app': 'istio-gateway', 'istio': 'gateway'\}\)",
    ):
        invariants.check(values_dir)


def test_hand_written_service_fqdn_that_misses_the_gateway_fails(values_dir: Path) -> None:
    wrong = {
        "name": "knative-ingress-gateway",
        "namespace": "knative-serving",
        "service": "istio-ingressgateway.istio-system.svc.cluster.local",
    }
    _write(values_dir, "minikube", "knative-serving", {"gateways": {"external": [wrong]}})
    with pytest.raises(
        UserError,
        match=r"gateways\.external maps knative-serving/knative-ingress-gateway to "
        r"istio-ingressgateway\.istio-system\.svc\.cluster\.local, but the Service of release "
        r"istio-gateway in istio-system is istio-gateway\.istio-system\.svc\.cluster\.local",
    ):
        invariants.check(values_dir)


def test_invariant_failure_stops_generate_before_writing(
    values_dir: Path, charts_copy: Path
) -> None:
    _write(values_dir, "eks", "knative-serving", {"version": "1.19"})
    before = sorted(p.read_bytes() for p in charts_copy.rglob("*") if p.is_file())
    with pytest.raises(UserError, match="outside what knative-operator"):
        generate.generate(charts_copy, values_dir)
    assert sorted(p.read_bytes() for p in charts_copy.rglob("*") if p.is_file()) == before


def _generated(values_dir: Path, env: str) -> dict[str, Any]:
    path = values_dir / env / "generated" / "knative-serving.yaml"
    return dict(yaml.safe_load(path.read_text()))


def test_renaming_the_gateway_release_makes_knative_follow(
    tmp_path: Path, values_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proof asked for: rename the release -> selectors and FQDNs follow, generate passes."""
    renamed = gateway_variant("istio-ingressgateway")
    components = tuple(renamed if c.id == "istio-gateway" else c for c in registry.COMPONENTS)
    components = tuple(
        Component(**{**c.__dict__, "needs": ("knative-operator", renamed.id)})
        if c.id == "knative-serving"
        else c
        for c in components
    )
    monkeypatch.setattr(registry, "COMPONENTS", components)
    for name, env in environments.ENVIRONMENTS.items():
        ids = (env.components - {"istio-gateway"}) | {renamed.id}
        monkeypatch.setitem(
            environments.ENVIRONMENTS,
            name,
            environments.Environment(**{**env.__dict__, "components": ids}),
        )
    chart_versions = tmp_path / "chart-versions.yaml"
    chart_versions.write_text(
        releases.RELEASES_FILE.read_text()
        + f"{renamed.id}:\n  - version: 0.1.0\n    changes: [Renamed gateway release.]\n"
    )
    monkeypatch.setattr(releases.for_chart, "__defaults__", (chart_versions,))
    generate.generate(tmp_path / "charts", values_dir)
    for env in environments.ENVIRONMENTS:
        derived = _generated(values_dir, env)
        labels = {"app": "istio-ingressgateway", "istio": "ingressgateway"}
        assert derived["ingressGateway"]["selector"] == labels
        assert derived["localGateway"]["selector"] == labels
        fqdn = "istio-ingressgateway.istio-system.svc.cluster.local"
        assert derived["gateways"]["external"][0]["service"] == fqdn
    chart_defaults = yaml.safe_load(
        (tmp_path / "charts" / "knative-serving" / "values.yaml").read_text()
    )
    assert chart_defaults["ingressGateway"]["selector"]["istio"] == "ingressgateway"


def test_relabelling_the_gateway_makes_knative_follow(
    tmp_path: Path, values_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        registry, "COMPONENTS", replacing(gateway_variant(labels={"istio": "edge"}))
    )
    generate.generate(tmp_path / "charts", values_dir)
    derived = _generated(values_dir, "k3d")
    assert derived["ingressGateway"]["selector"] == {"app": "istio-gateway", "istio": "edge"}


def test_relabelling_the_gateway_under_a_pinned_selector_fails_naming_both(
    values_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        registry, "COMPONENTS", replacing(gateway_variant(labels={"istio": "edge"}))
    )
    pinned = {"app": "istio-gateway", "istio": "gateway"}
    _write(values_dir, "eks", "knative-serving", {"ingressGateway": {"selector": pinned}})
    with pytest.raises(
        UserError,
        match=r"eks: knative-serving \(values/eks/knative-serving\.yaml\) ingressGateway\.selector "
        r".*'istio': 'gateway'.* does not select .*'istio': 'edge'",
    ):
        invariants.check(values_dir)
