"""Cross-component invariants: each one has a failing case whose message names both sides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import gateway_variant, rename_values, replacing, values_copy, with_gateway
from mlstack import generate, invariants, resolve, versions
from mlstack.errors import UserError
from mlstack.lib import releases


@pytest.fixture
def values_dir(tmp_path: Path) -> Path:
    """A private copy of the committed values/ to edit."""
    return values_copy(tmp_path / "values")


def _check(values_dir: Path, components: tuple = ()) -> None:  # type: ignore[type-arg]
    """Resolve every env of values_dir (the derived-fact checks) and run the invariants."""
    invariants.check(resolve.all_envs(values_dir, components or replacing()))


def _write(values_dir: Path, env: str, release: str, data: dict[str, Any]) -> None:
    (values_dir / env / f"{release}.yaml").write_text(yaml.safe_dump(data))


def _with_project(**changes: dict[str, Any]) -> versions.Versions:
    data = versions.load()
    projects = dict(data.projects)
    for name, update in changes.items():
        projects[name] = projects[name].model_copy(update=update)
    return data.model_copy(update={"projects": projects})


def test_committed_tree_satisfies_every_invariant() -> None:
    invariants.check(resolve.all_envs())


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
        invariants.check_edge_kubernetes(resolve.resolve("k3d"), data)


# --- Knative Serving version per environment ---------------------------------------------


def test_env_override_of_serving_version_outside_operator_range_fails(values_dir: Path) -> None:
    _write(values_dir, "eks", "knative-serving", {"version": "1.19"})
    with pytest.raises(
        UserError,
        match=r"environment eks: knative-serving version 1\.19 \(from .*"
        r"values/eks/knative-serving\.yaml\) is outside what knative-operator 1\.23\.0 installs",
    ):
        _check(values_dir)


def test_env_override_within_range_passes(values_dir: Path) -> None:
    _write(values_dir, "eks", "knative-serving", {"version": "1.22"})
    _check(values_dir)


# --- gateway labels <-> Knative selectors and config-istio services ----------------------


def test_hand_written_selector_that_misses_the_gateway_fails(values_dir: Path) -> None:
    _write(values_dir, "k3d", "knative-serving", {"localGateway": {"selector": {"istio": "x"}}})
    with pytest.raises(
        UserError,
        match=r"values/k3d/knative-serving\.yaml: localGateway\.selector\.istio is 'x', but it "
        r"is derived as 'gateway' from the Istio gateway release istio-gateway "
        r"\(.*values/k3d/istio-gateway\.yaml\)",
    ):
        _check(values_dir)


def test_hand_written_service_fqdn_that_misses_the_gateway_fails(values_dir: Path) -> None:
    wrong = {
        "name": "knative-ingress-gateway",
        "namespace": "knative-serving",
        "service": "istio-ingressgateway.istio-system.svc.cluster.local",
    }
    _write(values_dir, "minikube", "knative-serving", {"gateways": {"external": [wrong]}})
    with pytest.raises(
        UserError,
        match=r"values/minikube/knative-serving\.yaml: gateways\.external is .*"
        r"istio-ingressgateway\.istio-system.*but it is derived as .*"
        r"istio-gateway\.istio-system\.svc\.cluster\.local.* from the Istio gateway release",
    ):
        _check(values_dir)


def test_hand_written_domain_is_refused_naming_both_files(values_dir: Path) -> None:
    """The acceptance case: a domain in knative-serving values that differs from the env's."""
    _write(values_dir, "eks", "knative-serving", {"domain": "other.example.org"})
    with pytest.raises(UserError) as err:
        _check(values_dir)
    message = str(err.value)
    assert "\n" not in message
    assert "values/eks/knative-serving.yaml: domain is 'other.example.org'" in message
    assert "derived as 'models.example.org' from " in message
    assert message.split(" from ")[1].split(":")[0].endswith("values/eks/environment.yaml")


def test_hand_written_value_equal_to_the_derived_one_is_accepted(values_dir: Path) -> None:
    _write(values_dir, "eks", "knative-serving", {"domain": "models.example.org"})
    _check(values_dir)


def test_kserve_domain_override_is_refused(values_dir: Path) -> None:
    gateway = {"domain": "wrong.example.com"}
    data = {"kserveResources": {"kserve": {"controller": {"gateway": gateway}}}}
    _write(values_dir, "k3d", "kserve", data)
    with pytest.raises(
        UserError,
        match=r"values/k3d/kserve\.yaml: kserveResources\.kserve\.controller\.gateway\.domain "
        r"is 'wrong\.example\.com', but it is derived as 'example\.com' from .*"
        r"values/k3d/environment\.yaml",
    ):
        _check(values_dir)


def test_wrong_type_is_refused_by_schema_before_cross_checks(values_dir: Path) -> None:
    _write(values_dir, "k3d", "knative-serving", {"ingressGateway": {"selector": "istio"}})
    with pytest.raises(
        UserError, match=r"values/k3d/knative-serving\.yaml: ingressGateway\.selector: 'istio' is"
    ):
        _check(values_dir)


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
    rename_values(values_dir, "istio-gateway", renamed.id)
    chart_versions = tmp_path / "chart-versions.yaml"
    chart_versions.write_text(
        releases.RELEASES_FILE.read_text()
        + f"{renamed.id}:\n  - version: 0.1.0\n    changes: [Renamed gateway release.]\n"
    )
    # The chart-versions file is data outside the registry: point its reader at a copy.
    monkeypatch.setattr(releases.for_chart, "__defaults__", (chart_versions,))
    generate.generate(tmp_path / "charts", values_dir, with_gateway(renamed))
    for env in ("eks", "k3d", "minikube"):
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


def test_relabelling_the_gateway_makes_knative_follow(tmp_path: Path, values_dir: Path) -> None:
    components = replacing(gateway_variant(labels={"istio": "edge"}))
    for resolved in resolve.all_envs(values_dir, components):
        serving = resolved.release("knative-serving")
        assert serving is not None
        assert serving.derived["ingressGateway"]["selector"] == {
            "app": "istio-gateway",
            "istio": "edge",
        }


def test_relabelling_the_gateway_under_a_pinned_selector_fails_naming_both(
    values_dir: Path,
) -> None:
    pinned = {"app": "istio-gateway", "istio": "gateway"}
    _write(values_dir, "eks", "knative-serving", {"ingressGateway": {"selector": pinned}})
    _check(values_dir)  # agrees with the gateway today
    with pytest.raises(
        UserError,
        match=r"values/eks/knative-serving\.yaml: ingressGateway\.selector\.istio is 'gateway', "
        r"but it is derived as 'edge' from the Istio gateway release istio-gateway",
    ):
        _check(values_dir, replacing(gateway_variant(labels={"istio": "edge"})))
