"""Derived values of the istio-gateway row (data/components.yaml): laptop reachability.

On k3d the gateway must answer on the host's 127.0.0.1:8080/8443 on every OS (Docker
Desktop hosts cannot reach the MetalLB addresses on the Docker network). k3d's load
balancer forwards a host port to the same port on the nodes, and with ServiceLB disabled
nothing listens on the nodes' 80/443; so the gateway's LoadBalancer Service keeps fixed
node ports and platform/k3d.yaml maps 127.0.0.1:<host port> to them (LAPTOP_PORTS in
lib/facts.py, one table for both sides). MetalLB still hands the Service its address.
"""

from __future__ import annotations

from typing import Any

from mlstack.lib.facts import LAPTOP_PORTS, Facts

#: The upstream chart's Service ports (istio/gateway values.yaml, 1.30): a list replaces
#: the chart's whole list, so all of them are restated with the node ports added.
PORTS = (("status-port", 15021), ("http2", 80), ("https", 443))


def derive(facts: Facts) -> dict[str, Any]:
    if facts.env.cluster != "k3d":
        return {}
    ports = []
    for name, port in PORTS:
        entry: dict[str, Any] = {"name": name, "port": port, "protocol": "TCP", "targetPort": port}
        if name in LAPTOP_PORTS:
            entry["nodePort"] = LAPTOP_PORTS[name][0]
        ports.append(entry)
    return {"gateway": {"service": {"ports": ports}}}
