"""The gateway's certificate: cert-manager issuers and a Certificate for `*.<domain>`.

On where environment.yaml `tls.mode` is `self-signed` or `acme` (with `secret` the user
brings the secret; with `off` there is none). Its own release right after cert-manager,
whose CRDs and webhook must serve first, and before knative-serving and seldon-gateway,
whose gateways serve the secret it writes: the install waits for the Certificate (and its
issuers) to be Ready, so the gateways never point at a missing secret.

- self-signed: a self-signed Issuer signs a CA Certificate, a CA Issuer signs the gateway
  certificate; cert-manager copies the CA into the served secret's `ca.crt`, which is what
  `make smoke` trusts. All three live in the gateway's namespace: nothing cluster-wide.
- acme: a ClusterIssuer (ambient credentials, i.e. IRSA for Route53, are only honoured for
  ClusterIssuers by default) with the env's solver: HTTP-01 through the Istio gateway (an
  Ingress of class istio that istiod serves on our gateway, see components/istiod.py) for
  listed host names, or DNS-01 in Route53 for `*.<domain>`.

Every name the consumers need is derived: the secret name (environment.yaml
`tls.secretName`, the same fact knative-serving and seldon-gateway serve), the namespace
(the gateway's), and the DNS names (from the one domain; with `domain: auto` the install
step rewrites them for `<ip>.sslip.io` like every other domain-derived value).
"""

from __future__ import annotations

from typing import Annotated, Any

from constructs import Construct
from pydantic import Field

from mlstack.environments import LETSENCRYPT
from mlstack.lib.component import spec_object
from mlstack.lib.facts import INGRESS_CLASS, Facts
from mlstack.lib.fields import DnsLabel, DnsSubdomain
from mlstack.lib.model import Values
from mlstack.lib.slots import slot

API = "cert-manager.io/v1"
_DNS_NAME = r"^(\*\.)?([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: Names of the objects this chart creates (fixed: nothing else refers to them by hand).
SELF_SIGNED = "mlstack-selfsigned"
CA = "mlstack-ca"
ACME = "mlstack-acme"


class IssuerRef(Values):
    name: DnsSubdomain = Field(CA, description="Issuer of the gateway certificate.")
    kind: str = Field(
        "Issuer", pattern="^(Issuer|ClusterIssuer)$", description="Issuer or ClusterIssuer."
    )


class SelfSigned(Values):
    enabled: bool = Field(True, description="Create the self-signed CA and its Issuer.")


class Acme(Values):
    enabled: bool = Field(False, description="Create the ACME ClusterIssuer.")
    email: str = Field("", description="ACME account e-mail (environment.yaml tls.acme).")
    server: str = Field(LETSENCRYPT, pattern="^https://", description="ACME directory URL.")
    solvers: list[dict[str, Any]] = Field(
        default_factory=list, description="cert-manager ACME solvers (derived from the env)."
    )


class GatewayTlsValues(Values):
    namespace: DnsLabel = Field("istio-system", description="The gateway's namespace (derived).")
    secret_name: DnsSubdomain = Field(
        "knative-ingress-tls",
        description="Secret the gateways serve (environment.yaml tls.secretName).",
    )
    dns_names: list[Annotated[str, Field(pattern=_DNS_NAME)]] = Field(
        default_factory=lambda: ["*.example.com", "example.com"],
        json_schema_extra={"minItems": 1},
        description="Names the certificate covers (derived from the domain).",
    )
    issuer: IssuerRef = Field(default_factory=IssuerRef, description="Who signs it.")
    self_signed: SelfSigned = Field(default_factory=SelfSigned, description="tls.mode self-signed.")
    acme: Acme = Field(default_factory=Acme, description="tls.mode acme.")


class GatewayTls(Construct):
    def __init__(self, scope: Construct, id: str = "gateway-tls") -> None:
        super().__init__(scope, id)
        self_signed, ns = "selfSigned.enabled", slot("namespace")
        ca_cert = {
            "isCA": True,
            "commonName": "mlstack CA",
            "secretName": CA,
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": {"name": SELF_SIGNED, "kind": "Issuer", "group": "cert-manager.io"},
        }
        for oid, kind, name, spec in (
            ("selfsigned-issuer", "Issuer", SELF_SIGNED, {"selfSigned": {}}),
            ("ca-certificate", "Certificate", CA, ca_cert),
            ("ca-issuer", "Issuer", CA, {"ca": {"secretName": CA}}),
        ):
            spec_object(self, oid, API, kind, name, spec, when=self_signed, namespace=ns)
        acme = {
            "acme": {
                "email": slot("acme.email"),
                "server": slot("acme.server"),
                "privateKeySecretRef": {"name": f"{ACME}-account"},
                "solvers": slot("acme.solvers"),
            }
        }
        spec_object(self, "acme-issuer", API, "ClusterIssuer", ACME, acme, when="acme.enabled")
        certificate = {
            "secretName": slot("secretName"),
            "dnsNames": slot("dnsNames"),
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "issuerRef": {
                "name": slot("issuer.name"),
                "kind": slot("issuer.kind"),
                "group": "cert-manager.io",
            },
        }
        spec_object(self, "certificate", API, "Certificate", "gateway", certificate, namespace=ns)


def solvers(facts: Facts) -> list[dict[str, Any]]:
    acme = facts.env.tls.acme
    if acme is None:
        return []
    if acme.route53 is not None and acme.solver == "route53":
        zone = acme.route53
        route53 = {"region": zone.region, "hostedZoneID": zone.hosted_zone_id}
        return [{"selector": {"dnsZones": [facts.domain]}, "dns01": {"route53": route53}}]
    return [{"http01": {"ingress": {"ingressClassName": INGRESS_CLASS}}}]


def dns_names(facts: Facts) -> list[str]:
    """`*.<domain>` and the bare domain; with HTTP-01 (ACME issues wildcards only by
    DNS-01) the listed hosts and the platform's own web apps' (Dex, JupyterHub)."""
    acme = facts.env.tls.acme
    if acme is not None and acme.solver == "http01":
        return list(dict.fromkeys([*acme.hosts, *facts.web_hosts]))
    return [f"*.{facts.domain}", facts.domain]


def derive(facts: Facts) -> dict[str, Any]:
    tls = facts.env.tls
    acme = tls.mode == "acme"
    return {
        "namespace": facts.gateway.namespace,
        "secretName": tls.secret_name,
        "dnsNames": dns_names(facts),
        "issuer": {"name": ACME, "kind": "ClusterIssuer"}
        if acme
        else {"name": CA, "kind": "Issuer"},
        "selfSigned": {"enabled": not acme},
        "acme": {
            "enabled": acme,
            "email": tls.acme.email if tls.acme else "",
            "server": tls.acme.server if tls.acme else LETSENCRYPT,
            "solvers": solvers(facts),
        },
    }
