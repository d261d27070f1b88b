"""Install simulation: the REAL installer against a simulated cluster on 127.0.0.1.

`make bench-install` (and tests) run `install.main` unchanged (the real Kube client with
its discovery, the real cluster checks, the real scheduler and gates) against:

- a fake Kubernetes API (this module) answering the reads the installer makes: /version,
  discovery, single objects, CRDs, EndpointSlices and Events. Objects of a release exist
  once the fake helm deployed it; custom resources report Ready and webhook endpoints turn
  ready `ready` seconds later (benchmarks/install-times.yaml);
- a fake helm (fake_helm.py) whose `upgrade` takes the release's `helm` seconds.

Manifests are real where they can be: glue charts come from `helm template`; a wrapper
whose upstream chart is not downloaded becomes one Deployment plus, for the first release
of its project, the project's upstream CRDs (MLSTACK_SCHEMA_DIR). Times run scaled down
(`scale` real seconds per simulated second; 0.1 by default, because the real fixed costs,
process start-ups and API round trips, count 1/scale times over) and are reported in
simulated seconds; the last line is `install: wall=<s>s critical-path=<s>s serial=<s>s`.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

from mlstack import REPO_ROOT, environments, render, resolve, versions
from mlstack.errors import UserError
from mlstack.lib import helm, schemas, validate
from mlstack.lifecycle import autodomain, install, plan, readiness
from mlstack.resolve import Resolved

TIMES = REPO_ROOT / "benchmarks" / "install-times.yaml"
FAKE_HELM = Path(__file__).with_name("fake_helm.py")
#: Kinds the installer reads that no manifest necessarily contains.
BUILTIN = {
    ("v1", "Event"): True,
    ("v1", "Service"): True,
    ("v1", "Secret"): True,
    ("v1", "Namespace"): False,
    ("discovery.k8s.io/v1", "EndpointSlice"): True,
    ("apps/v1", "Deployment"): True,
    ("apps/v1", "DaemonSet"): True,
    ("apps/v1", "StatefulSet"): True,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): False,
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"): False,
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"): False,
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass"}


@dataclass
class Release:
    name: str
    namespace: str
    objects: list[readiness.Obj]
    ready_seconds: float


class Cluster:
    """The simulated API's state: which objects exist and how ready they are, now."""

    def __init__(
        self,
        state: Path,
        releases: dict[str, Release],
        crds: list[readiness.Obj],
        scale: float,
        version: str,
    ) -> None:
        self.state, self.releases, self.scale, self.version = state, releases, scale, version
        self.crds = crds
        self.kinds: dict[tuple[str, str], tuple[str, bool]] = {}  # (apiVersion, kind)
        for key, namespaced in BUILTIN.items():
            self.kinds[key] = (key[1].lower() + "s", namespaced)
        every = [o for r in releases.values() for o in r.objects] + crds
        for crd in (o for o in every if o.get("kind") == "CustomResourceDefinition"):
            spec = crd["spec"]
            for v in spec["versions"]:
                key = (f"{spec['group']}/{v['name']}", spec["names"]["kind"])
                self.kinds[key] = (spec["names"]["plural"], spec.get("scope") == "Namespaced")
        for obj in every:
            key = (obj["apiVersion"], obj["kind"])
            self.kinds.setdefault(key, (obj["kind"].lower() + "s", key[1] not in CLUSTER_SCOPED))

    def installed_at(self, release: str) -> float | None:
        path = self.state / "releases" / f"{release}.json"
        try:
            return float(json.loads(path.read_text())["installed_at"])
        except (OSError, ValueError, KeyError):
            return None

    def live(self) -> Iterator[tuple[Release, float, readiness.Obj]]:
        """(release, seconds since deployed, object) for every object that exists now."""
        now = time.time()
        for rel in self.releases.values():
            at = self.installed_at(rel.name)
            if at is not None:
                for obj in rel.objects:
                    yield rel, (now - at) / self.scale, obj

    def with_status(self, rel: Release, age: float, obj: readiness.Obj) -> readiness.Obj:
        """The object as the API returns it `age` simulated seconds after helm deployed it
        (helm --wait=watcher already waited for workloads and CRDs)."""
        out: readiness.Obj = json.loads(json.dumps(obj))
        meta = out.setdefault("metadata", {})
        if self.kinds[(out["apiVersion"], out["kind"])][1]:
            meta.setdefault("namespace", rel.namespace)
        meta["generation"] = 1
        kind, ready = out["kind"], age >= rel.ready_seconds
        if kind == "Deployment":
            n = (out.get("spec") or {}).get("replicas", 1)
            out["status"] = {
                "observedGeneration": 1,
                "replicas": n,
                "updatedReplicas": n,
                "availableReplicas": n,
                "readyReplicas": n,
                "conditions": [{"type": "Available", "status": "True"}],
            }
        elif kind in ("DaemonSet", "StatefulSet"):
            n = (out.get("spec") or {}).get("replicas", 1)
            out["status"] = {
                "observedGeneration": 1,
                "desiredNumberScheduled": 1,
                "numberReady": 1,
                "updatedNumberScheduled": 1,
                "readyReplicas": n,
                "updatedReplicas": n,
            }
        elif kind == "CustomResourceDefinition":
            out["status"] = {"conditions": [{"type": "Established", "status": "True"}]}
        elif kind == "Service" and (out.get("spec") or {}).get("type") == "LoadBalancer":
            ingress = [{"ip": autodomain.EXAMPLE_ADDRESS}]  # MetalLB / the cloud, at once
            out["status"] = {"loadBalancer": {"ingress": ingress}}
        elif readiness.is_custom(out):
            state = "True" if ready else "Unknown"
            out["status"] = {
                "observedGeneration": 1,
                "conditions": [{"type": "Ready", "status": state}],
            }
        return out

    def objects(self) -> Iterator[readiness.Obj]:
        for crd in self.crds:
            yield self.with_status(Release("", "", [], 0), 0, crd)
        for rel, age, obj in self.live():
            yield self.with_status(rel, age, obj)

    def slices(self, namespace: str, service: str) -> list[readiness.Obj]:
        for rel, age, obj in self.live():
            meta = obj.get("metadata") or {}
            if (
                obj["kind"] == "Service"
                and meta.get("name") == service
                and (meta.get("namespace") or rel.namespace) == namespace
            ):
                ready = age >= rel.ready_seconds
                return [
                    {
                        "apiVersion": "discovery.k8s.io/v1",
                        "kind": "EndpointSlice",
                        "metadata": {"name": f"{service}-x", "namespace": namespace},
                        "endpoints": [{"addresses": ["10.42.0.9"], "conditions": {"ready": ready}}],
                    }
                ]
        return []


PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?(?:/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?)?$"
)


def handler(cluster: Cluster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def reply(self, code: int, body: object) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            url = url._replace(path=url.path.rstrip("/") or "/")
            if url.path == "/version":
                minor = cluster.version.split(".")[1]
                suffix = ".8+k3s1" if cluster.version.count(".") == 1 else ""
                git = f"v{cluster.version}{suffix}"
                return self.reply(
                    200,
                    {
                        "major": "1",
                        "minor": minor,
                        "gitVersion": git,
                        "gitCommit": "sim",
                        "gitTreeState": "clean",
                        "buildDate": "2026-01-01T00:00:00Z",
                        "goVersion": "go1.25",
                        "compiler": "gc",
                        "platform": "linux/amd64",
                    },
                )
            if url.path == "/api":
                return self.reply(200, {"kind": "APIVersions", "versions": ["v1"]})
            if url.path == "/apis":
                groups: dict[str, list[str]] = {}
                for api, _ in cluster.kinds:
                    if "/" in api:
                        g, v = api.split("/")
                        groups.setdefault(g, []).append(v) if v not in groups.get(g, []) else None
                return self.reply(
                    200,
                    {
                        "kind": "APIGroupList",
                        "apiVersion": "v1",
                        "groups": [
                            {
                                "name": g,
                                "versions": [
                                    {"groupVersion": f"{g}/{v}", "version": v} for v in vs
                                ],
                                "preferredVersion": {
                                    "groupVersion": f"{g}/{vs[0]}",
                                    "version": vs[0],
                                },
                            }
                            for g, vs in sorted(groups.items())
                        ],
                    },
                )
            match = PATH.match(url.path)
            if not match:
                return self.reply(404, {"kind": "Status", "code": 404})
            api = "v1" if match["core"] else f"{match['group']}/{match['version']}"
            if not match["plural"]:
                return self.reply(
                    200,
                    {
                        "kind": "APIResourceList",
                        "groupVersion": api,
                        "resources": [
                            {
                                "name": plural,
                                "singularName": "",
                                "namespaced": ns,
                                "kind": kind,
                                "verbs": ["get", "list", "delete"],
                            }
                            for (a, kind), (plural, ns) in cluster.kinds.items()
                            if a == api
                        ],
                    },
                )
            kind = next(
                (
                    k
                    for (a, k), (p, _) in cluster.kinds.items()
                    if a == api and p == match["plural"]
                ),
                None,
            )
            if kind is None:
                return self.reply(404, {"kind": "Status", "code": 404})
            if kind == "EndpointSlice":
                selector = parse_qs(url.query).get("labelSelector", [""])[0]
                service = selector.split("=", 1)[-1]
                items = cluster.slices(match["ns"] or "", service)
            else:
                items = [
                    o
                    for o in cluster.objects()
                    if o["apiVersion"] == api
                    and o["kind"] == kind
                    and (match["ns"] is None or o["metadata"].get("namespace") == match["ns"])
                ]
            if match["name"]:
                found = [o for o in items if o["metadata"]["name"] == match["name"]]
                if not found:
                    return self.reply(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                return self.reply(200, found[0])
            return self.reply(
                200, {"kind": f"{kind}List", "apiVersion": api, "metadata": {}, "items": items}
            )

    return Handler


def load_times(path: Path = TIMES) -> dict[str, dict[str, float]]:
    data = yaml.safe_load(path.read_text()) or {}
    return {
        k: {"helm": float(v.get("helm", 0)), "ready": float(v.get("ready", 0))}
        for k, v in data.items()
    }


def critical_path(steps: tuple[plan.Step, ...], times: dict[str, dict[str, float]]) -> float:
    """Longest chain of (helm + ready) seconds along the needs graph."""
    finish: dict[str, float] = {}
    for step in steps:  # registry order respects needs
        begin = max((finish[n] for n in step.needs if n in finish), default=0.0)
        finish[step.release] = begin + times[step.release]["helm"] + times[step.release]["ready"]
    return max(finish.values(), default=0.0)


def manifests(the_plan: plan.Plan, schema_dir: Path) -> dict[str, list[readiness.Obj]]:
    """Each release's objects: real `helm template` output, or for a wrapper without its
    upstream chart a Deployment plus its project's upstream CRDs (first release only)."""
    out: dict[str, list[readiness.Obj]] = {}
    seen_projects: set[str] = set()
    projects = versions.load().projects
    gateway = the_plan.resolved.facts.gateway
    for step in the_plan.steps:
        c = step.component
        if not render.missing_dependencies(c, step.chart.parent):
            text = install.template(the_plan, step)
            out[c.id] = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
            continue
        objs: list[readiness.Obj] = [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": c.id},
                "spec": {"replicas": 1},
            }
        ]
        if c.id == gateway.release:  # the Service `domain: auto` reads its address from
            meta = {"name": gateway.service, "namespace": gateway.namespace}
            objs.append(
                {"apiVersion": "v1", "kind": "Service", "metadata": meta,
                 "spec": {"type": "LoadBalancer"}}
            )  # fmt: skip
        folder = projects[c.project].crds
        if folder and c.project not in seen_projects:
            objs += [_slim(d) for d in schemas.crd_documents(schema_dir / "crds" / folder)]
        seen_projects.add(c.project)
        out[c.id] = objs
    return out


def _slim(crd: readiness.Obj) -> readiness.Obj:
    """A CRD with only what the installer reads (names, versions, whether status has
    conditions): parsing megabytes of real schemas would be CPU time the scaled clock
    multiplies."""
    versions_ = []
    for v in crd["spec"]["versions"]:
        status = (
            ((v.get("schema") or {}).get("openAPIV3Schema") or {}).get("properties") or {}
        ).get("status") or {}
        conditions = "conditions" in (status.get("properties") or {})
        props = {"status": {"type": "object", "properties": {"conditions": {"type": "array"}}}}
        schema = {
            "openAPIV3Schema": {"type": "object", **({"properties": props} if conditions else {})}
        }
        versions_.append(
            {
                "name": v["name"],
                "served": v.get("served", True),
                "storage": v.get("storage", False),
                "schema": schema,
            }
        )
    spec = {k: crd["spec"][k] for k in ("group", "names", "scope")}
    return {
        "apiVersion": crd["apiVersion"],
        "kind": crd["kind"],
        "metadata": {"name": crd["metadata"]["name"]},
        "spec": {**spec, "versions": versions_},
    }


def sim_values(target: Path) -> Path:
    """A copy of the committed values without this machine's overlays: the installer
    writes the `domain: auto` overlays there, never into the checkout."""
    shutil.copytree(resolve.VALUES_DIR, target, ignore=shutil.ignore_patterns(resolve.LOCAL))
    return target


def _recorded_values(resolved: Resolved, step: plan.Step) -> dict[str, Any]:
    """What the fake helm records for a release: its values files merged, with the
    `domain: auto` overlay the installer writes before it (from the simulated address)."""
    domain = environments.magic_dns_domain(autodomain.EXAMPLE_ADDRESS)
    overlay = autodomain.overlays(resolved, domain) if resolved.env.auto_domain else {}
    return validate.deep_merge(step.desired_values(), overlay.get(step.release, {}))


@contextlib.contextmanager
def fake_cluster(
    resolved: Resolved,
    scale: float,
    times: dict[str, dict[str, float]],
    *,
    fail: str | None = None,
    server_version: str | None = None,
    context: str = "k3d-mlstack",
    schema_dir: Path | None = None,
    existing: Sequence[readiness.Obj] = (),
) -> Iterator[Path]:
    """A simulated cluster for the resolved env (resolve it from `sim_values`); sets
    KUBECONFIG and HELM while active and yields the state directory (releases/ deployed,
    undone/ rolled back or uninstalled). `existing`: objects the user created before the
    install (the Secrets the releases read)."""
    env = resolved.env
    the_plan = plan.build(resolved)
    objects = manifests(the_plan, schema_dir or schemas.schema_dir())
    with tempfile.TemporaryDirectory(prefix="mlstack-sim-") as tmp:
        state = Path(tmp)
        releases = {}
        spec = {}
        for step in the_plan.steps:
            t = times[step.release]
            releases[step.release] = Release(
                step.release, step.namespace, objects[step.release], t["ready"]
            )
            spec[step.release] = {
                "chart": f"{step.release}-{step.chart_version}",
                "values": _recorded_values(resolved, step),
                "manifest": yaml.safe_dump_all(objects[step.release]),
                "helm_seconds": t["helm"],
                "fail": step.release == fail,
            }
        (state / "plan.json").write_text(json.dumps({"scale": scale, "releases": spec}))
        cluster = Cluster(state, releases, list(existing), scale, server_version or env.kubernetes)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler(cluster))
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        port = server.server_address[1]
        kubeconfig = state / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": context,
                    "clusters": [
                        {"name": "sim", "cluster": {"server": f"http://127.0.0.1:{port}"}}
                    ],
                    "users": [{"name": "sim", "user": {"token": "sim"}}],
                    "contexts": [{"name": context, "context": {"cluster": "sim", "user": "sim"}}],
                }
            )
        )
        fake = state / "helm"
        fake.write_text(f'#!/bin/sh\nexec "{sys.executable}" -S "{FAKE_HELM}" "$@"\n')
        fake.chmod(0o755)
        saved = {k: os.environ.get(k) for k in ("KUBECONFIG", "HELM", "FAKE_HELM_STATE")}
        os.environ.update(KUBECONFIG=str(kubeconfig), HELM=str(fake), FAKE_HELM_STATE=str(state))
        helm.binary.cache_clear()
        try:
            yield state
        finally:
            server.shutdown()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            helm.binary.cache_clear()


def benchmark(env_name: str, scale: float, parallel: int, quiet: bool) -> str:
    times = load_times()
    with tempfile.TemporaryDirectory(prefix="mlstack-sim-values-") as tmp:
        resolved = resolve.resolve(env_name, sim_values(Path(tmp) / "values"), local=True)
        steps = plan.build(resolved).steps
        missing = [s.release for s in steps if s.release not in times]
        if missing:
            raise UserError(f"{TIMES.relative_to(REPO_ROOT)}: no time for {', '.join(missing)}")
        with fake_cluster(resolved, scale, times):
            began = time.monotonic()
            sink = io.StringIO()
            with contextlib.redirect_stdout(sink) if quiet else contextlib.nullcontext():
                install.main(resolved, parallel=parallel, poll=install.POLL_SECONDS * scale)
            wall = (time.monotonic() - began) / scale
    critical = critical_path(steps, times)
    serial = sum(times[s.release]["helm"] + times[s.release]["ready"] for s in steps)
    return f"install: wall={wall:.0f}s critical-path={critical:.0f}s serial={serial:.0f}s"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mlstack.lifecycle.simulate")
    p.add_argument("--env", default="k3d")
    p.add_argument("--scale", type=float, default=0.1, help="real seconds per simulated one")
    p.add_argument("--parallel", type=int, default=plan.DEFAULT_PARALLEL)
    p.add_argument("--quiet", action="store_true", help="only the last line")
    args = p.parse_args(argv)
    try:
        print(benchmark(args.env, args.scale, args.parallel, args.quiet))
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
