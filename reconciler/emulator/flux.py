"""A stand-in for Flux (source-, kustomize- and helm-controller) over the emulator.

Where it fits: the demo, the end-to-end and the reliability tests run it beside the
emulator so that the daemon meets a Flux that really applies what it commits. It
follows one bare repository's branch with the git CLI (``emulator.gittree``; no
pygit2 here), builds manifests with ``emulator.kustomize`` and writes statuses in the
shapes of ``emulator.fluxstatus``. What it plays, and from which source:

- source-controller (fluxcd/source-controller ``internal/controller/
  gitrepository_controller.go``): the GitRepository it serves (``source``, default
  ``flux-system/flux-system``) gets ``status.artifact.revision =
  "<branch>@sha1:<hex>"`` ``delay`` seconds after the branch moves, at once when its
  ``reconcile.fluxcd.io/requestedAt`` annotation asks (``lastHandledReconcileAt``
  records it). OCIRepositories (``ocirepository_controller.go``) get
  ``<tag>@sha256:<digest>`` after a change of ``spec.ref`` (digest > semver > tag).
- kustomize-controller (fluxcd/kustomize-controller ``internal/controller/
  kustomization_controller.go``, ``reconcile`` and ``finalizeStatus``): a
  Kustomization is reconciled when its source has a new artifact or its generation
  moves; its status is written in that controller's order: Ready Unknown
  (``Progressing``), ``lastAttemptedRevision``, then after the apply
  (``emulator.fluxapply``) and the health checks ``lastAppliedRevision`` (and
  ``lastAppliedOriginRevision``), Ready True ``ReconciliationSucceeded``, and only
  then ``observedGeneration``. A failure moves neither of the last two.
- helm-controller (fluxcd/helm-controller ``internal/controller/
  helmrelease_controller.go``): a HelmRelease whose ``spec.chartRef`` names an
  OCIRepository records ``lastAttemptedRevision`` and ``status.history[0]``.

The race the daemon must survive (DESIGN.md, "The release loop" step 4):
``child_first=True`` reconciles a child before the parent that applies its spec, so
the child reports the release commit with its old spec, then its generation moves
and it reconciles again. Not modelled: ``dependsOn``, pruning, retry intervals,
drift correction between commits.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reconciler.emulator import fluxapply, fluxstatus, kustomize
from reconciler.emulator.gittree import head_of, tree_of
from reconciler.emulator.server import Emulator
from reconciler.emulator.status import ApiError

__all__ = ["KUSTOMIZATION_API", "FakeFlux", "head_of"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
KUSTOMIZATION_API = "kustomize.toolkit.fluxcd.io/v1"
SOURCE_API = "source.toolkit.fluxcd.io/v1"
SOURCE_GROUP = "source.toolkit.fluxcd.io"


class _Failed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class FakeFlux:
    """Flux over the emulator. Knobs (read on every pass, change them any time):

    ``paused``       nothing is fetched or applied (deploy timeouts)
    ``delay``        seconds between a source change and its new artifact
    ``delays``       ``{"Kind/namespace/name": seconds}`` before that object acts
    ``child_first``  reconcile child Kustomizations before their parents
    ``failing``      ``{"Kind/namespace/name": message}``: that Kustomization's health
                     checks (or that HelmRelease's upgrade) fail
    ``oci_tags``     ``{url: [tags]}``: the registry an OCIRepository ``semver`` reads
    ``hands_off``    ``{"Kind/namespace/name"}``: objects whose controller the test
                     plays itself; the stand-in never writes their status

    Read back: ``applied`` (the last commit every Kustomization of the served
    GitRepository has applied), ``reconciles`` (the last 1000 ``(key, revision,
    generation)``, in order), ``skipped`` (by ``apiVersion/Kind``), ``errors``.
    """

    def __init__(self, emulator: Emulator, repo: Path, *, branch: str = "main",
                 delay: float = 0.5, interval: float = 0.1,
                 source: str = "flux-system/flux-system", child_first: bool = False,
                 delays: dict[str, float] | None = None,
                 oci_tags: dict[str, list[str]] | None = None) -> None:
        self.emulator = emulator
        self.repo = repo
        self.branch = branch
        self.delay = delay
        self.interval = interval
        self.source = source
        self.source_key = f"GitRepository/{source}"
        self.child_first = child_first
        self.delays: dict[str, float] = dict(delays or {})
        self.failing: dict[str, str] = {}
        self.hands_off: set[str] = set()
        self.oci_tags: dict[str, list[str]] = dict(oci_tags or {})
        self.paused = False
        self.applied: str | None = None
        self.reconciles: list[tuple[str, str, int]] = []
        self.errors: list[str] = []
        self._lock = threading.RLock()
        self._pending: dict[str, tuple[tuple[Any, ...], float]] = {}
        self._done: dict[str, tuple[Any, ...]] = {}
        self._applier = fluxapply.Applier(emulator)
        self._blobs: dict[str, bytes] = {}
        self._trees: dict[str, dict[str, Callable[[], bytes]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fake-flux", daemon=True)

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> FakeFlux:
        self.apply_now()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)

    def __enter__(self) -> FakeFlux:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def apply_now(self) -> str:
        """Fetch the branch head and reconcile everything now, delays aside (paused
        or not); the head."""
        with self._lock:
            self._bootstrap()
            self._step(force=True)
            return head_of(self.repo, self.branch)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if self.paused:
                continue
            try:
                with self._lock:
                    self._step(force=False)
            except (subprocess.SubprocessError, OSError, ApiError) as exc:
                # The branch mid-update, the API paused by a test: try again next tick.
                self.errors.append(f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # a stand-in that dies silently hides every bug
                log.exception("Flux stand-in pass failed")
                self.errors.append(f"{type(exc).__name__}: {exc}")
            del self.errors[:-50]

    # -- one pass ------------------------------------------------------------------

    def _bootstrap(self) -> None:
        """``flux bootstrap`` created the GitRepository; create it if a test did not."""
        ns, _, name = self.source.partition("/")
        if not self.emulator.get_object(SOURCE_API, "GitRepository", namespace=ns, name=name):
            self.emulator.apply({"apiVersion": SOURCE_API, "kind": "GitRepository",
                                 "metadata": {"name": name, "namespace": ns},
                                 "spec": {"interval": "1m0s", "ref": {"branch": self.branch},
                                          "url": self.repo.as_uri()}})

    @property
    def skipped(self) -> Counter[str]:  # not served, or reconcile: disabled
        return self._applier.skipped

    def _step(self, *, force: bool) -> None:
        # Until nothing is due: an apply may change a source or a child Kustomization.
        for _ in range(10):
            world = self.emulator.objects()
            acted = self._fetch_git(world, force)
            for obj in world:
                if (obj.get("kind") == "OCIRepository" and fluxstatus.group_of(obj) == SOURCE_GROUP
                        and fluxstatus.key_of(obj) not in self.hands_off):
                    acted = self._fetch_oci(obj, force) or acted
            due = self._due_consumers(world, force)
            for stale, src, want in due:
                # Read it again, as a controller does when it starts: an earlier
                # reconcile in this pass (its parent's) may have changed its spec.
                meta = stale["metadata"]
                fresh = self.emulator.get_object(stale["apiVersion"], stale["kind"],
                                                 namespace=meta.get("namespace"),
                                                 name=meta["name"])
                try:
                    if fresh is not None and fresh["kind"] == "Kustomization":
                        self._reconcile_kustomization(fresh, src)
                    elif fresh is not None:
                        self._reconcile_helmrelease(fresh, src)
                except (AttributeError, TypeError, KeyError, ValueError) as exc:
                    # A malformed object fails alone, once, as with the real controller.
                    self.errors.append(f"{fluxstatus.key_of(stale)}: {exc!r}")
                    self._finish(fluxstatus.key_of(stale), want)
            if not (acted or due):
                break
        self._note_applied()
        del self.reconciles[:-1000]

    def _due(self, key: str, want: tuple[Any, ...], *, force: bool, default: float) -> bool:
        if self._done.get(key) == want:
            self._pending.pop(key, None)
            return False
        now = time.monotonic()
        pending = self._pending.get(key)
        if pending is None or pending[0] != want:
            pending = self._pending[key] = (want, now)
        return force or now - pending[1] >= self.delays.get(key, default)

    def _finish(self, key: str, want: tuple[Any, ...]) -> None:
        self._done[key] = want
        self._pending.pop(key, None)

    # -- source-controller -----------------------------------------------------------

    def _fetch_git(self, world: list[Obj], force: bool) -> bool:
        src = next((o for o in world if fluxstatus.key_of(o) == self.source_key
                    and fluxstatus.group_of(o) == SOURCE_GROUP), None)
        if src is None:
            return False
        revision = f"{self.branch}@sha1:{head_of(self.repo, self.branch)}"
        return self._store_artifact(src, revision, force=force,
                                    message=f"stored artifact for revision '{revision}'")

    def _fetch_oci(self, src: Obj, force: bool) -> bool:
        spec = src.get("spec") or {}
        revision, why = fluxstatus.oci_revision(spec, tags=self.oci_tags.get(
            str(spec.get("url") or "")))
        if revision is not None:
            return self._store_artifact(src, revision, force=force,
                                        message=f"stored artifact for digest '{revision}'")
        key, gen = fluxstatus.key_of(src), fluxstatus.generation_of(src)
        if not self._due(key, (why, gen), force=force, default=self.delay):
            return False
        self._status(src, {"conditions": [fluxstatus.condition(
            "Ready", "False", "OCIArtifactPullFailed", why, generation=gen)]})
        self._finish(key, (why, gen))
        return True

    def _store_artifact(self, src: Obj, revision: str, *, force: bool, message: str) -> bool:
        key, gen, request = fluxstatus.identity(src)
        status = src.get("status") or {}
        requested = bool(request) and request != status.get("lastHandledReconcileAt")
        want = (revision, gen, request)
        if ((status.get("artifact") or {}).get("revision") == revision and not requested
                and status.get("observedGeneration") == gen):
            self._finish(key, want)  # stored already, e.g. by an earlier stand-in
        if not self._due(key, want, force=force or requested, default=self.delay):
            return False
        new = fluxstatus.artifact_status(src, revision, message=message, generation=gen,
                                         request=request)
        self._status(src, new)
        self._finish(key, want)
        return True

    # -- consumers: which are due, in which order --------------------------------------

    def _due_consumers(self, world: list[Obj], force: bool,
                       ) -> list[tuple[Obj, Obj, tuple[Any, ...]]]:
        sources = {fluxstatus.key_of(o): o for o in world
                   if fluxstatus.group_of(o) == SOURCE_GROUP}
        due: list[tuple[Obj, Obj, tuple[Any, ...]]] = []
        for obj in world:
            src = sources.get(fluxstatus.source_key(obj) or "")
            revision = (((src or {}).get("status") or {}).get("artifact") or {}).get(
                "revision")
            if src is None or not revision:
                continue
            key, gen, request = fluxstatus.identity(obj)
            if key in self.hands_off:
                continue
            status = obj.get("status") or {}
            want = (revision, gen, request, self.failing.get(key))
            if (status.get("lastAttemptedRevision") == revision
                    and status.get("observedGeneration") == gen
                    and fluxstatus.ready_of(status) == "True"
                    and key not in self.failing and (
                        not request or request == status.get("lastHandledReconcileAt"))):
                self._finish(key, want)  # already done, e.g. by an earlier stand-in
            if self._due(key, want, force=force, default=0.0):
                due.append((obj, src, want))
        depth = fluxstatus.inventory_depths(
            [o for o in world if o.get("kind") == "Kustomization"])
        sign = -1 if self.child_first else 1
        due.sort(key=lambda item: (sign * depth.get(fluxstatus.key_of(item[0]), 0),
                                   fluxstatus.key_of(item[0])))
        return due

    def _note_applied(self) -> None:
        done = self._done.get(self.source_key)
        if done is None:
            return
        head = str(done[0]).rpartition(":")[2]
        for obj in self.emulator.objects(KUSTOMIZATION_API, "Kustomization"):
            if fluxstatus.source_key(obj) == self.source_key and not str(
                    (obj.get("status") or {}).get("lastAppliedRevision")).endswith(head):
                return
        self.applied = head

    # -- kustomize-controller --------------------------------------------------------

    def _reconcile_kustomization(self, obj: Obj, src: Obj) -> None:
        key, gen, request = fluxstatus.identity(obj)
        spec = obj.get("spec") or {}
        artifact = (src.get("status") or {}).get("artifact") or {}
        revision = str(artifact["revision"])
        origin = (artifact.get("metadata") or {}).get(fluxstatus.ORIGIN_REVISION)
        self.reconciles.append((key, revision, gen))
        timeout = spec.get("timeout") or spec.get("interval") or "5m0s"
        progressing = fluxstatus.condition("Ready", "Unknown", "Progressing",
                                           "Reconciliation in progress", generation=gen)

        def reconciling(what: str, reason: str = "Progressing") -> Obj:
            return fluxstatus.condition("Reconciling", "True", reason, f"{what} for revision "
                                        f"{revision} with a timeout of {timeout}",
                                        generation=gen)

        self._status(obj, {"conditions": [progressing, reconciling("Fetching manifests")]})
        extra: Obj = {}
        try:
            followed = fluxstatus.key_of(src) == self.source_key
            tree = self._tree(revision.rpartition(":")[2]) if followed else {}
            path = kustomize.clean_path(str(spec.get("path") or ""))
            if followed and path and not any(p.startswith(path + "/") for p in tree):
                raise _Failed("ArtifactFailed", f"kustomization path not found: stat "
                                                f"{spec.get('path')}: no such file or directory")
            extra["lastAttemptedRevision"] = revision
            self._status(obj, {"lastAttemptedRevision": revision, "conditions": [
                progressing, reconciling("Building manifests")]})
            try:
                objects = kustomize.build(
                    tree, path, substitute=(spec.get("postBuild") or {}).get("substitute"),
                    target_namespace=spec.get("targetNamespace"),
                    namespaced=self._applier.namespaced) if followed else []
            except kustomize.BuildError as exc:
                raise _Failed("BuildFailed", str(exc)) from None
            try:
                applied = [self._applier.apply(o, owner=obj) for o in objects]
            except fluxapply.ApplyFailed as exc:
                raise _Failed("ReconciliationFailed", str(exc)) from None
            extra["inventory"] = {"entries": [fluxstatus.inventory_entry(o)
                                              for o in applied if o is not None]}
            if key in self.failing:
                raise _Failed("HealthCheckFailed", f"health check failed after 0s: "
                                                   f"{self.failing[key]}")
        except _Failed as failure:
            ready = fluxstatus.condition("Ready", "False", failure.reason, str(failure),
                                         generation=gen)
            self._status(obj, {**extra, "conditions": [
                ready, reconciling("Building manifests", "ProgressingWithRetry")]})
            self._finish(key, (revision, gen, request, self.failing.get(key)))
            return
        final: Obj = {**extra, "lastAppliedRevision": revision, "observedGeneration": gen,
                      "conditions": [fluxstatus.condition(
                          "Ready", "True", "ReconciliationSucceeded",
                          f"Applied revision: {revision}", generation=gen)]}
        if origin:
            final["lastAppliedOriginRevision"] = origin
        if request:
            final["lastHandledReconcileAt"] = request
        self._status(obj, final)
        self._finish(key, (revision, gen, request, None))

    def _tree(self, commit: str) -> dict[str, Callable[[], bytes]]:
        if commit not in self._trees:
            if len(self._trees) > 8:
                self._trees.clear()
            self._trees[commit] = tree_of(self.repo, commit, blobs=self._blobs)
        return self._trees[commit]

    # -- helm-controller -------------------------------------------------------------

    def _reconcile_helmrelease(self, obj: Obj, src: Obj) -> None:
        key, gen, request = fluxstatus.identity(obj)
        revision = str(((src.get("status") or {}).get("artifact") or {})["revision"])
        self.reconciles.append((key, revision, gen))
        status = fluxstatus.helm_release_status(obj, src, failure=self.failing.get(key))
        if request:
            status["lastHandledReconcileAt"] = request
        self._status(obj, status)
        self._finish(key, (revision, gen, request, self.failing.get(key)))

    # -- writes --------------------------------------------------------------------

    def _status(self, obj: Obj, status: Obj) -> None:
        meta = obj["metadata"]
        self.emulator.set_status(obj["apiVersion"], obj["kind"],
                                 namespace=meta.get("namespace"), name=meta["name"],
                                 status=status)
