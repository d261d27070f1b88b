"""Helm 4 and Helm 3 render every release of every environment byte for byte alike.

The project defaults to Helm 4 but accepts Helm 3.17+ on PATH; users on either must get
the same objects. Both binaries are the pinned ones `scripts/setup-helm.sh compat`
provides (helm 4.1.4 in .tools/bin, helm 3.17.3 in .tools/helm3/bin; `make test` and
`make helm-compat` run it), so this compares two real Helms, never a helm with itself.
"""

from __future__ import annotations

import json
import re

import pytest

from mlstack import environments, render, resolve
from mlstack.lib import helm

PAIRS = [
    (env, r.id)
    for env in environments.names()
    for r in resolve.resolve(env).releases
    if not render.missing_dependencies(r.component)
]


@pytest.fixture(scope="module")
def helms() -> tuple[str, str]:
    for path in (helm.LOCAL_HELM, helm.COMPAT_HELM):
        assert path.exists(), f"{path} missing: run `scripts/setup-helm.sh compat` (make test does)"
    assert helm.version(str(helm.LOCAL_HELM)) == (4, 1)
    assert helm.version(str(helm.COMPAT_HELM)) == (3, 17)
    return str(helm.LOCAL_HELM), str(helm.COMPAT_HELM)


def test_there_is_something_to_compare() -> None:
    assert len(PAIRS) >= 10, PAIRS


@pytest.mark.parametrize(("env_name", "release"), PAIRS, ids=[f"{e}-{r}" for e, r in PAIRS])
def test_helm4_and_helm3_render_alike(helms: tuple[str, str], env_name: str, release: str) -> None:
    resolved = resolve.resolve(env_name)
    rel = resolved.release(release)
    assert rel is not None
    four, three = (render.template(rel, resolved, helm_binary=h) for h in helms)
    assert four, f"{env_name}/{release}: helm 4 rendered nothing"
    if not rel.component.dependencies:
        assert four == three, f"{env_name}/{release}: helm 4.1 and helm 3.17 render differently"
        return
    # Upstream charts (istio's zzz_profile.yaml, KServe's one-file resources.yaml) come out
    # of helm 4.1 and 3.17 in another document order: both install by kind, so the same
    # objects, each from the same template, are what users get alike.
    assert _objects(four) == _objects(three), f"{env_name}/{release}: different objects"


_SEPARATOR = re.compile(r"^---[ \t]*$", re.MULTILINE)
_SOURCE = re.compile(r"^# Source: (\S+)", re.MULTILINE)


def _objects(text: str) -> list[tuple[str, str]]:
    """(template, object as canonical JSON) of every object, sorted."""
    out = []
    for chunk in _SEPARATOR.split(text):
        source = _SOURCE.search(chunk)
        for obj in render.documents(chunk):
            out.append((source.group(1) if source else "", json.dumps(obj, sort_keys=True)))
    return sorted(out)
