"""The install plan: order, exact helm commands per env (pinned), values layering, and the
pure decisions of a live install (up to date, rollback, last event, cluster checks) and the
plain-helm path parsed by the real helm 4 and kubectl."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import committed_envs, edit_env, enabled, values_copy
from mlstack import REPO_ROOT, generate, resolve
from mlstack.errors import UserError
from mlstack.lib import helm
from mlstack.lifecycle import autodomain, install, plan, readiness, secrets, simulate

GOLDEN = Path(__file__).parent / "golden" / "plan"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"


@pytest.fixture
def values(tmp_path: Path) -> Path:
    """The committed values without any machine-local overlay."""
    return values_copy(tmp_path / "values")


def _plan(env: str, values_dir: Path = resolve.VALUES_DIR, start: str | None = None) -> plan.Plan:
    return plan.build(resolve.resolve(env, values_dir, local=True), start)


@pytest.mark.parametrize("env_name", committed_envs())
def test_dry_run_plan_is_pinned(env_name: str, values: Path, schema_dir: Path) -> None:
    the_plan = _plan(env_name, values)
    gates = install.offline_gates(the_plan, schema_dir)
    text = "\n".join(plan.describe(the_plan, gates=gates)) + "\n"
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


def _helm4() -> str:
    assert helm.version(str(helm.LOCAL_HELM)) == (4, 1), "run `make setup` (helm 4.1.4)"
    return str(helm.LOCAL_HELM)


def _unreachable(tmp_path: Path) -> dict[str, str]:
    """A kubeconfig whose API server refuses connections: commands parse, then fail."""
    config = tmp_path / "kubeconfig"
    config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "k3d-mlstack",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "k3d-mlstack", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    return {**os.environ, "KUBECONFIG": str(config), "HELM_CACHE_HOME": str(tmp_path / "c")}


PARSE_ERRORS = (
    "unknown flag",
    "unknown shorthand",
    "invalid argument",
    "accepts ",
    "unknown command",
)


@pytest.mark.parametrize("env_name", committed_envs())
def test_plain_path_is_valid_helm4_and_kubectl(
    env_name: str, schema_dir: Path, tmp_path: Path
) -> None:
    """Every command of the dry run is parsed by the real helm 4.1.4 / kubectl 1.35.2 and
    fails only on the missing cluster; none names a script or the project's Python."""
    the_plan = plan.build(resolve.resolve(env_name))
    gates = install.offline_gates(the_plan, schema_dir)
    commands = []
    for step in the_plan.steps:
        commands.append(step.upgrade())
        commands += [plan.wait_command(g, "10m") for g in gates[step.release] or []]
    if the_plan.resolved.env.auto_domain:  # how install.sh reads the gateway's address
        commands.append(autodomain.address_command(the_plan.resolved))
    assert any(c[0] == "kubectl" for c in commands), "no kubectl wait at all"
    step = the_plan.steps[0]  # the undo commands the installer may run after a failed gate
    commands.append(plan.rollback([{"revision": 1, "status": "deployed"}, {"revision": 2}], step))
    commands.append(plan.rollback([{"revision": 1, "status": "failed"}], step))
    env = _unreachable(tmp_path)
    tools = {"helm": _helm4(), "kubectl": str(helm.LOCAL_KUBECTL)}
    for cmd in commands:
        text = " ".join(cmd)
        assert "scripts/" not in text and "python" not in text and ".py" not in text, text
        proc = subprocess.run(
            [tools[cmd[0]], *cmd[1:]], capture_output=True, text=True, env=env, cwd=REPO_ROOT
        )
        assert proc.returncode != 0, text  # nothing to install into
        assert not any(e in proc.stderr for e in PARSE_ERRORS), f"{text}: {proc.stderr}"
        assert re.search(
            r"unreachable|connection refused|missing in charts/ directory", proc.stderr
        ), f"{text}: {proc.stderr}"


def test_webhook_endpoint_wait_is_valid_kubectl(tmp_path: Path) -> None:
    gate = readiness.Gate(
        "endpoints", readiness.Ref("v1", "Service", "cert-manager-webhook", "cert-manager")
    )
    cmd = plan.wait_command(gate, "5m")
    proc = subprocess.run(
        [str(helm.LOCAL_KUBECTL), *cmd[1:]],
        capture_output=True,
        text=True,
        env=_unreachable(tmp_path),
    )
    assert proc.returncode != 0 and "connection refused" in proc.stderr, proc.stderr
    assert not any(e in proc.stderr for e in PARSE_ERRORS), proc.stderr
    with pytest.raises(ValueError, match="helm --wait judges"):
        plan.wait_command(readiness.Gate("available", gate.ref), "5m")


def test_install_script_has_only_helm_and_kubectl(schema_dir: Path) -> None:
    the_plan = plan.build(resolve.resolve("k3d"))
    text = plan.install_script(the_plan, "10m", install.offline_gates(the_plan, schema_dir))
    domain = "\n".join(autodomain.shell_lines(the_plan.resolved, plan.seconds("10m")))
    assert domain and domain in text  # k3d has domain: auto: the block tested below
    assert text.index(domain) < text.index("helm upgrade --install knative-serving")
    checked = "\n".join(plan.helm_check_lines())
    assert text.index(checked) < text.index("helm upgrade --install")  # tested below
    text = text.replace(domain, "").replace(checked, "")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines[0] == "set -euo pipefail"
    for line in lines[1:]:
        first = line.split()[0]
        assert first in ("helm", "kubectl", "["), line
        if first == "[":  # fetch a wrapper's upstream chart only when missing
            assert line.split("|| ")[1].startswith("helm dependency build charts/"), line
    assert "kubectl wait --for=condition=Ready inferenceservice.serving.kserve.io/" in text


def test_levels_follow_needs() -> None:
    steps = plan.build(resolve.resolve("k3d")).steps
    depth = plan.levels(steps)
    assert {r for r, d in depth.items() if d == 0} == {"namespaces"}
    # Everything else waits for its namespace to be labelled, then starts in parallel.
    assert {r for r, d in depth.items() if d == 1} == {
        "metallb", "istio-base", "cert-manager", "knative-operator", "kserve-crd"
    }  # fmt: skip
    for step in steps:
        assert all(depth[n] < depth[step.release] for n in step.needs)


@pytest.mark.parametrize(
    ("version", "problem"),
    [
        ("v1.35.8+k3s1", None),
        ("v1.34.2-eks-113cf36", None),
        ("v1.33.5", "the cluster runs Kubernetes v1.33.5, outside k3d's supported 1.34-1.35"),
        ("v1.36.0", "the cluster runs Kubernetes v1.36.0, outside k3d's supported 1.34-1.35"),
        ("garbage", "cannot read the Kubernetes version of the cluster ('garbage')"),
    ],
)
def test_server_version_window(version: str, problem: str | None) -> None:
    found = plan.server_problem(resolve.resolve("k3d"), version)
    assert found == problem if problem is None else (found or "").startswith(problem)


@pytest.mark.parametrize(
    ("context", "marker", "ok"),
    [
        ("k3d-mlstack", "k3d", True),
        ("mlstack", None, True),
        ("arn:aws:eks:eu-west-1:123456789012:cluster/mlstack", "eks", True),
        ("me@mlstack.eu-west-1.eksctl.io", "eks", True),
        ("k3d-other", "k3d", False),
        ("mlstack", "k3d", False),  # minikube's context while installing k3d
        ("prod-eu", None, False),
    ],
)
def test_context_must_look_like_the_cluster(context: str, marker: str | None, ok: bool) -> None:
    problem = plan.context_problem(context, "mlstack", marker)
    assert (problem is None) == ok
    if problem:
        assert problem.endswith("or set FORCE=1") and "\n" not in problem


def test_install_script_obtains_the_auto_domain_like_make(tmp_path: Path) -> None:
    """The script's `domain: auto` block, run by bash with a kubectl that answers the
    gateway's address on its second call, writes exactly the overlays make writes."""
    script_values = values_copy(tmp_path / "script" / "values")
    make_values = values_copy(tmp_path / "make" / "values")
    resolved = resolve.resolve("k3d", script_values, local=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "kubectl"  # stands in for the cluster only: the command is parsed below
    shim.write_text(
        f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n'
        f'[ "$(wc -l < {tmp_path}/calls)" -ge 2 ] && printf 192.0.2.77\n'
    )
    shim.chmod(0o755)
    block = "\n".join(["set -euo pipefail", *autodomain.shell_lines(resolved, 10)])
    path = f"{bin_dir}:{os.environ['PATH']}"
    proc = subprocess.run(
        ["bash", "-c", block.replace("sleep 2", "sleep 0")],
        capture_output=True, text=True, env={**os.environ, "PATH": path},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert calls[0].split() == autodomain.address_command(resolved)[1:]
    autodomain.apply(resolve.resolve("k3d", make_values, local=True), "192.0.2.77")
    made = sorted(p.name for p in (make_values / "k3d" / "local").iterdir())
    assert made == sorted(p.name for p in (script_values / "k3d" / "local").iterdir())
    for name in made:
        written = (script_values / "k3d" / "local" / name).read_text()
        assert written == (make_values / "k3d" / "local" / name).read_text(), name
    assert resolve.resolve("k3d", script_values, local=True).env.domain == "192.0.2.77.sslip.io"


def test_install_script_without_an_address_stops_in_one_line(tmp_path: Path) -> None:
    resolved = resolve.resolve("k3d", values_copy(tmp_path / "values"), local=True)
    (tmp_path / "kubectl").write_text("#!/bin/sh\nexit 1\n")  # API down: no address
    (tmp_path / "kubectl").chmod(0o755)
    block = "\n".join(["set -euo pipefail", *autodomain.shell_lines(resolved, 2)])
    proc = subprocess.run(
        ["bash", "-c", block.replace("sleep 2", "sleep 0")], capture_output=True, text=True,
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "domain auto: Service istio-system/istio-gateway has no load-balancer IP after 2s"
    ]
    assert not (tmp_path / "values" / "k3d" / "local").exists()


def test_fixed_domain_needs_no_address_step() -> None:
    assert autodomain.shell_lines(resolve.resolve("eks"), 600) == []


def test_namespaces_release_adopts_namespaces_users_created_first() -> None:
    """Users create `dex` or `jupyterhub` to hold their Secrets before installing: helm
    would refuse to install a Namespace it does not own, so that release takes ownership."""
    steps = {s.release: s for s in plan.build(resolve.resolve("k3d")).steps}
    assert "--take-ownership" in steps["namespaces"].upgrade()
    assert all("--take-ownership" not in s.upgrade() for r, s in steps.items() if r != "namespaces")


def _helm_check(helm_dir: Path) -> subprocess.CompletedProcess[str]:
    """The install.sh helm check, run by bash with only `helm_dir` on PATH."""
    block = "\n".join(["set -euo pipefail", *plan.helm_check_lines()])
    return subprocess.run(
        ["/bin/bash", "-c", block], capture_output=True, text=True, env={"PATH": str(helm_dir)}
    )


def test_install_script_checks_the_helm_it_runs(tmp_path: Path) -> None:
    """Helm 4 (the pinned one) passes; a Helm 3 or no helm stops in one line saying what is
    needed, before any release."""
    real = tmp_path / "real"
    real.mkdir()
    (real / "helm").symlink_to(helm.binary())
    assert helm.version(helm.binary())[0] == 4  # type: ignore[index]
    assert _helm_check(real).returncode == 0
    old = tmp_path / "old"
    old.mkdir()
    (old / "helm").write_text("#!/bin/sh\nprintf v3.17.3\n")  # `helm version --template`
    (old / "helm").chmod(0o755)
    for where, shown in ((old, "v3.17.3"), (tmp_path, "missing")):
        proc = _helm_check(where)
        assert proc.returncode == 1
        (line,) = proc.stderr.splitlines()
        flags = " ".join(plan.HELM4_WAITS)
        assert f"needs Helm 4.x (it uses {flags}); helm on PATH is {shown}" in line
        assert "make install-platform" in line


@pytest.fixture
def auth_values(tmp_path: Path) -> Path:
    """k3d with auth (bundled Dex) and JupyterHub on, generated as make does first."""
    values = values_copy(tmp_path / "values")
    edit_env(values, "k3d", auth={"enabled": True}, components={"jupyterhub": True})
    for path, text in generate.derived_files([resolve.resolve("k3d", values)]).items():
        path.write_text(text)
    return values


def test_dry_run_lists_the_secrets_before_the_first_release(
    auth_values: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    resolved = resolve.resolve("k3d", auth_values, local=True)
    install.main(resolved, dry_run=True, out_dir=tmp_path / "build")
    out = capsys.readouterr().out
    first = out.index("helm upgrade --install")
    assert (
        "Secret dex/dex-users (keys client-secret, admin, jupyterhub-client-secret" in out[:first]
    )
    assert "kubectl -n dex create secret generic dex-users " in out[:first]
    assert "Secret jupyterhub/jupyterhub-oauth (keys client-secret" in out[:first]
    script = (tmp_path / "build" / "k3d" / "install.sh").read_text()
    assert script.index("kubectl -n dex get secret dex-users") < script.index("helm upgrade")


def test_install_script_checks_the_secrets_with_kubectl(
    auth_values: Path, tmp_path: Path, schema_dir: Path
) -> None:
    """The script's Secret check, run by bash with the real kubectl against the simulated
    API holding a dex-users without one key: one line per missing Secret or key, exit 1."""
    resolved = resolve.resolve("k3d", auth_values, local=True)
    block = "\n".join(["set -euo pipefail", *secrets.shell_lines(resolved)])
    kubectl = helm.LOCAL_KUBECTL if helm.LOCAL_KUBECTL.exists() else shutil.which("kubectl")
    assert kubectl, "kubectl: run `make setup`"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").symlink_to(kubectl)
    meta = {"name": "dex-users", "namespace": "dex"}
    partial = {"apiVersion": "v1", "kind": "Secret", "metadata": meta,
               "data": {"client-secret": "eA==", "admin": "eA=="}}  # fmt: skip
    times = simulate.load_times()
    with simulate.fake_cluster(resolved, 0.01, times, schema_dir=schema_dir, existing=[partial]):
        proc = subprocess.run(
            ["/bin/bash", "-c", block], capture_output=True, text=True,
            env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"},
        )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [
        "error: Secret dex/dex-users has no key jupyterhub-client-secret: add it",
        "error: Secret jupyterhub/jupyterhub-oauth is missing: create it with keys "
        "client-secret (see the comments above)",
    ]


def _cli_install(values: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "mlstack", "install", "--env", "eks", "--values-dir", str(values)]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, check=False)


def test_a_real_install_refuses_the_eks_examples_placeholders(tmp_path: Path) -> None:
    """The committed EKS example keeps its placeholders (it must render); a real install
    refuses each in one line naming the key, before any cluster is contacted; the dry run
    only warns. With the user's own values the check is silent."""
    values = values_copy(tmp_path / "values")
    nowhere = {**os.environ, "KUBECONFIG": str(tmp_path / "no-kubeconfig")}
    real = _cli_install(values, env=nowhere)
    assert real.returncode == 2
    keys = [line.split(": ")[2] for line in real.stderr.splitlines()]
    assert keys == ["domain", "tls.acme.route53.hostedZoneId", "tls.acme.route53.role"]
    assert "models.example.org" in real.stderr and "Z0123456789EXAMPLE" in real.stderr
    dry = _cli_install(values, "--dry-run", env=nowhere)
    assert dry.returncode == 0, dry.stderr
    warnings = [line for line in dry.stdout.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 3 and all("a real install refuses it" in w for w in warnings)
    tls = yaml.safe_load((values / "eks" / "environment.yaml").read_text())["tls"]
    tls["acme"]["route53"].update(
        hostedZoneId="Z08241234ABCDEFGH", role="arn:aws:iam::210987654321:role/cert-manager"
    )
    edit_env(values, "eks", domain="models.acme-corp.io", tls=tls)
    for path, text in generate.derived_files([resolve.resolve("eks", values)]).items():
        path.write_text(text)  # what make generates first
    own = _cli_install(values, env=nowhere)
    assert own.returncode == 2 and "is the example's" not in own.stderr
    assert "kube" in own.stderr.lower()  # the cluster's turn: no kubeconfig here
    own_dry = _cli_install(values, "--dry-run", env=nowhere)
    assert own_dry.returncode == 0 and "warning: " not in own_dry.stdout


def test_plan_waits_only_on_conditions_with_evidence(values: Path, schema_dir: Path) -> None:
    """With everything on (auth with the bundled Dex, JupyterHub, Seldon through Istio), the
    dry-run plan waits on no condition of an Istio kind, and each condition it waits on is
    one the kind's controller is known to set (data/components.yaml `conditions:`)."""
    from helpers import edit_env
    from mlstack import registry

    edit_env(values, "k3d", domain="ml.lab.test", auth={"enabled": True}, seldon="istio",
             components={"jupyterhub": True})  # fmt: skip
    the_plan = _plan("k3d", values)
    assert {"model-auth", "dex", "seldon-gateway"} <= {s.release for s in the_plan.steps}
    gates = install.offline_gates(the_plan, schema_dir)
    assert gates["model-auth"] == [] and gates["seldon-gateway"] == []
    known = registry.conditions()
    waits = [g for found in gates.values() for g in found or [] if g.what == "ready"]
    assert waits, "no condition gate at all: the check below would pass vacuously"
    for gate in waits:
        group = readiness.group_of(gate.ref.api_version)
        assert known.get((group, gate.ref.kind)) == gate.condition, gate.describe()
    text = "\n".join(plan.describe(the_plan, gates=gates))
    waited = re.findall(r"kubectl wait --for=condition=\S+ (\S+)", text)
    assert waited and not [w for w in waited if ".istio.io/" in w], waited
    for golden in sorted(GOLDEN.glob("*.txt")):
        assert ".istio.io/" not in " ".join(
            re.findall(r"kubectl wait --for=condition=\S+ (\S+)", golden.read_text())
        ), golden.name
