"""Gathering the plain inputs of one rollout's decision (``core.progress.Observed``).

Where it fits: the daemon's reconcile calls ``observed`` and hands the result to the
pure ``progress.decide``. Everything a decision reads is collected here, from the
collaborators the daemon passes in: the snapshot's records (with merges that lost
their trailers, ``engine/adoption``), the observer's candidates, gates, windows,
HealthChecks and promotion, whether Flux applied the newest release (``Applied``, which
also tells the router what to wait on), the writers' declines and mode, and the commit
a hold is about (``holds``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from reconciler.adapters import git
from reconciler.core import models, policies, progress, status, trailers
from reconciler.engine import adoption, holds
from reconciler.engine.applied import Applied
from reconciler.engine.observe import Observer
from reconciler.engine.routing import Router
from reconciler.engine.snapshot import Scanner, Snapshot
from reconciler.engine.verdicts import Verdicts
from reconciler.engine.writers.choice import Writers


class Gather:
    def __init__(self, *, mirror: git.Mirror, scanner: Scanner, observer: Observer,
                 applied: Applied, router: Router, writer: Writers, verdicts: Verdicts,
                 presets: Mapping[str, models.PolicyPreset], environment: str) -> None:
        self._mirror = mirror
        self._scanner = scanner
        self._observer = observer
        self._applied = applied
        self._router = router
        self._writer = writer
        self._verdicts = verdicts
        self._presets = presets
        self._environment = environment

    def records(self, key: str, snap: Snapshot) -> Sequence[trailers.Record]:
        """``key``'s records, with merges that lost their trailers (engine/adoption)."""
        return adoption.records(mirror=self._mirror, snap=snap, key=key,
                                environment=self._environment,
                                found=self._verdicts.decisions())

    def observed(self, key: str, obj: Mapping[str, Any], spec: models.RolloutSpec,
                 snap: Snapshot, now: datetime) -> progress.Observed:
        namespace, name = key.split("/", 1)
        targets = snap.inventory.targets[key]
        records = self.records(key, snap)
        candidates, problem = self._observer.candidates(obj, spec)
        gates = self._observer.gates(namespace, name)
        newest = records[0] if records else None
        manual = None
        if newest is not None or self._writer.proposed(key):
            manual = holds.manual_change(mirror=self._mirror, scanner=self._scanner,
                                         snap=snap, newest=newest, targets=targets,
                                         limit=200 if newest is not None else 20)
        if manual is not None and self._writer.adopt(
                key, manual.sha, previous=newest.trailers.release if newest else None):
            records, manual = self.records(key, snap), None  # a merge that lost trailers
            newest = records[0]
        elif newest is None:
            manual = None  # no reconciler commit yet: nothing to be held against
        applied = None
        if newest is not None:
            # A canary's commits are applied when its version and weights are too.
            verdict = self._applied.check(
                key, newest, [*targets, *snap.inventory.canary.get(key, [])])
            self._router.waiting(key, verdict.waits_on)
            applied = verdict.applied
        previous = obj.get("status") if isinstance(obj.get("status"), Mapping) else None
        return progress.Observed(
            rollout=key, policy=policies.effective(spec, self._presets), targets=targets,
            records=records, candidates=candidates, now=now, gate_blocks=gates.blocks,
            gate_allowed=gates.allowed, applied=applied,
            window=self._observer.window(obj, now),
            checks=self._observer.health_checks(namespace, spec),
            steps=tuple(spec.steps or ()),
            declined=self._writer.declined(key), direct=self._writer.mode(obj) == "direct",
            kept=status.kept_from(previous, records), waiting_for=problem,
            promotion=self._observer.promotion(key, spec, candidates,
                                               history=snap.fleet_history, now=now),
            manual_commit=f"{manual.sha[:12]} by {manual.author_name}" if manual else None)
