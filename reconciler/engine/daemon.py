"""The daemon: watches feed a keyed work queue, workers reconcile rollouts.

Where it fits: it wires the engine's components and runs the loop; each component
receives what it needs and none imports this module:

* ``Repository`` — the mirror, the current snapshot, the git lock, the fetch;
* ``Router`` — which rollouts a watch event concerns;
* ``Observer`` — the plain inputs of a decision (candidates, HealthChecks, gates, windows);
* ``Schedules`` — deploy-window schedules: their status, the rollouts they wake;
* ``Applied`` — whether Flux has applied the release;
* ``holds.manual_commit`` — who made the change a rollout is held on;
* ``choice.Writers`` — the write of a decided release or revert: push or pull request;
* ``Reporter`` — status, Events and metrics;
* ``Checkpoints`` — approvals and test hooks before a write and during a bake;
* ``Timers`` — every delayed reconcile (bake ends, deadlines, retries);
* ``Surface`` — what the HTTP server asks (``interfaces.http.Backend``).

Each reconcile gathers what ``core.progress.decide`` needs, decides, performs at
most one git write, then writes the status only when it changed and emits Events
only when the state changed. Nothing about a rollout lives only in memory: a
restarted daemon computes the same step from git and the cluster, resumes a bake
with the time left (the bake start is in the status), and never writes a commit
twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from reconciler.adapters import cluster as k8s
from reconciler.adapters import git
from reconciler.adapters import hooks as hook_calls
from reconciler.adapters.forges import base as forges
from reconciler.core import auditindex, models, progress, reasons, status, trailers
from reconciler.engine import applied as flux
from reconciler.engine import checkpoints, faults, informers, scanstore, schedules
from reconciler.engine import presets as preset_files
from reconciler.engine.gather import Gather
from reconciler.engine.heap import Heap
from reconciler.engine.hooks import Caller, Hooks
from reconciler.engine.informers import Store
from reconciler.engine.observe import Observer
from reconciler.engine.options import Options
from reconciler.engine.releaser import Expect, Releaser
from reconciler.engine.reporting import MetricsSink, NoMetrics, Reporter
from reconciler.engine.repository import Repository
from reconciler.engine.routing import Router, key_of
from reconciler.engine.snapshot import Snapshot
from reconciler.engine.surface import Surface
from reconciler.engine.timers import Timers
from reconciler.engine.verdicts import Verdicts
from reconciler.engine.workqueue import WorkQueue
from reconciler.engine.writers import choice
from reconciler.errors import InputError, PermanentError, ReconcilerError, TransientError

log = logging.getLogger(__name__)

# Watched only where the cluster serves them: OCI target consumers, deploy windows.
OPTIONAL_KINDS = (k8s.OCIREPOSITORY, k8s.HELMRELEASE, *schedules.KINDS)


class Daemon:
    def __init__(self, *, cluster: k8s.Cluster, mirror: git.Mirror, options: Options,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 metrics: MetricsSink | None = None,
                 is_leader: Callable[[], bool] = lambda: True,
                 forge: forges.Forge | None = None, hook_caller: Caller | None = None) -> None:
        self.cluster = cluster
        self.mirror = mirror
        self.options = options
        self.clock = clock
        # Only the leader reconciles and writes; asked again right before every write.
        self.is_leader = is_leader
        self.presets = preset_files.load(options.policies_dir)
        self.queue = WorkQueue()
        self.heap = Heap()
        self.stop = threading.Event()
        self.repository = Repository(mirror=mirror, releaser=Releaser(
            mirror, environment=options.environment, path=options.path,
            arrivals=clock if forge is not None else None, audit_depth=auditindex.DEFAULT_DEPTH),
            scan_store=scanstore.beside(mirror))
        self.releaser = self.repository.releaser
        self.verdicts = Verdicts(repository=self.repository, environment=options.environment,
                                 depth=auditindex.DEFAULT_DEPTH)
        self.timers = Timers(enqueue=self.enqueue, stop=self.stop, clock=clock,
                             error_backoff=options.error_backoff)
        self.router = Router(enqueue=self.enqueue)
        self.observer = Observer(stores=lambda plural: self.stores.get(plural),
                                 verdicts=self.verdicts.all)
        self.releaser.digest_of = lambda key, tag: self.observer.digests(key).get(tag)
        self.applied = flux.Applied(stores=lambda plural: self.stores.get(plural),
                                    descends=self.repository.descends,
                                    flux_source=options.flux_source)
        self.writer = choice.build(repository=self.repository, forge=forge, options=options,
                                   is_leader=is_leader, clock=clock,
                                   decisions=self.verdicts)
        self.gather = Gather(mirror=mirror, scanner=self.releaser.scanner,
                             observer=self.observer, applied=self.applied, router=self.router,
                             writer=self.writer, verdicts=self.verdicts, presets=self.presets,
                             environment=options.environment)
        self.reporter = Reporter(cluster=cluster, metrics=metrics or NoMetrics(),
                                 is_leader=is_leader, on_conflict=self.timers.conflicted,
                                 on_written=self.timers.wrote,
                                 retry_later=self.timers.retry_later,
                                 environment=options.environment)
        self.metrics = self.reporter.metrics
        self.checkpoints = checkpoints.Checkpoints(
            hooks=Hooks(caller=hook_caller or hook_calls.Caller(), clock=clock,
                        emit=lambda obj, *event: self.reporter.emit(obj, *event)),
            decisions=self.verdicts.decisions, environment=options.environment, clock=clock,
            command=checkpoints.approve_arguments(
                url=mirror.url, branch=mirror.branch, path=options.path,
                environment=options.environment), mode=self.writer.mode)
        self.writer.needs_approval(self.checkpoints.unapproved)
        self.releaser.on_push = self.metrics.observe_push  # git_push_duration_seconds
        mirror.on_notes_push = self.metrics.observe_notes_push  # notes_push_*
        self._watches: list[k8s.WatchHandle] = []
        self._threads: list[threading.Thread] = []
        self._running = False  # set once start() has started the scheduler
        # namespaceSelectors (HealthChecks, ClusterRolloutSchedules) match namespace
        # labels; a daemon scoped to one namespace looks in that namespace only.
        kinds = [k8s.ROLLOUT, k8s.IMAGEPOLICY, k8s.HEALTHCHECK, k8s.ROLLOUTGATE,
                 k8s.KUSTOMIZATION, *OPTIONAL_KINDS,
                 *([k8s.NAMESPACE] if options.namespace is None else [])]
        self.stores: dict[str, Store] = {
            kind.plural: Store(kind, on_change=self.router.on_change) for kind in kinds}
        self.schedules = schedules.Schedules(cluster=cluster, stores=self.stores.get,
            timers=self.timers, router=self.router, is_leader=is_leader, clock=clock,
            sharded=options.watch_label_selector is not None)
        self.reconciles = 0
        self.metrics.track_queue(lambda: len(self.queue))
        self.surface = Surface(stores=self.stores, repository=self.repository,
                               observer=self.observer, writer=self.writer,
                               timers=self.timers, enqueue=self.enqueue, clock=clock,
                               environment=options.environment, alive=self.alive,
                               ready=self.ready, verdicts=self.verdicts, presets=self.presets,
                               awaiting=self.checkpoints.awaiting)

    # -- lifecycle -----------------------------------------------------------

    def start(self, sync_timeout: float = 60.0) -> None:
        snap = self.repository.load()
        if snap.scope is not None and not snap.scope.files:
            raise InputError(f"--path {self.options.path!r}: no such directory in the "
                             f"repository at {snap.commit[:12]} (or all of it is left out "
                             f"by .sourceignore)")
        informers.adapt_to_served(self.cluster, self.stores, optional=OPTIONAL_KINDS,
                                  on_change=self.router.on_change)
        self._watches = informers.watch(self.cluster, self.stores, stop=self.stop,
                                        namespace=self.options.namespace,
                                        selector=self.options.watch_label_selector)
        self._threads += [handle.thread for handle in self._watches]
        # Decide nothing before every store has its first list: a rollout judged
        # against an empty ImagePolicy store would report a missing ImagePolicy.
        for store in self.stores.values():
            if not store.synced.wait(sync_timeout):
                log.warning("no initial list of %s after %.0fs; starting anyway",
                            store.kind.plural, sync_timeout)
        # What start-up read (the scans of the whole tree, the first lists) lives as
        # long as the daemon: out of the collector's walks (engine/heap).
        self.heap.freeze()
        for i in range(self.options.workers):
            t = threading.Thread(target=self._work, name=f"reconcile-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        self.timers.every("resync", self.options.resync_interval, self.resync)
        self.timers.every("fetch", self.options.fetch_interval, self.fetch)
        self.timers.start()
        self._running = True
        log.info("daemon started: %d workers, watching %s", self.options.workers,
                 self.options.namespace or "all namespaces")

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop taking work; a reconcile in the middle of a push finishes it."""
        self.stop.set()
        self.queue.close()
        self.timers.shutdown()
        for t in self._threads:
            t.join(timeout)
        log.info("daemon stopped")

    def synced(self) -> bool:
        return all(s.synced.is_set() for s in self.stores.values())

    # -- triggers ------------------------------------------------------------

    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    def resync(self) -> None:
        self.heap.trim()
        for obj in self.stores["rollouts"].list(copy_objects=False):
            self.enqueue(key_of(obj))

    def fetch(self) -> None:
        """Fetch the config repository; reconcile everything when the head moved, or
        when it is reachable again (those that failed on git need not wait out their
        own retry timers). While fetches fail, the next one waits longer each time."""
        interval, cap = self.options.fetch_interval, self.options.error_backoff[1]
        fetched = self.repository.fetch(interval=interval, cap=cap)
        if fetched.retry_in is not None:
            self.timers.run_soon("fetch", delay=fetched.retry_in)
        elif fetched.recovered or fetched.moved:
            self.resync()

    # -- work ----------------------------------------------------------------

    def _work(self) -> None:
        while not self.stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:  # idle: the first time, the first reconciles are frozen too
                self.heap.idle()
                continue
            try:
                self.reconcile(key)
            except Exception:  # one rollout never takes the daemon down
                log.exception("reconcile of %s failed unexpectedly", key)
                try:
                    self.timers.retry_later(key)
                except Exception:
                    log.exception("cannot schedule a retry of %s", key)
            finally:
                self.queue.done(key)

    def reconcile(self, key: str) -> progress.Step | None:
        if not self.is_leader():
            return None  # a standby keeps its stores warm; the leader does the work
        started = time.perf_counter()
        result = "error"
        try:
            step = self._reconcile(key)
            result = "ok" if step is not None else "stalled"
            return step
        finally:
            self.metrics.observe_reconcile(result, time.perf_counter() - started)

    def _fail(self, obj: Mapping[str, Any], previous: Mapping[str, Any] | None,
              generation: int | None, now: datetime, error: tuple[str, str, bool],
              kept: tuple[progress.Bookkeeping, ...] | None = None) -> None:
        snap = self.repository.snapshot
        self.reporter.fail(obj, previous, generation=generation, now=now,
                           records=self._records(key_of(obj), snap), revision=snap.commit,
                           error=error, kept=kept)

    def _reconcile(self, key: str) -> progress.Step | None:
        self.reconciles += 1
        namespace, name = key.split("/", 1)
        obj = self.stores["rollouts"].get(namespace, name)
        if obj is None:
            return None
        now = self.clock()
        generation = (obj.get("metadata") or {}).get("generation")
        previous = obj.get("status") if isinstance(obj.get("status"), Mapping) else None
        try:
            rollout = models.Rollout.model_validate(obj)
        except ValidationError as exc:
            field_path, message = models.describe_error(exc)[0]
            self._fail(obj, previous, generation, now,
                       (reasons.INVALID_SPEC, f"{field_path}: {message}", True))
            return None
        spec = rollout.spec
        if spec.policy and spec.policy not in self.presets:
            self._fail(obj, previous, generation, now, (
                reasons.INVALID_SPEC, f"spec.policy: unknown preset {spec.policy!r} "
                f"(known: {', '.join(sorted(self.presets))})", True))
            return None
        snap = self.repository.snapshot
        setup = snap.setup_problem(key)
        if setup:
            self._fail(obj, previous, generation, now, (reasons.SETUP_ERROR, setup, True))
            return None
        decided: progress.Step | None = None
        try:
            decided = self._decide(key, obj, spec, snap, now)
            newest = next((r.commit for r in self._records(key, snap)), None)
            step = self._act(key, obj, decided, Expect(newest=newest, current=decided.current))
        except TransientError as exc:
            reason, wait = choice.reason_of(exc), choice.retry_after(exc)
            log.warning("%s: %s", key, exc)
            if wait is not None:  # a forge's rate limit: not one call sooner
                self.timers.wake(key, now + timedelta(seconds=wait), purpose="retry")
            else:
                self.timers.retry_later(key)
            # What was decided (a failed bake, say) is kept even though git was not
            # written: the next pass asks for the revert again.
            self._fail(obj, previous, generation, now, (reason, str(exc), False),
                       kept=decided.kept if decided else None)
            return None
        except PermanentError as exc:
            self._fail(obj, previous, generation, now, (choice.reason_of(exc), str(exc), True),
                       kept=decided.kept if decided else None)
            return None
        if step.reason != reasons.DEPLOYING:
            self.router.done(key)
        snap = self.repository.snapshot
        new = status.render(step=step, records=self._records(key, snap), previous=previous,
                            generation=generation, revision=snap.commit,
                            candidates=self.observer.candidates(obj, spec)[0],
                            limit=spec.versionHistoryLimit, now=now,
                            gates=self.observer.gates(namespace, name),
                            digests=self.observer.digests(key))
        if spec.hooks:
            new["hooks"] = self.checkpoints.hooks.status(key, previous)
        if self.reporter.write_status(obj, previous, new, step):
            self.timers.succeeded(key)
        self._record_verdicts(key, step, snap)
        if step.wake_at is not None:
            self.timers.wake(key, step.wake_at)
        return step

    def _decide(self, key: str, obj: Mapping[str, Any], spec: models.RolloutSpec,
                snap: Snapshot, now: datetime) -> progress.Step:
        observed = self.gather.observed(key, obj, spec, snap, now)
        observed = replace(observed, kept=progress.settled_first(
            observed.kept, self.reporter.unwritten.get(key, ())))
        return self.checkpoints.review(key, obj, spec, observed, progress.decide(observed))

    def _records(self, key: str, snap: Snapshot) -> Sequence[trailers.Record]:
        return self.gather.records(key, snap)

    def _record_verdicts(self, key: str, step: progress.Step, snap: Snapshot) -> None:
        """Record every ended bake in git (a note on its release commit); on failure
        try again later: the bookkeeping stays in the status until it is written."""
        if not self.is_leader():
            return
        try:
            self.verdicts.record(key, step.kept, self._records(key, snap))
        except ReconcilerError as exc:
            log.warning("%s: cannot record the bake verdict in git yet: %s", key, exc)
            self.timers.retry_later(key)

    def _act(self, key: str, obj: Mapping[str, Any], step: progress.Step,
             expect: Expect) -> progress.Step:
        if step.action not in ("release", "revert"):
            return step
        written = self.writer.write(key, obj, step, expect)  # raises: no fetch asked for
        if self.repository.fetch_error is not None:
            # This fetch (and push) worked while the periodic one is backing off: fetch
            # now, so readiness and the other rollouts recover at once too. Not when
            # the write failed: every retry would cut the periodic fetch's backoff short.
            self.request_fetch()
        for event in written.events:
            self.reporter.emit(obj, *event, step=step)
        if written.fetch:
            self.request_fetch()
        if written.again:
            self.enqueue(key)
        if written.result is None:
            return written.step
        result = written.result
        if result.outcome == "stale":
            log.info("%s: %s", key, result.message)
        if result.outcome == "pushed":
            faults.hit("release-pushed" if step.action == "release" else "revert-pushed")
            self.reporter.pushed(obj, step, result)
            if step.action == "revert" and result.previous:
                self.checkpoints.reverted(key, obj, release=result.previous,
                                          restored=result.release)
            if self.options.flux_nudge:
                flux.nudge(self.cluster, source=self.options.flux_source,
                           now=self.clock().isoformat())
        if result.outcome in ("pushed", "stale"):
            self.enqueue(key)  # the next pass sees the new head and goes on from there
        return step

    # -- health, for the HTTP surface -------------------------------------------

    def alive(self) -> bool:
        """Alive while starting (the watches may take a while to list) and running;
        not once stopping, nor when a started daemon has lost its scheduler."""
        if self.stop.is_set():
            return False
        return self.timers.running or not self._running

    def ready(self) -> tuple[bool, str]:
        if not self.synced():
            return False, "watches have not listed every kind yet"
        if self.repository.fetch_error:
            return False, f"config repository not reachable: {self.repository.fetch_error}"
        failing = [h.failing for h in self._watches if h.failing]
        if failing:
            more = f" (and {len(failing) - 1} more watches)" if len(failing) > 1 else ""
            return False, f"API server not reachable: {failing[0]}{more}"
        role = "leader" if self.is_leader() else "standby"
        return True, f"watches synced, config repository reachable, {role}"

    def request_fetch(self) -> None:
        self.surface.request_fetch()

