"""The team's model catalogue: one object per entry of four lists in values.

Every environment; installed last, after the serving operators and their runtimes.
`values/<env>/models.yaml` lists the models (keys as KServe, Seldon and Knative name them):

- `inferenceServices`: KServe InferenceServices (model format, storage URI, runtime,
  protocol, autoscaling bounds, resources, service account, canary, logger, env);
- `seldonDeployments`: Seldon Core v1 SeldonDeployments with a prepackaged server (only
  where the environment's `seldon:` mode enables Seldon);
- `knativeServices`: plain Knative Services (an image answering HTTP);
- `plainServers`: bring-your-own-image servers with no operator: a Deployment
  (RollingUpdate, 25% surge/unavailable) behind a Service on port 80 (ClusterIP unless
  `serviceType: LoadBalancer`, refused where auth or TLS is on: it would bypass the
  gateway's token check and certificate) and a NetworkPolicy opening its port.

Every pod we write is hardened for the `models` namespace, which enforces the
`restricted` Pod Security level (components/namespaces.py): no service-account token,
non-root, seccomp RuntimeDefault; plain servers also run on a read-only root filesystem
with probes (lib/podsecurity.py). Knative Services get the same from Knative's
`secure-pod-defaults` (components/knative_serving.py). With an `imageRegistry` in
environment.yaml, an entry's image must already be under it (generate says the name).

The shipped samples are default entries of these lists (sklearn-iris on the v2 protocol,
Seldon iris, mnist on TensorFlow v1 with request logging, helloworld-go), each with an
`enabled` switch: examples of the format, not special code. A list written in an env's
values file replaces the default list (Helm replaces lists whole).

Each entry may carry the `request` `make smoke` sends it (path, body, expected answer);
otherwise smoke sends its protocol's default. Generate checks what no schema can: the
format/protocol against the runtimes the env enables (`Facts.runtimes`), names unique per
namespace, Seldon entries only where Seldon is on.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from constructs import Construct
from pydantic import Field, field_serializer, model_validator
from pydantic.json_schema import SkipJsonSchema

from mlstack import versions
from mlstack.errors import UserError
from mlstack.lib import fields, helmtest, mirror, podsecurity
from mlstack.lib import samples as sample_requests
from mlstack.lib.catalogue import Choose, Each, Format, Key, Merged, Root, ToJson, optional
from mlstack.lib.facts import Facts
from mlstack.lib.fields import DnsLabel, DnsSubdomain, ImageRef, Port, Replicas
from mlstack.lib.model import Values
from mlstack.lib.resources import Ordered, Quantity
from mlstack.lib.samples import Request, Sample

NAMESPACE = "models"
SELDON = "seldon-core-operator"
_URI = r"^(gs|s3|https?|pvc|hf|oci)://[^\s]+$"
#: DNS-1035 label: KServe and Knative names become Service names and host labels.
DNS_1035 = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"

Name = Annotated[str, Field(pattern=DNS_1035, max_length=63)]
Amount = Quantity | Annotated[int, Field(ge=0)]
# `SkipJsonSchema[None]`: optional in Python, but not `null` in values.schema.json (the
# template copies what is set; a null would reach the API server).
OptStr = str | SkipJsonSchema[None]
Path_ = Annotated[str, Field(pattern=r"^/")]


class RequestSpec(Values):
    """What `make smoke` sends an entry; unset keys take the protocol's default."""

    path: Path_ | SkipJsonSchema[None] = Field(
        None, description="Request path, e.g. /v1/models/x:predict."
    )
    method: Literal["GET", "POST"] | SkipJsonSchema[None] = Field(
        None, description="HTTP method (default POST with a body, GET without)."
    )
    body: dict[str, Any] | SkipJsonSchema[None] = Field(
        None, description="JSON request body (default: the protocol's iris request)."
    )
    expect_key: OptStr = Field(
        None, description="Dotted key the JSON answer must carry, e.g. outputs or data.ndarray."
    )
    expect_text: OptStr = Field(None, description="Text the answer must contain instead.")


class Resources(Ordered):
    """Container resources; requests may not exceed limits (the API server refuses it)."""

    requests: dict[str, Amount] | SkipJsonSchema[None] = Field(
        None, description="Requested per container (cpu, memory, nvidia.com/gpu, ...)."
    )
    limits: dict[str, Amount] | SkipJsonSchema[None] = Field(
        None, description="Limit per container."
    )


class EnvVar(Values):
    name: str = Field(pattern=r"^[-._a-zA-Z][-._a-zA-Z0-9]*$", description="Variable name.")
    value: str = Field(description="Value.")


class Logger(Values):
    mode: Literal["all", "request", "response"] = Field("all", description="What to log.")
    url: str = Field(pattern=r"^https?://", description="Where KServe sends the CloudEvents.")


class EntryBase(Values):
    """Keys every catalogue entry has."""

    enabled: bool = Field(True, description="Deploy this entry.")
    name: Name = Field(description="Object name (DNS-1035: lowercase, digits, '-').")
    namespace: DnsLabel | SkipJsonSchema[None] = Field(
        None, description="Namespace (default: the release's)."
    )
    annotations: dict[str, str] | SkipJsonSchema[None] = Field(
        None, description="Annotations of the object."
    )
    request: RequestSpec | SkipJsonSchema[None] = Field(
        None, description="The request `make smoke` sends (default: the protocol's)."
    )


class InferenceServiceEntry(EntryBase):
    model_format: str = Field(
        pattern=r"^[a-z][a-z0-9-]*$",
        description="sklearn, xgboost, lightgbm, tensorflow, pytorch, onnx, triton, "
        "huggingface, pmml, paddle, mlflow, ...",
    )
    storage_uri: str = Field(
        pattern=_URI, description="gs://, s3://, https://, pvc://<claim>/<path>, hf:// or oci://"
    )
    runtime: OptStr = Field(None, description="ClusterServingRuntime (default: KServe picks).")
    protocol_version: Literal["v1", "v2"] | SkipJsonSchema[None] = Field(
        None, description="Inference protocol (KServe's default: v1)."
    )
    min_replicas: Replicas | SkipJsonSchema[None] = Field(
        None, description="Fewest pods (0: scale to zero)."
    )
    max_replicas: Replicas | SkipJsonSchema[None] = Field(None, description="Most pods.")
    scale_metric: Literal["cpu", "memory", "concurrency", "rps"] | SkipJsonSchema[None] = Field(
        None, description="Autoscaling metric."
    )
    scale_target: Annotated[int, Field(ge=1)] | SkipJsonSchema[None] = Field(
        None, description="Autoscaling target of the metric."
    )
    resources: Resources | SkipJsonSchema[None] = Field(None, description="Container resources.")
    service_account_name: DnsSubdomain | SkipJsonSchema[None] = Field(
        None,
        description="ServiceAccount with the storage credentials (S3/GCS secrets).",
    )
    canary_traffic_percent: Annotated[int, Field(ge=0, le=100)] | SkipJsonSchema[None] = Field(
        None, description="Share of traffic for the latest revision (canary)."
    )
    env: list[EnvVar] | SkipJsonSchema[None] = Field(None, description="Container environment.")
    logger: Logger | SkipJsonSchema[None] = Field(
        None, description="Request/response logging (CloudEvents to a URL)."
    )

    @model_validator(mode="after")
    def _checks(self) -> Self:
        if (
            self.min_replicas is not None
            and self.max_replicas is not None
            and self.min_replicas > self.max_replicas
        ):
            raise ValueError(
                f"minReplicas: {self.min_replicas} is above maxReplicas {self.max_replicas}: "
                "lower minReplicas or raise maxReplicas"
            )
        if self.storage_uri.startswith("pvc://"):
            claim = self.storage_uri.removeprefix("pvc://").split("/", 1)[0]
            if not re.match(fields.DNS_SUBDOMAIN, claim) or len(claim) > 253:
                raise ValueError(
                    f"storageUri: {claim!r} is not a PersistentVolumeClaim name (lowercase "
                    "letters, digits, '-' and '.'): use pvc://<claim>/<path>"
                )
        return self


class SeldonDeploymentEntry(EntryBase):
    implementation: str = Field(
        "SKLEARN_SERVER",
        pattern=r"^[A-Z][A-Z0-9_]*$",
        description="Prepackaged server: SKLEARN_SERVER, XGBOOST_SERVER, TENSORFLOW_SERVER, "
        "MLFLOW_SERVER, TRITON_SERVER, ...",
    )
    model_uri: str = Field(pattern=_URI, description="Where the model is (the server loads it).")
    replicas: Replicas | SkipJsonSchema[None] = Field(
        None, description="Predictor pods (default 1)."
    )


class RunAs(Values):
    run_as_user: Annotated[int, Field(ge=1)] = Field(
        description="Non-zero uid the container runs as (models enforces non-root)."
    )


class KnativeServiceEntry(EntryBase):
    image: ImageRef = Field(description="Container image answering HTTP.")
    port: Port | SkipJsonSchema[None] = Field(None, description="Container port (default 8080).")
    env: list[EnvVar] | SkipJsonSchema[None] = Field(None, description="Container environment.")
    resources: Resources | SkipJsonSchema[None] = Field(None, description="Container resources.")
    security_context: RunAs | SkipJsonSchema[None] = Field(
        None,
        description=(
            "For an image that runs as root or names its user (Kubernetes cannot then verify "
            "non-root and refuses it): the uid to run as. Knative's secure-pod-defaults adds "
            "the rest of the restricted settings."
        ),
    )


class PlainServerEntry(EntryBase):
    image: ImageRef = Field(description="Your model server image.")
    port: Port | SkipJsonSchema[None] = Field(
        None, description="Port it listens on (default 8080)."
    )
    replicas: Replicas | SkipJsonSchema[None] = Field(
        None, description="Pods behind the Service (default 1)."
    )
    resources: Resources | SkipJsonSchema[None] = Field(
        None, description="Container resources (default: requests 100m/256Mi, limits 1/1Gi)."
    )
    service_type: Literal["ClusterIP", "LoadBalancer"] | SkipJsonSchema[None] = Field(
        None,
        description="ClusterIP (default: reach it in-cluster or by port-forward) or "
        "LoadBalancer (its own public address).",
    )
    health_path: Path_ | SkipJsonSchema[None] = Field(
        None, description="HTTP path the liveness and readiness probes GET (default /)."
    )


#: The shipped samples: examples of the format, each switchable with `enabled`.
SAMPLE_INFERENCE_SERVICES = [
    {
        "name": "sklearn-iris",
        "modelFormat": "sklearn",
        "protocolVersion": "v2",
        "storageUri": "gs://kfserving-examples/models/sklearn/1.0/model",
    },
    {
        "enabled": False,
        "name": "mnist",
        "modelFormat": "tensorflow",
        "protocolVersion": "v1",
        "storageUri": "gs://kfserving-examples/models/tensorflow/mnist",
        "logger": {"mode": "all", "url": f"http://message-dumper.{NAMESPACE}.svc.cluster.local"},
    },
]
SAMPLE_SELDON_DEPLOYMENTS = [
    {
        "enabled": False,
        "name": "iris-model",
        "implementation": "SKLEARN_SERVER",
        "modelUri": "gs://seldon-models/v1.17.0-dev/sklearn/iris",
    }
]
SAMPLE_KNATIVE_SERVICES = [
    {
        "name": "helloworld-go",
        "image": "gcr.io/knative-samples/helloworld-go",
        "env": [{"name": "TARGET", "value": "Go Sample v1"}],
        # The image sets no USER (knative/docs code-samples/serving/hello-world/helloworld-go/
        # Dockerfile: alpine, CMD /server; a later variant names `appuser`, uid 1001): root,
        # which runAsNonRoot refuses. Its server (mode 0755, port 8080) runs as any uid.
        "securityContext": {"runAsUser": 1001},
        "request": {"path": "/", "method": "GET", "expectText": "Hello Go Sample v1!"},
    },
    {
        "enabled": False,
        "name": "message-dumper",
        "image": "gcr.io/knative-releases/knative.dev/eventing-contrib/cmd/event_display",
        "request": {"path": "/", "method": "POST", "body": {}},
    },
]


def _curl() -> str:
    return versions.load().images["curl"].ref


class Tests(Values):
    image: ImageRef = Field(
        default_factory=_curl,
        description="Image of the `helm test` Pods that call each enabled entry in-cluster.",
    )


class ModelsValues(Values):
    image_pull_secrets: list[dict[str, str]] = mirror.pull_secrets_field()
    inference_services: list[InferenceServiceEntry] = Field(
        default_factory=lambda: [
            InferenceServiceEntry.model_validate(d) for d in SAMPLE_INFERENCE_SERVICES
        ],
        description="KServe InferenceServices, one per entry.",
    )
    seldon_deployments: list[SeldonDeploymentEntry] = Field(
        default_factory=lambda: [
            SeldonDeploymentEntry.model_validate(d) for d in SAMPLE_SELDON_DEPLOYMENTS
        ],
        description="Seldon Core v1 SeldonDeployments (where the environment enables Seldon).",
    )
    knative_services: list[KnativeServiceEntry] = Field(
        default_factory=lambda: [
            KnativeServiceEntry.model_validate(d) for d in SAMPLE_KNATIVE_SERVICES
        ],
        description="Plain Knative Services (an image answering HTTP).",
    )
    plain_servers: list[PlainServerEntry] = Field(
        default_factory=list,
        description="Bring-your-own-image servers: Deployment + Service on port 80.",
    )
    tests: Tests = Field(default_factory=Tests, description="`helm test` of the catalogue.")

    @field_serializer(
        "inference_services", "seldon_deployments", "knative_services", "plain_servers"
    )
    def _set_keys_only(self, entries: list[Values]) -> list[dict[str, Any]]:
        """values.yaml lists what an entry sets, never nulls (the template copies keys)."""
        return [e.model_dump(by_alias=True, exclude_none=True, mode="json") for e in entries]


# --- the objects: one per entry ------------------------------------------------------------

_METADATA = {"name": Key("name"), **optional("namespace", "annotations")}
_PULL = Root("Values.imagePullSecrets")
#: Pod-level settings every pod we write in `models` carries (restricted, no token).
_POD = {
    "automountServiceAccountToken": False,
    "securityContext": {"runAsNonRoot": True, "seccompProfile": podsecurity.SECCOMP},
    "imagePullSecrets": _PULL,
}
#: Pods of a plain server carry its name: the Deployment's selector and the Service's.
_SELECT = {"app.kubernetes.io/component": Key("name")}


def _inference_service() -> dict[str, Any]:
    model = {
        "modelFormat": {"name": Key("modelFormat")},
        **optional("storageUri", "runtime", "protocolVersion", "resources", "env"),
    }
    predictor = {
        **_POD,
        "model": model,
        **optional(
            "minReplicas",
            "maxReplicas",
            "scaleMetric",
            "scaleTarget",
            "serviceAccountName",
            "canaryTrafficPercent",
            "logger",
        ),
    }
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": _METADATA,
        "spec": {"predictor": predictor},
    }


def _seldon_deployment() -> dict[str, Any]:
    graph = {
        "name": "classifier",
        "implementation": Key("implementation", "SKLEARN_SERVER"),
        "modelUri": Key("modelUri"),
    }
    predictor = {"name": "default", "replicas": Key("replicas", 1), "graph": graph}
    return {
        "apiVersion": "machinelearning.seldon.io/v1",
        "kind": "SeldonDeployment",
        "metadata": _METADATA,
        "spec": {"name": Key("name"), "predictors": [predictor]},
    }


def _knative_service() -> dict[str, Any]:
    container = {
        "image": Key("image"),
        "ports": [{"containerPort": Key("port", 8080)}],
        **optional("env", "resources", "securityContext"),
    }
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": _METADATA,
        "spec": {"template": {"spec": {"imagePullSecrets": _PULL, "containers": [container]}}},
    }


#: A plain server's resources when its entry sets none: bounded, so one server cannot
#: starve the namespace (and the scheduler knows what it needs).
PLAIN_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"cpu": "1", "memory": "1Gi"},
}
#: checkov's exception for a user's image, as the object's annotation.
_USER_IMAGE = podsecurity.checkov_skips(
    CKV_K8S_43="the image is the entry's own: a tag is accepted, a digest (image@sha256:...) "
    "pins it"
)


def _plain_deployment() -> dict[str, Any]:
    port = {"name": "http", "containerPort": Key("port", 8080), "protocol": "TCP"}
    probe = {"httpGet": {"path": Key("healthPath", "/"), "port": "http"}}
    container = {
        "name": "server",
        "image": Key("image"),
        "imagePullPolicy": "Always",
        "ports": [port],
        "livenessProbe": {**probe, "periodSeconds": 10},
        "readinessProbe": {**probe, "periodSeconds": 5},
        "resources": Key("resources", PLAIN_RESOURCES),
    }
    pod = podsecurity.hardened_pod([container], imagePullSecrets=_PULL)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": Key("name"),
            **optional("namespace"),
            "annotations": Merged(_USER_IMAGE, "annotations"),
        },
        "spec": {
            "replicas": Key("replicas", 1),
            "selector": {"matchLabels": _SELECT},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {"metadata": {"labels": _SELECT}, "spec": pod},
        },
    }


def _plain_service() -> dict[str, Any]:
    port = {"name": "http", "port": 80, "protocol": "TCP", "targetPort": Key("port", 8080)}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _METADATA,
        "spec": {"type": Key("serviceType", "ClusterIP"), "selector": _SELECT, "ports": [port]},
    }


def _plain_policy() -> dict[str, Any]:
    """`models` denies ingress by default (the namespaces release): a plain server is its
    own Service, so its port is open to any caller."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _METADATA,
        "spec": {
            "podSelector": {"matchLabels": _SELECT},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"port": "http", "protocol": "TCP"}]}],
        },
    }


# --- helm test: one Pod per entry, sending the request smoke sends ------------------------

_NS = Key("namespace", Root("Release.Namespace"))


def _default(protocols: dict[str, str], what: str) -> Any:
    """The smoke default (`samples.default_request`) of each protocol, as template data:
    the path with the entry's name and namespace filled in by printf."""
    out = {}
    for option, protocol in protocols.items():
        request = sample_requests.default_request(protocol, "%[1]s", "%[2]s")
        value = getattr(request, what)
        templated = what == "path" and "%[" in value  # printf flags unused arguments
        out[option] = Format(value, (Key("name"), _NS)) if templated else value
    if len(out) == 1:
        return next(iter(out.values()))
    return Choose("protocolVersion", "v1", out)


def _request_test(short: str, protocols: dict[str, str], base: str, path: Any = None) -> Any:
    """A test Pod per entry: `base` is the in-cluster URL pattern (name, namespace)."""
    request_path = path if path is not None else Key("request.path", _default(protocols, "path"))
    env = {
        "URL": Format(base + "%s", (Key("name"), _NS, request_path)),
        "METHOD": Key("request.method", ""),
        "BODY": ToJson(Key("request.body", _default(protocols, "body"))),
        "EXPECT_KEY": Key("request.expectKey", _default(protocols, "expect_key") or ""),
        "EXPECT_TEXT": Key("request.expectText", ""),
    }
    name = Format(f"test-{short}-%s-%s", (_NS, Key("name")))
    return helmtest.request_pod(name, Root("Values.tests.image"), env, _PULL)


_LOCAL = "http://%[1]s.%[2]s.svc.cluster.local"
#: Per list: (template id, values key, entry model, object, its helm test).
_LISTS: tuple[tuple[str, str, type[Values], Any, Any], ...] = (
    (
        "inference-services",
        "inferenceServices",
        InferenceServiceEntry,
        _inference_service,
        # KServe's Service <name> routes to the predictor through the local gateway.
        lambda: _request_test("isvc", {"v1": "kserve-v1", "v2": "kserve-v2"}, _LOCAL),
    ),
    (
        "seldon-deployments",
        "seldonDeployments",
        SeldonDeploymentEntry,
        _seldon_deployment,
        # The predictor Service <deployment>-<predictor> on Seldon's REST port; the
        # gateway's /seldon/<ns>/<name> prefix is not part of the in-cluster path.
        lambda: _request_test(
            "sdep",
            {"seldon": "seldon"},
            "http://%[1]s-default.%[2]s.svc.cluster.local:8000",
            "/api/v1.0/predictions",
        ),
    ),
    (
        "knative-services",
        "knativeServices",
        KnativeServiceEntry,
        _knative_service,
        lambda: _request_test("ksvc", {"knative": "knative"}, _LOCAL),
    ),
    (
        "plain-servers",
        "plainServers",
        PlainServerEntry,
        _plain_deployment,
        lambda: _request_test("plain", {"plain": "plain"}, _LOCAL),
    ),
)


class Models(Construct):
    """One object (two for a plain server) per enabled catalogue entry, and its test Pod."""

    def __init__(self, scope: Construct, id: str = "models") -> None:
        super().__init__(scope, id)
        for cid, key, entry, structure, test in _LISTS:
            Each(self, cid, key=key, entry=entry, structure=structure())
            Each(self, f"test-{cid}", key=key, entry=entry, structure=test())
        for cid, structure in (("services", _plain_service), ("policies", _plain_policy)):
            Each(
                self,
                f"plain-server-{cid}",
                key="plainServers",
                entry=PlainServerEntry,
                structure=structure(),
            )


# --- generate-time checks -----------------------------------------------------------------

#: Values keys of the lists and what they create (for messages and duplicate names).
LISTS = ("inferenceServices", "seldonDeployments", "knativeServices", "plainServers")


def _enabled(values: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    return [(i, e) for i, e in enumerate(values.get(key) or []) if e.get("enabled", True)]


def runtime_problem(entry: dict[str, Any], facts: Facts) -> str | None:
    """Why no enabled ClusterServingRuntime would serve `entry` (None: one does).

    KServe's selection: a named `runtime` must exist and list the format; otherwise a
    runtime whose format is auto-selectable and which speaks the protocol (default v1).
    """
    fmt, protocol = entry["modelFormat"], entry.get("protocolVersion", "v1")
    runtimes = {r.name: r for r in facts.runtimes}
    named = entry.get("runtime")
    if named:
        runtime = runtimes.get(named)
        if runtime is None:
            on = ", ".join(sorted(runtimes)) or "none"
            return f"runtime: {named} is not an enabled ClusterServingRuntime (enabled: {on})"
        if fmt not in runtime.formats or protocol not in runtime.protocols:
            return (
                f"runtime: {named} serves {', '.join(runtime.formats)} over "
                f"{', '.join(runtime.protocols)}, not {fmt} over {protocol}"
            )
        return None
    if any(fmt in r.auto_select and protocol in r.protocols for r in facts.runtimes):
        return None
    serving = sorted(r.name for r in facts.runtimes if fmt in r.auto_select)
    key = "protocolVersion" if serving else "modelFormat"
    hint = (
        f"{', '.join(serving)} {'serves' if len(serving) == 1 else 'serve'} {fmt}, "
        f"but not over {protocol}"
        if serving
        else f"no enabled runtime serves {fmt}"
    )
    return f"{key}: {hint}: enable one in {facts.file('model-runtimes')} or change the entry"


def derive(facts: Facts) -> dict[str, Any]:
    """Pull secrets from environment.yaml; the test image from its registry."""
    moved = {"tests": {"image": mirror.moved(_curl(), facts.image_registry)}}
    return mirror.glue_values(facts) | (moved if facts.image_registry else {})


def public_plain_server(facts: Facts) -> str | None:
    """Why a plain server may not be its own LoadBalancer in this env (None: it may).

    Its Service sends port 80 straight to the pod: no gateway, so no JWT check (auth)
    and no certificate or redirect (TLS) stands in front of it."""
    env = facts.env
    if not (env.auth.enabled or env.tls.enabled):
        return None
    on = ["auth.enabled: true"] if env.auth.enabled else []
    on += [f"tls.mode: {env.tls.mode}"] if env.tls.enabled else []
    open_ = (["over plain HTTP"] if env.tls.enabled else []) + (
        ["without a token"] if env.auth.enabled else []
    )
    return (
        f"LoadBalancer would answer on a public address {' and '.join(open_)}, but "
        f"{facts.env_file} sets {' and '.join(on)}: use serviceType: ClusterIP (helm test "
        "and port-forward reach it), or serve the image as a knativeServices entry behind "
        "the gateway"
    )


#: Entry keys naming an image the cluster pulls, per list.
_IMAGE_KEYS = {"knativeServices": "image", "plainServers": "image"}


def check(facts: Facts, values: dict[str, Any]) -> None:
    """What the schema cannot know: runtimes, Seldon, names unique per namespace, and
    images an air-gapped cluster (environment.yaml imageRegistry) cannot pull."""
    where = facts.file("models")
    seen: dict[tuple[str, str], str] = {}
    for key in LISTS:
        for _, entry in _enabled(values, key):
            at = f"{where}: {key}[{entry['name']}]"
            ns = entry.get("namespace", NAMESPACE)
            if (ns, entry["name"]) in seen:
                raise UserError(
                    f"{at}.name: {entry['name']!r} is also {seen[(ns, entry['name'])]} in "
                    f"namespace {ns}: names must be unique per namespace"
                )
            seen[(ns, entry["name"])] = f"{key}[{entry['name']}]"
            image, registry = entry.get(_IMAGE_KEYS.get(key, "")), facts.image_registry
            if image and registry and not mirror.under(image, registry):
                raise UserError(
                    f"{at}.image: {image!r} is not under imageRegistry {registry} "
                    f"({facts.env_file}): mirror it and set image: "
                    f"{mirror.moved(image, registry)}"
                )
            if key == "inferenceServices":
                problem = runtime_problem(entry, facts)
                if problem:
                    raise UserError(f"{at}.{problem}")
            if key == "plainServers" and entry.get("serviceType") == "LoadBalancer":
                problem = public_plain_server(facts)
                if problem:
                    raise UserError(f"{at}.serviceType: {problem}")
            if key == "seldonDeployments" and SELDON not in facts.enabled:
                raise UserError(
                    f"{at}.enabled: {facts.env.name} does not enable Seldon: set `seldon: "
                    f"istio` or `ambassador` in {facts.env_file}, or set enabled: false"
                )


# --- smoke ------------------------------------------------------------------------------


def samples(facts: Facts, values: dict[str, Any]) -> tuple[Sample, ...]:
    """What `make smoke` calls: each enabled entry, through the gateway that serves it.

    KServe and Knative route on the host `<name>-<namespace>.<domain>` (the domain
    template); Seldon routes on the path, through the Istio gateway or Emissary by the
    env's mode; a plain server only where it is its own LoadBalancer Service (a ClusterIP
    one is not reachable from outside: smoke says it is skipped and why, its `helm test`
    calls it). Through the Istio gateway its certificate (environment.yaml tls) and its JWT
    check (auth) apply.
    """
    istio = facts.gateway.address
    tls, auth = facts.env.tls.enabled, facts.env.auth.enabled
    found = []
    for key, api, kind in (
        ("inferenceServices", "serving.kserve.io/v1beta1", "InferenceService"),
        ("seldonDeployments", "machinelearning.seldon.io/v1", "SeldonDeployment"),
        ("knativeServices", "serving.knative.dev/v1", "Service"),
        ("plainServers", "apps/v1", "Deployment"),
    ):
        for _, e in _enabled(values, key):
            name, ns = e["name"], e.get("namespace", NAMESPACE)
            if key == "plainServers" and e.get("serviceType", "ClusterIP") != "LoadBalancer":
                why = (
                    f"its Service is ClusterIP ({facts.file('models')} plainServers[{name}]"
                    ".serviceType): no address outside the cluster; `helm test models` "
                    "calls it in-cluster"
                )
                request = sample_requests.default_request("plain", name, ns)
                found.append(
                    Sample(name, ns, "plain", api, kind, f"{ns}/{name}", None, request,
                           skipped=why)
                )  # fmt: skip
                continue
            host: str | None = f"{name}-{ns}.{facts.domain}"
            if key == "inferenceServices":
                protocol, via = f"kserve-{e.get('protocolVersion', 'v1')}", istio
            elif key == "seldonDeployments":
                protocol = "seldon"
                via = facts.ambassador_service if facts.seldon == "ambassador" else istio
                # Seldon routes on the path (any host); over TLS (seldon-gateway's HTTPS
                # server) the name must be one the certificate covers: any under the domain.
                host = f"seldon.{facts.domain}" if via == istio and tls else None
            elif key == "knativeServices":
                protocol, via = "knative", istio
            else:
                protocol, host, via = "plain", None, f"{ns}/{name}"
            default = sample_requests.default_request(protocol, name, ns)
            request = Request(**{**default.__dict__, **_given(e.get("request"))})
            gated = via == istio  # the gateway's certificate and JWT check
            https, token = gated and tls, gated and auth
            found.append(Sample(name, ns, protocol, api, kind, via, host, request, https, token))
    return tuple(found)


def _given(spec: dict[str, Any] | None) -> dict[str, Any]:
    """An entry's `request` as Request fields (only what it sets)."""
    names = {"path": "path", "method": "method", "body": "body"}
    names |= {"expectKey": "expect_key", "expectText": "expect_text"}
    out = {names[k]: v for k, v in (spec or {}).items() if k in names}
    if "body" in out and "method" not in out:
        out["method"] = "POST"
    return out
