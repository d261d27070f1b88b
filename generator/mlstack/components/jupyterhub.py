"""Logic of the jupyterhub row (data/components.yaml): JupyterHub next to the models.

Optional (`components: {jupyterhub: true}`): data scientists open a notebook on the same
platform that serves their models, as in the k3d tutorial this platform reproduces. It is
published at `jupyter.<domain>` through the Istio ingress gateway by the jupyterhub-route
release (a VirtualService on Knative's ingress gateway: HTTPS with the platform
certificate, port 80 redirected where TLS is on; components/jupyterhub_route.py). The
upstream chart's own Ingress stays off: class `istio` would add a plain-HTTP server for
every host with no redirect. Its proxy Service stays ClusterIP.

Login, decided by environment.yaml `auth`:
- with the bundled Dex (`auth.enabled` without an `issuer`): OAuth against Dex, the same
  accounts that call the models (components/dex.py registers the `jupyterhub` client). The
  browser goes to `dex.<domain>`; the hub exchanges the code with Dex's in-cluster Service
  (no dependency on the gateway's certificate). Its client secret comes from the Secret
  `jupyterhub-oauth` (key `client-secret`) you create, equal to the Dex Secret's
  `jupyterhub-client-secret`. Derived from facts only, so `domain: auto` rewrites it.
- otherwise: a shared password (JupyterHub's dummy authenticator) read from a Secret the
  user creates; `passwordSecret:` in values/<env>/jupyterhub.yaml names it. Rendering
  without it is refused.
Either way no secret is in Git and the chart renders nothing secret; the gateway's JWT
check leaves `jupyter.<domain>` open (components/model_auth.py): the hub logs users in.

User pods: namespace `jupyterhub` enforces `baseline` (the hub sets no seccomp profile).
z2jh 4.4.0 blocks the cloud metadata server by default with an init container that runs
iptables as root, privileged, with NET_ADMIN (`singleuser.cloudMetadata.blockWithIptables`,
files/hub/jupyterhub_config.py), which baseline refuses: every spawn would be forbidden. We
turn it off and keep z2jh's own `singleuser.networkPolicy` (egress to every non-private
address except 169.254.169.254/32, `egressAllowRules.cloudMetadataServer: false`), which
blocks the same address without privileges where the cluster enforces NetworkPolicy.
`user_pods` builds the pod KubeSpawner creates from the singleuser values, so the render
check (lib/podsecurity.py) admits it as the API server will.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstack.errors import UserError
from mlstack.lib.facts import JUPYTERHUB, Facts
from mlstack.lib.fields import DnsSubdomain
from mlstack.lib.samples import Request, Sample

RELEASE = JUPYTERHUB
#: The values key of the upstream chart (the dependency alias).
KEY = "jupyterhub"
#: Dex login: the Secret in the jupyterhub namespace holding the OAuth client secret.
OAUTH_SECRET = "jupyterhub-oauth"
OAUTH_SECRET_KEY = "client-secret"
#: The key the password Secret must hold.
PASSWORD_KEY = "password"
PASSWORD_ENV = "MLSTACK_HUB_PASSWORD"
#: The hub Deployment of the upstream chart (fixed name): what smoke waits for.
HUB = "hub"
SECRET_FIELD = "passwordSecret"
#: Settings read at generate time, beside the upstream chart's values.
FIELDS: dict[str, Any] = {
    "password_secret": (
        DnsSubdomain | None,
        Field(
            None,
            alias=SECRET_FIELD,
            description=(
                "Name of a Secret you create in the jupyterhub namespace, key `password`: "
                "the shared login password (dummy authenticator). Required unless environment.yaml "
                "auth bundles Dex (then users log in through Dex)."
            ),
        ),
    )
}


def _dex_login(facts: Facts) -> dict[str, Any]:
    """Hub settings for OAuth against the bundled Dex (GenericOAuthenticator, shipped in
    the hub image): the browser is sent to Dex's public URL, the hub itself talks to Dex's
    Service inside the cluster; user names are the accounts' e-mails."""
    oauth = {
        "client_id": JUPYTERHUB,  # the client Dex registers for the hub (components/dex.py)
        "oauth_callback_url": facts.jupyter_callback,
        "authorize_url": f"{facts.dex_issuer}/auth",
        "token_url": f"{facts.dex_internal_url}/token",
        "userdata_url": f"{facts.dex_internal_url}/userinfo",
        "scope": ["openid", "email", "profile"],
        "username_claim": "email",
        # Dex's static users are the allow list.
        "allow_all": True,
    }
    secret = {"secretKeyRef": {"name": OAUTH_SECRET, "key": OAUTH_SECRET_KEY}}
    return {
        "config": {
            "JupyterHub": {"authenticator_class": "generic-oauth"},
            "GenericOAuthenticator": oauth,
        },
        # OAuthenticator reads its client secret from this variable.
        "extraEnv": {"OAUTH_CLIENT_SECRET": {"valueFrom": secret}},
    }


def derive(facts: Facts) -> dict[str, Any]:
    """No Ingress of the chart's own (jupyterhub-route publishes the hub); log in through
    the bundled Dex where the env has one."""
    login = {"hub": _dex_login(facts)} if facts.env.auth.bundled_dex else {}
    return {KEY: login | {"ingress": {"enabled": False}}}


def complete(facts: Facts, values: dict[str, Any]) -> dict[str, Any]:
    """Without the bundled Dex, the login from the release's own `passwordSecret` (an env
    var from the Secret that a hub config snippet hands to the dummy authenticator: the
    password never enters the chart or Git)."""
    if facts.env.auth.bundled_dex:
        return {}
    secret = values.get(SECRET_FIELD)
    if not secret:
        raise UserError(
            f"{facts.file(RELEASE)}: {SECRET_FIELD}: not set: set {SECRET_FIELD}: <name> of a "
            f"Secret in namespace {RELEASE} with key {PASSWORD_KEY} (kubectl -n {RELEASE} create "
            f"secret generic <name> --from-literal={PASSWORD_KEY}=...)"
        )
    config = f"import os\nc.DummyAuthenticator.password = os.environ[{PASSWORD_ENV!r}]\n"
    return {
        KEY: {
            "hub": {
                "config": {
                    "JupyterHub": {"authenticator_class": "dummy"},
                    # Any user name with the shared password: the password is the gate.
                    "Authenticator": {"allow_all": True},
                },
                "extraEnv": {
                    PASSWORD_ENV: {
                        "valueFrom": {"secretKeyRef": {"name": secret, "key": PASSWORD_KEY}}
                    }
                },
                "extraConfig": {"mlstack-password": config},
            }
        }
    }


def samples(facts: Facts, values: dict[str, Any]) -> tuple[Sample, ...]:
    """`make smoke`: the hub answers `GET /hub/health` with 200 through the gateway on its
    own host (over HTTPS where the env serves TLS, like the models)."""
    return (
        Sample(
            HUB,
            RELEASE,
            "health",
            "apps/v1",
            "Deployment",
            facts.gateway.address,
            host=facts.jupyter_host,
            request=Request("/hub/health", "GET"),
            https=facts.env.tls.enabled,
        ),
    )


def user_pods(values: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    """The user pod KubeSpawner creates at spawn time, from the upstream chart's effective
    values (its defaults under ours), as z2jh 4.4.0 files/hub/jupyterhub_config.py maps
    them: `uid` -> the notebook's runAsUser, `fsGid` -> fsGroup, `allowPrivilegeEscalation`,
    `initContainers`/`extraContainers`, `cloudMetadata.blockWithIptables` -> the privileged
    block-cloud-metadata init container, storage and `extraVolumes`, `extraPodConfig` over
    the pod spec. What Pod Security reads, not every field KubeSpawner writes."""
    single = values.get("singleuser") or {}
    context: dict[str, Any] = {"allowPrivilegeEscalation": single.get("allowPrivilegeEscalation")}
    if single.get("uid") is not None:
        context["runAsUser"] = single["uid"]
    notebook = {"name": "notebook", "image": "singleuser", "securityContext": context}
    init = list(single.get("initContainers") or [])
    metadata = single.get("cloudMetadata") or {}
    if metadata.get("blockWithIptables") is True:
        init.append(
            {
                "name": "block-cloud-metadata",
                "image": "network-tools",
                "securityContext": {
                    "privileged": True,
                    "runAsUser": 0,
                    "capabilities": {"add": ["NET_ADMIN"]},
                },
            }
        )
    storage = single.get("storage") or {}
    volumes = list(storage.get("extraVolumes") or [])
    if storage.get("type", "dynamic") == "dynamic":
        volumes.insert(0, {"name": "volume", "persistentVolumeClaim": {"claimName": "claim"}})
    spec: dict[str, Any] = {
        "securityContext": {"fsGroup": single["fsGid"]} if single.get("fsGid") is not None else {},
        "initContainers": init,
        "containers": [notebook, *(single.get("extraContainers") or [])],
        "volumes": volumes,
    }
    spec.update(single.get("extraPodConfig") or {})
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "jupyter-user"}, "spec": spec}
    return (pod,)
