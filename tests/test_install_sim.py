"""The real installer (install.main: Kube client, cluster checks, scheduler, gates) against
the simulated cluster of mlstack.lifecycle.simulate: a fake API on 127.0.0.1 and a fake
helm. Scaled times keep each run to a few seconds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import edit_env
from mlstack import environments, generate, resolve
from mlstack.errors import UserError
from mlstack.lifecycle import autodomain, install, plan, simulate
from mlstack.resolve import Resolved

SCALE = 0.01  # 1 simulated second = 10 ms


def _times(**override: dict[str, float]) -> dict[str, dict[str, float]]:
    times = simulate.load_times()
    times.update(override)
    return times


@pytest.fixture
def k3d(tmp_path: Path) -> Resolved:
    """k3d (domain: auto) resolved from a values copy the installer may write overlays to."""
    return resolve.resolve("k3d", simulate.sim_values(tmp_path / "values"), local=True)


def _install(
    capsys: pytest.CaptureFixture[str], resolved: Resolved, **kwargs: object
) -> tuple[str, str]:
    # resolved again, as the CLI does per run: the first run's overlays are local now
    again = resolve.resolve(resolved.name, resolved.values_dir, local=True)
    install.main(again, poll=install.POLL_SECONDS * SCALE, **kwargs)  # type: ignore[arg-type]
    out = capsys.readouterr()
    return out.out, out.err


def _started(out: str) -> list[str]:
    return re.findall(r"\[([a-z-]+)\] installing chart", out)


def test_parallel_along_needs_then_nothing_to_do(
    capsys: pytest.CaptureFixture[str], schema_dir: Path, k3d: Resolved
) -> None:
    # The releases that need only the namespaces release take 2 s each here: long against a
    # fake helm's start-up on a loaded machine, so their overlap shows the scheduler, not
    # the machine's speed.
    roots = {
        s.release: {"helm": 200.0, "ready": 0.0}
        for s in plan.build(k3d).steps
        if s.needs == ("namespaces",)
    }
    assert len(roots) > plan.DEFAULT_PARALLEL
    with simulate.fake_cluster(k3d, SCALE, _times(**roots), schema_dir=schema_dir) as state:
        out, _ = _install(capsys, k3d)
        records = {p.stem: json.loads(p.read_text()) for p in (state / "releases").glob("*.json")}
        needs = {s.release: s.needs for s in plan.build(k3d).steps}
        for release, record in records.items():  # nothing starts before its needs are deployed
            for need in needs[release]:
                assert record["started_at"] >= records[need]["installed_at"], (release, need)
        ready = records["knative-serving"]["installed_at"] + 95 * SCALE  # its KnativeServing
        assert records["kserve"]["started_at"] >= ready, "kserve started before its needs' gates"
        events = sorted(
            [(r["started_at"], 1) for r in records.values()]
            + [(r["installed_at"], -1) for r in records.values()]
        )
        running = [sum(d for _, d in events[: i + 1]) for i in range(len(events))]
        assert 3 <= max(running) <= plan.DEFAULT_PARALLEL, running  # parallel, and bounded
        count = len(k3d.releases)
        assert len(list((state / "releases").glob("*.json"))) == count
        summary = out.split("summary:\n")[1].splitlines()[:count]
        assert all(line.rstrip().endswith("installed") for line in summary), summary
        assert "waiting for KnativeServing knative-serving/knative-serving Ready" in out
        # domain: auto read once, in the first release carrying the domain, before its helm
        domain = environments.magic_dns_domain(autodomain.EXAMPLE_ADDRESS)
        assert out.count(f"domain auto: {domain}") == 1
        # The first domain user to start (gateway-tls waits for istio-ingress-class too).
        first = min(autodomain.targets(k3d), key=lambda r: records[r]["started_at"])
        assert re.search(rf"\[{first}\] domain auto: .*\n(.*\n)*?.*\[{first}\] inst", out)
        assert records[first]["started_at"] >= records["istio-gateway"]["installed_at"]
        for release, path in autodomain.targets(k3d).items():
            assert path.read_text().startswith(autodomain.HEADER), release
            assert domain in path.read_text(), release
        again, _ = _install(capsys, k3d)
        assert _started(again) == []
        assert again.count("up to date") >= count


def test_failure_stops_new_starts_and_names_the_release(
    capsys: pytest.CaptureFixture[str], schema_dir: Path, k3d: Resolved
) -> None:
    with simulate.fake_cluster(k3d, SCALE, _times(), fail="istiod", schema_dir=schema_dir) as state:
        with pytest.raises(UserError, match="fix istiod and re-run with FROM=istiod"):
            _install(capsys, k3d)
        out, err = capsys.readouterr()
        assert "release istiod failed: Error: UPGRADE FAILED" in err
        assert "helm rolled it back (--rollback-on-failure)" in err
        assert re.search(r"istiod +- +failed", out) and re.search(r"models +- +not started", out)
        installed = {p.stem for p in (state / "releases").glob("*.json")}
        assert "istio-gateway" not in installed and "models" not in installed
        assert not (state / "undone").exists()  # helm undid istiod; nothing else touched


def test_gate_timeout_rolls_back_only_this_runs_change(
    capsys: pytest.CaptureFixture[str], schema_dir: Path, k3d: Resolved
) -> None:
    # only models is slow: every other gate is ready at once, so on a loaded machine no
    # earlier release can hit the 2 s timeout first
    instant = {release: {**t, "ready": 0.0} for release, t in simulate.load_times().items()}
    slow = {**instant, "models": {"helm": 3, "ready": 100000}}
    with simulate.fake_cluster(k3d, SCALE, slow, schema_dir=schema_dir) as state:
        with pytest.raises(UserError, match="FROM=models"):
            _install(capsys, k3d, timeout="2s")
        _, err = capsys.readouterr()
        # the first of models' gates: Knative Serving is known to set Ready on its Service
        assert "Service models/helloworld-go Ready not reached in 2s" in err
        assert "rolled back (`helm uninstall models --namespace models --wait`)" in err
        assert sorted(p.name for p in (state / "undone").iterdir()) == ["models"]
        # resume: only models is attempted again, everything before stays
        with pytest.raises(UserError, match="FROM=models"):
            _install(capsys, k3d, timeout="2s", start="models")
        assert sorted(p.name for p in (state / "undone").iterdir()) == ["models"]


@pytest.mark.parametrize(
    ("version", "context", "force", "message"),
    [
        ("1.33.4", "k3d-mlstack", False, "the cluster runs Kubernetes v1.33.4, outside k3d's"),
        ("1.36.0", "k3d-mlstack", True, "outside k3d's supported 1.34-1.35"),
        ("1.35.8", "kind-prod", False, "kube context 'kind-prod' does not look like"),
    ],
)
def test_cluster_checked_before_anything(
    capsys: pytest.CaptureFixture[str],
    schema_dir: Path,
    k3d: Resolved,
    version: str,
    context: str,
    force: bool,
    message: str,
) -> None:
    with simulate.fake_cluster(
        k3d, SCALE, _times(), server_version=version, context=context, schema_dir=schema_dir
    ) as state:
        with pytest.raises(UserError, match=re.escape(message)) as err:
            _install(capsys, k3d, force=force)
        assert "\n" not in str(err.value)
        assert not (state / "releases").exists()


def test_force_installs_into_another_context(
    capsys: pytest.CaptureFixture[str], schema_dir: Path, k3d: Resolved
) -> None:
    with simulate.fake_cluster(k3d, SCALE, _times(), context="kind-lab", schema_dir=schema_dir):
        out, _ = _install(capsys, k3d, force=True, start="models")
        assert "FORCE=1: installing into context kind-lab" in out
        assert _started(out) == ["models"]


def test_existing_cluster_is_the_current_context(
    capsys: pytest.CaptureFixture[str], schema_dir: Path, k3d: Resolved
) -> None:
    """`cluster: existing` brings its own cluster: any context, only the version is checked."""
    edit_env(k3d.values_dir, "k3d", cluster="existing")
    # `make generate`: the gateway's k3d node ports are derived from the cluster kind.
    for stale in (k3d.values_dir / "k3d" / "generated").glob("*.yaml"):
        stale.unlink()
    for path, text in generate.derived_files([resolve.resolve("k3d", k3d.values_dir)]).items():
        path.write_text(text)
    mine = resolve.resolve("k3d", k3d.values_dir, local=True)
    with simulate.fake_cluster(mine, SCALE, _times(), context="kind-prod", schema_dir=schema_dir):
        out, _ = _install(capsys, mine, start="models")
        assert "FORCE=1" not in out and _started(out) == ["models"]
    with (
        simulate.fake_cluster(
            mine,
            SCALE,
            _times(),
            context="kind-prod",
            server_version="1.33.1",
            schema_dir=schema_dir,
        ),
        pytest.raises(UserError, match=re.escape("outside k3d's supported 1.34-1.35")),
    ):
        _install(capsys, mine)


def test_benchmark_line(schema_dir: Path) -> None:
    line = simulate.benchmark("k3d", 0.01, 4, quiet=True)
    match = re.fullmatch(r"install: wall=(\d+)s critical-path=(\d+)s serial=(\d+)s", line)
    assert match, line
    wall, critical, serial = map(int, match.groups())
    assert critical < serial and wall >= critical  # figures only: the target is the benchmark's


def _secret(namespace: str, name: str, **data: str) -> dict[str, object]:
    meta = {"name": name, "namespace": namespace}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "data": data}


def test_missing_secrets_stop_the_install_before_any_release(
    capsys: pytest.CaptureFixture[str], schema_dir: Path, tmp_path: Path
) -> None:
    """Auth (bundled Dex) + JupyterHub: the Secrets their values read are checked before
    the first release; one line per missing Secret or key, nothing installed. With them
    all present the install goes on."""
    values = simulate.sim_values(tmp_path / "values")
    edit_env(values, "k3d", auth={"enabled": True}, components={"jupyterhub": True})
    for path, text in generate.derived_files([resolve.resolve("k3d", values)]).items():
        path.write_text(text)  # what `make install-platform` generates first
    auth = resolve.resolve("k3d", values, local=True)
    partial = _secret("dex", "dex-users", **{"client-secret": "eA==", "admin": "eA=="})
    with simulate.fake_cluster(
        auth, SCALE, _times(), schema_dir=schema_dir, existing=[partial]
    ) as state:
        with pytest.raises(UserError) as err:
            _install(capsys, auth)
        lines = str(err.value).splitlines()
        assert lines[0].startswith("Secret dex/dex-users has no key jupyterhub-client-secret")
        assert lines[1].startswith(
            "Secret jupyterhub/jupyterhub-oauth is missing (read by jupyterhub)"
        )
        assert "kubectl -n jupyterhub create secret generic jupyterhub-oauth" in lines[1]
        assert lines[2] == "install-platform k3d: nothing was installed"
        assert not (state / "releases").exists()
    complete = [
        _secret(
            "dex",
            "dex-users",
            **{k: "eA==" for k in ("client-secret", "admin", "jupyterhub-client-secret")},
        ),
        _secret("jupyterhub", "jupyterhub-oauth", **{"client-secret": "eA=="}),
    ]
    with simulate.fake_cluster(auth, SCALE, _times(), schema_dir=schema_dir, existing=complete):
        out, _ = _install(capsys, auth, start="models")
        assert _started(out) == ["models"]
