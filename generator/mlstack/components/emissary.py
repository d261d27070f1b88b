"""Emissary-ingress, the OSS Ambassador API gateway (no Edge Stack / AES).

Opt-in: environments that enable it (environments.EMISSARY); Seldon's ambassador mode
publishes models through it. Installed after `emissary-crds`. We wrap the OSS
`emissary-ingress` chart, whose image is Emissary's own (ghcr.io/emissary-ingress), so no
Ambassador Edge Stack image, licence key or AES-only feature is ever installed. Emissary
listens on nothing until a Listener exists, so the chart's default HTTP/HTTPS Listeners
are on. When legacy CRD versions are served, it waits for their conversion webhook.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstack.components import emissary_crds
from mlstack.environments import Environment
from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values

#: Service name of the gateway; pinned so Seldon's ambassador-mode smoke test can find it.
SERVICE = "emissary-ingress"


def _upstream_defaults() -> dict[str, Any]:
    return {
        "fullnameOverride": SERVICE,
        # One replica fits a laptop; raise it in values/<env>/emissary.yaml for production.
        "replicaCount": 1,
        "createDefaultListeners": True,
        "waitForApiext": {
            "enabled": False,
            "deploymentName": "emissary-apiext",
            "deploymentNamespace": emissary_crds.NAMESPACE,
        },
    }


class EmissaryValues(Values):
    emissary_ingress: dict[str, Any] = Field(
        default_factory=_upstream_defaults,
        description="Values of the upstream emissary-ingress chart.",
    )


def _env_values(env: Environment) -> dict[str, Any]:
    # The conversion webhook exists only when legacy versions are served.
    wait = emissary_crds.legacy_versions(env)
    return {"emissaryIngress": {"waitForApiext": {"enabled": wait}}}


COMPONENT = Component(
    id="emissary",
    description="Emissary-ingress (OSS Ambassador) API gateway, without Edge Stack.",
    values=EmissaryValues,
    namespace=emissary_crds.EMISSARY_NAMESPACE,
    project="emissary",
    module=__name__,
    dependencies=(Dependency(chart="emissary-ingress", alias="emissaryIngress"),),
    needs=("emissary-crds",),
    env_values=_env_values,
    keywords=("emissary", "ambassador", "api-gateway"),
)
