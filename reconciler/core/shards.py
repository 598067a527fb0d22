"""Sharding: which Rollouts a replica set owns, and the Lease each shard elects on.

Where it fits: ``--watch-label-selector`` (``interfaces/settingsgroups``) is checked
here at start-up; the daemon hands the selector to the watch of Rollouts, so the API
server sends a shard only the Rollouts it owns (``engine/informers``), and the leader
election of each shard uses its own Lease (``interfaces/daemon_main``).

This is Flux's scheme (fluxcd.io/flux/installation/configuration/sharding/): a label,
``sharding.fluxcd.io/key``, on the objects; each shard's controllers started with
``--watch-label-selector=sharding.fluxcd.io/key=shard1``; the main instance with
``--watch-label-selector=!sharding.fluxcd.io/key``, so that it leaves the labelled
objects alone; a leader-election ID per selector. The selector applies to the
controller's own kind only (Flux's ``runtime/controller`` ``WatchOptions``, used as the
cache's ``ByObject`` filter of that one kind), as it does here to Rollouts only.

Pure: strings in, selectors and names out. Malformed selectors raise
``reconciler.errors.InvalidSelector``.
"""

from __future__ import annotations

import hashlib
import re

from reconciler.core import selectors
from reconciler.core.selectors import LabelSelector
from reconciler.errors import InvalidSelector

__all__ = ["DEFAULT_LEASE", "KEY", "lease_name", "parse"]

KEY = "sharding.fluxcd.io/key"
"""The label Flux shards on; the overlay in deploy/shards/ uses it too."""

DEFAULT_LEASE = "reconciler-leader"

# A Lease name is a DNS subdomain; a shard name that is one too goes into it as it is.
_READABLE = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,40}[a-z0-9])?$")
# Kubernetes' limits on a label key's name and prefix, and on a value.
_NAME_MAX, _PREFIX_MAX, _VALUE_MAX = 63, 253, 63


def parse(text: str | None) -> LabelSelector | None:
    """The selector of ``--watch-label-selector``; None when unset or blank (every
    Rollout). Checks what the API server would refuse, so a typo stops the start
    instead of failing every list: the syntax (``selectors.parse``) and Kubernetes'
    length limits of keys and values."""
    if text is None or not text.strip():
        return None
    selector = selectors.parse(text)
    for req in selectors.requirements(selector):
        prefix, _, name = req["key"].rpartition("/")
        if len(name) > _NAME_MAX or len(prefix) > _PREFIX_MAX:
            raise InvalidSelector(
                f"label selector {text!r}: key {req['key']!r} is too long (name at most "
                f"{_NAME_MAX} characters, prefix {_PREFIX_MAX})")
        for value in req.get("values", []):
            if len(value) > _VALUE_MAX:
                raise InvalidSelector(
                    f"label selector {text!r}: value {value[:20]!r}... is longer than "
                    f"{_VALUE_MAX} characters")
    return selector


def lease_name(text: str | None, *, base: str = DEFAULT_LEASE) -> str:
    """The default Lease of a replica set watching ``text`` (``parse`` must accept it).

    No selector, or Flux's main-instance selector ``!sharding.fluxcd.io/key``: ``base``,
    so the main instance keeps the Lease an unsharded install had (a rolling update
    from one to the other never has two leaders). ``sharding.fluxcd.io/key=<shard>``:
    ``<base>-<shard>``. Any other selector: ``<base>-<10 hex digits>`` of its
    canonical form, so two different selectors never share a Lease."""
    selector = parse(text)
    if selector is None:
        return base
    reqs = selectors.requirements(selector)
    if len(reqs) == 1:
        (req,) = reqs
        values = req.get("values", [])
        if req["key"] == KEY and req["operator"] == "DoesNotExist":
            return base
        if (req["key"] == KEY and req["operator"] == "In" and len(values) == 1
                and _READABLE.match(values[0])):
            return f"{base}-{values[0]}"
    canonical = ",".join(sorted(
        f"{r['key']} {r['operator']} {','.join(sorted(r.get('values', [])))}" for r in reqs))
    return f"{base}-{hashlib.sha256(canonical.encode()).hexdigest()[:10]}"
