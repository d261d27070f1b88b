"""Kubernetes Ingress on Istio, and JupyterHub on Knative's gateway: derived, refused, rendered.

The facts come from the real registry and committed environments (a private copy of
values/ is edited as a user would); rendering runs the real CLI with helm and the upstream
JupyterHub schema.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import (
    committed_envs,
    edit_env,
    gateway_variant,
    rename_values,
    values_copy,
    with_gateway,
)
from mlstack import REPO_ROOT, generate, invariants, render, resolve, versions
from mlstack.errors import UserError
from mlstack.lib import facts


@pytest.fixture
def values(tmp_path: Path) -> Path:
    """values/ with JupyterHub switched on in k3d and its password Secret named."""
    out = values_copy(tmp_path / "values")
    edit_env(out, "k3d", components={"jupyterhub": True})
    (out / "k3d" / "jupyterhub.yaml").write_text("passwordSecret: hub-password\n")
    return out


def _hub(resolved: resolve.Resolved) -> dict:  # type: ignore[type-arg]
    release = resolved.release("jupyterhub")
    assert release is not None
    return release.values["jupyterhub"]  # type: ignore[no-any-return]


def test_jupyterhub_is_off_everywhere_unless_switched_on() -> None:
    for resolved in map(resolve.resolve, committed_envs()):  # a user's own env may opt in
        assert "jupyterhub" not in resolved.ids
        assert "istio-ingress-class" in resolved.ids


def _written(values: Path) -> resolve.Resolved:
    """k3d of `values` after writing its generated values files, which helm template reads
    (resolved again: a release lists only the files that exist)."""
    for path, text in generate.derived_files([resolve.resolve("k3d", values)]).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return resolve.resolve("k3d", values)


def _route(resolved: resolve.Resolved) -> dict:  # type: ignore[type-arg]
    """The rendered jupyterhub-route VirtualService."""
    release = resolved.release("jupyterhub-route")
    assert release is not None
    (route,) = render.documents(render.template(release, resolved))
    return route  # type: ignore[no-any-return]


def _knative_gateway_servers(resolved: resolve.Resolved) -> list[dict]:  # type: ignore[type-arg]
    """The servers of knative-ingress-gateway as the operator writes them: the KnativeServing
    override where it sets servers (TLS on), else net-istio's own port-80 server."""
    release = resolved.release("knative-serving")
    assert release is not None
    objects = render.documents(render.template(release, resolved))
    (cr,) = [o for o in objects if o["kind"] == "KnativeServing"]
    override = cr["spec"]["ingress"]["istio"]["knative-ingress-gateway"]
    plain = [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}]
    return override.get("servers") or plain  # type: ignore[no-any-return]


def test_jupyterhub_routes_jupyter_domain_through_the_gateway(values: Path) -> None:
    edit_env(values, "k3d", domain="ml.lab.test", components={"jupyterhub": True})
    resolved = _written(values)
    ids = resolved.ids
    assert ids.index("knative-serving") < ids.index("jupyterhub-route")
    assert ids.index("jupyterhub") < ids.index("jupyterhub-route")
    hub = _hub(resolved)
    # No Ingress of class istio: its conversion always adds a plain port-80 server for `*`.
    assert hub["ingress"] == {"enabled": False}
    route = _route(resolved)
    assert route["metadata"]["name"] == "jupyterhub"
    assert route["spec"]["hosts"] == ["jupyter.ml.lab.test"]
    assert route["spec"]["gateways"] == [resolved.facts.gateway.knative_gateway]
    ((destination,),) = [[r["destination"] for r in h["route"]] for h in route["spec"]["http"]]
    assert destination == {
        "host": "proxy-public.jupyterhub.svc.cluster.local", "port": {"number": 80}
    }  # fmt: skip
    assert hub["proxy"]["service"]["type"] == "ClusterIP"
    assert hub["singleuser"]["defaultUrl"] == "/lab"
    secret = hub["hub"]["extraEnv"]["MLSTACK_HUB_PASSWORD"]["valueFrom"]["secretKeyRef"]
    assert secret == {"name": "hub-password", "key": "password"}
    assert hub["hub"]["config"]["JupyterHub"]["authenticator_class"] == "dummy"
    # No password in the values: the hub reads it from the Secret at start.
    assert "DummyAuthenticator" not in hub["hub"]["config"]
    assert "os.environ['MLSTACK_HUB_PASSWORD']" in hub["hub"]["extraConfig"]["mlstack-password"]
    (sample,) = resolved.releases[ids.index("jupyterhub")].component.samples(  # type: ignore[misc]
        resolved.facts,
        resolved.release("jupyterhub").values,  # type: ignore[union-attr]
    )
    assert (sample.host, sample.request_path, sample.ingress) == (
        "jupyter.ml.lab.test",
        "/hub/health",
        "istio-system/istio-gateway",
    )


@pytest.mark.parametrize(
    ("tls", "secret"),
    [
        ({"mode": "off"}, None),
        ({"mode": "self-signed"}, "knative-ingress-tls"),
        ({"mode": "secret", "secretName": "my-cert"}, "my-cert"),
    ],
)
def test_with_tls_jupyterhub_is_served_over_https_and_port_80_only_redirects(
    values: Path, tls: dict[str, str], secret: str | None
) -> None:
    """What the gateway serves jupyter.<domain> on: the Gateway its route binds to has, with
    TLS on, an HTTPS server with the env's certificate and a port-80 server that only
    redirects; no other Gateway of the platform serves that host on port 80."""
    edit_env(values, "k3d", components={"jupyterhub": True}, tls=tls)
    resolved = _written(values)
    route = _route(resolved)
    assert route["spec"]["gateways"] == [resolved.facts.gateway.knative_gateway]
    servers = _knative_gateway_servers(resolved)
    plain = [s for s in servers if s["port"]["protocol"] == "HTTP"]
    https = [s for s in servers if s["port"]["protocol"] == "HTTPS"]
    if secret:
        assert [s["tls"] for s in https] == [{"mode": "SIMPLE", "credentialName": secret}]
        assert all(s.get("tls", {}).get("httpsRedirect") is True for s in plain), plain
    else:
        assert https == [] and plain
    assert not [
        o
        for r in resolved.releases
        if not r.component.dependencies
        for o in render.documents(render.template(r, resolved))
        if o["kind"] == "Ingress"
    ]
    release = resolved.release("jupyterhub")
    assert release is not None and release.component.samples is not None
    (sample,) = release.component.samples(resolved.facts, release.values)
    assert sample.https == bool(secret)


def test_without_password_secret_rendering_is_refused_in_one_line(values: Path) -> None:
    (values / "k3d" / "jupyterhub.yaml").unlink()
    with pytest.raises(UserError) as err:
        resolve.resolve("k3d", values)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{values}/k3d/jupyterhub.yaml: passwordSecret: not set: set ")


def test_a_hand_written_route_that_contradicts_the_domain_is_refused(values: Path) -> None:
    (values / "k3d" / "jupyterhub-route.yaml").write_text("host: hub.other.test\n")
    with pytest.raises(UserError, match=r"host is 'hub\.other\.test'"):
        resolve.resolve("k3d", values)
    (values / "k3d" / "jupyterhub-route.yaml").unlink()
    (values / "k3d" / "jupyterhub.yaml").write_text(
        "passwordSecret: hub-password\njupyterhub: {ingress: {enabled: true}}\n"
    )
    with pytest.raises(UserError, match=r"jupyterhub\.ingress\.enabled is True"):
        resolve.resolve("k3d", values)


def test_istiod_binds_ingress_to_the_derived_gateway() -> None:
    resolved = resolve.resolve("k3d")
    istiod = resolved.release("istiod")
    assert istiod is not None
    mesh = istiod.values["istiod"]["meshConfig"]
    assert mesh["ingressService"] == resolved.facts.gateway.service == "istio-gateway"
    assert mesh["ingressSelector"] == resolved.facts.gateway.pod_labels["istio"] == "gateway"
    assert mesh["ingressClass"] == facts.INGRESS_CLASS == "istio"
    invariants.check_ingress(resolved)


def test_renaming_the_gateway_moves_istiods_ingress_settings(tmp_path: Path) -> None:
    components = with_gateway(gateway_variant("edge", labels={"istio": "edge-gw"}))
    values = values_copy(tmp_path / "values")
    rename_values(values, "istio-gateway", "edge")
    resolved = resolve.resolve("k3d", values, components=components)
    mesh = resolved.release("istiod").values["istiod"]["meshConfig"]  # type: ignore[union-attr]
    assert (mesh["ingressService"], mesh["ingressSelector"]) == ("edge", "edge-gw")


def test_invariant_names_both_sides_when_istiod_disagrees(values: Path) -> None:
    resolved = resolve.resolve("k3d", values)
    istiod = resolved.release("istiod")
    assert istiod is not None
    bad = {"istiod": {"meshConfig": {**istiod.values["istiod"]["meshConfig"]}}}
    bad["istiod"]["meshConfig"]["ingressSelector"] = "ingressgateway"
    broken = dataclasses.replace(
        resolved,
        releases=tuple(
            dataclasses.replace(r, values=bad) if r.id == "istiod" else r for r in resolved.releases
        ),
    )
    with pytest.raises(UserError, match=r"meshConfig\.ingressSelector is 'ingressgateway', but "
                       r"the istio label of istio-gateway is 'gateway'"):  # fmt: skip
        invariants.check_ingress(broken)


def test_k3d_gateway_keeps_the_node_ports_the_cluster_maps() -> None:
    gateway = resolve.resolve("k3d").release("istio-gateway")
    assert gateway is not None
    ports = {p["name"]: p for p in gateway.values["gateway"]["service"]["ports"]}
    assert ports["http2"]["nodePort"] == 30080 and ports["https"]["nodePort"] == 30443
    assert ports["status-port"] == {
        "name": "status-port", "port": 15021, "protocol": "TCP", "targetPort": 15021
    }  # fmt: skip
    assert gateway.values["gateway"]["service"]["type"] == "LoadBalancer"  # MetalLB still
    minikube = resolve.resolve("minikube").release("istio-gateway")
    assert minikube is not None and "ports" not in minikube.values["gateway"]["service"]


def test_render_with_jupyterhub_on_validates_against_the_upstream_schema(
    values: Path, charts_copy: Path, tmp_path: Path
) -> None:
    out = tmp_path / "build"
    dirs = ["--values-dir", str(values), "--charts-dir", str(charts_copy), "--out", str(out)]
    render = subprocess.run(
        [sys.executable, "-m", "mlstack", "render", "--generate", "--env", "k3d", *dirs],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert render.returncode == 0, render.stdout + render.stderr
    rows = {line.split()[0]: line for line in render.stdout.splitlines() if line[:1].isalpha()}
    assert " ok" in rows["jupyterhub"] and "FAILED" not in render.stdout
    assert "istio-ingress-class: IngressClass: istio" in render.stdout
    assert " ok" in rows["jupyterhub-route"]
    generated = yaml.safe_load((values / "k3d" / "generated" / "jupyterhub-route.yaml").read_text())
    assert generated["host"] == "jupyter.example.com"
    (values / "k3d" / "jupyterhub.yaml").write_text(
        "passwordSecret: hub-password\njupyterhub: {proxy: {service: {type: Bogus}}}\n"
    )
    bad = subprocess.run(
        [sys.executable, "-m", "mlstack", "render", "--env", "k3d", *dirs],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert bad.returncode != 0 and "jupyterhub.proxy.service.type" in bad.stdout + bad.stderr


def test_only_a_project_with_its_own_version_line_may_differ_from_its_app() -> None:
    data = versions.load()
    hub = data.projects["jupyterhub"]
    assert (hub.version, hub.app_version, hub.own_app_version) == ("4.4.0", "5.5.0", True)
    metallb = data.projects["metallb"].model_copy(update={"app_version": "v0.17.0"})
    broken = data.model_copy(update={"projects": {**data.projects, "metallb": metallb}})
    with pytest.raises(UserError, match=r"projects\.metallb\.appVersion v0\.17\.0 is not version"):
        versions._cross_check(broken)
