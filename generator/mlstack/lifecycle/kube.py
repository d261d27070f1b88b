"""The live cluster, through the `kubernetes` client: fetch objects as plain API dicts.

Thin on purpose: every decision about those objects lives in readiness.py / plan.py as
pure functions; this module only connects, gets, lists and deletes.
"""

from __future__ import annotations

import os
from typing import Any

from mlstack.errors import UserError
from mlstack.lifecycle.readiness import Obj, Ref


def kubeconfig() -> str | None:
    """$KUBECONFIG read now (the client reads it once, at import), else the client default."""
    return os.environ.get("KUBECONFIG") or None


def current_context() -> str:
    """The kube context in use, or a one-line error when there is none."""
    from kubernetes import config

    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig())
    except (config.ConfigException, OSError):
        active = None
    if not active:
        raise UserError(
            "no kube context: create a cluster (`make cluster ENV=<env>`) or point "
            "KUBECONFIG at one"
        )
    return str(active["name"])


class Kube:
    """A connection to the cluster of the current kube context."""

    def __init__(self) -> None:
        from kubernetes import client, config, dynamic

        self.context = current_context()
        try:
            config.load_kube_config(config_file=kubeconfig(), context=self.context)
            self._client = dynamic.DynamicClient(client.ApiClient())
        except Exception as err:  # the client raises urllib3/ConfigException variants
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UserError(
                f"cannot reach the Kubernetes API of context {self.context}: {first}: "
                "is the cluster running?"
            ) from None

    def server_version(self) -> str:
        """The API server's gitVersion (GET /version), e.g. v1.35.8+k3s1."""
        from kubernetes import client

        try:
            return str(client.VersionApi(self._client.client).get_code().git_version)
        except Exception as err:  # urllib3 / ApiException variants
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise UserError(
                f"cannot read the Kubernetes version of context {self.context}: {first}: "
                "is the cluster running?"
            ) from None

    def _resource(self, api_version: str, kind: str) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return self._client.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            return None  # the CRD is not served (yet)

    def get(self, ref: Ref) -> Obj | None:
        from kubernetes.client.exceptions import ApiException

        resource = self._resource(ref.api_version, ref.kind)
        if resource is None:
            return None
        try:
            return dict(resource.get(name=ref.name, namespace=ref.namespace).to_dict())
        except ApiException as err:
            if err.status == 404:
                return None
            raise

    def items(
        self, api_version: str, kind: str, namespace: str | None = None, selector: str = ""
    ) -> list[Obj]:
        resource = self._resource(api_version, kind)
        if resource is None:
            return []
        result = resource.get(namespace=namespace, label_selector=selector or None)
        return [dict(item) for item in result.to_dict().get("items") or []]

    def delete(self, ref: Ref) -> bool:
        """Delete one object; False when it was already gone."""
        from kubernetes.client.exceptions import ApiException

        resource = self._resource(ref.api_version, ref.kind)
        if resource is None:
            return False
        try:
            resource.delete(name=ref.name, namespace=ref.namespace)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    def crd(self, api_version: str, kind: str) -> Obj | None:
        """The CRD serving a custom kind (found by group and kind)."""
        group = api_version.rsplit("/", 1)[0]
        for crd in self.items("apiextensions.k8s.io/v1", "CustomResourceDefinition"):
            spec = crd.get("spec") or {}
            if spec.get("group") == group and (spec.get("names") or {}).get("kind") == kind:
                return crd
        return None

    def endpoint_slices(self, namespace: str, service: str) -> list[Obj]:
        return self.items(
            "discovery.k8s.io/v1",
            "EndpointSlice",
            namespace,
            f"kubernetes.io/service-name={service}",
        )

    def events(self, namespace: str) -> list[Obj]:
        return self.items("v1", "Event", namespace)
