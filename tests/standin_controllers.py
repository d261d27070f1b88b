"""Stand-ins for the controllers that cannot run on the simulated cluster (KWOK runs no pods).

The simulated cluster has a real API server, controller manager and scheduler, but the
platform's own controllers are pods, and pods do not run there. Two things the installer
waits on therefore never happen by themselves, and this module does them, explicitly:

(a) Conditions, for the kinds in data/components.yaml `conditions:` ONLY (registry.conditions,
    each row with the upstream file and version that shows its controller sets it): once an
    object of such a kind exists, set status.conditions[type=<that condition>]=True and
    status.observedGeneration through the status subresource. This stands in for the named
    controller: cert-manager (Certificate, Issuer, ClusterIssuer), the Knative operator
    (KnativeServing), Knative Serving (Service), KServe (InferenceService) and Seldon
    (SeldonDeployment). A kind without evidence gets nothing, so a gate on a condition that
    no controller of that kind sets still never completes and the install fails.
    The Knative operator, before it reports a KnativeServing Ready, applies Knative Serving's
    release manifests, CRDs included (a release of Knative Services needs them): given
    `installs`, the stand-in creates those upstream CRDs (the pinned version's files from
    the schema directory) first. It creates no Deployment: serving's pods are not checked.
(b) MetalLB's controller: a Service of type LoadBalancer (no other loadBalancerClass) gets
    status.loadBalancer.ingress, an address from an IPAddressPool's spec.addresses, as MetalLB
    assigns it; without a pool, nothing (as MetalLB).

Anything else the install waits on is left alone. `acted` records which kinds it acted for.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

#: The conditions' reason: says who set them when someone reads the object.
REASON = "StandIn"
METALLB = ("metallb.io", "IPAddressPool")


def _pool_addresses(spec: dict[str, Any]) -> Iterator[str]:
    """The addresses of one IPAddressPool's spec.addresses (CIDRs and `a-b` ranges)."""
    for entry in spec.get("addresses") or []:
        if "-" in entry:
            first, last = (ipaddress.ip_address(x.strip()) for x in entry.split("-", 1))
            at = first
            while at <= last:
                yield str(at)
                at += 1
        else:
            net = ipaddress.ip_network(entry, strict=False)
            hosts = net.hosts() if net.num_addresses > 2 else iter(net)
            yield from (str(ip) for ip in hosts)


class Standins(threading.Thread):
    """Polls the API and acts as above until `stop` is set."""

    def __init__(
        self,
        kubeconfig: Path,
        conditions: dict[tuple[str, str], str],
        installs: dict[tuple[str, str], list[dict[str, Any]]] | None = None,
    ) -> None:
        super().__init__(daemon=True, name="standin-controllers")
        api = config.new_client_from_config(config_file=str(kubeconfig))
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)
        self.ext = client.ApiextensionsV1Api(api)
        self.conditions = conditions
        self.installs = installs or {}
        self.stop = threading.Event()
        self.acted: set[str] = set()
        self.errors: list[str] = []

    def run(self) -> None:
        while not self.stop.wait(1.0):
            try:
                self.once()
            except ApiException as err:  # the next round retries (conflicts, CRD not served)
                if err.status not in (404, 409):
                    self.errors.append(f"{err.status} {err.reason}")
            except Exception as err:
                self.errors.append(repr(err))

    def _served(self) -> dict[tuple[str, str], tuple[str, str, bool]]:
        """(group, Kind) -> (storage version, plural, has status subresource)."""
        out = {}
        for crd in self.ext.list_custom_resource_definition().items:
            spec = crd.spec
            for version in spec.versions:
                if version.storage:
                    # `status: {}` declares it: an empty (falsy) object, so test for presence
                    status = bool(version.subresources) and version.subresources.status is not None
                    out[(spec.group, spec.names.kind)] = (version.name, spec.names.plural, status)
        return out

    def once(self) -> None:
        served = self._served()
        for (group, kind), condition in sorted(self.conditions.items()):
            if (group, kind) in served:
                self._conditions(group, kind, condition, served[(group, kind)])
        if METALLB in served:
            self._load_balancers(served[METALLB])

    def _conditions(
        self, group: str, kind: str, condition: str, how: tuple[str, str, bool]
    ) -> None:
        version, plural, has_status = how
        items = self.custom.list_cluster_custom_object(group, version, plural)["items"]
        for obj in items:
            meta = obj["metadata"]
            status = obj.setdefault("status", {}) or {}
            conds = [c for c in status.get("conditions") or [] if c.get("type") != condition]
            current = [c for c in status.get("conditions") or [] if c.get("type") == condition]
            generation = meta.get("generation")
            if (
                current
                and current[0].get("status") == "True"
                and status.get("observedGeneration") == generation
            ):
                continue
            for crd in self.installs.get((group, kind), []):
                try:
                    self.ext.create_custom_resource_definition(crd)
                    self.acted.add(f"{group}/{kind} (its controller's CRDs)")
                except ApiException as err:
                    if err.status != 409:  # already there
                        raise
            now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            conds.append(
                {
                    "type": condition,
                    "status": "True",
                    "reason": REASON,
                    "message": "set by tests/standin_controllers.py for its controller",
                    "lastTransitionTime": now,
                }
            )
            status["conditions"] = conds
            if generation is not None:
                status["observedGeneration"] = generation
            obj["status"] = status
            if not has_status:  # no status subresource: the object itself carries status
                self.errors.append(f"{kind} has no status subresource")
                continue
            namespace = meta.get("namespace")
            if namespace:
                self.custom.replace_namespaced_custom_object_status(
                    group, version, namespace, plural, meta["name"], obj
                )
            else:
                self.custom.replace_cluster_custom_object_status(
                    group, version, plural, meta["name"], obj
                )
            self.acted.add(f"{group}/{kind}")

    def _load_balancers(self, how: tuple[str, str, bool]) -> None:
        version, plural, _ = how
        pools = self.custom.list_cluster_custom_object(METALLB[0], version, plural)["items"]
        if not pools:
            return
        services = self.core.list_service_for_all_namespaces().items
        taken = {
            ing.ip
            for svc in services
            for ing in ((svc.status.load_balancer and svc.status.load_balancer.ingress) or [])
        }
        for svc in services:
            if svc.spec.type != "LoadBalancer" or svc.spec.load_balancer_class:
                continue
            if svc.status.load_balancer and svc.status.load_balancer.ingress:
                continue
            free = next(
                (
                    ip
                    for pool in pools
                    for ip in _pool_addresses(pool.get("spec") or {})
                    if ip not in taken
                ),
                None,
            )
            if free is None:
                return  # the pools are exhausted: MetalLB leaves the Service pending too
            body = {"status": {"loadBalancer": {"ingress": [{"ip": free, "ipMode": "VIP"}]}}}
            self.core.patch_namespaced_service_status(
                svc.metadata.name, svc.metadata.namespace, body
            )
            taken.add(free)
            self.acted.add("v1/Service type LoadBalancer (MetalLB)")
