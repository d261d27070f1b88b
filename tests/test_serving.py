"""Serving operators across environments: KServe everywhere, Seldon opt-in in two modes.

Opting in is an edit of values/<env>/environment.yaml, so these tests edit a private copy
of values/, run the real generate into a temporary tree (derived values included) and the
real render.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import committed_envs, dead_values_keys, edit_env, synth, values_copy
from mlstack import generate, registry, render, resolve, versions
from mlstack.components import seldon_core_operator
from mlstack.errors import UserError
from netpolicy import Pod, admits

#: Ambassador mode only without TLS and auth (environments.insecure_edge refuses the rest).
PLAIN = {"mode": "off"}


def _generate(tmp: Path, **env: Any) -> Path:
    """values/ with k3d's environment.yaml changed, generated into tmp."""
    values = tmp / "values"
    if not values.exists():
        values_copy(values)
    edit_env(values, "k3d", **env)
    if env.get("seldon", "off") != "off":  # the shipped Seldon sample, switched on
        sample = {"name": "iris-model", "modelUri": "gs://seldon-models/v1.17.0-dev/sklearn/iris"}
        (values / "k3d" / "models.yaml").write_text(yaml.safe_dump({"seldonDeployments": [sample]}))
    generate.generate(tmp / "charts", values)
    return values


def _one_line(err: pytest.ExceptionInfo[UserError]) -> str:
    message = str(err.value)
    assert "\n" not in message and message
    return message


def _render(tmp: Path, schema_dir: Path, **env: Any) -> dict[str, render.Result]:
    values = _generate(tmp, **env)
    results = render.render_env(resolve.resolve("k3d", values), schema_dir, tmp / "charts")
    for r in results:
        assert r.ok, f"{r.release}: {r.problems}"
    return {r.release: r for r in results}


def _docs(result: render.Result) -> dict[str, dict[str, Any]]:
    docs = [d for d in yaml.safe_load_all(result.manifest or "") if d]
    return {f"{d['kind']}/{d['metadata']['name']}": d for d in docs}


def test_matrix_kserve_everywhere_seldon_nowhere_by_default() -> None:
    for resolved in map(resolve.resolve, committed_envs()):
        assert {"kserve-crd", "kserve", "model-runtimes", "models"} <= set(resolved.ids)
        assert resolved.env.seldon == "off" and "seldon-core-operator" not in resolved.ids
        assert not {"emissary-crds", "emissary"} & set(resolved.ids)


def test_ambassador_mode_with_emissary_switched_off_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        _generate(tmp_path, seldon="ambassador", components={"emissary": False}, tls=PLAIN)
    message = _one_line(err)
    assert "k3d/environment.yaml: seldon: ambassador mode needs Emissary" in message
    assert not (tmp_path / "charts").exists()  # nothing half-written


def test_seldon_releases_follow_the_mode_alone(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", seldon="istio")
    assert {"seldon-core-operator", "seldon-gateway"} <= set(resolve.resolve("k3d", values).ids)
    edit_env(values, "k3d", components={"seldon-core-operator": True})
    with pytest.raises(UserError, match=r"components\.seldon-core-operator: unknown component"):
        resolve.resolve("k3d", values)


def _bsl() -> Any:
    data = versions.load()
    project = data.projects["seldon-core"].model_copy(update={"version": "1.18.0"})
    return data.model_copy(update={"projects": {**data.projects, "seldon-core": project}})


def test_bsl_version_refused_without_licence_acceptance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bumped = _bsl()
    monkeypatch.setattr(versions, "load", lambda *a: bumped)  # a future pin
    with pytest.raises(UserError) as err:
        _generate(tmp_path, seldon="istio")
    message = _one_line(err)
    assert "values/k3d/seldon-core-operator.yaml: acceptBslLicence:" in message
    assert "1.18.0 is BSL 1.1" in message


def test_bsl_version_accepted_explicitly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bumped = _bsl()
    monkeypatch.setattr(versions, "load", lambda *a: bumped)
    values = values_copy(tmp_path / "values")
    (values / "k3d" / "seldon-core-operator.yaml").write_text("acceptBslLicence: true\n")
    _generate(tmp_path, seldon="istio")  # no error
    assert (values / "k3d" / "generated" / "seldon-core-operator.yaml").exists()


def test_licence_key_defaults_to_not_accepted() -> None:
    values = registry.by_id()["seldon-core-operator"].values()
    assert values.model_dump(by_alias=True)["acceptBslLicence"] is False
    assert versions.parse_minor("1.17.1") < seldon_core_operator.BSL_FROM


@pytest.fixture
def istio_mode(tmp_path: Path, schema_dir: Path) -> dict[str, render.Result]:
    return _render(tmp_path, schema_dir, seldon="istio")


def test_istio_mode_gateway_selector_is_the_istio_gateway(
    istio_mode: dict[str, render.Result], tmp_path: Path
) -> None:
    gateway = _docs(istio_mode["seldon-gateway"])["Gateway/seldon-gateway"]
    assert gateway["apiVersion"] == "networking.istio.io/v1"
    facts = resolve.resolve("k3d", tmp_path / "values").facts
    assert gateway["spec"]["selector"] == facts.gateway.pod_labels
    assert gateway["spec"]["servers"][0]["port"]["number"] == 80
    namespace = registry.by_id()["seldon-gateway"].namespace
    assert f"{namespace}/{gateway['metadata']['name']}" == facts.seldon_gateway


def test_istio_mode_operator_values_and_sample(
    istio_mode: dict[str, render.Result], tmp_path: Path
) -> None:
    generated = yaml.safe_load(
        (tmp_path / "values" / "k3d" / "generated" / "seldon-core-operator.yaml").read_text()
    )
    upstream = generated["seldonCoreOperator"]
    assert upstream["istio"] == {"enabled": True, "gateway": "seldon-system/seldon-gateway"}
    assert upstream["ambassador"] == {"enabled": False}
    defaults = resolve.chart_defaults()["seldon-core-operator"]["seldonCoreOperator"]
    assert defaults["istio"]["gateway"] == "seldon-system/seldon-gateway"
    assert defaults["usageMetrics"] == {"enabled": False}
    sdep = _docs(istio_mode["models"])["SeldonDeployment/iris-model"]
    graph = sdep["spec"]["predictors"][0]["graph"]
    assert graph["implementation"] == "SKLEARN_SERVER" and graph["modelUri"].startswith("gs://")
    assert "InferenceService/sklearn-iris" in _docs(istio_mode["models"])
    assert "emissary" not in istio_mode


def test_ambassador_mode_serves_legacy_emissary_versions(tmp_path: Path, schema_dir: Path) -> None:
    results = _render(tmp_path, schema_dir, seldon="ambassador", tls=PLAIN)
    assert {"emissary-crds", "emissary", "seldon-core-operator"} <= set(results)
    assert "seldon-gateway" not in results
    generated = tmp_path / "values" / "k3d" / "generated"

    def load(name: str) -> dict[str, Any]:
        return yaml.safe_load((generated / f"{name}.yaml").read_text())  # type: ignore[no-any-return]

    assert load("emissary-crds") == {"emissaryCrds": {"enableLegacyVersions": True}}
    assert load("emissary")["emissaryIngress"]["waitForApiext"] == {"enabled": True}
    assert load("seldon-core-operator")["seldonCoreOperator"]["ambassador"] == {"enabled": True}
    assert "SeldonDeployment/iris-model" in _docs(results["models"])


def test_emissary_without_seldon_keeps_legacy_versions_off(tmp_path: Path) -> None:
    values = _generate(tmp_path, components={"emissary": True})
    crds = yaml.safe_load((values / "k3d" / "generated" / "emissary-crds.yaml").read_text())
    assert crds == {"emissaryCrds": {"enableLegacyVersions": False}}


@pytest.mark.parametrize("env", ["eks", "k3d", "minikube"])
def test_kserve_ingress_is_derived_from_knative_facts(env: str) -> None:
    resolved = resolve.resolve(env)
    path = resolve.VALUES_DIR / env / "generated" / "kserve.yaml"
    gateway = yaml.safe_load(path.read_text())["kserveResources"]["kserve"]["controller"]["gateway"]
    facts = resolved.facts
    serving = yaml.safe_load((path.parent / "knative-serving.yaml").read_text())
    assert gateway == {
        "domain": serving["domain"],
        "urlScheme": "https" if serving["tls"]["enabled"] else "http",
        "ingressGateway": {"gateway": facts.gateway.knative_gateway},
        "localGateway": {
            "gateway": facts.gateway.local_gateway,
            "gatewayService": facts.gateway.local_gateway_service_fqdn,
        },
    }
    release = resolved.release("kserve")
    assert release is not None
    assert release.values["kserveResources"]["kserve"]["controller"]["deploymentMode"] == "Knative"


def test_seldon_gateway_selector_override_refused(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    (values / "k3d" / "seldon-gateway.yaml").write_text("selector:\n  istio: other\n")
    with pytest.raises(UserError, match=r"seldon-gateway\.yaml: selector\.istio is 'other'") as err:
        _generate(tmp_path, seldon="istio")
    _one_line(err)


def test_models_plain_server_is_hardened_and_opens_its_port(
    tmp_path: Path, schema_dir: Path
) -> None:
    from mlstack.lib import schemas

    values = values_copy(tmp_path / "values")
    server = {"name": "my-server", "image": "ghcr.io/me/server:1.0", "replicas": 2}
    (values / "k3d" / "models.yaml").write_text(yaml.safe_dump({"plainServers": [server]}))
    resolved = resolve.resolve("k3d", values)
    release = resolved.release("models")
    assert release is not None
    text = render.template(release, resolved)
    _, problems = render.check_manifest(text, resolved.minors, schemas.upstream_crds(schema_dir))
    assert problems == [], problems
    docs = [d for d in yaml.safe_load_all(text) if d]
    mine = {d["kind"]: d for d in docs if d["metadata"]["name"] == "my-server"}
    # models denies ingress by default: the plain server's own policy opens its port.
    allow = mine["NetworkPolicy"]["spec"]
    assert allow["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    deployment, service = mine["Deployment"], mine["Service"]
    assert deployment["spec"]["replicas"] == 2
    assert service["spec"]["type"] == "ClusterIP"
    assert "CKV_K8S_43=" in deployment["metadata"]["annotations"]["checkov.io/skip1"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["livenessProbe"]["httpGet"] == {"path": "/", "port": "http"}
    assert service["spec"]["selector"] == deployment["spec"]["template"]["metadata"]["labels"]
    for test in (d for d in docs if d["kind"] == "Pod"):
        assert test["spec"]["automountServiceAccountToken"] is False
        assert test["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] is True


def test_no_dead_values_keys_in_glue_charts() -> None:
    for component in (registry.by_id()["seldon-gateway"],):
        assert dead_values_keys(synth(component), component.values) == [], component.id


# --- who reaches the models past the gateway (issue 21 item 6) --------------------------


@pytest.mark.parametrize("env", ["k3d", "eks"])
def test_only_the_gateway_reaches_the_activator_and_only_knatives_data_plane_the_models(
    env: str,
) -> None:
    """The activator routes by the Knative-Serving-Namespace/-Revision headers to any
    revision: a pod that reaches it skips the gateway's JWT check. Over the rendered
    NetworkPolicies (namespaces and knative-serving releases, real helm template): only
    the gateway's pods reach the activator; of knative-serving, only the activator and the
    autoscaler reach the models."""
    resolved = resolve.resolve(env)
    policies = []
    for release_id in ("namespaces", "knative-serving"):
        release = resolved.release(release_id)
        assert release is not None
        for obj in render.documents(render.template(release, resolved)):
            obj["metadata"].setdefault("namespace", release.namespace)
            policies.append(obj)
    gateway = resolved.facts.gateway
    activator = Pod("knative-serving", {"app": "activator", "role": "activator"})
    gateway_pod = Pod(gateway.namespace, {**gateway.pod_labels, "sidecar.istio.io/inject": "false"})
    for port in (8012, 8013):
        assert admits(policies, gateway_pod, activator, port)
    for caller in (
        Pod("models", {"app": "curl"}),
        Pod("jupyterhub", {"component": "singleuser-server"}),
        Pod("default"),
        Pod(gateway.namespace, {"app": "istiod"}),
        Pod("knative-serving", {"app": "webhook"}),
    ):
        assert not admits(policies, caller, activator, 8012), caller
    model = Pod("models", {"serving.knative.dev/revision": "helloworld-go-00001"})
    assert admits(policies, activator, model, 8012)
    assert admits(policies, Pod("knative-serving", {"app": "autoscaler"}), model, 9090)
    assert admits(policies, gateway_pod, model, 8012)
    assert not admits(policies, Pod("knative-serving", {"app": "webhook"}), model, 8012)
    assert not admits(policies, Pod("jupyterhub", {"app": "x"}), model, 8012)
