"""Serving operators across environments: KServe everywhere, Seldon opt-in in two modes.

Opting in is an environment edit, so these tests build the opted-in environment, run the
real generate into a temporary tree (derived values included) and the real render.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import dead_values_keys
from mlstack import environments, generate, ingress, render, versions
from mlstack.components import kserve, models, seldon_core_operator, seldon_gateway
from mlstack.environments import EMISSARY, Environment, seldon_components
from mlstack.errors import UserError
from mlstack.lib import chartgen


def _env(mode: str | None, extra: frozenset[str] = frozenset(), name: str = "k3d") -> Environment:
    base = environments.ENVIRONMENTS[name]
    parts = seldon_components(mode) if mode else frozenset()  # type: ignore[arg-type]
    return dataclasses.replace(base, seldon=mode, components=base.components | parts | extra)


def _generate(tmp: Path, monkeypatch: pytest.MonkeyPatch, env: Environment) -> Path:
    monkeypatch.setitem(environments.ENVIRONMENTS, env.name, env)
    values = tmp / "values"
    shutil.copytree(generate.VALUES_DIR, values, dirs_exist_ok=True)
    generate.generate(tmp / "charts", values)
    return values


def _one_line(err: pytest.ExceptionInfo[UserError]) -> str:
    message = str(err.value)
    assert "\n" not in message and message
    return message


def _render(
    tmp: Path, monkeypatch: pytest.MonkeyPatch, env: Environment, schema_dir: Path
) -> dict[str, render.Result]:
    values = _generate(tmp, monkeypatch, env)
    results = render.render_env(env, schema_dir, tmp / "charts", values)
    for r in results:
        assert r.ok, f"{r.release}: {r.problems}"
    return {r.release: r for r in results}


def _docs(result: render.Result) -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(result.manifest or "") if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_matrix_kserve_everywhere_seldon_nowhere_by_default() -> None:
    for env in environments.ENVIRONMENTS.values():
        assert env.components >= environments.KSERVE, env.name
        assert env.seldon is None and "seldon-core-operator" not in env.components
        assert not (EMISSARY & env.components)


def test_ambassador_mode_without_emissary_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(UserError) as err:
        _generate(tmp_path, monkeypatch, _env("ambassador"))
    message = _one_line(err)
    assert "k3d: Seldon ambassador mode needs Emissary" in message
    assert not (tmp_path / "charts").exists()  # nothing half-written


def test_mode_without_operator_and_operator_without_mode_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = environments.ENVIRONMENTS["k3d"]
    with pytest.raises(UserError, match="sets seldon='istio' but does not enable") as err:
        _generate(tmp_path, monkeypatch, dataclasses.replace(base, seldon="istio"))
    _one_line(err)
    lone = dataclasses.replace(base, components=base.components | seldon_components("istio"))
    with pytest.raises(UserError, match="enables seldon-core-operator without a mode"):
        _generate(tmp_path, monkeypatch, lone)


def _bsl(monkeypatch: pytest.MonkeyPatch) -> None:
    data = versions.load()
    project = data.projects["seldon-core"].model_copy(update={"version": "1.18.0"})
    bumped = data.model_copy(update={"projects": {**data.projects, "seldon-core": project}})
    monkeypatch.setattr(versions, "load", lambda *a: bumped)


def test_bsl_version_refused_without_licence_acceptance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bsl(monkeypatch)
    with pytest.raises(UserError) as err:
        _generate(tmp_path, monkeypatch, _env("istio"))
    message = _one_line(err)
    assert message.startswith("values/k3d/seldon-core-operator.yaml: acceptBslLicence:")
    assert "1.18.0 is BSL 1.1" in message


def test_bsl_version_accepted_explicitly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _bsl(monkeypatch)
    env = _env("istio")
    monkeypatch.setitem(environments.ENVIRONMENTS, env.name, env)
    values = tmp_path / "values"
    shutil.copytree(generate.VALUES_DIR, values)
    (values / "k3d" / "seldon-core-operator.yaml").write_text("acceptBslLicence: true\n")
    generate.generate(tmp_path / "charts", values)  # no error
    assert (values / "k3d" / "generated" / "seldon-core-operator.yaml").exists()


def test_licence_key_defaults_to_not_accepted() -> None:
    values = seldon_core_operator.SeldonCoreOperatorValues()
    assert values.accept_bsl_licence is False
    assert versions.parse_minor("1.17.1") < seldon_core_operator.BSL_FROM


@pytest.fixture
def istio_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema_dir: Path
) -> dict[str, render.Result]:
    return _render(tmp_path, monkeypatch, _env("istio"), schema_dir)


def test_istio_mode_gateway_selector_is_the_istio_gateway(
    istio_mode: dict[str, render.Result],
) -> None:
    gateway = _docs(istio_mode["seldon-gateway"])["Gateway/seldon-gateway"]
    assert gateway["apiVersion"] == "networking.istio.io/v1"
    assert gateway["spec"]["selector"] == ingress.ingress().pod_labels
    assert gateway["spec"]["servers"][0]["port"]["number"] == 80
    namespace = seldon_gateway.COMPONENT.namespace
    assert f"{namespace}/{gateway['metadata']['name']}" == seldon_core_operator.GATEWAY


def test_istio_mode_operator_values_and_sample(
    istio_mode: dict[str, render.Result], tmp_path: Path
) -> None:
    generated = yaml.safe_load(
        (tmp_path / "values" / "k3d" / "generated" / "seldon-core-operator.yaml").read_text()
    )
    upstream = generated["seldonCoreOperator"]
    assert upstream["istio"] == {"enabled": True} and upstream["ambassador"] == {"enabled": False}
    defaults = seldon_core_operator._upstream_defaults()
    assert defaults["istio"]["gateway"] == seldon_core_operator.GATEWAY
    assert defaults["usageMetrics"] == {"enabled": False}
    sdep = _docs(istio_mode["models"])["SeldonDeployment/iris-model"]
    graph = sdep["spec"]["predictors"][0]["graph"]
    assert graph["implementation"] == "SKLEARN_SERVER" and graph["modelUri"].startswith("gs://")
    assert "InferenceService/sklearn-iris" in _docs(istio_mode["models"])
    assert "emissary" not in istio_mode


def test_ambassador_mode_serves_legacy_emissary_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schema_dir: Path
) -> None:
    results = _render(tmp_path, monkeypatch, _env("ambassador", EMISSARY), schema_dir)
    assert {"emissary-crds", "emissary", "seldon-core-operator"} <= set(results)
    assert "seldon-gateway" not in results
    generated = tmp_path / "values" / "k3d" / "generated"

    def load(name: str) -> dict[str, Any]:
        return yaml.safe_load((generated / f"{name}.yaml").read_text())  # type: ignore[no-any-return]

    assert load("emissary-crds") == {"emissaryCrds": {"enableLegacyVersions": True}}
    assert load("emissary")["emissaryIngress"]["waitForApiext"] == {"enabled": True}
    assert load("seldon-core-operator")["seldonCoreOperator"]["ambassador"] == {"enabled": True}
    assert "SeldonDeployment/iris-model" in _docs(results["models"])


def test_emissary_without_seldon_keeps_legacy_versions_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = _generate(tmp_path, monkeypatch, _env(None, EMISSARY))
    crds = yaml.safe_load((values / "k3d" / "generated" / "emissary-crds.yaml").read_text())
    assert crds == {"emissaryCrds": {"enableLegacyVersions": False}}


@pytest.mark.parametrize("env", sorted(environments.ENVIRONMENTS))
def test_kserve_ingress_is_derived_from_knative_facts(env: str) -> None:
    environment = environments.get(env)
    path = generate.VALUES_DIR / env / "generated" / "kserve.yaml"
    gateway = yaml.safe_load(path.read_text())["kserveResources"]["kserve"]["controller"]["gateway"]
    facts = ingress.ingress(environment)
    assert gateway == {
        "domain": ingress.domain(environment),
        "ingressGateway": {"gateway": facts.knative_gateway},
        "localGateway": {
            "gateway": facts.local_gateway,
            "gatewayService": facts.local_gateway_service_fqdn,
        },
    }
    mode = kserve._upstream_defaults()["kserve"]["controller"]["deploymentMode"]
    assert mode == "Knative"


def test_kserve_override_contradicting_knative_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = tmp_path / "values"
    shutil.copytree(generate.VALUES_DIR, values)
    (values / "eks" / "kserve.yaml").write_text(
        "kserveResources:\n  kserve:\n    controller:\n      gateway:\n        domain: other.org\n"
    )
    with pytest.raises(UserError) as err:
        generate.generate(tmp_path / "charts", values)
    message = _one_line(err)
    assert message.startswith("values/eks/kserve.yaml: kserveResources.kserve.controller")
    assert "'other.org'" in message and repr(ingress.domain(environments.get("eks"))) in message


def test_seldon_gateway_selector_override_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _env("istio")
    monkeypatch.setitem(environments.ENVIRONMENTS, env.name, env)
    values = tmp_path / "values"
    shutil.copytree(generate.VALUES_DIR, values)
    (values / "k3d" / "seldon-gateway.yaml").write_text("selector:\n  istio: other\n")
    with pytest.raises(UserError, match=r"seldon-gateway\.yaml: selector") as err:
        generate.generate(tmp_path / "charts", values)
    _one_line(err)


def test_models_plain_server_and_pvc_storage(tmp_path: Path, schema_dir: Path) -> None:
    from mlstack.lib import schemas

    path = tmp_path / "models.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "sklearnIris": {"storageUri": "pvc://models-pvc/sklearn/iris"},
                "plainServer": {"enabled": True, "image": "ghcr.io/me/server:1.0", "replicas": 2},
            }
        )
    )
    env = environments.get("k3d")
    files = [*render.values_files(env, models.COMPONENT), path]
    assert render.check_values(models.COMPONENT, files) == []
    text = render.template(models.COMPONENT, env, files)
    count, problems = render.check_manifest(text, env, schemas.upstream_crds(schema_dir))
    assert problems == [] and count == 5  # + the helm test Pods of both samples
    docs = {d["kind"]: d for d in yaml.safe_load_all(text) if d}
    tests = [d for d in yaml.safe_load_all(text) if d and d["kind"] == "Pod"]
    assert {t["metadata"]["annotations"]["helm.sh/hook"] for t in tests} == {"test"}
    assert docs["InferenceService"]["spec"]["predictor"]["model"]["storageUri"] == (
        "pvc://models-pvc/sklearn/iris"
    )
    deployment, service = docs["Deployment"], docs["Service"]
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert deployment["spec"]["replicas"] == 2
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["ports"][0]["port"] == 80
    assert service["spec"]["ports"][0]["targetPort"] == 8080
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]


def test_no_dead_values_keys_in_glue_charts() -> None:
    for component in (models.COMPONENT, seldon_gateway.COMPONENT):
        templates = chartgen.synthesize(component)
        assert dead_values_keys(templates, component.values) == [], component.id
