"""No unauthenticated and no clear-text entry point (issue 21, items 2 and 8).

An environment with everything on (TLS, auth with the bundled Dex, JupyterHub, Seldon in
each mode) is generated and rendered for real, with the upstream charts packaged from
their pinned sources, so the gateway's Service and Deployment are the upstream chart's
own. Render either succeeds with every public Service behind the JWT check and serving
plain HTTP only as a redirect, or the combination is refused in one line naming it. The
invariant is then shown to catch each breach on those same rendered objects.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import edit_env, upstream_from_source, values_copy
from mlstack import generate, invariants, render, resolve
from mlstack.errors import UserError
from mlstack.resolve import Resolved

#: Wrappers whose upstream objects matter at the edge: the gateway's Service and pods,
#: Emissary's, JupyterHub's proxy, Dex's.
EDGE_WRAPPERS = ("istio-gateway", "emissary", "jupyterhub", "dex")
EVERYTHING = {"auth": {"enabled": True}, "components": {"jupyterhub": True}}


def _everything_on(tmp: Path, charts: Path, schema_dir: Path, **env: Any) -> Path:
    """k3d (TLS self-signed as shipped) with auth, JupyterHub and `env`, generated, with
    the edge wrappers' upstream charts in place."""
    values = values_copy(tmp / "values")
    edit_env(values, "k3d", **{**EVERYTHING, **env})
    generate.generate(charts, values)
    for release in EDGE_WRAPPERS:
        assert upstream_from_source(charts, release, schema_dir), release
    return values


def _render(values: Path, charts: Path, schema_dir: Path) -> tuple[Resolved, list[render.Result]]:
    resolved = resolve.resolve("k3d", values)
    return resolved, render.render_env(resolved, schema_dir, charts)


def _objects(results: list[render.Result]) -> dict[str, list[dict[str, Any]]]:
    return {r.release: render.documents(r.manifest) for r in results if r.manifest}


def _public(rendered: dict[str, list[dict[str, Any]]]) -> list[str]:
    return sorted(
        f"{o['metadata'].get('namespace', release)}/{o['metadata']['name']}"
        for release, objects in rendered.items()
        for o in objects
        if o["kind"] == "Service" and o["spec"].get("type") in invariants.PUBLIC
    )


def _hub_ingress(rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """JupyterHub's Ingress of class istio, while the hub is still published by one
    (istiod's conversion serves its port 80 in clear: issue 21 item 5)."""
    return [o for o in rendered.get("jupyterhub", []) if o["kind"] == "Ingress"]


def test_ambassador_mode_with_auth_and_tls_is_refused_in_one_line(
    tmp_path: Path, charts_copy: Path
) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", seldon="ambassador", **EVERYTHING)
    with pytest.raises(UserError) as err:
        generate.generate(charts_copy, values)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{values}/k3d/environment.yaml: seldon: ambassador with ")
    assert "auth.enabled: true and tls.mode: self-signed is refused" in message
    assert "set seldon: istio" in message
    # TLS alone is enough: Emissary would serve models in clear.
    edit_env(values, "k3d", auth={"enabled": False}, components={})
    with pytest.raises(UserError, match=r"seldon: ambassador with tls\.mode: self-signed is "):
        resolve.resolve("k3d", values)
    # Neither on: nothing to protect, ambassador mode stands.
    edit_env(values, "k3d", tls={"mode": "off"})
    assert "emissary" in resolve.resolve("k3d", values).ids


@pytest.mark.parametrize("seldon", ["istio", "off"])
def test_every_public_service_is_behind_the_jwt_check_and_redirects(
    seldon: str, tmp_path: Path, charts_copy: Path, schema_dir: Path
) -> None:
    values = _everything_on(tmp_path, charts_copy, schema_dir, seldon=seldon)
    resolved, results = _render(values, charts_copy, schema_dir)
    rendered = _objects(results)
    # The upstream gateway chart rendered its LoadBalancer: the invariant had work to do.
    assert _public(rendered) == [resolved.facts.gateway.address]
    problems = [p for r in results for p in r.problems]
    hub = _hub_ingress(rendered)
    if hub:  # until JupyterHub moves to an Istio Gateway with a redirect (item 5)
        name = f"Ingress jupyterhub/{hub[0]['metadata']['name']} (class istio)"
        assert problems == [
            f"istio-gateway: Service {resolved.facts.gateway.address} (LoadBalancer) port 80 "
            f"serves plain HTTP without a redirect ({name}), though "
            f"{resolved.env.shown(values)} sets tls.mode: self-signed: redirect it "
            "(tls.httpsRedirect) or publish through a Gateway that does"
        ]
    else:
        assert problems == []
    if seldon == "istio":
        (gateway,) = [o for o in rendered["seldon-gateway"] if o["kind"] == "Gateway"]
        http = [s for s in gateway["spec"]["servers"] if s["port"]["protocol"] == "HTTP"]
        assert http and all(s["tls"] == {"httpsRedirect": True} for s in http)


@pytest.fixture
def istio_render(
    tmp_path: Path, charts_copy: Path, schema_dir: Path
) -> tuple[Resolved, dict[str, list[dict[str, Any]]]]:
    values = _everything_on(tmp_path, charts_copy, schema_dir, seldon="istio")
    resolved, results = _render(values, charts_copy, schema_dir)
    rendered = _objects(results)
    for release in ("jupyterhub",):  # its Ingress is item 5's; here only what we break
        rendered[release] = [o for o in rendered[release] if o["kind"] != "Ingress"]
    assert invariants.edge_problems(resolved, rendered) == {}
    return resolved, rendered


def _lines(found: dict[str, list[str]]) -> list[str]:
    return [p for problems in found.values() for p in problems]


def test_the_invariant_catches_a_gateway_without_the_token_check(
    istio_render: tuple[Resolved, dict[str, list[dict[str, Any]]]],
) -> None:
    resolved, rendered = istio_render
    rendered["model-auth"] = [
        o for o in rendered["model-auth"] if o["kind"] != "AuthorizationPolicy"
    ]
    (line,) = _lines(invariants.edge_problems(resolved, rendered))
    assert line.startswith(f"istio-gateway: Service {resolved.facts.gateway.address} ")
    assert "reaches pods no JWT check (AuthorizationPolicy model-require-jwt) selects" in line


def test_the_invariant_catches_clear_text_on_a_gateway_port(
    istio_render: tuple[Resolved, dict[str, list[dict[str, Any]]]],
) -> None:
    resolved, rendered = istio_render
    rendered = copy.deepcopy(rendered)
    (gateway,) = [o for o in rendered["seldon-gateway"] if o["kind"] == "Gateway"]
    for server in gateway["spec"]["servers"]:
        if server["port"]["protocol"] == "HTTP":
            del server["tls"]
    (line,) = _lines(invariants.edge_problems(resolved, rendered))
    gateway_name = "Gateway seldon-system/seldon-gateway"
    assert f"port 80 serves plain HTTP without a redirect ({gateway_name})" in line


def test_the_invariant_catches_a_public_service_off_the_gateway(
    istio_render: tuple[Resolved, dict[str, list[dict[str, Any]]]],
) -> None:
    """z2jh's own default: proxy-public as a LoadBalancer, straight to the hub's proxy."""
    resolved, rendered = istio_render
    rendered = copy.deepcopy(rendered)
    (proxy,) = [o for o in rendered["jupyterhub"]
                if o["kind"] == "Service" and o["metadata"]["name"] == "proxy-public"]  # fmt: skip
    proxy["spec"]["type"] = "LoadBalancer"
    lines = _lines(invariants.edge_problems(resolved, rendered))
    assert [line.split(" (LoadBalancer) ")[1].split(":")[0] for line in lines] == [
        "reaches pods no JWT check (AuthorizationPolicy model-require-jwt) selects",
        "is public but not the Istio gateway's",
    ]
    assert all(line.startswith("jupyterhub: Service jupyterhub/proxy-public") for line in lines)


def test_emissary_stays_in_cluster_where_auth_is_on(
    tmp_path: Path, charts_copy: Path, schema_dir: Path
) -> None:
    """Emissary switched on by itself (no Seldon): its Service is ClusterIP, derived, so the
    render passes; the upstream default (LoadBalancer) would be caught."""
    values = _everything_on(tmp_path, charts_copy, schema_dir, components={"emissary": True})
    generated = yaml.safe_load((values / "k3d" / "generated" / "emissary.yaml").read_text())
    assert generated["emissaryIngress"]["service"] == {"type": "ClusterIP"}
    resolved, results = _render(values, charts_copy, schema_dir)
    rendered = _objects(results)
    (service,) = [o for o in rendered["emissary"] if o["kind"] == "Service"
                  and o["metadata"]["name"] == "emissary-ingress"]  # fmt: skip
    assert service["spec"]["type"] == "ClusterIP"
    service["spec"]["type"] = "LoadBalancer"
    found = invariants.edge_problems(resolved, rendered)
    assert [p.split(" (LoadBalancer) ")[0] for p in found["emissary"]] == [
        "emissary: Service emissary/emissary-ingress"
    ] * 2
    assert all(p.endswith("make it ClusterIP and publish it through the Istio gateway")
               for p in found["emissary"])  # fmt: skip
    # A token check without a selector covers its whole namespace (Istio's rule): only the
    # clear-text line is left.
    (policy,) = [o for o in rendered["model-auth"] if o["kind"] == "AuthorizationPolicy"]
    namespace_wide = copy.deepcopy(policy)
    namespace_wide["metadata"]["namespace"] = "emissary"
    del namespace_wide["spec"]["selector"]
    rendered["emissary"].append(namespace_wide)
    (left,) = invariants.edge_problems(resolved, rendered)["emissary"]
    assert "is public but not the Istio gateway's: nothing redirects its plain HTTP" in left


PLAIN = {"name": "my-server", "image": "registry.example.com/my-server:1.0"}


@pytest.mark.parametrize(
    ("env", "refused"),
    [
        ({"auth": {"enabled": True}}, "auth.enabled: true and tls.mode: self-signed"),
        ({"tls": {"mode": "off"}, "auth": {"enabled": True}}, "auth.enabled: true"),
        ({}, "tls.mode: self-signed"),
        ({"tls": {"mode": "off"}}, None),
    ],
)
def test_a_public_plain_server_is_refused_where_auth_or_tls_is_on(
    env: dict[str, Any], refused: str | None, tmp_path: Path
) -> None:
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", **env)
    entry = {**PLAIN, "serviceType": "LoadBalancer"}
    (values / "k3d" / "models.yaml").write_text(yaml.safe_dump({"plainServers": [entry]}))
    if refused is None:
        assert "models" in resolve.resolve("k3d", values).ids
        return
    with pytest.raises(UserError) as err:
        resolve.resolve("k3d", values)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(
        f"{values}/k3d/models.yaml: plainServers[my-server].serviceType: LoadBalancer would "
    )
    assert f"environment.yaml sets {refused}: use serviceType: ClusterIP" in message
