"""Container image references: ``name:tag@digest`` split into its parts, and back.

Core, pure: strings in, strings out. The ``$imagepolicy`` markers (``core/markers.py``)
rewrite image references the way Flux's image-automation-controller does: its full
setter writes ImagePolicy ``status.latestRef`` as ``ImageRef.String()``, which is
``name + ":" + tag``, plus ``"@" + digest`` when the digest is not empty
(fluxcd/image-reflector-controller ``api/v1/imagepolicy_types.go``). The name is the
image repository (``ghcr.io/org/app``, ``registry:5000/app``); a ``:`` before the
last ``/`` belongs to a registry port, not to a tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.errors import InputError

# The OCI image spec's digest grammar (algorithm ":" encoded), as
# opencontainers/image-spec descriptor.md defines it.
_DIGEST = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


@dataclass(frozen=True)
class ImageRef:
    """An image reference: ``name``, with ``tag`` and ``digest`` when it has them."""

    name: str
    tag: str | None = None
    digest: str | None = None

    def render(self) -> str:
        """``name[:tag][@digest]``, as Flux's ``ImageRef.String()`` writes it."""
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse(text: str) -> ImageRef | None:
    """Split ``name[:tag][@digest]``; None when there is no name (empty, or a bare
    ``:tag``), or whitespace makes it no reference at all. Pure."""
    if not text or text != text.strip() or any(ch.isspace() for ch in text):
        return None
    rest, at, digest = text.partition("@")
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = None
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1:]
    if not rest or (at and not digest):
        return None
    return ImageRef(name=rest, tag=tag or None, digest=digest or None)


def is_digest(text: str) -> bool:
    """Whether ``text`` is an OCI digest (``sha256:<hex>`` and the like)."""
    return bool(_DIGEST.match(text))


def check_digest(text: str) -> str:
    """``text`` when it is an OCI digest; ``InputError`` otherwise."""
    if not is_digest(text):
        raise InputError(f"{text!r} is not an image digest (expected algorithm:hex, e.g. "
                         f"sha256:6129bb94...)")
    return text
