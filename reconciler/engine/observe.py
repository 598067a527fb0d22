"""Observe: gather the plain inputs of one rollout's decision from the watch stores.

Where it fits: the daemon calls these before ``core.progress.decide``; each returns
plain data (candidate tags, HealthCheck states, gates, the deploy window) so the
decision stays pure.
Candidates a CI pipeline registered over HTTP are kept here until the status
records them in ``availableReleases``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler.core import (
    bake,
    inputs,
    models,
    promotion,
    schedulemodels,
    status,
    trailers,
    verdicts,
    windows,
)
from reconciler.engine import schedules
from reconciler.engine.informers import Store
from reconciler.engine.routing import key_of


class Observer:
    def __init__(self, *, stores: Callable[[str], Store | None],
                 verdicts: Callable[[], Sequence[verdicts.Verdict]] = tuple) -> None:
        # ``stores(plural)`` gives the current store of a kind (the ImagePolicy
        # store may be swapped for its v1beta2 twin at start-up), or None.
        self._stores = stores
        self._verdicts = verdicts
        self._registered: dict[str, set[str]] = {}
        self._digests: dict[str, dict[str, str]] = {}  # rollout -> tag -> digest
        self._lock = threading.Lock()

    def _store(self, plural: str) -> Store:
        store = self._stores(plural)
        assert store is not None, plural
        return store

    def register(self, key: str, tag: str, *, known: list[Any]) -> bool:
        """Remember ``tag`` as a candidate of ``key``; False when already known."""
        with self._lock:
            seen = self._registered.setdefault(key, set())
            # ``known`` is the status's availableReleases: objects, or the strings an
            # earlier daemon wrote.
            new = tag not in seen and tag not in {status.tag_of(k) for k in known}
            seen.add(tag)
            # Only the highest MAX_AVAILABLE are ever candidates (``status.available``):
            # the others would pile up with every tag a pipeline registers.
            if len(seen) > status.MAX_AVAILABLE:
                self._registered[key] = set(status.available((), sorted(seen)))
        return new

    def candidates(self, obj: Mapping[str, Any],
                   spec: models.RolloutSpec) -> tuple[list[str], str | None]:
        """Every candidate tag known for the rollout, and why the ImagePolicy offers
        none (when it does not)."""
        previous = status.known_releases(obj.get("status"))
        with self._lock:
            seen = sorted(self._registered.get(key_of(obj), ()))
        ref = spec.releasesImagePolicy
        if ref is None:
            return status.available(previous, seen), None
        ns = ref.namespace or (obj.get("metadata") or {}).get("namespace", "")
        policy = self._store("imagepolicies").peek(ns, ref.name)  # read only
        found = inputs.image_policy_tag(policy, name=f"{ns}/{ref.name}")
        if found.tag:
            seen.append(found.tag)
        if found.tag and found.digest:
            with self._lock:
                digests = self._digests.setdefault(key_of(obj), {})
                digests.pop(found.tag, None)
                digests[found.tag] = found.digest
                # Bounded like availableReleases (which keeps them once written):
                # the oldest reported go first.
                while len(digests) > status.MAX_AVAILABLE:
                    digests.pop(next(iter(digests)))
        return status.available(previous, seen), found.problem

    def digests(self, key: str) -> dict[str, str]:
        """Tag -> digest the rollout's ImagePolicy reported, for the status."""
        with self._lock:
            return dict(self._digests.get(key, {}))

    def health_checks(self, namespace: str, spec: models.RolloutSpec) -> list[bake.Check]:
        """The HealthChecks the rollout's selector picks, as bake inputs."""
        sel = spec.healthCheckSelector
        label = sel.selector.model_dump(exclude_none=True) if sel and sel.selector else {}
        namespaces = self._stores("namespaces")
        if sel and sel.namespaceSelector and namespaces is not None:
            ns_selector = sel.namespaceSelector.model_dump(exclude_none=True)
            allowed = {(n.get("metadata") or {}).get("name")
                       for n in namespaces.list(label_selector=ns_selector)}
        else:
            allowed = {namespace}
        found: list[dict[str, Any]] = []
        for ns in allowed:
            found += self._store("healthchecks").list(ns, label_selector=label)
        return [bake.check_from(hc) for hc in found]

    def gates(self, namespace: str, name: str) -> inputs.Gates:
        """The rollout's RolloutGates, joined, with kuberik's bypass-gates annotation
        (read here from the Rollout in the store) applied."""
        bypass, candidates = self._bypass(namespace, name)
        return inputs.gates_for(name, self._store("rolloutgates").list(namespace),
                                bypass=bypass, candidates=candidates)

    def window(self, obj: Mapping[str, Any], now: datetime) -> windows.Verdict | None:
        """The deploy window of the RolloutSchedules and ClusterRolloutSchedules that
        select the rollout; None when none does. kuberik's schedules are RolloutGates,
        so its bypass-gates annotation opens the window for that one release too."""
        found = schedules.selecting(self._stores, obj)
        if not found:
            return None
        meta = obj.get("metadata") or {}
        bypass, candidates = self._bypass(meta.get("namespace", ""), meta.get("name", ""))
        if bypass and bypass in candidates:
            return windows.Verdict(True, f"deploy windows bypassed for {bypass} "
                                         f"({inputs.BYPASS_GATES})")
        return windows.verdict([schedulemodels.schedule(s) for s in found], now)

    def _bypass(self, namespace: str, name: str) -> tuple[str | None, list[str]]:
        """kuberik's bypass-gates annotation and the release candidates it may name."""
        obj = self._store("rollouts").peek(namespace, name) or {}  # read only
        meta = obj.get("metadata")
        notes = meta.get("annotations") if isinstance(meta, Mapping) else None
        bypass = notes.get(inputs.BYPASS_GATES) if isinstance(notes, Mapping) else None
        # kuberik honours the bypass only for a release candidate: a known tag above
        # the deployed one (so it lapses once that tag is out); the gates' messages
        # say whether they allow any candidate.
        previous = obj.get("status")
        with self._lock:
            seen = sorted(self._registered.get(f"{namespace}/{name}", ()))
        candidates = status.newer_than(
            status.available(status.known_releases(previous), seen),
            status.current_of(previous))
        return (bypass if isinstance(bypass, str) else None), candidates

    def promotion(self, key: str, spec: models.RolloutSpec, candidates: Sequence[str], *,
                  history: Sequence[trailers.Record], now: datetime) -> dict[str, str]:
        """The candidates ``spec.promotion`` holds back, and why: the upstream
        environments' verdicts (git notes) and reverts (``history``, every
        environment's)."""
        if spec.promotion is None:
            return {}
        return promotion.waiting(rule=promotion.rule_for(key, spec.promotion),
                                 candidates=candidates, found=self._verdicts(),
                                 history=history, now=now)
