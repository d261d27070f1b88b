"""Container image references, checked against the grammar the container runtime uses.

The grammar is the one of the distribution project's `reference` package (what Docker,
containerd and Kubernetes parse): `[domain[:port]/]path[:tag][@digest]`, path components
lower-case and separated by `.`, `_`, `__` or dashes, a tag of at most 128 word
characters, dots and dashes, a digest `algorithm:hex`. An image that does not parse here
would only fail when a node tries to pull it.
"""

from __future__ import annotations

import re

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
NAME = re.compile(_NAME, re.ASCII)
TAG = re.compile(_TAG, re.ASCII)
REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
#: The runtime's limit on the repository name.
MAX_NAME = 255


def has_tag(image: str) -> bool:
    """Whether `image` names its tag or digest (else the runtime pulls `:latest`)."""
    found = REFERENCE.fullmatch(image)
    if found is None:  # not a reference: only the last path part can hold a tag
        return ":" in image.rsplit("/", 1)[-1] or "@" in image
    return bool(found.group(2) or found.group(3))


def check_repository(text: str) -> str:
    """`registry/path/name` without tag or digest."""
    if not NAME.fullmatch(text) or len(text) > MAX_NAME:
        raise ValueError(
            f"{text!r} is not an image repository such as docker.io/kserve/sklearnserver "
            "(lower-case path, no tag)"
        )
    return text


def check_tag(text: str) -> str:
    if not TAG.fullmatch(text):
        raise ValueError(f"{text!r} is not an image tag (letters, digits, _ . -; at most 128)")
    return text


def check_pinned_tag(text: str) -> str:
    """A tag that names one build: `latest` moves, so it is no pin."""
    check_tag(text)
    if text == "latest":
        raise ValueError("'latest' is not a pin: name a version tag")
    return text


def check_reference(text: str) -> str:
    """A whole reference `repository[:tag][@digest]`, as a Pod's `image` field takes it."""
    match = REFERENCE.fullmatch(text)
    if not match or len(match.group(1)) > MAX_NAME:
        raise ValueError(
            f"{text!r} is not an image reference such as registry.example/team/model:1.0 "
            "(lower-case repository, optional :tag and @sha256:digest)"
        )
    return text
