"""Issue 12 items 3-5: hardened namespaces, the air-gapped registry, checkov in lint.

Everything is real: real helm renders of the generated charts, a real checkov run
(offline), and an environment edited as a user would (imageRegistry in environment.yaml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import committed_envs, edit_env, values_copy
from mlstack import generate, imagelist, policy, registry, render, resolve
from mlstack.components import namespaces
from mlstack.errors import UserError
from mlstack.lib import mirror

REGISTRY = "registry.internal:5000"
ENFORCE = "pod-security.kubernetes.io/enforce"


def _objects(resolved: resolve.Resolved, charts: Path) -> dict[str, list[dict[str, Any]]]:
    """Our own (glue) releases of `resolved`, rendered: release id -> objects."""
    return {
        r.id: render.documents(render.template(r, resolved, charts))
        for r in resolved.releases
        if not r.component.dependencies
    }


@pytest.fixture(scope="module")
def airgap(tmp_path_factory: pytest.TempPathFactory) -> tuple[resolve.Resolved, Path]:
    """k3d with an image registry and a pull secret, the plain server on, generated."""
    tmp = tmp_path_factory.mktemp("airgap")
    values = values_copy(tmp / "values")
    edit_env(values, "k3d", imageRegistry=REGISTRY, imagePullSecrets=["registry-credentials"])
    # An air-gapped catalogue names its images under the registry (the sample mirrored).
    catalogue = {
        "knativeServices": [
            {"name": "helloworld-go", "image": f"{REGISTRY}/knative-samples/helloworld-go"}
        ],
        "plainServers": [{"name": "scorer", "image": f"{REGISTRY}/me/server:1.0"}],
    }
    (values / "k3d" / "models.yaml").write_text(yaml.safe_dump(catalogue))
    generate.generate(tmp / "charts", values)
    return resolve.resolve("k3d", values), tmp / "charts"


@pytest.mark.parametrize("env", committed_envs())
def test_models_namespace_enforces_restricted_behind_a_default_deny_policy(env: str) -> None:
    resolved = resolve.resolve(env)
    assert resolved.ids[0] == "namespaces"
    objects = _objects(resolved, render.CHARTS_DIR)["namespaces"]
    found = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Namespace"}
    assert found["models"]["metadata"]["labels"][ENFORCE] == "restricted"
    # Every namespace a release of this env installs into is labelled.
    assert set(found) == {r.namespace for r in resolved.releases} - {namespaces.OWN}
    if "metallb" in resolved.ids:
        assert found["metallb-system"]["metadata"]["labels"][ENFORCE] == "privileged"
    (policy_,) = [o for o in objects if o["kind"] == "NetworkPolicy"]
    assert policy_["metadata"]["namespace"] == "models"
    assert policy_["spec"]["podSelector"] == {} and policy_["spec"]["policyTypes"] == ["Ingress"]
    allowed = {
        p["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for p in policy_["spec"]["ingress"][0]["from"]
        if "namespaceSelector" in p
    }
    assert allowed == {resolved.facts.gateway.namespace, "knative-serving", "kserve"}


def test_every_release_without_other_needs_waits_for_namespaces() -> None:
    """Flux orders by dependsOn (needs): each chain must start at the namespaces release."""
    for c in registry.COMPONENTS:
        if c.id != "namespaces":
            assert c.needs, f"{c.id} has no needs: add namespaces"


def test_a_namespace_the_chart_does_not_know_is_refused() -> None:
    resolved = resolve.resolve("k3d")
    facts = resolved.facts
    odd = type(facts)(**{**facts.__dict__, "namespaces": {"ml-team": ("restricted",)}})
    with pytest.raises(Exception, match="'ml-team' is not one the namespaces release labels"):
        namespaces.check(odd, {})


def test_with_a_registry_every_own_image_comes_from_it(
    airgap: tuple[resolve.Resolved, Path],
) -> None:
    resolved, charts = airgap
    rendered = _objects(resolved, charts)
    images = imagelist.named(rendered)
    assert len(images) > 10  # the runtimes, Knative's overrides and the plain server
    assert all(i.startswith(f"{REGISTRY}/") for i in images), images
    models = {o["kind"]: o for o in rendered["models"]}
    pod = models["Deployment"]["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "registry-credentials"}]


def test_make_images_lists_only_images_under_the_registry(
    airgap: tuple[resolve.Resolved, Path],
) -> None:
    resolved, charts = airgap
    manifests = {
        r.id: render.template(r, resolved, charts)
        for r in resolved.releases
        if not r.component.dependencies
    }
    listed = imagelist.images(resolved, manifests)
    assert listed and all(i.startswith(f"{REGISTRY}/") for i in listed), listed
    assert f"{REGISTRY}/istio/proxyv2:1.30.3" in listed
    assert f"{REGISTRY}/knative-releases/knative.dev/serving/cmd/queue:v1.23.0" in listed
    assert all(":" in i.rsplit("/", 1)[-1] for i in listed)  # every image with its tag


def test_each_upstream_image_is_moved_by_a_derived_value(
    airgap: tuple[resolve.Resolved, Path],
) -> None:
    """A row's images must be moved by one of its `registry:` values, which resolution
    derives into the release's values (else the chart would pull from the internet)."""
    resolved, _ = airgap
    for release in resolved.releases:
        c = release.component
        if not c.dependencies or not c.images:
            continue
        derived = resolve.leaves(release.derived)
        targets = [v for k, v in derived.items() if isinstance(v, str) and REGISTRY in v]
        assert targets, f"{c.id}: no registry value derived"
        for image in c.images:
            moved = mirror.moved(image, REGISTRY)
            assert any(moved.startswith(t) for t in targets), f"{c.id}: {image}"


def test_a_plain_server_outside_the_registry_is_refused_in_one_line(tmp_path: Path) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", imageRegistry=REGISTRY)
    plain = {
        "knativeServices": [],
        "plainServers": [{"name": "scorer", "image": "ghcr.io/me/server:1.0"}],
    }
    (values / "k3d" / "models.yaml").write_text(yaml.safe_dump(plain))
    with pytest.raises(UserError) as err:
        resolve.resolve("k3d", values)
    message = str(err.value)
    assert "\n" not in message and "values/k3d/models.yaml: plainServers[scorer].image" in message
    assert f"{REGISTRY}/me/server:1.0" in message
    # The shipped sample too: an air-gapped env lists its mirrored images.
    (values / "k3d" / "models.yaml").unlink()
    with pytest.raises(UserError, match=r"knativeServices\[helloworld-go\]\.image: "):
        resolve.resolve("k3d", values)


def test_moved_replaces_only_a_registry_host() -> None:
    assert mirror.moved("quay.io/metallb/speaker:v1", "r:5000") == "r:5000/metallb/speaker:v1"
    assert mirror.moved("kserve/agent:v1", "r:5000") == "r:5000/kserve/agent:v1"
    assert mirror.moved("localhost/a:1", "r") == "r/a:1"
    assert mirror.moved("kserve/agent:v1", "") == "kserve/agent:v1"


@pytest.mark.parametrize("env", committed_envs())
def test_checkov_reports_no_failure_on_our_objects(env: str) -> None:
    passed, failed = policy.check_env(resolve.resolve(env))
    assert failed == [] and passed > 50


def test_checkov_runs_and_fails_an_unhardened_pod(tmp_path: Path) -> None:
    """The check can fail: a plain pod without any hardening is reported."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "bare", "namespace": "models"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]},
    }
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(pod))
    failed = policy.failures(policy.run_checkov(tmp_path))
    assert any("CKV_K8S_28" in f or "CKV_K8S_20" in f for f in failed), failed


def test_seldon_loosens_models_to_the_level_its_executor_passes(tmp_path: Path) -> None:
    """Seldon 1.17.1 injects an executor that drops no capabilities into every
    SeldonDeployment pod: where Seldon is on, models enforces baseline (podsIn), else
    restricted; Knative Services meet restricted through secure-pod-defaults."""
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", seldon="istio")
    derived = resolve.resolve("k3d", values).release("namespaces")
    assert derived is not None
    assert derived.derived["namespaces"]["models"]["podSecurity"] == "baseline"
    plain = resolve.resolve("k3d").release("namespaces")
    assert plain is not None and plain.derived["namespaces"]["models"]["podSecurity"] == (
        "restricted"
    )
    serving = resolve.resolve("k3d").release("knative-serving")
    assert serving is not None and serving.values["securePodDefaults"] == "enabled"


def test_image_tags_are_read_with_the_runtime_grammar() -> None:
    """`make images` and the rows' `images:` agree on what carries a tag: a registry port
    is no tag, a digest pins like one; untagged is listed as the :latest it pulls."""
    from mlstack.lib import images

    assert images.has_tag("registry.internal:5000/me/server:1.0")
    assert not images.has_tag("registry.internal:5000/me/server")
    assert images.has_tag("ghcr.io/me/server@sha256:" + "a" * 64)
    assert imagelist.tagged("registry.internal:5000/me/server") == (
        "registry.internal:5000/me/server:latest"
    )
    assert mirror.under("registry.internal:5000/me/server:1", "registry.internal:5000")
    assert not mirror.under("registry.internal:50001/me/server:1", "registry.internal:5000")


# --- Pod Security admission over the whole render (issue 21 item 3) --------------------


def test_pod_security_levels_refuse_what_admission_refuses() -> None:
    from mlstack.lib import podsecurity

    hardened = podsecurity.hardened_pod([{"name": "server", "image": "x"}])
    assert podsecurity.violations(hardened, "restricted") == []
    plain = {"containers": [{"name": "c", "image": "x"}]}
    assert podsecurity.violations(plain, "baseline") == []
    assert "container c: runAsNonRoot not true" in podsecurity.violations(plain, "restricted")
    host = {**plain, "hostNetwork": True, "volumes": [{"name": "h", "hostPath": {"path": "/"}}]}
    assert podsecurity.violations(host, "baseline") == ["hostNetwork: true", "volume h: hostPath"]
    context = {"privileged": True, "capabilities": {"add": ["NET_ADMIN"]}}
    iptables = {"name": "ipt", "securityContext": context}
    assert podsecurity.violations({**plain, "initContainers": [iptables]}, "baseline") == [
        "container ipt: privileged", "container ipt: adds capabilities NET_ADMIN"
    ]  # fmt: skip
    assert podsecurity.violations({**plain, "initContainers": [iptables]}, "privileged") == []


@pytest.fixture(scope="module")
def everything(tmp_path_factory: pytest.TempPathFactory) -> tuple[resolve.Resolved, Path]:
    """k3d with TLS, auth with the bundled Dex, JupyterHub and Seldon, generated."""
    tmp = tmp_path_factory.mktemp("everything")
    values = values_copy(tmp / "values")
    edit_env(values, "k3d", domain="ml.lab.test", auth={"enabled": True}, seldon="istio",
             components={"jupyterhub": True})  # fmt: skip
    generate.generate(tmp / "charts", values)
    return resolve.resolve("k3d", values), tmp / "charts"


def test_z2jh_default_user_pod_is_refused_by_baseline_ours_is_admitted(
    schema_dir: Path, everything: tuple[resolve.Resolved, Path]
) -> None:
    """z2jh 4.4.0's own defaults add the privileged iptables init container to every user
    pod (namespace jupyterhub enforces baseline); ours block the metadata server with the
    chart's NetworkPolicy instead, and the user pod passes."""
    from mlstack.components import jupyterhub
    from mlstack.lib import podsecurity, schemas

    defaults, _ = schemas.upstream_values(schema_dir, "jupyterhub")
    (upstream,) = jupyterhub.user_pods(defaults)
    assert podsecurity.violations(upstream["spec"], "baseline") == [
        "container block-cloud-metadata: privileged",
        "container block-cloud-metadata: adds capabilities NET_ADMIN",
    ]
    release = everything[0].release("jupyterhub")
    assert release is not None
    effective = render.effective_values(release, schema_dir)
    (pod,) = jupyterhub.user_pods(effective)
    assert podsecurity.violations(pod["spec"], "baseline") == []
    single = effective["singleuser"]
    assert single["networkPolicy"]["enabled"] is True
    assert single["networkPolicy"]["egressAllowRules"]["cloudMetadataServer"] is False
    assert single["cloudMetadata"] == {"blockWithIptables": False, "ip": "169.254.169.254"}


def test_every_pod_of_the_render_passes_its_namespace_level(
    schema_dir: Path, everything: tuple[resolve.Resolved, Path], tmp_path: Path
) -> None:
    """The render check admits every pod template (upstream charts' where downloaded) and
    every runtime pod against the level its Namespace enforces; switching the iptables
    init container back on in values/<env>/jupyterhub.yaml is reported, naming the pod."""
    resolved, charts = everything
    manifests = {
        r.id: None
        if render.missing_dependencies(r.component, charts)
        else render.template(r, resolved, charts)
        for r in resolved.releases
    }
    found = render.admission_problems(resolved, manifests, schema_dir)
    assert [p for problems in found for p in problems] == []
    path = resolved.values_dir / "k3d" / "jupyterhub.yaml"
    path.write_text(yaml.safe_dump({"jupyterhub": {"singleuser": {"cloudMetadata": {
        "blockWithIptables": True}}}}))  # fmt: skip
    again = resolve.resolve("k3d", resolved.values_dir)
    found = render.admission_problems(again, manifests, schema_dir)
    assert [p for problems in found for p in problems] == [
        "Pod jupyterhub/jupyter-user: container block-cloud-metadata: privileged: namespace "
        "jupyterhub enforces baseline",
        "Pod jupyterhub/jupyter-user: container block-cloud-metadata: adds capabilities "
        "NET_ADMIN: namespace jupyterhub enforces baseline",
    ]
