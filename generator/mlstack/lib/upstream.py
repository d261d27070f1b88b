"""Offline checks of the values a wrapper passes to an upstream chart.

Where the upstream chart ships a `values.schema.json`, that schema decides (render
validates against it). Most do not (istiod, istio/base, knative-operator, kserve,
emissary, seldon), and Helm then accepts anything: a misspelled key is silently ignored
and `replicaCount: -1` reaches the API server. So, from the upstream `values.yaml` at
the pinned version:

- keys: every key we set must exist in the upstream defaults at that place, except
  under maps whose default is empty or null (`podAnnotations: {}`, `nodeSelector: {}`,
  which are free-form by design), under maps the chart passes through to another API
  (OPEN_MAPS: Istio's `meshConfig` is the MeshConfig resource, whose defaults list one
  of its many fields) and the Helm-reserved `global`;
- types: a value must have the type of the upstream default (map, list, boolean, number,
  string); a null default accepts anything;

and, for every wrapper whether or not it has a schema, the conventions all charts share:
replica counts are whole numbers from 0 to MAX_REPLICAS, `resources` quantities parse, are
not negative and requests do not exceed limits, `service.type` is a Service type,
`pullPolicy` an image pull policy, and port numbers lie in 1-65535. Fields whose names are
Kubernetes API fields take the values the API server admits (k8s.io/api core/v1 types.go
and pkg/apis/core/validation, Kubernetes 1.35), wherever a chart places them:

- `externalTrafficPolicy`, `internalTrafficPolicy`: Cluster or Local
  (ServiceExternalTrafficPolicy, ServiceInternalTrafficPolicy);
- `ipFamilyPolicy`: SingleStack, PreferDualStack or RequireDualStack (IPFamilyPolicy);
  `ipFamilies` items IPv4 or IPv6 (IPFamily);
- `sessionAffinity`: ClientIP or None (ServiceAffinity);
- `tolerations` items: `operator` Exists or Equal (TolerationOperator), `effect` empty,
  NoSchedule, PreferNoSchedule or NoExecute (TaintEffect);
- `annotations`, `podAnnotations`, `serviceAnnotations`: ObjectMeta.Annotations is
  map[string]string, so every value is a string (`5` or `true` unquoted is refused by the
  API server) and every key a qualified name (ValidateAnnotations);
- `labels`, `podLabels`, `serviceLabels`, `nodeSelector`: map[string]string whose keys are
  label keys and values label values (ValidateLabels; a PodSpec's nodeSelector likewise).

Keys holding a Helm template (`{{ ... }}`, which cert-manager allows in annotation keys
and values) are left to the chart. The model's own fields (glue charts) are typed by
their pydantic models (lib/fields), not here.
"""

from __future__ import annotations

import re
from typing import Any

from mlstack.lib import resources
from mlstack.lib.fields import LABEL_KEY, LABEL_VALUE, MAX_REPLICAS

ISTIO_DEFAULTS = "_internal_defaults_do_not_set"
ISTIO_PROFILE_KEYS = ("profile", "platform", "compatibilityVersion")
REPLICA_KEYS = ("replicaCount", "replicas", "minReplicas", "maxReplicas")
PORT_KEYS = ("port", "targetPort", "nodePort", "containerPort")
SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
#: API enumerations by field name (k8s.io/api core/v1 types.go): a value outside is refused
#: by the API server at install, after Helm has accepted it. An empty string is the charts'
#: "not set" (istio-gateway's defaults; their templates leave the field out).
ENUMS: dict[str, tuple[str, ...]] = {
    "externalTrafficPolicy": ("Cluster", "Local"),
    "internalTrafficPolicy": ("Cluster", "Local"),
    "ipFamilyPolicy": ("SingleStack", "PreferDualStack", "RequireDualStack"),
    "sessionAffinity": ("ClientIP", "None"),
}
IP_FAMILIES = ("IPv4", "IPv6")
TOLERATION_OPERATORS = ("Exists", "Equal")
TAINT_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")
#: map[string]string fields: annotations (any string value) and label sets (label values).
ANNOTATION_MAPS = ("annotations", "podAnnotations", "serviceAnnotations")
LABEL_MAPS = ("labels", "podLabels", "serviceLabels", "nodeSelector")
#: Maps an upstream chart hands to another API as they are, so values.yaml lists only a
#: few of their keys: istiod's `meshConfig` (istio.io reference istio.mesh.v1alpha1).
OPEN_MAPS = ("meshConfig",)
#: An unquoted `key: {{ placeholder }}` line: some upstream values.yaml files are
#: templates of their release tooling (knative-operator's `tag: {{ tag }}`).
TEMPLATE_VALUE = re.compile(r"^([ \t]*[^#\s][^:\n]*:[ \t]*)\{\{[^}\n]*\}\}[ \t]*$", re.MULTILINE)


def untemplate(text: str) -> str:
    """A values.yaml with release-tooling placeholders replaced by empty strings."""
    return TEMPLATE_VALUE.sub(r'\1""', text)


def _kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a map"
    return None


def key_problems(values: dict[str, Any], defaults: dict[str, Any], prefix: str = "") -> list[str]:
    """'key.path: message' for keys the upstream values.yaml does not have, and types
    that differ from the upstream default's."""
    found = []
    for key, value in values.items():
        where = f"{prefix}{key}"
        if key not in defaults:
            if prefix == "" and key == "global":
                continue
            known = ", ".join(sorted(map(str, defaults))[:12])
            found.append(
                f"{where}: unknown key: the upstream chart's values.yaml has no such key "
                f"(it has {known}{', ...' if len(defaults) > 12 else ''})"
            )
            continue
        default = defaults[key]
        want, have = _kind(default), _kind(value)
        if want is None or value is None:
            continue
        if want != have:
            found.append(f"{where}: {value!r} is not {want}, as the upstream default is")
        elif isinstance(value, dict) and default and key not in OPEN_MAPS:
            found += key_problems(value, default, f"{where}.")
    return found


def convention_problems(values: Any, prefix: str = "") -> list[str]:
    """'key.path: message' for values that break conventions every chart shares."""
    found: list[str] = []
    if isinstance(values, list):
        for index, item in enumerate(values):
            found += convention_problems(item, f"{prefix}{index}.")
        return found
    if not isinstance(values, dict):
        return found
    for key, value in values.items():
        where = f"{prefix}{key}"
        if value is None:
            continue
        if key in REPLICA_KEYS and not _whole(value, 0, MAX_REPLICAS):
            found.append(f"{where}: {value!r} is no replica count: use 0 to {MAX_REPLICAS}")
        elif key in PORT_KEYS and not isinstance(value, str) and not _whole(value, 1, 65535):
            found.append(f"{where}: {value!r} is no port number: use 1 to 65535")
        elif key == "pullPolicy" and value not in PULL_POLICIES:
            found.append(f"{where}: {value!r} is no pull policy: use {', '.join(PULL_POLICIES)}")
        elif key == "resources" and isinstance(value, dict):
            found += [f"{where}.{p}" for p in resources.order_problems(value)]
            continue
        elif key == "service" and isinstance(value, dict) and "type" in value:
            found += _service_type(value["type"], where)
        elif key in ENUMS and value not in ("", *ENUMS[key]):
            found.append(f"{where}: {value!r} is not one of {', '.join(ENUMS[key])}: use one")
        elif key == "ipFamilies" and isinstance(value, list):
            found += _enum_items(value, IP_FAMILIES, where)
        elif key == "tolerations" and isinstance(value, list):
            found += _toleration_problems(value, where)
        elif key in ANNOTATION_MAPS or key in LABEL_MAPS:
            found += _string_map_problems(value, where, labels=key in LABEL_MAPS)
            continue
        if isinstance(value, dict | list):
            found += convention_problems(value, f"{where}.")
    return found


def _enum_items(items: list[Any], allowed: tuple[str, ...], where: str) -> list[str]:
    return [
        f"{where}.{i}: {item!r} is not one of {', '.join(allowed)}: use one"
        for i, item in enumerate(items)
        if item not in allowed
    ]


def _toleration_problems(items: list[Any], where: str) -> list[str]:
    found = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        for key, allowed in (("operator", TOLERATION_OPERATORS), ("effect", TAINT_EFFECTS)):
            if key in item and item[key] is not None and item[key] not in allowed:
                listed = ", ".join(a or "''" for a in allowed)
                found.append(f"{where}.{i}.{key}: {item[key]!r} is not one of {listed}: use one")
    return found


def _templated(text: str) -> bool:
    return "{{" in text


def _string_map_problems(value: Any, where: str, *, labels: bool) -> list[str]:
    """A map[string]string of the Kubernetes API: annotations (any string) or labels."""
    what = "label" if labels else "annotation"
    if not isinstance(value, dict):  # the map's own type: key_problems, the upstream schema
        return []
    found = []
    for key, item in value.items():
        at = f"{where}.{key}"
        name = str(key)
        if not _templated(name) and not _qualified(name if labels else name.lower()):
            found.append(
                f"{at}: {name!r} is no {what} key: an optional DNS prefix and `/`, then at "
                "most 63 of [A-Za-z0-9_.-] with alphanumeric ends"
            )
        if item is None:
            continue
        if not isinstance(item, str):
            found.append(
                f"{at}: {item!r} is not a string ({what}s are strings): quote it, "
                f'{name}: "{item if not isinstance(item, bool) else str(item).lower()}"'
            )
        elif labels and not _templated(item) and not re.fullmatch(LABEL_VALUE, item):
            found.append(
                f"{at}: {item!r} is no label value: at most 63 of [A-Za-z0-9_.-] "
                "with alphanumeric ends"
            )
    return found


def _qualified(key: str) -> bool:
    prefix, _, _ = key.rpartition("/")
    return re.fullmatch(LABEL_KEY, key) is not None and len(prefix) <= 253


def _service_type(value: Any, where: str) -> list[str]:
    if value in SERVICE_TYPES:
        return []
    return [f"{where}.type: {value!r} is no Service type: use {', '.join(SERVICE_TYPES)}"]


def effective_defaults(defaults: dict[str, Any]) -> dict[str, Any]:
    """Istio's charts keep their defaults under `_internal_defaults_do_not_set`, which their
    templates (zzz_profile.yaml) merge into the top level: users set those keys there,
    plus the profile selectors zzz_profile.yaml reads itself (`profile`, `platform`,
    `compatibilityVersion`, as in Istio's "Install with Helm" guide)."""
    inner = defaults.get(ISTIO_DEFAULTS)
    if not isinstance(inner, dict):
        return defaults
    outer = {k: v for k, v in defaults.items() if k != ISTIO_DEFAULTS}
    return {**dict.fromkeys(ISTIO_PROFILE_KEYS), **outer, **inner}


def _whole(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
