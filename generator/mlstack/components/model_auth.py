"""Authentication in front of the models: JWT checked at the Istio ingress gateway.

On where environment.yaml sets `auth.enabled: true`. Its own release after istio-gateway
(the Istio CRDs and the pods it selects), knative-serving (the Gateway Dex is published
on) and, with the bundled issuer, dex. Objects, all in the gateway's namespace:

- RequestAuthentication: tokens from the env's OIDC issuer (any issuer URL + JWKS, e.g.
  Cognito, Okta; or the bundled Dex) are validated on the gateway's pods;
- AuthorizationPolicy (DENY): a request without a valid token is refused, except the
  health and readiness paths (`auth.openPaths`) and the hosts of the platform's own web
  apps, which log users in themselves: Dex (where clients get their tokens) and
  JupyterHub (its own login, through Dex where it is bundled);
- VirtualService (bundled Dex only): `dex.<domain>` on Knative's ingress gateway -> Dex.

Every name is derived (gateway pod labels and namespace, issuer, audiences, Dex's host and
Service) from the same facts the other components use; nothing is typed twice.
"""

from __future__ import annotations

from typing import Annotated, Any

from constructs import Construct
from pydantic import Field

from mlstack.environments import OPEN_PATHS
from mlstack.lib.component import spec_object
from mlstack.lib.facts import DEX_PORT, Facts
from mlstack.lib.fields import DnsLabel, DnsName, Labels, Port
from mlstack.lib.model import Values
from mlstack.lib.slots import slot

_URL = r"^https?://[^\s]+$"
REQUEST_AUTHENTICATION = "model-jwt"
AUTHORIZATION_POLICY = "model-require-jwt"


class Jwt(Values):
    issuer: str = Field(
        "http://dex.example.com/dex", pattern=_URL, description="Tokens' iss (derived)."
    )
    jwks_uri: str = Field(
        f"http://dex.dex.svc.cluster.local:{DEX_PORT}/dex/keys",
        pattern=_URL,
        description="Where istiod fetches the signing keys (derived).",
    )
    audiences: list[str] = Field(
        default_factory=list, description="Accepted audiences; empty: any (derived)."
    )


class DexRoute(Values):
    enabled: bool = Field(False, description="Publish the bundled Dex through the gateway.")
    host: DnsName = Field("dex.example.com", description="Dex's host name (dex.<domain>).")
    gateway: str = Field(
        "knative-serving/knative-ingress-gateway", description="Istio Gateway it is bound to."
    )
    service: DnsName = Field(
        "dex.dex.svc.cluster.local", description="FQDN of Dex's Service (derived)."
    )
    port: Port = Field(DEX_PORT, description="Dex's HTTP port (derived).")


class ModelAuthValues(Values):
    namespace: DnsLabel = Field("istio-system", description="The gateway's namespace (derived).")
    selector: Labels = Field(
        default_factory=dict,
        json_schema_extra={"minProperties": 1},
        description="Pod labels of the Istio ingress gateway (derived).",
    )
    jwt: Jwt = Field(default_factory=Jwt, description="The accepted issuer.")
    open_paths: list[Annotated[str, Field(pattern=r"^/\S*$")]] = Field(
        default_factory=lambda: list(OPEN_PATHS),
        description="Paths reachable without a token (environment.yaml auth.openPaths).",
    )
    open_hosts: list[str] = Field(
        default_factory=list,
        description="Hosts reachable without a token: the bundled Dex's, JupyterHub's (derived).",
    )
    dex: DexRoute = Field(default_factory=DexRoute, description="The bundled Dex's route.")


class ModelAuth(Construct):
    def __init__(self, scope: Construct, id: str = "model-auth") -> None:
        super().__init__(scope, id)
        api = "security.istio.io/v1"
        selector = {"matchLabels": slot("selector")}
        rule = {
            "issuer": slot("jwt.issuer"),
            "jwksUri": slot("jwt.jwksUri"),
            "audiences": slot("jwt.audiences"),
            "forwardOriginalToken": True,
        }
        authn = {"selector": selector, "jwtRules": [rule]}
        ns = slot("namespace")
        kind = "RequestAuthentication"
        spec_object(self, "jwt", api, kind, REQUEST_AUTHENTICATION, authn, namespace=ns)
        deny = {
            "selector": selector,
            "action": "DENY",
            "rules": [
                {
                    "from": [{"source": {"notRequestPrincipals": ["*"]}}],
                    "to": [
                        {
                            "operation": {
                                "notPaths": slot("openPaths"),
                                "notHosts": slot("openHosts"),
                            }
                        }
                    ],
                }
            ],
        }
        kind = "AuthorizationPolicy"
        spec_object(self, "require-jwt", api, kind, AUTHORIZATION_POLICY, deny, namespace=ns)
        route = {
            "hosts": [slot("dex.host")],
            "gateways": [slot("dex.gateway")],
            "http": [
                {
                    "route": [
                        {
                            "destination": {
                                "host": slot("dex.service"),
                                "port": {"number": slot("dex.port")},
                            }
                        }
                    ]
                }
            ],
        }
        spec_object(
            self, "dex-route", "networking.istio.io/v1", "VirtualService", "dex", route,
            when="dex.enabled", namespace=ns,
        )  # fmt: skip


def derive(facts: Facts) -> dict[str, Any]:
    auth = facts.env.auth
    bundled = auth.issuer is None  # derive runs where auth is on (chart defaults: Dex)
    # Browsers send the bare host; other clients may add the port.
    open_hosts = [h for host in facts.web_hosts for h in (host, f"{host}:*")]
    return {
        "namespace": facts.gateway.namespace,
        "selector": dict(facts.gateway.pod_labels),
        "jwt": {
            "issuer": facts.auth_issuer,
            "jwksUri": facts.auth_jwks_uri,
            "audiences": facts.auth_audiences,
        },
        "openPaths": list(auth.open_paths),
        "openHosts": open_hosts,
        "dex": {
            "enabled": bundled,
            "host": facts.dex_host,
            "gateway": facts.gateway.knative_gateway,
            "service": facts.dex_service,
            "port": facts.dex_port,
        },
    }
