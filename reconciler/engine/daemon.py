"""The daemon: watches feed a keyed work queue, workers reconcile rollouts.

Each reconcile gathers what ``core.progress.decide`` needs — the Rollout from the
cluster, its targets and trailer records from a git ``Snapshot``, candidates,
gates, Flux's applied revision and HealthChecks from the watch stores — decides,
performs at most one git write (release or revert, through the ``Releaser``, one
writer at a time), then writes the status only when it changed and emits Events
only when the state changed. APScheduler owns every timer: the wake-up at the end
of a bake or a deploy timeout, the periodic resync and the periodic fetch.

Nothing about a rollout lives only in memory: a restarted daemon computes the same
step from git and the cluster, resumes a bake with the time left (the bake start
is in the status), and never writes a commit twice.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from pydantic import ValidationError

from reconciler.adapters import cluster as k8s
from reconciler.adapters import git
from reconciler.core import (
    bake,
    inputs,
    manifests,
    models,
    planning,
    policies,
    progress,
    reasons,
    selectors,
    status,
    trailers,
)
from reconciler.engine import faults
from reconciler.engine import presets as preset_files
from reconciler.engine.informers import Store
from reconciler.engine.releaser import Expect, Releaser
from reconciler.engine.snapshot import Snapshot
from reconciler.engine.workqueue import WorkQueue
from reconciler.errors import (
    AuthenticationFailed,
    ClusterError,
    ClusterNotFound,
    ConflictError,
    GitError,
    NothingToRevert,
    PermanentError,
    PushRejected,
    ReconcilerError,
    TransientError,
)


class SetupProblem(PermanentError):
    """The cluster or the repository is set up so that the rollout cannot proceed."""

log = logging.getLogger(__name__)

REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"


@dataclass(frozen=True)
class Options:
    """What the daemon needs beyond the adapters (built from the ``run`` flags)."""

    namespace: str | None = None
    workers: int = 4
    resync_interval: float = 300.0
    fetch_interval: float = 30.0
    flux_nudge: bool = True
    flux_source: str = "flux-system/flux-system"  # the GitRepository serving the repo
    policies_dir: Path | None = None
    error_backoff: tuple[float, float] = (1.0, 300.0)  # first, cap (seconds)


class MetricsSink(Protocol):
    """What the daemon reports; ``interfaces.metrics.Metrics`` implements it."""

    def observe_reconcile(self, result: str, seconds: float) -> None: ...
    def release_pushed(self) -> None: ...
    def revert_pushed(self, reason: str) -> None: ...
    def bake_ended(self, result: str) -> None: ...
    def observe_push(self, result: str, seconds: float) -> None: ...
    def track_queue(self, depth: Callable[[], int]) -> None: ...
    def set_leader(self, leading: bool) -> None: ...


class NoMetrics:
    def observe_reconcile(self, result: str, seconds: float) -> None:
        pass

    def release_pushed(self) -> None:
        pass

    def revert_pushed(self, reason: str) -> None:
        pass

    def bake_ended(self, result: str) -> None:
        pass

    def observe_push(self, result: str, seconds: float) -> None:
        pass

    def track_queue(self, depth: Callable[[], int]) -> None:
        pass

    def set_leader(self, leading: bool) -> None:
        pass


@dataclass
class _Errors:
    count: dict[str, int] = field(default_factory=dict)

    def delay(self, key: str, first: float, cap: float) -> float:
        n = min(self.count.get(key, 0), 30)  # 2**30 s is past any cap; never overflows
        self.count[key] = n + 1
        return float(min(cap, first * 2 ** n) * (0.75 + 0.5 * random.random()))

    def clear(self, key: str) -> None:
        self.count.pop(key, None)


class Daemon:
    def __init__(self, *, cluster: k8s.Cluster, mirror: git.Mirror, options: Options,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 metrics: MetricsSink | None = None,
                 is_leader: Callable[[], bool] = lambda: True) -> None:
        self.cluster = cluster
        self.mirror = mirror
        self.options = options
        self.clock = clock
        self.metrics: MetricsSink = metrics or NoMetrics()
        # Only the leader reconciles and writes; asked again right before every write.
        self.is_leader = is_leader
        self._registered: dict[str, set[str]] = {}
        self._registered_lock = threading.Lock()
        self._fetch_error: str | None = None
        self._fetch_failures = _Errors()  # backs the periodic fetch off while it fails
        self._watches: list[k8s.WatchHandle] = []
        self._running = False  # set once start() has started the scheduler
        self.releaser = Releaser(mirror)
        self.presets = preset_files.load(options.policies_dir)
        self.queue = WorkQueue()
        self.stop = threading.Event()
        self.git_lock = threading.Lock()
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self._errors = _Errors()
        self._conflicts = _Errors()
        self._threads: list[threading.Thread] = []
        self._snapshot: Snapshot | None = None
        self._reported: set[str] = set()  # repository errors already logged
        # Rollouts waiting for Flux, and the Kustomizations each waits on: a
        # Kustomization's status change wakes only these, not every rollout.
        self._deploying: dict[str, frozenset[str]] = {}
        kinds = [k8s.ROLLOUT, k8s.IMAGEPOLICY, k8s.HEALTHCHECK, k8s.ROLLOUTGATE,
                 k8s.KUSTOMIZATION]
        if options.namespace is None:
            # HealthCheck namespaceSelectors match namespace labels; a daemon scoped to
            # one namespace looks in that namespace only.
            kinds.append(k8s.NAMESPACE)
        self.stores = {kind.plural: Store(kind, on_change=self._on_change) for kind in kinds}
        self.reconciles = 0
        self.metrics.track_queue(lambda: len(self.queue))

    # -- lifecycle -----------------------------------------------------------

    def start(self, sync_timeout: float = 60.0) -> None:
        with self.git_lock:
            self.mirror.fetch()
            self._snapshot = self.releaser.snapshot(fetch=False)
        self._report_problems(self._snapshot)
        self._pick_image_policy_version()
        for store in self.stores.values():
            # --namespace scopes the Rollouts and what lives beside them; Flux's
            # Kustomizations and ImagePolicies usually live elsewhere (flux-system).
            scoped = store.kind.plural in ("rollouts", "healthchecks", "rolloutgates")
            handle = self.cluster.watch(store.kind, store.on_event, stop=self.stop,
                                        on_sync=store.on_sync,
                                        namespace=self.options.namespace if scoped else None)
            self._threads.append(handle.thread)
            self._watches.append(handle)
        # Decide nothing before every store has its first list: a rollout judged
        # against an empty ImagePolicy store would report a missing ImagePolicy.
        for store in self.stores.values():
            if not store.synced.wait(sync_timeout):
                log.warning("no initial list of %s after %.0fs; starting anyway",
                            store.kind.plural, sync_timeout)
        for i in range(self.options.workers):
            t = threading.Thread(target=self._work, name=f"reconcile-{i}", daemon=True)
            t.start()
            self._threads.append(t)
        self.scheduler.add_job(self.resync, "interval", seconds=self.options.resync_interval,
                               id="resync", max_instances=1, coalesce=True)
        self.scheduler.add_job(self.fetch, "interval", seconds=self.options.fetch_interval,
                               id="fetch", max_instances=1, coalesce=True)
        self.scheduler.start()
        self._running = True
        log.info("daemon started: %d workers, watching %s", self.options.workers,
                 self.options.namespace or "all namespaces")

    def _pick_image_policy_version(self) -> None:
        """Flux before 2.6 serves ImagePolicy only as v1beta2 (``status.latestImage``)."""
        try:
            self.cluster.list(k8s.IMAGEPOLICY)
        except ClusterNotFound:
            log.info("image.toolkit.fluxcd.io/v1 is not served; watching v1beta2 ImagePolicies")
            self.stores["imagepolicies"] = Store(k8s.IMAGEPOLICY_V1BETA2,
                                                 on_change=self._on_change)
        except ReconcilerError as exc:
            log.warning("cannot list ImagePolicies yet: %s", exc)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop taking work; a reconcile in the middle of a push finishes it."""
        self.stop.set()
        self.queue.close()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for t in self._threads:
            t.join(timeout)
        log.info("daemon stopped")

    def synced(self) -> bool:
        return all(s.synced.is_set() for s in self.stores.values())

    # -- triggers ------------------------------------------------------------

    def enqueue(self, key: str) -> None:
        self.queue.add(key)

    def resync(self) -> None:
        for obj in self.stores["rollouts"].list(copy_objects=False):
            self.enqueue(_key(obj))

    def fetch(self) -> None:
        """Fetch the config repository; reconcile everything when the head moved.

        While fetches fail (remote unreachable, credentials refused), the next one
        waits longer each time: the fetch interval doubling up to the error backoff
        cap, jittered. The first fetch that works again reconciles every rollout, so
        those that failed on git do not wait out their own retry timers."""
        try:
            with self.git_lock:
                before = self._snapshot.commit if self._snapshot else None
                self.mirror.fetch()
                self._snapshot = self.releaser.snapshot(fetch=False)
        except ReconcilerError as exc:
            interval, cap = self.options.fetch_interval, self.options.error_backoff[1]
            delay = self._fetch_failures.delay("fetch", interval, max(interval, cap))
            log.warning("fetch failed: %s; next fetch in %.1fs", exc, delay)
            self._fetch_error = str(exc)
            self._postpone_fetch(delay)
            return
        recovered = self._fetch_error is not None
        self._fetch_error = None
        self._fetch_failures.clear("fetch")
        self._report_problems(self._snapshot)
        if recovered:
            log.info("config repository reachable again at %s", self._snapshot.commit[:12])
            self.resync()
        elif self._snapshot.commit != before:
            log.info("config repository moved to %s", self._snapshot.commit[:12])
            self.resync()

    def _report_problems(self, snap: Snapshot, limit: int = 20) -> None:
        """Log each error in the config repository once, when it appears: a file that
        does not parse or a symlink concerns no rollout's status, so the log is where
        a person sees it (``reconciler validate`` lists them all)."""
        errors = [p.render() for p in snap.inventory.errors()]
        new = [line for line in errors if line not in self._reported]
        self._reported = set(errors)
        for line in new[:limit]:
            log.warning("config repository at %s: %s", snap.commit[:12], line)
        if len(new) > limit:
            log.warning("config repository at %s: %d more errors; run `reconciler validate`",
                        snap.commit[:12], len(new) - limit)

    def _postpone_fetch(self, delay: float) -> None:
        if self.stop.is_set() or not self.scheduler.running or \
                self.scheduler.get_job("fetch") is None:
            return
        self.scheduler.modify_job("fetch", next_run_time=datetime.now(UTC)
                                  + timedelta(seconds=delay))

    def _on_change(self, kind: k8s.Kind, old: dict[str, Any] | None,
                   new: dict[str, Any] | None) -> None:
        obj = new or old
        if obj is None:
            return
        if kind.plural == "rollouts":
            self.enqueue(_key(obj))
            return
        if kind.plural == "namespaces":
            return  # read when a HealthCheck selector needs it; changes wait for resync
        if kind.plural == "kustomizations":
            name = _key(obj)
            for key, waits_on in list(self._deploying.items()):
                if name in waits_on:
                    self.enqueue(key)
            return
        for rollout in self.stores["rollouts"].list(copy_objects=False):
            try:
                hit = self._concerns(rollout, kind, obj) or (
                    old is not None and self._concerns(rollout, kind, old))
            except Exception:  # a malformed object: let reconcile judge (and report) it
                hit = True
            if hit:
                self.enqueue(_key(rollout))

    def _concerns(self, rollout: Mapping[str, Any], kind: k8s.Kind,
                  obj: Mapping[str, Any]) -> bool:
        meta, spec = rollout.get("metadata") or {}, rollout.get("spec") or {}
        ns = meta.get("namespace")
        o_meta = obj.get("metadata") or {}
        if kind.plural == "imagepolicies":
            ref = spec.get("releasesImagePolicy") or {}
            return bool(ref.get("name") == o_meta.get("name")
                        and (ref.get("namespace") or ns) == o_meta.get("namespace"))
        if kind.plural == "rolloutgates":
            ref = (obj.get("spec") or {}).get("rolloutRef") or {}
            return bool(ref.get("name") == meta.get("name") and o_meta.get("namespace") == ns)
        if kind.plural == "healthchecks":
            selector = (spec.get("healthCheckSelector") or {})
            if not selector.get("namespaceSelector") and o_meta.get("namespace") != ns:
                return False
            return selectors.matches(selector.get("selector") or {}, o_meta.get("labels") or {})
        return False

    # -- work ----------------------------------------------------------------

    def _work(self) -> None:
        while not self.stop.is_set():
            key = self.queue.get(timeout=0.5)
            if key is None:
                continue
            try:
                self.reconcile(key)
            except Exception:  # one rollout never takes the daemon down
                log.exception("reconcile of %s failed unexpectedly", key)
                try:
                    self._retry_later(key)
                except Exception:
                    log.exception("cannot schedule a retry of %s", key)
            finally:
                self.queue.done(key)

    def _retry_later(self, key: str) -> None:
        first, cap = self.options.error_backoff
        self._wake(key, self.clock() + timedelta(seconds=self._errors.delay(key, first, cap)),
                   purpose="retry")

    def _wake(self, key: str, when: datetime, *, purpose: str = "wake") -> None:
        """Reconcile ``key`` at ``when``. One timer per (purpose, key): a retry never
        replaces the wake-up at the end of a bake, nor the other way round."""
        if self.stop.is_set() or not self.scheduler.running:
            return
        self.scheduler.add_job(self.enqueue, "date", run_date=when, args=[key],
                               id=f"{purpose}:{key}", replace_existing=True,
                               misfire_grace_time=None, coalesce=True)

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
        snap = self._snapshot
        assert snap is not None
        setup = self._setup_problem(snap, key)
        if setup:
            self._fail(obj, previous, generation, now, (reasons.SETUP_ERROR, setup, True))
            return None
        decided: progress.Step | None = None
        try:
            decided = self._decide(key, obj, spec, snap, previous, now)
            newest = next((r.commit for r in snap.records(key)), None)
            step = self._act(key, obj, decided, Expect(newest=newest, current=decided.current))
        except TransientError as exc:
            reason = (reasons.PUSH_REJECTED if isinstance(exc, PushRejected) else
                      reasons.AUTHENTICATION_FAILED if isinstance(exc, AuthenticationFailed)
                      else reasons.CLUSTER_ERROR if isinstance(exc, ClusterError) else
                      reasons.GIT_ERROR)
            log.warning("%s: %s", key, exc)
            self._retry_later(key)
            # What was decided (a failed bake, say) is kept even though git was not
            # written: the next pass asks for the revert again.
            self._fail(obj, previous, generation, now, (reason, str(exc), False),
                       kept=decided.kept if decided else None)
            return None
        except PermanentError as exc:
            self._fail(obj, previous, generation, now, (reasons.SETUP_ERROR, str(exc), True),
                       kept=decided.kept if decided else None)
            return None
        if step.reason != reasons.DEPLOYING:
            self._deploying.pop(key, None)
        records = list(self._snapshot.records(key)) if self._snapshot else []
        new = status.render(step=step, records=records, previous=previous,
                            generation=generation,
                            revision=self._snapshot.commit if self._snapshot else None,
                            candidates=self._candidates(obj, spec)[0],
                            limit=spec.versionHistoryLimit, now=now)
        if self._write_status(obj, previous, new, step):
            self._errors.clear(key)
        if step.wake_at is not None:
            self._wake(key, step.wake_at)
        return step

    def _setup_problem(self, snap: Snapshot, key: str) -> str | None:
        inv = snap.inventory
        if key in inv.broken:
            return "; ".join(p.render() for p in inv.broken[key])
        if not inv.targets.get(key):
            return f"at {snap.commit[:12]}: {inv.no_target(key)}"
        return None

    def _candidates(self, obj: Mapping[str, Any],
                    spec: models.RolloutSpec) -> tuple[list[str], str | None]:
        previous = status.known_releases(obj.get("status"))
        with self._registered_lock:
            seen = sorted(self._registered.get(_key(obj), ()))
        ref = spec.releasesImagePolicy
        if ref is None:
            return status.available(previous, seen), None
        ns = ref.namespace or (obj.get("metadata") or {}).get("namespace", "")
        policy = self.stores["imagepolicies"].get(ns, ref.name)
        found = inputs.image_policy_tag(policy, name=f"{ns}/{ref.name}")
        if found.tag:
            seen.append(found.tag)
        return status.available(previous, seen), found.problem

    def _decide(self, key: str, obj: Mapping[str, Any], spec: models.RolloutSpec,
                snap: Snapshot, previous: Mapping[str, Any] | None,
                now: datetime) -> progress.Step:
        namespace, name = key.split("/", 1)
        targets = snap.inventory.targets[key]
        records = list(snap.records(key))
        candidates, problem = self._candidates(obj, spec)
        gates = inputs.gates_for(name, self.stores["rolloutgates"].list(namespace))
        checks = [bake.check_from(hc) for hc in self._health_checks(namespace, spec)]
        newest = records[0] if records else None
        applied = self._applied(key, newest, targets) if newest else None
        return progress.decide(progress.Observed(
            rollout=key, policy=policies.effective(spec, self.presets), targets=targets,
            records=records, candidates=candidates, now=now, gate_blocks=gates.blocks,
            gate_allowed=gates.allowed, applied=applied, checks=checks,
            kept=status.kept_from(previous), waiting_for=problem,
            manual_commit=self._manual_commit(snap, newest, targets)))

    def _manual_commit(self, snap: Snapshot, newest: trailers.Record | None,
                       targets: list[manifests.Target]) -> str | None:
        """The newest commit since the rollout's last reconciler commit that changed one
        of its target values without reconciler trailers: who the hold is about. An
        edit elsewhere in a target's file (the line next to it, say) is not."""
        current, _ = planning.current_release(targets)
        if newest is None or current == newest.trailers.release:
            return None
        files = {t.file for t in targets}
        try:
            for commit in self.mirror.log(snap.commit, stop=newest.commit, limit=200):
                if trailers.parse(commit.message) is not None or not commit.parents:
                    continue
                parent = commit.parents[0]
                after = dict(self.mirror.changed_files(parent, commit.sha,
                                                       suffixes=manifests.SUFFIXES))
                touched = files & after.keys()
                if not touched:
                    continue
                before = dict(self.mirror.changed_files(commit.sha, parent,
                                                        suffixes=manifests.SUFFIXES))
                if any(self._target_values(path, after[path], newest.trailers.rollout)
                       != self._target_values(path, before.get(path), newest.trailers.rollout)
                       for path in touched):
                    return f"{commit.sha[:12]} by {commit.author_name}"
        except GitError:
            return None
        return None

    def _target_values(self, path: str, blob: str | None,
                       rollout: str) -> list[tuple[int, tuple[str, ...], str | None]]:
        if blob is None:
            return []
        scan = self.releaser.scanner.scan(path, blob)
        return [(t.document, t.path, t.value) for t in scan.targets if t.rollout == rollout]

    def _health_checks(self, namespace: str,
                       spec: models.RolloutSpec) -> list[dict[str, Any]]:
        sel = spec.healthCheckSelector
        label = sel.selector.model_dump(exclude_none=True) if sel and sel.selector else {}
        if sel and sel.namespaceSelector and "namespaces" in self.stores:
            ns_selector = sel.namespaceSelector.model_dump(exclude_none=True)
            allowed = {(n.get("metadata") or {}).get("name")
                       for n in self.stores["namespaces"].list(label_selector=ns_selector)}
        else:
            allowed = {namespace}
        found: list[dict[str, Any]] = []
        for ns in allowed:
            found += self.stores["healthchecks"].list(ns, label_selector=label)
        return found

    def _applied(self, key: str, record: trailers.Record,
                 targets: list[manifests.Target]) -> progress.Applied:
        """Has Flux applied ``record``'s commit? Every Kustomization that holds one of
        the rollout's targets (or, for OCIRepository targets, sources from one) must
        report it, or a descendant, as its last applied revision."""
        kustomizations = self.stores["kustomizations"]
        watched: list[tuple[str, Mapping[str, Any] | None, str | None]] = []
        for t in targets:
            ns, nm = t.object.split("/", 1)
            if t.kind == "Kustomization":
                watched.append((t.object, kustomizations.get(ns, nm), None))
            else:
                for source in kustomizations.list():
                    ref = (source.get("spec") or {}).get("sourceRef") or {}
                    k_ns = (source.get("metadata") or {}).get("namespace")
                    if ref.get("kind") == "OCIRepository" and ref.get("name") == nm \
                            and (ref.get("namespace") or k_ns) == ns:
                        watched.append((_key(source), source, record.trailers.release))
        if not watched:
            src_ns, src = self.options.flux_source.split("/", 1)
            root = kustomizations.get(src_ns, src)
            watched.append((self.options.flux_source, root, None))
        self._deploying[key] = frozenset(w[0] for w in watched)
        pending = []
        for name, k, oci_tag in watched:
            if oci_tag is not None:
                revision = inputs.applied_revision(k) or ""
                if not (revision == oci_tag or revision.startswith(f"{oci_tag}@")):
                    pending.append(f"Kustomization {name} at {revision or 'nothing yet'}")
                continue
            sha = inputs.applied_sha(k)
            if k is None:
                # A set-up problem, not a failed deploy: stall instead of reverting.
                raise SetupProblem(f"Kustomization {name}, which applies a target of {key}, "
                                   f"is not in the cluster")
            elif sha is None or not self._descends(sha, record.commit):
                pending.append(f"Kustomization {name} at "
                               f"{inputs.applied_revision(k) or 'nothing yet'}")
        if pending:
            return progress.Applied(False, "; ".join(sorted(set(pending))))
        return progress.Applied(True, f"applied by {', '.join(sorted({w[0] for w in watched}))}")

    def _descends(self, sha: str, commit: str) -> bool:
        if sha == commit:
            return True
        try:
            return self.mirror.is_ancestor(commit, sha)
        except GitError:
            return False  # Flux may have applied a commit we have not fetched yet

    def _act(self, key: str, obj: Mapping[str, Any], step: progress.Step,
             expect: Expect) -> progress.Step:
        if step.action not in ("release", "revert"):
            return step
        if not self.is_leader():
            raise ClusterError("lost the leader election before writing to git")
        with self.git_lock:
            if step.action == "release":
                assert step.release is not None
                result = self.releaser.release(key, step.release, push=True, expect=expect)
            else:
                result = self.releaser.revert(key, reason=step.message, push=True,
                                              expect=expect)
            self._snapshot = self.releaser.snapshot(fetch=False)
        if self._fetch_error is not None:
            # This fetch (and push) worked while the periodic one is backing off:
            # fetch now, so readiness and the other rollouts recover at once too.
            self.request_fetch()
        if result.outcome == "stale":
            log.info("%s: %s", key, result.message)
        if step.action == "revert" and result.outcome == "unchanged":
            # Nothing to undo in git (e.g. the failed release was a record-only adopt
            # commit): stall with the reason instead of asking again forever.
            raise NothingToRevert(f"{step.message}; the revert changes nothing "
                                  f"({result.message}); set a release with "
                                  f"`reconciler release {key} <tag> --push`")
        if result.outcome == "pushed":
            faults.hit("release-pushed" if step.action == "release" else "revert-pushed")
            if step.action == "release":
                self.metrics.release_pushed()
            else:
                self.metrics.revert_pushed(step.reason)
            for type_, reason, message in step.events:
                self._emit(obj, type_, reason, message)
            log.info("%s: %s %s -> %s pushed as %s", key, result.action, result.previous,
                     result.release, (result.commit or "")[:12])
            self._emit(obj, "Normal" if step.action == "release" else "Warning",
                       reasons.RELEASE_WRITTEN if step.action == "release"
                       else reasons.RELEASE_REVERTED,
                       f"{result.action} {result.previous} -> {result.release} "
                       f"(commit {(result.commit or '')[:12]})")
            self._nudge_flux()
        if result.outcome in ("pushed", "stale"):
            self.enqueue(key)  # the next pass sees the new head and goes on from there
        return step

    def _nudge_flux(self) -> None:
        if not self.options.flux_nudge:
            return
        ns, name = self.options.flux_source.split("/", 1)
        try:
            self.cluster.annotate(k8s.GITREPOSITORY, namespace=ns, name=name,
                                  annotations={REQUESTED_AT: self.clock().isoformat()})
        except ReconcilerError as exc:
            log.info("could not ask Flux to fetch %s now: %s", self.options.flux_source, exc)

    # -- status and events ----------------------------------------------------

    def _fail(self, obj: Mapping[str, Any], previous: Mapping[str, Any] | None,
              generation: int | None, now: datetime,
              error: tuple[str, str, bool],
              kept: tuple[progress.Bookkeeping, ...] | None = None) -> None:
        """Write a status that reports ``error`` (reason, message, permanent)."""
        key = _key(obj)
        records = list(self._snapshot.records(key)) if self._snapshot else []
        new = status.render(step=None, records=records, previous=previous,
                            generation=generation,
                            revision=self._snapshot.commit if self._snapshot else None,
                            candidates=[], limit=10, now=now, error=error, kept=kept)
        self._write_status(obj, previous, new, None)

    def _write_status(self, obj: Mapping[str, Any], previous: Mapping[str, Any] | None,
                      new: dict[str, Any], step: progress.Step | None) -> bool:
        """Write ``new`` if it differs; True when the status is as wanted afterwards."""
        old_reason = _ready_reason(previous)
        new_reason = _ready_reason(new)
        if status.same(previous, new):
            return True
        if not self.is_leader():
            return False
        meta = obj.get("metadata") or {}
        key = _key(obj)
        try:
            # Precondition on the resourceVersion we decided from: a status computed
            # from a stale copy (our watch has not delivered our own last write yet)
            # must not overwrite a newer one. Retry shortly, backing off, once the
            # watch has caught up.
            self.cluster.patch_status(k8s.ROLLOUT, namespace=meta["namespace"],
                                      name=meta["name"], status=new,
                                      resource_version=meta.get("resourceVersion"))
        except ConflictError:
            self._wake(key, self.clock() + timedelta(
                seconds=self._conflicts.delay(key, 0.05, 5.0)), purpose="conflict")
            return False
        except PermanentError as exc:
            log.error("%s: cannot write status (not retried until the Rollout changes): %s",
                      key, exc)
            return False
        except ReconcilerError as exc:
            log.warning("%s: cannot write status: %s", key, exc)
            self._retry_later(key)
            return False
        self._conflicts.clear(key)
        self._count_bakes(previous, new)
        if faults.armed and _bake_started(previous, new):
            faults.hit("bake-started")
        # A release or revert recorded its Events in _act, once it was pushed.
        acted = step is not None and step.action in ("release", "revert")
        if old_reason != new_reason and not acted:
            if step is not None and step.events:
                for type_, reason, message in step.events:
                    self._emit(obj, type_, reason, message)
            elif new_reason and step is None:
                message = next((c.get("message", "") for c in new["conditions"]
                                if c.get("type") == reasons.READY), "")
                self._emit(obj, "Warning", new_reason, message)
            elif step is not None and step.action in ("held", "blocked", "wait"):
                self._emit(obj, "Warning" if step.action == "held" else "Normal",
                           step.reason, step.message)
        return True

    def _count_bakes(self, previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> None:
        def states(s: Mapping[str, Any] | None) -> dict[Any, Any]:
            return {h.get("commit"): h.get("bakeStatus") for h in status.entries(s, "history")
                    if isinstance(h.get("commit"), str)}
        before = states(previous)
        for commit, state in states(new).items():
            if state in progress.SETTLED and before.get(commit) != state:
                self.metrics.bake_ended(state)

    # -- what the HTTP server asks (interfaces.http.Backend) -------------------

    def alive(self) -> bool:
        """Alive while starting (the watches may take a while to list) and running;
        not once stopping, nor when a started daemon has lost its scheduler."""
        if self.stop.is_set():
            return False
        return self.scheduler.running or not self._running

    def ready(self) -> tuple[bool, str]:
        if not self.synced():
            return False, "watches have not listed every kind yet"
        if self._fetch_error:
            return False, f"config repository not reachable: {self._fetch_error}"
        failing = [h.failing for h in self._watches if h.failing]
        if failing:
            more = f" (and {len(failing) - 1} more watches)" if len(failing) > 1 else ""
            return False, f"API server not reachable: {failing[0]}{more}"
        role = "leader" if self.is_leader() else "standby"
        return True, f"watches synced, config repository reachable, {role}"

    def rollouts(self) -> Sequence[Mapping[str, Any]]:
        return self.stores["rollouts"].list()

    def rollout(self, *, namespace: str, name: str) -> Mapping[str, Any] | None:
        return self.stores["rollouts"].get(namespace, name)

    def history(self, *, namespace: str, name: str) -> Sequence[Mapping[str, Any]]:
        snap = self._snapshot
        return [r.as_dict() for r in snap.records(f"{namespace}/{name}")] if snap else []

    def knows(self, *, namespace: str, name: str) -> bool:
        return self.stores["rollouts"].get(namespace, name) is not None

    def request_fetch(self) -> None:
        if self.scheduler.running:
            self.scheduler.modify_job("fetch", next_run_time=datetime.now(UTC))

    def register_release(self, *, namespace: str, name: str, tag: str) -> bool:
        """A CI pipeline's release candidate: selection, gates and bake still apply.
        It is kept in ``status.availableReleases`` once reconciled, so it survives a
        restart."""
        key = f"{namespace}/{name}"
        obj = self.stores["rollouts"].get(namespace, name) or {}
        known = (obj.get("status") or {}).get("availableReleases") or []
        with self._registered_lock:
            seen = self._registered.setdefault(key, set())
            new = tag not in seen and tag not in known
            seen.add(tag)
        self.enqueue(key)
        return new

    def _emit(self, obj: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
        try:
            self.cluster.create_event(involved=dict(obj), type=type_,  # type: ignore[arg-type]
                                      reason=reason, message=message)
        except ReconcilerError as exc:
            log.info("could not record event %s on %s: %s", reason, _key(obj), exc)


def _key(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    return f"{meta.get('namespace', '')}/{meta.get('name', '')}"


def _ready_reason(s: Mapping[str, Any] | None) -> str | None:
    for c in status.entries(s, "conditions"):
        if c.get("type") == reasons.READY:
            reason = c.get("reason")
            return reason if isinstance(reason, str) else None
    return None


def _bake_started(previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    """Did this status write start a bake (a bakeStartTime the old status lacked)?"""
    def started(s: Mapping[str, Any] | None) -> set[Any]:
        return {h.get("commit") for h in status.entries(s, "history")
                if isinstance(h.get("commit"), str) and h.get("bakeStartTime")}
    return bool(started(new) - started(previous))
