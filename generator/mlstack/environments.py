"""Environments are data: `values/<env>/environment.yaml`, one folder per environment.

A platform team adds an environment by copying a folder (`cp -r values/k3d values/lab`)
and editing its `environment.yaml`; no Python changes. This module is the strict model of
that file (unknown keys refused, JSON schema generated from it, README documents it) and
the loader that lists the folders. It knows nothing of components or charts: which
releases an environment enables and the facts derived from it are decided once, in
`mlstack.resolve`.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import json
import re
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from mlstack import REPO_ROOT
from mlstack.errors import UserError, brief
from mlstack.lib import yamlfile
from mlstack.lib.fields import DNS_LABEL, DNS_NAME, DnsLabel, DnsName, DnsSubdomain

VALUES_DIR = REPO_ROOT / "values"
#: The file that makes a folder of values/ an environment.
FILE = "environment.yaml"
#: The committed JSON schema of FILE (editors validate with it; `make check` keeps it fresh).
SCHEMA_FILE = "environment.schema.json"
DEFAULT_ENV = "k3d"
#: `domain: auto`: the install step resolves `<gateway-lb-ip>.sslip.io`.
AUTO = "auto"
MAGIC_DNS_SUFFIX = "sslip.io"
#: What rendered output carries for `domain: auto` until an install knows the address
#: (reached with a Host header; render and golden files stay reproducible without a cluster).
AUTO_PLACEHOLDER = "example.com"

#: A model's host is `<name>-<namespace>.<domain>` (one label of at most 63 before it), and
#: a host name is at most 253 characters: so the domain is at most 189.
MAX_DOMAIN = 253 - 64
#: host[:port][/path] of an image registry, without a scheme or trailing slash.
_REGISTRY = r"^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)*$"

SeldonMode = Literal["off", "istio", "ambassador"]
ClusterKind = Literal["k3d", "minikube", "eks", "simulated", "existing"]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        strict=True,
    )


TlsMode = Literal["off", "self-signed", "acme", "secret"]
#: Let's Encrypt's production ACME directory (the default `tls.acme.server`).
LETSENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
_HTTPS_URL = r"^https://[^\s]+$"
_URL = r"^https?://[^\s]+$"


#: Paths open without a token: the open inference (v2) protocol's health and readiness, and
#: /healthz, where net-istio's prober checks every route through the gateway's pods
#: (Knative marks an ingress Ready only after that probe answers). `{*}` is one path
#: segment (Istio path templates); v1's `/v1/models/<name>` is left out on purpose: a
#: segment template would also match `<name>:predict`.
OPEN_PATHS = ("/healthz", "/v2/health/live", "/v2/health/ready", "/v2/models/{*}/ready")


class Route53(_Strict):
    """DNS-01 through Route53; cert-manager's ServiceAccount assumes `role` by IRSA."""

    region: str = Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$", description="AWS region.")
    hosted_zone_id: str = Field(
        pattern=r"^[A-Z0-9]+$", description="ID of the Route53 hosted zone of the domain."
    )
    role: str = Field(
        pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$",
        description=(
            "IAM role ARN (IRSA) cert-manager's ServiceAccount is annotated with; it may "
            "change records in the hosted zone."
        ),
    )


class Acme(_Strict):
    """An ACME account (Let's Encrypt) and how it proves the domain."""

    email: str = Field(
        pattern=r"^[^@\s]+@[^@\s]+$", description="Account e-mail for expiry notices."
    )
    server: str = Field(LETSENCRYPT, pattern=_HTTPS_URL, description="ACME directory URL.")
    solver: Literal["http01", "route53"] = Field(
        "http01",
        description=(
            "http01: challenges answered through the Istio gateway (no wildcards: list the "
            "names in `hosts`); route53: DNS-01 in Route53, for *.<domain>."
        ),
    )
    hosts: list[DnsName] = Field(
        default_factory=list,
        description=(
            "http01 only: the model host names to certify (ACME issues wildcards only by "
            "DNS-01), e.g. sklearn-iris-models.<domain>; dex.<domain> and jupyter.<domain> "
            "are added where those apps are on."
        ),
    )
    route53: Route53 | None = Field(None, description="route53 only: zone, region and role.")

    @model_validator(mode="after")
    def _solver_settings(self) -> Acme:
        if self.solver == "route53" and self.route53 is None:
            raise ValueError("solver route53 needs route53: {region, hostedZoneId, role}")
        if self.solver != "route53" and self.route53 is not None:
            raise ValueError(
                f"route53 is set but solver is {self.solver}: set solver: route53 or remove "
                "route53 (cert-manager would get the IRSA role for nothing)"
            )
        if self.solver == "http01" and not self.hosts:
            raise ValueError(
                "solver http01 needs hosts: ACME issues *.<domain> only by DNS-01 (route53)"
            )
        return self


class Tls(_Strict):
    """HTTPS at the ingress gateway, and where its certificate comes from."""

    mode: TlsMode = Field(
        "off",
        description=(
            "off: plain HTTP; self-signed: a cert-manager CA made in the cluster signs "
            "*.<domain>; acme: Let's Encrypt (or `acme.server`) through cert-manager; "
            "secret: an existing secret `secretName` you provide."
        ),
    )
    secret_name: DnsLabel = Field(
        "knative-ingress-tls",
        description=(
            "TLS secret in the gateway's namespace the gateways serve (written by "
            "cert-manager, or yours with mode secret)."
        ),
    )
    acme: Acme | None = Field(None, description="mode acme: the ACME account and solver.")

    @property
    def enabled(self) -> bool:
        return self.mode != "off"

    @property
    def issued(self) -> bool:
        """cert-manager issues the certificate (self-signed or acme)."""
        return self.mode in ("self-signed", "acme")

    @model_validator(mode="after")
    def _acme_settings(self) -> Tls:
        if self.mode == "acme" and self.acme is None:
            raise ValueError("mode acme needs acme: {email, solver, ...}")
        if self.mode != "acme" and self.acme is not None:
            raise ValueError(f"acme: is only read with mode acme (mode is {self.mode})")
        return self


class DexUser(_Strict):
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$", description="Login e-mail.")
    username: DnsLabel = Field(description="User name; also the key of its hash in usersSecret.")


class Dex(_Strict):
    """The bundled Dex: static users whose password hashes live in a Secret you create."""

    users_secret: DnsSubdomain = Field(
        "dex-users",
        description=(
            "Secret in Dex's namespace you create (never in Git): key client-secret (the "
            "OAuth client's secret) and one key per user, <username>, holding its bcrypt hash."
        ),
    )
    client_id: DnsLabel = Field("mlstack", description="OAuth client id; the tokens' audience.")
    users: list[DexUser] = Field(
        default_factory=lambda: [DexUser(email="admin@example.com", username="admin")],
        min_length=1,
        description="Static users (e-mail and user name; hashes come from usersSecret).",
    )


class Auth(_Strict):
    """JWT authentication in front of the models, at the Istio ingress gateway."""

    enabled: bool = Field(False, description="Require a JWT for model hosts.")
    issuer: str | None = Field(
        None,
        pattern=_URL,
        description=(
            "OIDC issuer URL (the tokens' iss), e.g. Cognito or Okta; unset: the bundled "
            "Dex at <scheme>://dex.<domain>/dex."
        ),
    )
    jwks_uri: str | None = Field(
        None, pattern=_URL, description="JWKS URL of `issuer` (required with `issuer`)."
    )
    audiences: list[str] = Field(
        default_factory=list,
        description="Accepted token audiences; empty: any (bundled Dex: its client id).",
    )
    open_paths: list[Annotated[str, Field(pattern=r"^/\S*$")]] = Field(
        default_factory=lambda: list(OPEN_PATHS),
        description="Paths reachable without a token (health and readiness probes).",
    )
    dex: Dex = Field(default_factory=Dex, description="The bundled Dex (no `issuer`).")

    @property
    def bundled_dex(self) -> bool:
        return self.enabled and self.issuer is None

    @model_validator(mode="after")
    def _issuer_settings(self) -> Auth:
        if (self.issuer is None) != (self.jwks_uri is None):
            raise ValueError("give issuer and jwksUri together (or neither: the bundled Dex)")
        return self


class Environment(_Strict):
    """The model of `values/<env>/environment.yaml` (camelCase keys, unknown keys refused)."""

    name: str = Field(
        "", exclude=True, description="The folder name (set by the loader, not in the file)."
    )
    description: str = Field(min_length=1, description="One line: what this environment is.")
    cluster: ClusterKind = Field(
        description=(
            "Which driver `make cluster ENV=<env>` uses: k3d, minikube or eks (config in "
            "`clusterConfig`), simulated (a real control plane on loopback with KWOK nodes, "
            "no Docker: CI), or existing (bring your own cluster; the current kube context)."
        )
    )
    cluster_config: str | None = Field(
        None,
        description=(
            "Cluster definition for the driver, relative to the repository; default "
            "platform/<cluster>.yaml. Unused for cluster: existing."
        ),
    )
    kubernetes: str = Field(
        pattern=r"^1\.[0-9]+$",
        description=(
            'Kubernetes minor the clusters run, e.g. "1.35"; checked against every '
            "enabled component's supported range in data/versions.yaml."
        ),
    )
    load_balancer: Literal["metallb", "cloud"] = Field(
        description=(
            "How LoadBalancer Services get an address: metallb (installed, pool from the "
            "cluster's network) or cloud (the provider's load balancers, e.g. AWS NLB)."
        )
    )
    domain: str = Field(
        pattern=f"^auto$|{DNS_NAME}",
        max_length=MAX_DOMAIN,
        description=(
            "DNS domain models are served under (Knative config-domain, KServe, smoke), or "
            "`auto`: <gateway-lb-ip>.sslip.io, resolved by the install step."
        ),
    )
    tls: Tls = Field(default_factory=Tls, description="TLS at the ingress gateway.")
    auth: Auth = Field(default_factory=Auth, description="JWT authentication for model hosts.")
    seldon: SeldonMode = Field(
        "off",
        description=(
            "Seldon Core v1: off, istio (publishes through the Istio gateway via the "
            "seldon-gateway release) or ambassador (through Emissary, which it turns on)."
        ),
    )
    image_registry: str = Field(
        "",
        pattern=_REGISTRY,
        description=(
            "Air-gapped clusters: the registry (host[:port][/path]) every image is pulled "
            "from, ours and the upstream charts' (their registry values are derived from "
            "it); `make images ENV=<env>` lists what to mirror. Empty: each image's own."
        ),
    )
    image_pull_secrets: list[DnsSubdomain] = Field(
        default_factory=list,
        description=(
            "Names of docker-registry Secrets (created by you in each namespace) that "
            "every pod pulls its images with, e.g. [registry-credentials]."
        ),
    )
    components: dict[str, bool] = Field(
        default_factory=dict,
        description=(
            "Optional components switched on (true) or default ones switched off (false), "
            "by the keys `make envs` lists, e.g. {emissary: true, models: false}."
        ),
    )

    @property
    def auto_domain(self) -> bool:
        return self.domain == AUTO

    def shown(self, values_dir: Path = VALUES_DIR) -> str:
        """Where this environment is defined, as users see the path."""
        return yamlfile.shown(values_dir / self.name / FILE)


#: Values of the committed EKS example that stand for the user's own: render, GitOps and
#: the dry run accept them (the example must render), a real install refuses them. Each is
#: (dotted key, what is wrong with the value, what to set instead).
PLACEHOLDERS: tuple[tuple[str, Callable[[str], bool], str], ...] = (
    (
        "domain",
        lambda v: bool(re.search(r"(^|\.)example\.(com|org|net)$", v)),
        "your domain (example.com/.org/.net are reserved: nobody's DNS points there)",
    ),
    (
        "tls.acme.route53.hostedZoneId",
        lambda v: v.endswith("EXAMPLE"),
        "your Route53 hosted zone's ID (aws route53 list-hosted-zones)",
    ),
    (
        "tls.acme.route53.role",
        lambda v: ":123456789012:" in v,
        "the ARN of your IAM role in your AWS account (123456789012 is AWS's documentation one)",
    ),
)


def placeholders(env: Environment, values_dir: Path = VALUES_DIR) -> list[str]:
    """One line per example placeholder the environment still carries (file, key, fix)."""
    found = []
    data = env.model_dump(by_alias=True)
    for key, is_placeholder, fix in PLACEHOLDERS:
        node: Any = data
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, str) and is_placeholder(node):
            found.append(f"{env.shown(values_dir)}: {key}: {node} is the example's: set {fix}")
    return found


def magic_dns_domain(lb_ip: str) -> str:
    """`<lb-ip>.sslip.io`: a wildcard DNS name resolving to the gateway's address."""
    try:
        address = ipaddress.ip_address(lb_ip)
    except ValueError:
        raise UserError(
            f"load-balancer address {lb_ip!r} is not an IP address: cannot build a "
            f"{MAGIC_DNS_SUFFIX} domain"
        ) from None
    # sslip.io spells IPv6 addresses with dashes instead of colons.
    label = str(address) if address.version == 4 else str(address).replace(":", "-")
    return f"{label}.{MAGIC_DNS_SUFFIX}"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    """The model of the mapping at `loc` (aliases), to list the keys a user may write there."""
    model: type[BaseModel] = Environment
    for part in loc:
        by_alias = {f.alias or n: f for n, f in model.model_fields.items()}
        field = by_alias.get(str(part))
        inner = (
            [a for a in typing.get_args(field.annotation) if isinstance(a, type)] if field else []
        )
        found = [t for t in [field.annotation if field else None, *inner] if isinstance(t, type)]
        nested = [t for t in found if issubclass(t, BaseModel)]
        if not nested:
            break
        model = nested[0]
    return model


def _problem(path: Path, err: ValidationError) -> str:
    """One line for the first problem, an unknown key before any other: a misspelt
    required key (`domian:`) also leaves that key missing, and the typo is the cause."""
    errors = err.errors()
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    if first["type"] == "extra_forbidden":
        fields = _model_at(first["loc"][:-1]).model_fields.items()
        valid = sorted(f.alias or n for n, f in fields if n != "name")
        close = difflib.get_close_matches(str(first["loc"][-1]), valid, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        return f"{yamlfile.shown(path)}: {key}: unknown key: {hint}use one of {', '.join(valid)}"
    if first["type"] == "string_pattern_mismatch" and len(str(first["ctx"]["pattern"])) > 40:
        # A long grammar says nothing to users; the key's own description says what fits.
        name = str(first["loc"][-1])
        model = _model_at(first["loc"][:-1]).model_fields
        by_alias = {f.alias or n: f for n, f in model.items()}
        described = (by_alias[name].description or "") if name in by_alias else ""
        what = f": {described.rstrip('.')}" if described else ""
        return f"{yamlfile.shown(path)}: {key}: {brief(first['input'])} is malformed{what}"
    return f"{yamlfile.shown(path)}: {key}: {first['msg']}"


def insecure_edge(env: Environment) -> str | None:
    """Why `env` combines settings whose entry point cannot be secured (None: it does not).

    Seldon's ambassador mode publishes models through Emissary's own public Service.
    Emissary OSS checks no JWT (its JWT Filter is an Ambassador Edge Stack feature: the
    emissary-crds 4.1.0 chart defines no Filter or FilterPolicy kind, only AuthService, an
    external authorization service the platform does not provide) and
    the platform gives it no Host or TLSContext with the gateway's certificate: with auth or
    TLS on, models would answer there without a token, over plain HTTP. Istio mode puts the
    same SeldonDeployments behind the gateway's token check and certificate.
    """
    if env.seldon != "ambassador" or not (env.auth.enabled or env.tls.enabled):
        return None
    on = ["auth.enabled: true"] if env.auth.enabled else []
    on += [f"tls.mode: {env.tls.mode}"] if env.tls.enabled else []
    open_ = ["without a token"] if env.auth.enabled else []
    open_ += ["over plain HTTP"] if env.tls.enabled else []
    return (
        f"seldon: ambassador with {' and '.join(on)} is refused: Emissary OSS has no JWT "
        "check and does not serve the gateway's certificate, so models would answer on its "
        f"public address {' and '.join(open_)}; set seldon: istio (Seldon behind the Istio "
        "gateway's token check and TLS)"
    )


def parse(name: str, data: Any, path: Path) -> Environment:
    """`data` (a YAML document) as the environment `name`; one line naming file and key.
    Combinations no single key's schema can refuse (insecure_edge) are refused here too,
    so generate, render, install and smoke all stop before anything is written."""
    if not isinstance(data, dict):
        raise UserError(f"{yamlfile.shown(path)}: top level must be a mapping of settings")
    if "name" in data:
        raise UserError(
            f"{yamlfile.shown(path)}: name: unknown key: the environment's name is its folder"
        )
    try:
        env = Environment.model_validate({**data, "name": name})
    except ValidationError as err:
        raise UserError(_problem(path, err)) from None
    problem = insecure_edge(env)
    if problem:
        raise UserError(f"{yamlfile.shown(path)}: {problem}")
    return env


@functools.cache
def _load(path: Path, stamp: float) -> Environment:
    return parse(path.parent.name, yamlfile.read(path), path)


def load(name: str, values_dir: Path = VALUES_DIR) -> Environment:
    """The environment defined by `values_dir/<name>/environment.yaml`."""
    if not re.fullmatch(DNS_LABEL, name):  # a name, never a path (../x, x/, ./x)
        raise UserError(
            f"{name!r} is not an environment name: use the folder name under "
            f"{yamlfile.shown(values_dir)}/ (lower-case letters, digits and '-')"
        )
    path = values_dir / name / FILE
    if path.is_symlink() and not path.is_file():
        yamlfile.read_bytes(path)  # a dangling or looping link: names it in one line
    if not path.is_file():
        known = ", ".join(sorted(p.parent.name for p in values_dir.glob(f"*/{FILE}"))) or "none"
        raise UserError(
            f"unknown environment {name!r}: no {yamlfile.shown(path)} (environments: {known}); "
            f"create one by copying a folder, e.g. cp -r values/{DEFAULT_ENV} values/{name}"
        )
    _check_subfolders(path.parent)
    return _load(path, path.stat().st_mtime)


def names(values_dir: Path = VALUES_DIR) -> list[str]:
    """Every environment: the folders of values/ that hold an environment.yaml.

    A folder that cannot be an environment is named, not skipped: one without
    environment.yaml (a stale `values/k3d-prod/`), one whose name is not an environment
    name (`my env`), and an environment.yaml or `local`/`generated` entry of the wrong kind.
    """
    if not values_dir.is_dir():
        return []
    found = []
    for folder in sorted(values_dir.iterdir()):
        if folder.name.startswith(".") or not folder.is_dir():
            continue  # the schema file, hidden leftovers of interrupted runs
        where = yamlfile.shown(folder)
        env_file = folder / FILE
        if not env_file.exists() and not env_file.is_symlink():
            raise UserError(
                f"{where}/: a folder under values/ without {FILE}: add one (cp "
                f"values/{DEFAULT_ENV}/{FILE} {where}/) or move the folder out of values/"
            )
        if not re.fullmatch(DNS_LABEL, folder.name):
            raise UserError(
                f"{where}/: {folder.name!r} is not an environment name: rename the folder "
                "(lower-case letters, digits and '-')"
            )
        _check_subfolders(folder)
        found.append(folder.name)
    return found


def _check_subfolders(folder: Path) -> None:
    """`local/` and `generated/` are folders: a file of that name would be ignored."""
    for sub in ("local", "generated"):
        entry = folder / sub
        if (entry.exists() or entry.is_symlink()) and not entry.is_dir():
            raise UserError(
                f"{yamlfile.shown(entry)}: must be a folder (of {sub} values files): move the file"
            )


def json_schema() -> str:
    """values/environment.schema.json: draft-07, closed objects, generated from the model."""
    raw = Environment.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    raw["properties"].pop("name", None)

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(defs[node["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in node.items() if k != "title"}
        return [inline(v) for v in node] if isinstance(node, list) else node

    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$comment": "Generated by mlstack from generator/mlstack/environments.py. DO NOT EDIT.",
        "title": "mlstack environment (values/<env>/environment.yaml)",
        **inline(raw),
    }
    return json.dumps(schema, indent=2) + "\n"
