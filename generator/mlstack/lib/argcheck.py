"""Command-line values (and the Make variables behind them) checked before any use.

Each function takes the raw text and returns it (or its normalised form), raising
`argparse.ArgumentTypeError` with a message saying what is expected, so argparse reports
`argument --ingress: ...` in one line. They are `type=` callables of the CLI's options.
Why each matters: `INGRESS=host:99999` used to reach the HTTP client; `--branch=-f`
reaches `git` as an option; an empty or relative URL lands in committed GitOps manifests.
"""

from __future__ import annotations

import argparse
import ipaddress
import re

from mlstack.lib.fields import DNS_LABEL, DNS_SUBDOMAIN

_SHA = re.compile(r"[0-9a-f]{7,64}", re.ASCII)
_CHART_ID = re.compile(r"[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?", re.ASCII)
_HOST = re.compile(DNS_SUBDOMAIN.strip("^$").replace("a-z", "a-zA-Z"), re.ASCII)
_ENV = re.compile(DNS_LABEL.strip("^$"), re.ASCII)
_REMOTE = re.compile(r"(https?|ssh|git|file)://[^\s]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+")


def _bad(message: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(message)


def domain(text: str) -> str:
    """A DNS domain models are served under (lower case, at least two labels)."""
    if len(text) > 253 or "." not in text or not re.fullmatch(DNS_SUBDOMAIN, text):
        raise _bad(f"{text!r} is not a DNS domain: give yours, or <gateway-ip>.sslip.io")
    return text


def port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= 65535:
        raise _bad(f"{text!r} is not a port number: use 1 to 65535")
    return int(text)


def host(text: str) -> str:
    """A DNS name or an IP address (IPv6 with or without brackets)."""
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        ipaddress.ip_address(bare)
        return text
    except ValueError:
        pass
    if len(text) > 253 or not _HOST.fullmatch(text):
        raise _bad(f"{text!r} is not a host name or IP address")
    return text


def host_port(text: str) -> str:
    """`host` or `host:port` (`[::1]:8080` for IPv6)."""
    if text.startswith("["):
        head, _, tail = text.partition("]")
        host(head + "]")
        if tail:
            if not tail.startswith(":"):
                raise _bad(f"{text!r} is not host[:port]")
            port(tail[1:])
        return text
    if text.count(":") == 1:
        name, number = text.split(":")
        host(name)
        port(number)
        return text
    host(text)
    return text


def refname(text: str, what: str = "branch") -> str:
    """A Git branch or tag name by `git check-ref-format --branch` rules."""
    problems = (
        not text,
        text.startswith(("-", "/", ".")),
        text.endswith(("/", ".", ".lock")),
        ".." in text or "//" in text or "@{" in text or "/." in text,
        text == "@",
        any(ord(c) < 32 or ord(c) == 127 or c in " ~^:?*[\\" for c in text),
    )
    if any(problems):
        raise _bad(
            f"{text!r} is not a valid Git {what} name (no leading '-', spaces, '..', "
            "~^:?*[\\ or trailing '.lock')"
        )
    return text


def branch(text: str) -> str:
    return refname(text, "branch")


def revision(text: str) -> str:
    """What Argo CD / Flux follow: a branch, a tag, HEAD or a commit id."""
    if text == "" or text == "HEAD" or _SHA.fullmatch(text):
        return text
    return refname(text, "revision")


def http_url(text: str) -> str:
    """A chart repository URL written into index.yaml."""
    if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text, re.ASCII):
        raise _bad(f"{text!r} is not an http(s):// URL")
    return text


def oci_url(text: str) -> str:
    if not re.fullmatch(r"oci://[^\s/]+(/\S*)?", text, re.ASCII):
        raise _bad(f"{text!r} is not an OCI reference such as oci://ghcr.io/<org>/charts")
    return text


def git_remote(text: str) -> str:
    """A Git URL or a local path; never something git would read as an option."""
    if not text:
        return text  # "not set": the command says what to set
    if text.startswith("-") or any(ord(c) < 32 for c in text):
        raise _bad(f"{text!r} is not a Git URL or path")
    if "://" in text and not _REMOTE.fullmatch(text):
        raise _bad(f"{text!r} is not a Git URL (https://, ssh://, git://, file://)")
    return text


def chart_id(text: str) -> str:
    if not _CHART_ID.fullmatch(text):
        raise _bad(f"{text!r} is not a chart id (lower-case letters, digits and '-')")
    return text


def env_name(text: str) -> str:
    """An environment is a folder *name* under values/, never a path: `../values/k3d`,
    `k3d/`, `./k3d` or ` k3d` would otherwise run as k3d and let outputs escape their
    folders (`build/<env>`, a GitOps `envs/<env>`)."""
    if not _ENV.fullmatch(text):
        raise _bad(
            f"{text!r} is not an environment name: use the folder name under values/ "
            "(lower-case letters, digits and '-', e.g. k3d)"
        )
    return text


def env_or_all(text: str) -> str:
    return text if text == "all" else env_name(text)


def path(text: str) -> str:
    """A file system path option: not empty, not an option, no NUL."""
    if not text or text.startswith("-") or "\0" in text:
        raise _bad(f"{text!r} is not a path")
    return text
