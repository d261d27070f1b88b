"""`make images ENV=<env>`: every container image the environment pulls, for mirroring.

Two sources, so the list is complete without a cluster or the upstream charts' archives:
- our own charts, rendered with the environment's values: every `image` they name (the
  runtimes, the plain model server) and Knative's `spec.registry.override`;
- each row's `images:` in data/components.yaml: what upstream charts and operators pull,
  moved to environment.yaml `imageRegistry` exactly as the derived registry values move
  them (lib/mirror.py), so the list names what the cluster will ask the mirror for.
"""

from __future__ import annotations

import sys
from typing import Any

from mlstack.lib import images as images_
from mlstack.lib import mirror
from mlstack.resolve import Resolved


def named(node: Any) -> list[str]:
    """Images an object names: `image:` strings and a registry `override:` map's values."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "image" and isinstance(value, str) and value:
                found.append(value)
            elif key == "override" and isinstance(value, dict):
                found += [v for v in value.values() if isinstance(v, str)]
            else:
                found += named(value)
    elif isinstance(node, list):
        for item in node:
            found += named(item)
    return found


def tagged(image: str) -> str:
    """`image` as the runtime pulls it: an untagged reference means `:latest`."""
    return image if images_.has_tag(image) else f"{image}:latest"


def images(resolved: Resolved, manifests: dict[str, str]) -> list[str]:
    """Sorted, unique images of `resolved`; `manifests`: release id -> rendered glue chart."""
    from mlstack.render import documents

    registry = resolved.env.image_registry
    found: set[str] = set()
    for release in resolved.releases:
        found.update(mirror.moved(image, registry) for image in release.component.images)
        if release.id in manifests:
            found.update(named(documents(manifests[release.id])))
    return sorted(tagged(image) for image in found)


def main(resolved: Resolved) -> int:
    from mlstack import render

    manifests = {
        r.id: render.template(r, resolved)
        for r in resolved.releases
        if not r.component.dependencies
    }
    listed = images(resolved, manifests)
    for image in listed:
        print(image)
    registry = resolved.env.image_registry
    outside = [i for i in listed if registry and not mirror.under(i, registry)]
    for image in outside:
        print(f"error: {image} is not under imageRegistry {registry}", file=sys.stderr)
    return 1 if outside else 0
