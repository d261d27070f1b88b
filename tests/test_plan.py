"""The install plan: order, exact helm commands per env (pinned), values layering, and the
pure decisions of a live install (up to date, rollback, last event, keep-CRDs renderer)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import committed_envs, enabled, values_copy
from mlstack import resolve
from mlstack.errors import UserError
from mlstack.lib import helm
from mlstack.lifecycle import plan

GOLDEN = Path(__file__).parent / "golden" / "plan"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture
def values(tmp_path: Path) -> Path:
    """The committed values without any machine-local overlay."""
    return values_copy(tmp_path / "values")


def _plan(env: str, values_dir: Path = resolve.VALUES_DIR, start: str | None = None) -> plan.Plan:
    return plan.build(resolve.resolve(env, values_dir, local=True), start)


@pytest.mark.parametrize("env_name", committed_envs())
def test_dry_run_plan_is_pinned(env_name: str, values: Path) -> None:
    text = "\n".join(plan.describe(_plan(env_name, values))) + "\n"
    text = text.replace(f"{values.parent}/", "")
    golden = GOLDEN / f"{env_name}.txt"
    if UPDATE:
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert golden.read_text() == text, "plan changed: review, then UPDATE_GOLDEN=1 make test"


@pytest.mark.parametrize("env_name", committed_envs())
def test_every_release_comes_after_what_it_needs(env_name: str, values: Path) -> None:
    steps = _plan(env_name, values).steps
    order = [s.release for s in steps]
    assert order == enabled(env_name)
    for i, step in enumerate(steps):
        assert set(step.component.needs) <= set(order[:i])
        assert step.upgrade()[:5] == ["helm", "upgrade", "--install", step.release, str(step.chart)]


def test_values_layering_order(values: Path) -> None:
    (values / "k3d" / "generated").mkdir(exist_ok=True)
    (values / "k3d" / "generated" / "metallb-pool.yaml").write_text("l2:\n  enabled: true\n")
    (values / "k3d" / "local").mkdir()
    (values / "k3d" / "local" / "metallb-pool.yaml").write_text(
        "pool:\n  addresses: [10.9.0.0/28]\n"
    )
    layers = resolve.layers(values, "k3d", "metallb-pool", local=True)
    assert [str(p.relative_to(values)) for p in layers] == [
        "k3d/generated/metallb-pool.yaml",
        "k3d/metallb-pool.yaml",
        "k3d/local/metallb-pool.yaml",
    ]
    assert len(resolve.layers(values, "k3d", "metallb-pool")) == 2  # render never sees local/
    step = _pool(_plan("k3d", values))
    args = step.upgrade()
    assert [args[i + 1] for i, a in enumerate(args) if a == "--values"] == [str(p) for p in layers]
    assert step.desired_values()["pool"]["addresses"] == ["10.9.0.0/28"]  # local wins


def test_bad_local_overlay_stops_before_the_cluster(values: Path) -> None:
    (values / "k3d" / "local").mkdir()
    (values / "k3d" / "local" / "metallb-pool.yaml").write_text("pool:\n  addresses: [nope]\n")
    with pytest.raises(UserError, match=r"local/metallb-pool.yaml: pool.addresses"):
        _plan("k3d", values)


def test_from_resumes_and_rejects_unknown_release(values: Path) -> None:
    order = enabled("k3d")
    resumed = _plan("k3d", values, start="metallb-pool")
    at = order.index("metallb-pool")
    assert [s.release for s in resumed.steps] == order[at:]
    assert resumed.skipped == tuple(order[:at])
    lines = plan.describe(resumed)
    first = next(ln for ln in lines if ln.startswith("["))
    assert first.startswith(f"[{at + 1}/{len(order)}] metallb-pool")
    with pytest.raises(
        UserError, match=f"FROM=istio is not a release of k3d: use one of {', '.join(order)}$"
    ):
        _plan("k3d", values, start="istio")


def _pool(built: plan.Plan) -> plan.Step:
    return next(s for s in built.steps if s.release == "metallb-pool")


def _step() -> plan.Step:
    return _pool(plan.build(resolve.resolve("k3d")))


def _listing(status: str = "deployed", chart: str | None = None) -> list[dict[str, Any]]:
    """`helm list -o json` output."""
    step = _step()
    return [
        {
            "name": step.release,
            "namespace": step.namespace,
            "revision": "2",
            "updated": "2026-10-01 10:00:00.000000 +0000 UTC",
            "status": status,
            "chart": chart or f"{step.release}-{step.chart_version}",
            "app_version": "v0.16.1",
        }
    ]


def test_second_run_changes_nothing_when_up_to_date() -> None:
    step = _step()
    assert plan.up_to_date(_listing(), step.desired_values(), step)
    assert not plan.up_to_date([], None, step)  # not installed
    assert not plan.up_to_date(_listing("failed"), step.desired_values(), step)
    assert not plan.up_to_date(_listing(chart=f"{step.release}-0.0.1"), step.desired_values(), step)
    assert not plan.up_to_date(_listing(), {"pool": {"addresses": ["10.0.0.0/28"]}}, step)


def test_rollback_targets_the_last_good_revision() -> None:
    step = _step()
    history = [
        {"revision": 1, "status": "superseded", "chart": "metallb-pool-0.1.0"},
        {"revision": 2, "status": "deployed", "chart": "metallb-pool-0.1.0"},
        {"revision": 3, "status": "failed", "chart": "metallb-pool-0.2.0"},
    ]
    assert plan.rollback(history, step)[:4] == ["helm", "rollback", "metallb-pool", "2"]
    first = [{"revision": 1, "status": "failed", "chart": "metallb-pool-0.1.0"}]
    assert plan.rollback(first, step)[:3] == ["helm", "uninstall", "metallb-pool"]


def test_last_event_prefers_the_newest_warning() -> None:
    def event(kind: str, reason: str, when: str, message: str) -> dict[str, Any]:
        return {
            "type": kind,
            "reason": reason,
            "lastTimestamp": when,
            "message": message,
            "involvedObject": {"kind": "Pod", "name": "metallb-controller-7d9"},
        }

    events = [
        event("Warning", "FailedScheduling", "2026-10-01T10:00:00Z", "0/1 nodes are available"),
        event("Warning", "BackOff", "2026-10-01T10:02:00Z", "Back-off pulling image\n  quay.io/x"),
        event("Normal", "Scheduled", "2026-10-01T10:03:00Z", "Successfully assigned"),
    ]
    assert (
        plan.last_event(events)
        == "Warning BackOff Pod/metallb-controller-7d9: Back-off pulling image quay.io/x"
    )
    assert plan.last_event([]) == ""


def test_seconds() -> None:
    assert plan.seconds("10m") == 600 and plan.seconds("90s") == 90
    with pytest.raises(UserError, match="TIMEOUT=soon"):
        plan.seconds("soon")


def test_keep_crds_post_renderer_through_real_helm(tmp_path: Path) -> None:
    """`helm template --post-renderer scripts/helm-keep-crds`: CRDs gain the keep policy."""
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 0.1.0\n")
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object"}},
                }
            ],
        },
    }
    (chart / "templates" / "crd.yaml").write_text(yaml.safe_dump(crd))
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  t: '{{ \"{{x}}\" }}'\n"
    )
    proc = subprocess.run(
        [helm.binary(), "template", "demo", str(chart), "--post-renderer", str(plan.KEEP_CRDS)],
        capture_output=True,
        text=True,
        env={**os.environ, "MLSTACK_PYTHON": sys.executable},
    )
    assert proc.returncode == 0, proc.stderr
    docs = {d["kind"]: d for d in yaml.safe_load_all(proc.stdout) if d}
    assert docs["CustomResourceDefinition"]["metadata"]["annotations"] == {
        "helm.sh/resource-policy": "keep"
    }
    assert "annotations" not in docs["ConfigMap"]["metadata"]
    assert docs["ConfigMap"]["data"] == {"t": "{{x}}"}
