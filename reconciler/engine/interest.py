"""Which rollouts may care about an ImagePolicy, a RolloutGate or a HealthCheck,
by what their specs name: the router's index (``engine/routing.py``).

Where it fits: the router used to ask ``routing.concerns`` of every Rollout for every
watch event, which at 10,000 rollouts is most of the time between an ImagePolicy's
change and the rollout's reconcile (docs/performance.md). ``Interest`` files each
Rollout under the ImagePolicy it reads, its own name (for RolloutGates), and one
``matchLabels`` pair of its HealthCheck selector; ``candidates`` returns the Rollouts
filed under what an object offers, and ``concerns`` still decides for each of them.
A Rollout whose spec cannot be filed (a namespace selector, a malformed spec) is a
candidate for everything, as every Rollout was before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.adapters import cluster as k8s

Entry = tuple[str, ...]
ANY: Entry = ("any",)


def entries(rollout: Mapping[str, Any]) -> list[Entry]:
    """What ``rollout`` is filed under. Pure."""
    try:
        meta, spec = rollout.get("metadata") or {}, rollout.get("spec") or {}
        ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        ref = spec.get("releasesImagePolicy") or {}
        out: list[Entry] = [("gate", ns, name),
                            ("policy", str(ref.get("namespace") or ns), str(ref.get("name")))]
        selector = spec.get("healthCheckSelector") or {}
        if selector.get("namespaceSelector"):
            return [ANY]
        labels = (selector.get("selector") or {}).get("matchLabels") or {}
        pairs = sorted((k, v) for k, v in labels.items()
                       if isinstance(k, str) and isinstance(v, str))
        out.append(("label", ns, *pairs[0]) if pairs else ("namespace", ns))
        return out
    except (AttributeError, TypeError):
        return [ANY]


def offers(kind: k8s.Kind, obj: Mapping[str, Any]) -> list[Entry]:
    """The entries under which a Rollout may care about ``obj``. Pure."""
    try:
        meta = obj.get("metadata") or {}
        ns, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
        if kind.plural == "imagepolicies":
            return [("policy", ns, name)]
        if kind.plural == "rolloutgates":
            ref = (obj.get("spec") or {}).get("rolloutRef") or {}
            return [("gate", ns, str(ref.get("name")))]
        if kind.plural == "healthchecks":
            labels = meta.get("labels") or {}
            return [("namespace", ns), *(("label", ns, k, v) for k, v in labels.items()
                                         if isinstance(k, str) and isinstance(v, str))]
    except (AttributeError, TypeError):
        return []
    return []


class Interest:
    """Rollouts (the stored objects, read-only) filed by ``entries``. Not thread-safe:
    the router holds its lock around every call."""

    def __init__(self) -> None:
        self._rollouts: dict[str, Mapping[str, Any]] = {}
        self._filed: dict[str, list[Entry]] = {}
        self._index: dict[Entry, set[str]] = {}

    def update(self, key: str, rollout: Mapping[str, Any] | None) -> None:
        """File the Rollout ``key`` as it is now (None: deleted)."""
        for entry in self._filed.pop(key, []):
            self._index[entry].discard(key)
            if not self._index[entry]:
                del self._index[entry]
        self._rollouts.pop(key, None)
        if rollout is None:
            return
        self._rollouts[key] = rollout
        self._filed[key] = entries(rollout)
        for entry in self._filed[key]:
            self._index.setdefault(entry, set()).add(key)

    def candidates(self, kind: k8s.Kind, *objs: Mapping[str, Any] | None
                   ) -> list[Mapping[str, Any]]:
        """The Rollouts that may care about any of ``objs``, in key order."""
        keys = set(self._index.get(ANY, ()))
        for obj in objs:
            if obj is not None:
                for entry in offers(kind, obj):
                    keys.update(self._index.get(entry, ()))
        return [self._rollouts[k] for k in sorted(keys, key=lambda k: k.split("/", 1))]
