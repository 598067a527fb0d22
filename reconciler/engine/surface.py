"""What the HTTP server asks of the daemon (``interfaces.http.Backend``).

Where it fits: the daemon builds one ``Surface`` from its collaborators and hands it to
the HTTP app; every method runs on a server thread, concurrently with the daemon's
workers, and reaches the daemon only through what it was given: the informer stores,
the repository, the observer, the writers, the timers, the verdicts and an
``enqueue`` callable. The dashboard (``interfaces/ui``) gets two collaborators built
here from the same pieces: ``insight`` (what it reads) and ``actions`` (what a
person may ask, each one a commit); ``delivery`` serves ``/metrics`` and the charts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.adapters.forges.events import PullRequestEvent
from reconciler.core import models, proposals
from reconciler.engine.actions import Actions
from reconciler.engine.delivery import Delivery
from reconciler.engine.informers import Store
from reconciler.engine.insight import Insight
from reconciler.engine.observe import Observer
from reconciler.engine.repository import Repository
from reconciler.engine.timers import Timers
from reconciler.engine.verdicts import Verdicts
from reconciler.engine.writers.choice import Writers

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Noted:
    """What the daemon does about a pull-request event."""

    rollout: str | None  # the rollout whose branch it is, or None: not one of ours
    fetch: bool  # merged: fetch the base branch now


class Surface:
    def __init__(self, *, stores: Mapping[str, Store], repository: Repository,
                 observer: Observer, writer: Writers, timers: Timers,
                 enqueue: Callable[[str], None], environment: str,
                 alive: Callable[[], bool], ready: Callable[[], tuple[bool, str]],
                 verdicts: Verdicts, presets: Mapping[str, models.PolicyPreset],
                 clock: Callable[[], datetime],
                 awaiting: Callable[[str], tuple[str, int | None] | None] = lambda key: None,
                 ) -> None:
        """``awaiting``: the release each rollout waits to have approved."""
        self._stores = stores
        self._repository = repository
        self._observer = observer
        self._writer = writer
        self._timers = timers
        self._enqueue = enqueue
        self._environment = environment
        self.alive = alive
        self.ready = ready
        self.delivery = Delivery(repository=repository, verdicts=verdicts,
                                 environment=environment, clock=clock)
        self.insight = Insight(stores=stores, repository=repository, observer=observer,
                               verdicts=verdicts.all, decisions=verdicts.decisions,
                               writer=writer, presets=presets, environment=environment,
                               clock=clock, delivery=self.delivery, awaiting=awaiting)
        self.actions = Actions(stores=stores, repository=repository, writer=writer,
                               enqueue=enqueue, awaiting=awaiting, decide=verdicts.decide,
                               environment=environment, clock=clock)

    def rollouts(self) -> Sequence[Mapping[str, Any]]:
        return self._stores["rollouts"].list()

    def rollout(self, *, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self._stores["rollouts"].get(namespace, name)

    def history(self, *, namespace: str, name: str) -> Sequence[Mapping[str, Any]]:
        if not self._repository.loaded:
            return []
        return [r.as_dict() for r in self._repository.snapshot.records(f"{namespace}/{name}")]

    def knows(self, *, namespace: str, name: str) -> bool:
        return self._stores["rollouts"].get(namespace, name) is not None

    def request_fetch(self) -> None:
        if self._timers.running:
            self._timers.run_soon("fetch")

    def register_release(self, *, namespace: str, name: str, tag: str) -> bool:
        """A CI pipeline's release candidate: selection, gates and bake still apply. It
        is kept in ``status.availableReleases`` once reconciled: it survives a restart."""
        key = f"{namespace}/{name}"
        obj = self._stores["rollouts"].get(namespace, name) or {}
        known = (obj.get("status") or {}).get("availableReleases") or []
        new = self._observer.register(key, tag, known=known)
        self._enqueue(key)
        return new

    def pull_request(self, event: PullRequestEvent) -> Noted:
        """A pull request on one of this environment's branches changed: read it again
        now instead of on the writer's timer, and fetch at once when it was merged.
        Anyone else's pull request (another branch, another environment, another base
        branch) is none of this daemon's business."""
        found = proposals.rollout_of(event.head, environment=self._environment)
        if found is None or event.base != self._repository.mirror.branch:
            return Noted(rollout=None, fetch=False)
        if found not in {f"{o['metadata']['namespace']}/{o['metadata']['name']}"
                         for o in self._stores["rollouts"].list(copy_objects=False)}:
            return Noted(rollout=None, fetch=False)
        self._writer.poke(found)
        if event.merged:
            self.request_fetch()
        self._enqueue(found)
        log.info("%s: pull request #%d %s (%s webhook); reading it now", found,
                 event.number, "merged" if event.merged else event.action, event.forge)
        return Noted(rollout=found, fetch=event.merged)
