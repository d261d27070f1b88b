"""Value types for Kubernetes fields, with the limits the API server enforces.

A regular expression alone lets a 64-character name or a 2^40 replica count through, and
the API server then refuses the object at install time, far from the values file. These
types carry the real limits into both the chart's `values.schema.json` (so Helm checks
them too) and the model (so generate and render name the file and key):

- DNS-1123 label (namespaces, most object names): at most 63, `[a-z0-9-]`, alphanumeric ends;
- DNS-1123 subdomain (FQDNs, Secret names): at most 253, each dot-separated label as above;
- label value: at most 63, `[A-Za-z0-9_.-]`, alphanumeric ends, or empty;
- label key: optional DNS subdomain prefix and `/`, name at most 63;
- replicas: 0 to `MAX_REPLICAS` (a model server with more pods than that is a typo);
- ports: 1 to 65535;
- image references: the container runtime's grammar (lib/images).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from mlstack.lib import images

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
DNS_LABEL = rf"^{_LABEL}$"
DNS_SUBDOMAIN = rf"^{_LABEL}(\.{_LABEL})*$"
#: An FQDN needs at least one dot (example.com, svc.cluster.local names).
DNS_NAME = rf"^{_LABEL}(\.{_LABEL})+$"
LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
LABEL_KEY = rf"^({_LABEL}(\.{_LABEL})*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{{0,61}}[A-Za-z0-9])?$"
#: Upper bound of any replica count in values: far above what a serving platform runs.
MAX_REPLICAS = 1000

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]
DnsSubdomain = Annotated[str, Field(pattern=DNS_SUBDOMAIN, max_length=253)]
DnsName = Annotated[str, Field(pattern=DNS_NAME, max_length=253)]
LabelValue = Annotated[str, Field(pattern=LABEL_VALUE, max_length=63)]
LabelKey = Annotated[str, Field(pattern=LABEL_KEY, max_length=317)]
Labels = dict[LabelKey, LabelValue]
Replicas = Annotated[int, Field(ge=0, le=MAX_REPLICAS)]
Port = Annotated[int, Field(ge=1, le=65535)]
ImageRef = Annotated[
    str,
    Field(pattern=f"^{images.REFERENCE.pattern}$", max_length=512),
    AfterValidator(images.check_reference),
]
