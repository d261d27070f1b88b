"""The Secrets a user creates before installing, found in the values that read them.

No secret is in Git: a release that needs one (Dex's users and OAuth client secrets, the
JupyterHub client secret or password) reads it from a Secret the user creates, through a
`secretKeyRef` in its values (components/dex.py, components/jupyterhub.py write them). So
the list is read from each release's merged values, never typed a second time: a component
that starts reading a Secret is listed, checked and documented without touching this module.

A missing Secret or key otherwise surfaces as a pod that never starts and a 10-minute
`helm --wait` timeout; the plan, `build/<env>/install.sh`, the GitOps README and the live
installer all list or check them before the first release.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mlstack.lifecycle.shell import display
from mlstack.resolve import Resolved


@dataclass(frozen=True)
class Required:
    """One Secret the user must create: where, which keys, and which releases read it."""

    namespace: str
    name: str
    keys: tuple[str, ...]
    releases: tuple[str, ...]

    def create_command(self) -> list[str]:
        """`kubectl create secret generic` with a placeholder per key (what each holds is
        in the README: a bcrypt hash per Dex user, random client secrets)."""
        literals = [f"--from-literal={key}=<{key}>" for key in self.keys]
        return ["kubectl", "-n", self.namespace, "create", "secret", "generic", self.name,
                *literals]  # fmt: skip

    def describe(self) -> str:
        return (
            f"Secret {self.namespace}/{self.name} (keys {', '.join(self.keys)}; read by "
            f"{', '.join(self.releases)})"
        )


def _refs(node: Any) -> Iterator[tuple[str, str]]:
    """(Secret name, key) of every `secretKeyRef` in a values tree."""
    if isinstance(node, dict):
        ref = node.get("secretKeyRef")
        if isinstance(ref, dict) and ref.get("name") and ref.get("key"):
            yield str(ref["name"]), str(ref["key"])
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def required(resolved: Resolved) -> list[Required]:
    """Every Secret the env's releases read, in install order of the first reader; keys in
    the order the values name them."""
    found: dict[tuple[str, str], tuple[dict[str, None], dict[str, None]]] = {}
    for release in resolved.releases:
        for name, key in _refs(release.values):
            keys, readers = found.setdefault((release.namespace, name), ({}, {}))
            keys[key] = None
            readers[release.id] = None
    return [
        Required(namespace, name, tuple(keys), tuple(readers))
        for (namespace, name), (keys, readers) in found.items()
    ]


def plan_lines(resolved: Resolved) -> list[str]:
    """What the dry run prints before the first release."""
    needed = required(resolved)
    if not needed:
        return []
    lines = [f"secrets: create these before installing ({len(needed)}; never in Git):"]
    for secret in needed:
        lines.append(f"  {secret.describe()}")
        lines.append(f"  $ kubectl create namespace {secret.namespace}  # if it does not exist")
        lines.append(f"  $ {display(secret.create_command())}")
    return lines


def shell_lines(resolved: Resolved) -> list[str]:
    """`install.sh`: the Secrets as comments, then a check that stops before any release
    with one line per missing Secret or key."""
    needed = required(resolved)
    if not needed:
        return []
    out = ["\n# Secrets you create before installing (never in Git):"]
    for secret in needed:
        out.append(f"#   {secret.describe()}:")
        out.append(f"#   kubectl create namespace {secret.namespace}")
        out.append(f"#   {display(secret.create_command())}")
    out.append("missing=0")
    for secret in needed:
        where = f"-n {secret.namespace}"
        out.append(
            f"if ! kubectl {where} get secret {secret.name} >/dev/null 2>&1; then\n"
            f'  echo "error: Secret {secret.namespace}/{secret.name} is missing: create it '
            f'with keys {", ".join(secret.keys)} (see the comments above)" >&2; missing=1\n'
            "else"
        )
        for key in secret.keys:
            path = "{.data." + key.replace(".", "\\.") + "}"
            out.append(
                f"  [ -n \"$(kubectl {where} get secret {secret.name} -o jsonpath='{path}')\" ] "
                f'|| {{ echo "error: Secret {secret.namespace}/{secret.name} has no key '
                f'{key}: add it" >&2; missing=1; }}'
            )
        out.append("fi")
    out.append('[ "$missing" = 0 ] || exit 1')
    return out


def problems(resolved: Resolved, get_secret: Callable[[str, str], Any]) -> list[str]:
    """The live check: one line per missing Secret or key (`get_secret(namespace, name)`
    returns the object or None)."""
    out = []
    for secret in required(resolved):
        obj = get_secret(secret.namespace, secret.name)
        if obj is None:
            out.append(
                f"Secret {secret.namespace}/{secret.name} is missing (read by "
                f"{', '.join(secret.releases)}): create it with keys "
                f"{', '.join(secret.keys)}: {display(secret.create_command())}"
            )
            continue
        have = {**(obj.get("data") or {}), **(obj.get("stringData") or {})}
        for key in secret.keys:
            if not have.get(key):
                out.append(
                    f"Secret {secret.namespace}/{secret.name} has no key {key} (read by "
                    f"{', '.join(secret.releases)}): add it (kubectl -n {secret.namespace} "
                    f"edit secret {secret.name})"
                )
    return out
