"""`make uninstall-platform ENV=…`: remove the releases in reverse install order.

Before a release goes, its custom resources (sample models, KnativeServing...) are deleted
and awaited while the controllers of earlier releases still run, so their finalizers
complete; then the admission webhook configurations its Services serve are deleted, so no
request hangs on a webhook whose pods are gone. CRDs that the charts mark
`helm.sh/resource-policy: keep` (cert-manager `crds.keep`, Seldon `crd.annotations`,
Istio upstream) survive `helm uninstall`; PURGE=1 deletes every CRD the releases brought,
because deleting a CRD deletes every custom resource of that kind in the cluster. Some
upstream charts template their CRDs with no keep option (MetalLB, the Knative operator,
kserve-crd, emissary-crds): `helm uninstall` would delete those, and every resource of
those kinds, users' own included, so without PURGE=1 the uninstall refuses before it
removes anything.
"""

from __future__ import annotations

import json
import time
from typing import Any

import yaml

from mlstack.errors import UserError
from mlstack.lib import helm
from mlstack.lifecycle import plan, readiness
from mlstack.lifecycle.kube import Kube
from mlstack.lifecycle.shell import Runner, display
from mlstack.resolve import Resolved

WEBHOOK_API = "admissionregistration.k8s.io/v1"
KEEP = ("helm.sh/resource-policy", "keep")


def unkept_crds(objects: list[dict[str, Any]]) -> list[str]:
    """Names of the CRDs in a release's manifest that `helm uninstall` would delete."""
    return [
        o["metadata"]["name"]
        for o in objects
        if o.get("kind") == "CustomResourceDefinition"
        and (o["metadata"].get("annotations") or {}).get(KEEP[0]) != KEEP[1]
    ]


def refuse_crd_loss(env: str, unkept: dict[str, list[str]]) -> None:
    """Without PURGE=1, nothing is uninstalled while a release would take CRDs with it."""
    if not unkept:
        return
    named = "; ".join(f"{release}: {len(crds)} CRD(s)" for release, crds in unkept.items())
    raise UserError(
        f"uninstall-platform {env}: helm would delete CRDs the upstream charts do not keep "
        f"({named}) and every resource of those kinds in the cluster: re-run with PURGE=1 "
        "to accept that; nothing was uninstalled"
    )


def uninstall_command(release: str, namespace: str, timeout: str) -> list[str]:
    return ["helm", "uninstall", release, "--namespace", namespace, "--wait", "--timeout", timeout]


def exclusive_namespaces(resolved: Resolved, release: str) -> set[str]:
    """Namespaces no earlier release of the env uses (they stay installed a while longer)."""
    components = [r.component for r in resolved.releases]
    ids = [c.id for c in components]
    mine = components[ids.index(release)].namespace
    earlier = {c.namespace for c in components[: ids.index(release)]}
    return set() if mine in earlier else {mine}


def describe(resolved: Resolved, purge: bool, timeout: str) -> list[str]:
    releases = [r.component for r in reversed(resolved.releases)]
    n = len(releases)
    lines = [f"uninstall-platform {resolved.name}: {n} release(s), reverse install order"]
    for i, c in enumerate(releases, 1):
        lines.append(
            f"[{i}/{n}] {c.id}: delete the custom resources in its manifest and wait for them"
        )
        lines.append("  then: delete webhook configurations served by its Services")
        lines.append(f"  $ {display(uninstall_command(c.id, c.namespace, timeout))}")
    lines.append(
        "then: delete the CRDs these releases brought (PURGE=1)"
        if purge
        else "CRDs the charts mark keep stay (PURGE=1 deletes them); a release whose chart "
        "does not keep its CRDs stops the uninstall before anything is removed"
    )
    return lines


def _wait_gone(kube: Kube, refs: list[readiness.Ref], timeout: str, prefix: str) -> None:
    deadline = time.monotonic() + plan.seconds(timeout)
    for ref in refs:
        while kube.get(ref) is not None:
            if time.monotonic() > deadline:
                raise UserError(
                    f"{prefix}: {ref} still exists after {timeout} (a finalizer whose controller "
                    "is gone?): inspect it with kubectl, then re-run uninstall-platform"
                )
            time.sleep(2)


def main(
    resolved: Resolved,
    *,
    dry_run: bool = False,
    purge: bool = False,
    timeout: str = plan.DEFAULT_TIMEOUT,
) -> int:
    env = resolved.env
    plan.seconds(timeout)
    if dry_run:
        print("\n".join(describe(resolved, purge, timeout)))
        return 0
    helm_bin = helm.binary()
    kube = Kube()
    runner = Runner()
    releases = [r.component for r in reversed(resolved.releases)]
    installed = {
        r["name"]: r
        for r in json.loads(runner.query([helm_bin, "list", "-A", "-o", "json"]).stdout or "[]")
    }
    manifests = {}
    for c in releases:
        if c.id in installed:
            out = runner.query([helm_bin, "get", "manifest", c.id, "-n", c.namespace]).stdout
            manifests[c.id] = [d for d in yaml.safe_load_all(out) if isinstance(d, dict)]
    if not purge:
        unkept = {r: lost for r, objs in manifests.items() if (lost := unkept_crds(objs))}
        refuse_crd_loss(env.name, unkept)
    n = len(releases)
    print(f"uninstall-platform {env.name}: {n} release(s) from kube context {kube.context}")
    for i, c in enumerate(releases, 1):
        prefix = f"[{i}/{n}] {c.id}"
        if c.id not in manifests:
            print(f"{prefix}: not installed; skipping")
            continue
        objects = manifests[c.id]
        custom = [readiness.ref_of(o, c.namespace) for o in objects if readiness.is_custom(o)]
        for ref in custom:
            if kube.delete(ref):
                print(f"{prefix}: deleted {ref}")
        _wait_gone(kube, custom, timeout, prefix)
        services = {
            (o["metadata"].get("namespace") or c.namespace, o["metadata"]["name"])
            for o in objects
            if o.get("kind") == "Service"
        }
        configs = [
            cfg for kind in sorted(readiness.WEBHOOK_KINDS) for cfg in kube.items(WEBHOOK_API, kind)
        ]
        for ref in readiness.webhooks_served_by(
            configs, services, exclusive_namespaces(resolved, c.id)
        ):
            if kube.delete(ref):
                print(f"{prefix}: deleted {ref}")
        cmd = uninstall_command(c.id, c.namespace, timeout)
        print(f"  $ {display(cmd)}")
        runner.query([helm_bin, *cmd[1:]])
        print(f"{prefix}: uninstalled")
    owners = {(c.id, c.namespace) for c in releases}
    crds = readiness.helm_owned(
        kube.items("apiextensions.k8s.io/v1", "CustomResourceDefinition"), owners
    )
    if purge:
        for ref in crds:
            if kube.delete(ref):
                print(f"purge: deleted {ref}")
    elif crds:
        print(
            f"kept {len(crds)} CRD(s): make uninstall-platform ENV={env.name} PURGE=1 deletes them"
        )
    return 0
