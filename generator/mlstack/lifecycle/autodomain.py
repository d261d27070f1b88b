"""`domain: auto`: the install step turns the gateway's address into `<ip>.sslip.io`.

Laptops have no DNS of their own; sslip.io resolves `<ip>.sslip.io` (and every name under
it) to `<ip>`. The address exists only once the istio-gateway release's LoadBalancer
Service has one, so rendered output carries a placeholder domain and, right before the
first release that needs the domain, the installer reads the Service's address and writes
machine-local overlays (git-ignored, like the MetalLB range):

- `values/<env>/local/environment.yaml`: `domain: <ip>.sslip.io`, so smoke (and any later
  resolution with local overlays) sees the real domain;
- `values/<env>/local/<id>.yaml` for each release whose derived values change with the
  domain (Knative's config-domain, KServe's ingress domain): exactly those values.

Which releases and keys those are is not listed here: it is found by deriving each
release's values with the placeholder and with the real domain and keeping what differs,
so a component that starts using the domain is covered without touching this module.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from mlstack import environments
from mlstack.errors import UserError
from mlstack.lib import yamlfile
from mlstack.resolve import AUTO_DOMAIN_HEADER, LOCAL, Resolved, leaves

#: An address from TEST-NET-1 (RFC 5737): what the dry run shows in place of the real one.
EXAMPLE_ADDRESS = "192.0.2.10"
HEADER = AUTO_DOMAIN_HEADER


def _nest(leaves: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, value in leaves.items():
        *parents, last = path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def overlays(resolved: Resolved, domain: str) -> dict[str, dict[str, Any]]:
    """release id -> the derived values that differ between the placeholder and `domain`."""
    placeholder = replace(resolved.facts, domain=environments.AUTO_PLACEHOLDER)
    real = replace(resolved.facts, domain=domain)
    out = {}
    for release in resolved.releases:
        derive = release.component.derive
        if derive is None:
            continue
        before, after = leaves(derive(placeholder)), leaves(derive(real))
        changed = {k: v for k, v in after.items() if before.get(k) != v}
        if changed:
            out[release.id] = _nest(changed)
    return out


def local_file(resolved: Resolved, name: str) -> Path:
    return resolved.values_dir / resolved.name / LOCAL / name


def targets(resolved: Resolved) -> dict[str, Path]:
    """Releases that get a domain overlay at install time -> that overlay's path."""
    if not resolved.env.auto_domain:
        return {}
    example = environments.magic_dns_domain(EXAMPLE_ADDRESS)
    return {rid: local_file(resolved, f"{rid}.yaml") for rid in overlays(resolved, example)}


def address(service: dict[str, Any] | None) -> str | None:
    """The first load-balancer IP of a Service object (None while it has none)."""
    entries = ((service or {}).get("status") or {}).get("loadBalancer", {}).get("ingress") or []
    for entry in entries:
        if entry.get("ip"):
            return str(entry["ip"])
    return None


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(HEADER + yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
    tmp.replace(path)


def apply(resolved: Resolved, ip: str) -> str:
    """Write the overlays for the gateway address `ip`; returns the domain."""
    domain = environments.magic_dns_domain(ip)
    for release, data in overlays(resolved, domain).items():
        _write(local_file(resolved, f"{release}.yaml"), data)
    _write(local_file(resolved, environments.FILE), {"domain": domain})
    return domain


def describe(resolved: Resolved) -> list[str]:
    """What the dry run prints for `domain: auto` (nothing for a fixed domain)."""
    found = targets(resolved)
    if not found:
        return []
    gateway = resolved.facts.gateway
    files = ", ".join(yamlfile.shown(p) for p in found.values())
    return [
        f"domain auto: before {next(iter(found))}, read the load-balancer address of Service "
        f"{gateway.address} and write {files} and "
        f"{yamlfile.shown(local_file(resolved, environments.FILE))} with domain "
        f"<address>.sslip.io (e.g. {environments.magic_dns_domain(EXAMPLE_ADDRESS)})"
    ]


def wait_for_address(get_service: Any, resolved: Resolved, seconds: int, sleep: Any) -> str:
    """Poll the gateway Service until it has a load-balancer IP (or fail in one line)."""
    gateway = resolved.facts.gateway
    for _ in range(max(1, seconds // 2)):
        ip = address(get_service(gateway.namespace, gateway.service))
        if ip:
            return ip
        sleep(2)
    source = "the MetalLB pool" if resolved.env.load_balancer == "metallb" else "the cloud"
    raise UserError(
        f"domain auto: Service {gateway.address} has no load-balancer IP after {seconds}s: "
        f"check {source}, or set a fixed domain in {resolved.env.shown(resolved.values_dir)}"
    )


def forget(values_dir: Path, env: str) -> None:
    """Remove the overlays this module wrote (their address belonged to a deleted cluster)."""
    folder = values_dir / env / LOCAL
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        if path.read_text().startswith(HEADER):
            path.unlink()


#: Stands for the domain while the overlays are dumped for a shell heredoc (an RFC 2606
#: name, so it cannot be a real domain a component might already carry).
_SHELL_PLACEHOLDER = "mlstack-domain.invalid"


def address_command(resolved: Resolved) -> list[str]:
    """`kubectl` printing the gateway Service's load-balancer IP (empty while it has none)."""
    gateway = resolved.facts.gateway
    return ["kubectl", "get", "service", gateway.service, "-n", gateway.namespace,
            "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}"]  # fmt: skip


def shell_lines(resolved: Resolved, seconds: int) -> list[str]:
    """What `build/<env>/install.sh` runs before the first release that needs the domain:
    wait for the gateway Service's load-balancer IP (kubectl jsonpath), then write the same
    overlays `apply` writes, so the helm commands are the ones make runs."""
    from mlstack.lifecycle.shell import display

    found = targets(resolved)
    if not found:
        return []
    gateway = resolved.facts.gateway
    get_ip = display(address_command(resolved))
    lines = [
        f"\n# domain: auto -> <load-balancer IP of Service {gateway.address}>."
        f"{environments.MAGIC_DNS_SUFFIX}",
        'ip=""',
        f"for _ in $(seq {max(1, seconds // 2)}); do",
        f"  ip=$({get_ip} || true)",
        '  [ -n "$ip" ] && break',
        "  sleep 2",
        "done",
        f'[ -n "$ip" ] || {{ echo "domain auto: Service {gateway.address} has no '
        f'load-balancer IP after {seconds}s" >&2; exit 1; }}',
        f'domain="$ip.{environments.MAGIC_DNS_SUFFIX}"',
    ]
    data_of = overlays(resolved, _SHELL_PLACEHOLDER)
    written = [(found[rid], data) for rid, data in data_of.items()]
    written.append((local_file(resolved, environments.FILE), {"domain": _SHELL_PLACEHOLDER}))
    lines.append(f"mkdir -p {display([str(local_file(resolved, ''))])}")
    for path, data in written:
        text = yaml.safe_dump(data, sort_keys=False, default_flow_style=False)
        if any(c in text for c in "$`\\"):
            raise ValueError(f"{path.name}: overlay text would be expanded by the shell")
        body = (HEADER + text).replace(_SHELL_PLACEHOLDER, "${domain}")
        lines.append(f"cat > {display([str(path)])} <<EOF\n{body}EOF")
    return lines
