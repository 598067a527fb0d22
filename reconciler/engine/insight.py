"""What the dashboard reads of the daemon: each rollout's decision, bake and trail.

Where it fits: ``Surface`` hands one ``Insight`` to the dashboard (``interfaces/ui``).
It reads only what the daemon holds anyway (the informer stores, the repository's
snapshot, the observer, the verdicts in git notes, the writers' declines) and calls
the same pure functions the daemon and the CLI call: ``planning.plan`` for why each
candidate is or is not eligible (what ``reconciler plan`` prints, with the daemon's
own candidates, gates, promotions and declines), ``policies.effective`` for the bake
time, ``Delivery.report`` (``core/stats``) for the charts. Nothing here writes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from reconciler.core import (
    bake,
    declines,
    models,
    planning,
    policies,
    quarantine,
    stats,
    steps,
    trailers,
    verdicts,
)
from reconciler.engine.delivery import Delivery
from reconciler.engine.informers import Store
from reconciler.engine.observe import Observer
from reconciler.engine.repository import Repository
from reconciler.engine.writers.choice import Writers

log = logging.getLogger(__name__)

# The kinds whose changes can change what a page shows (Flux's own objects change
# often and show up through the Rollout's status anyway).
WATCHED = ("rollouts", "healthchecks", "imagepolicies", "rolloutgates")


@dataclass(frozen=True)
class Detail:
    """Everything the page of one rollout shows, as plain data."""

    key: str
    obj: Mapping[str, Any]  # the Rollout as the informer holds it
    environment: str
    problem: str | None  # why there is no decision to show (invalid spec, not in git)
    plan: planning.Plan | None
    checks: tuple[bake.Check, ...]
    policy: policies.Effective | None  # the spec over its preset; None when invalid
    records: tuple[trailers.Record, ...]  # this rollout's, newest first
    found: tuple[verdicts.Verdict, ...]  # every verdict in git (trail.entries joins them)
    decided: tuple[declines.Decline, ...]
    quarantined: frozenset[str]
    write_mode: str
    awaiting: tuple[str, int | None] | None = None  # the release waiting for an approval


class Insight:
    def __init__(self, *, stores: Mapping[str, Store], repository: Repository,
                 observer: Observer, verdicts: Callable[[], Sequence[verdicts.Verdict]],
                 decisions: Callable[[], Sequence[declines.Decline]], writer: Writers,
                 presets: Mapping[str, models.PolicyPreset], environment: str,
                 clock: Callable[[], datetime], delivery: Delivery,
                 awaiting: Callable[[str], tuple[str, int | None] | None] = lambda key: None,
                 ) -> None:
        self._stores = stores
        self._repository = repository
        self._observer = observer
        self._verdicts = verdicts
        self._decisions = decisions
        self._writer = writer
        self._presets = presets
        self.environment = environment
        self._clock = clock
        self._delivery = delivery
        self._awaiting = awaiting

    def now(self) -> datetime:
        return self._clock()

    def change_key(self) -> str:
        """Changes whenever something a page shows may have changed: a watched object,
        the branch head or the verdict notes. Cheap: counters and two ref lookups."""
        counts = ".".join(str(self._stores[p].changes) for p in WATCHED if p in self._stores)
        if not self._repository.loaded:
            return f"{counts}:-"
        notes = self._repository.mirror.notes_head(verdicts.NOTES_REF)
        return f"{counts}:{self._repository.snapshot.commit[:12]}:{(notes or '-')[:12]}"

    def rollouts(self) -> list[dict[str, Any]]:
        """Every Rollout in the store, sorted by namespace and name: the stored objects
        themselves, not copies (a thousand deep copies would cost more than the whole
        page), so the caller only reads them."""
        return self._stores["rollouts"].list(copy_objects=False)

    def policy(self, obj: Mapping[str, Any]) -> policies.Effective | None:
        """A Rollout object's policy: its spec over its preset; None when the spec is
        invalid or names an unknown preset."""
        spec = _spec(obj)
        if spec is None or (spec.policy and spec.policy not in self._presets):
            return None
        return policies.effective(spec, self._presets)

    def bake_time(self, obj: Mapping[str, Any]) -> timedelta | None:
        """The effective bake time of a Rollout object, or None (``policy``)."""
        policy = self.policy(obj)
        return policy.bake_time if policy is not None else None

    def detail(self, namespace: str, name: str) -> Detail | None:
        """The rollout's page, or None when the store has no such Rollout."""
        obj = self._stores["rollouts"].get(namespace, name)
        if obj is None:
            return None
        key = f"{namespace}/{name}"
        spec = _spec(obj)
        problem = None if spec is not None else "the Rollout's spec is invalid (see its status)"
        plan: planning.Plan | None = None
        checks: tuple[bake.Check, ...] = ()
        records: tuple[trailers.Record, ...] = ()
        loaded = self._repository.loaded
        if not loaded:
            problem = problem or "the config repository has not been read yet"
        if loaded:
            snap = self._repository.snapshot
            records = snap.records(key)
            if spec is not None:
                if key not in snap.inventory.rollouts:
                    problem = f"no Rollout {key} in the config repository at {snap.commit[:12]}"
                else:
                    plan = self._plan(key, obj, spec, snap.inventory, snap.history,
                                      snap.fleet_history)
        if spec is not None:
            checks = tuple(self._observer.health_checks(namespace, spec))
        return Detail(key=key, obj=obj, environment=self.environment, problem=problem,
                      plan=plan, checks=checks, policy=self.policy(obj),
                      records=records, found=tuple(self._verdicts()),
                      decided=tuple(self._decisions()),
                      quarantined=quarantine.quarantined(records, key),
                      write_mode=self._writer.mode(obj), awaiting=self._awaiting(key))

    def _plan(self, key: str, obj: Mapping[str, Any], spec: models.RolloutSpec,
              inventory: Any, history: Sequence[trailers.Record],
              fleet: Sequence[trailers.Record]) -> planning.Plan | None:
        namespace, name = key.split("/", 1)
        candidates, _ = self._observer.candidates(obj, spec)
        gates = self._observer.gates(namespace, name)
        try:
            return steps.planned(planning.plan(
                key, inventory=inventory, candidates=candidates, history=history,
                presets=self._presets,
                gates=sorted(gates.allowed) if gates.allowed is not None else None,
                promotion=self._observer.promotion(key, spec, candidates, history=fleet,
                                                   now=self._clock()),
                declined=self._writer.declined(key)), inventory=inventory, history=history)
        except Exception:  # a page must render even when one decision cannot be made
            log.exception("%s: cannot compute the plan for the dashboard", key)
            return None

    def report(self, span: timedelta) -> tuple[stats.Report, list[stats.Judged]] | None:
        """Delivery figures over the last ``span``, per rollout and overall, and each
        release with its verdict; None before the repository has been read."""
        return self._delivery.report(span)


def _spec(obj: Mapping[str, Any]) -> models.RolloutSpec | None:
    try:
        return models.Rollout.model_validate(obj).spec
    except ValidationError:
        return None
