"""KServe CRDs (InferenceService, ClusterServingRuntime, ...): every environment.

Its own release, first of the KServe chain `kserve-crd` -> `kserve` -> `model-runtimes`:
Helm cannot create custom resources whose CRDs arrive in the same release, and KServe's
own webhook must be serving before runtimes or InferenceServices are applied.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlstack.lib.component import Component, Dependency
from mlstack.lib.model import Values

NAMESPACE = "kserve"


class KserveCrdValues(Values):
    kserve_crd: dict[str, Any] = Field(
        default_factory=dict,
        description="Values of the upstream kserve-crd chart (it has none of its own today).",
    )


COMPONENT = Component(
    id="kserve-crd",
    description="KServe custom resource definitions (v0.20).",
    values=KserveCrdValues,
    namespace=NAMESPACE,
    project="kserve",
    module=__name__,
    dependencies=(Dependency(chart="kserve-crd", alias="kserveCrd"),),
    keywords=("kserve", "crds"),
)
