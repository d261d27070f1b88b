"""Air-gapped clusters: every image from one registry (environment.yaml `imageRegistry`).

The registry is one fact; each wrapper row of data/components.yaml says, as data, which of
its upstream chart's values move an image (`registry:` path -> image path under the
registry, e.g. Istio's `global.hub: istio`) and which take pull secrets (`pullSecrets:`);
this module turns them into derived values, written per env like the domain, so no chart
has the registry typed into it. Glue charts move their own images with `moved`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstack.lib.component import Component
from mlstack.lib.facts import Facts
from mlstack.lib.validate import deep_merge


def moved(image: str, registry: str) -> str:
    """`image` pulled from `registry`: its own registry host (a first path part with a dot,
    a port or `localhost`) replaced, the repository path and tag kept; unchanged for ""."""
    if not registry:
        return image
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        image = rest
    return f"{registry}/{image}"


def under(image: str, registry: str) -> bool:
    """Whether an air-gapped cluster pulling only from `registry` can pull `image`."""
    return image.startswith(f"{registry}/")


def nested(path: str, value: Any) -> dict[str, Any]:
    """'a.b.c', v -> {'a': {'b': {'c': v}}}."""
    out: Any = value
    for key in reversed(path.split(".")):
        out = {key: out}
    assert isinstance(out, dict)
    return out


def pull_secrets(names: tuple[str, ...], style: str) -> list[Any]:
    """Pull secrets as the chart lists them: bare names, or `{name: ...}` references."""
    return list(names) if style == "names" else [{"name": n} for n in names]


def glue_values(facts: Facts) -> dict[str, Any]:
    """`imagePullSecrets` of a glue chart's pods, from environment.yaml (derived)."""
    names = facts.pull_secrets
    return {"imagePullSecrets": pull_secrets(names, "refs")} if names else {}


def pull_secrets_field() -> Any:
    """The `imagePullSecrets` values field of a glue chart (derived, never typed)."""
    return Field(
        default_factory=list,
        description="Pull secrets of the pods (derived from environment.yaml imagePullSecrets).",
    )


def wrapper_values(component: Component, facts: Facts) -> dict[str, Any]:
    """The upstream values of a wrapper row that move its images and add pull secrets."""
    if not component.dependencies:
        return {}
    alias = component.dependencies[0].alias
    out: dict[str, Any] = {}
    if facts.image_registry:
        for path, image in component.registry:
            target = f"{facts.image_registry}/{image}" if image else facts.image_registry
            out = deep_merge(out, nested(path, target))
    if facts.pull_secrets:
        for path, style in component.pull_secrets:
            out = deep_merge(out, nested(path, pull_secrets(facts.pull_secrets, style)))
    return {alias: out} if out else {}
