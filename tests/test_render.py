"""Real `helm template` per (env, release), golden files, and validation of the output.

Golden files live in tests/golden/<env>/<release>.yaml; regenerate them deliberately with
`UPDATE_GOLDEN=1 make test` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from helpers import committed_envs
from mlstack import environments, registry, render, resolve

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module", params=environments.names())
def rendered(request: pytest.FixtureRequest, schema_dir: Path) -> tuple[str, list[render.Result]]:
    return request.param, render.render_env(resolve.resolve(request.param), schema_dir)


def test_every_release_validates(rendered: tuple[str, list[render.Result]]) -> None:
    env, results = rendered
    for result in results:
        assert result.ok, f"{env}/{result.release}: {result.problems}"


def test_golden(rendered: tuple[str, list[render.Result]]) -> None:
    env, results = rendered
    if env not in committed_envs():
        return  # a user's own environment folder: validated above, no golden files
    folder = GOLDEN / env
    # Our charts' output; a wrapper's is its upstream chart's (present after `make deps`,
    # validated above and in test_deps), so golden files are the same with or without it.
    wrappers = {c.id for c in registry.COMPONENTS if c.dependencies}
    produced = {
        f"{r.release}.yaml": r.manifest
        for r in results
        if r.manifest is not None and r.release not in wrappers
    }
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.yaml"):
            stale.unlink()
        for name, text in produced.items():
            (folder / name).write_text(text)
    on_disk = {p.name: p.read_text() for p in folder.glob("*.yaml")} if folder.exists() else {}
    assert on_disk == produced, f"golden files of {env} differ: run UPDATE_GOLDEN=1 make test"


def test_local_envs_render_the_pool(rendered: tuple[str, list[render.Result]]) -> None:
    env, results = rendered
    by_name = {r.release: r for r in results}
    if environments.load(env).load_balancer != "metallb":
        assert "metallb-pool" not in by_name
        return
    docs = list(yaml.safe_load_all(by_name["metallb-pool"].manifest or ""))
    kinds = sorted(d["kind"] for d in docs if d)
    assert kinds == ["IPAddressPool", "L2Advertisement"]
    assert by_name["metallb-pool"].objects == 2


def _manifest(obj: dict[str, object]) -> str:
    return yaml.safe_dump(obj)


def test_crd_validation_rejects_misspelled_field(schema_dir: Path) -> None:
    from mlstack.lib import schemas

    crds = schemas.upstream_crds(schema_dir)
    good = {
        "apiVersion": "metallb.io/v1beta1",
        "kind": "IPAddressPool",
        "metadata": {"name": "p"},
        "spec": {"addresses": ["10.0.0.0/28"]},
    }
    minors = resolve.resolve("k3d").minors
    assert render.check_manifest(_manifest(good), minors, crds) == (1, [])
    bad = {**good, "spec": {"adresses": ["10.0.0.0/28"]}}
    count, problems = render.check_manifest(_manifest(bad), minors, crds)
    assert count == 1 and any("spec.adresses: unknown key" in p for p in problems)
    wrong_type = {**good, "spec": {"addresses": "10.0.0.0/28"}}
    assert render.check_manifest(_manifest(wrong_type), minors, crds)[1]


def test_unknown_custom_resource_is_an_error(schema_dir: Path) -> None:
    from mlstack.lib import schemas

    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    _, problems = render.check_manifest(
        _manifest(obj), resolve.resolve("k3d").minors, schemas.upstream_crds(schema_dir)
    )
    assert problems == ["Widget/w: no CRD schema for example.com/v1 Widget in the upstream schemas"]


def test_builtin_kinds_strict_for_every_supported_minor() -> None:
    minors = resolve.resolve("k3d").minors
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}], "bogus": True},
    }
    _, problems = render.check_manifest(_manifest(svc), minors, {})
    assert len(problems) == len(minors) >= 2
    assert all("bogus" in p for p in problems)
