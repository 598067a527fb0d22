"""Write releases, reverts and rollbacks to the config repository, safely.

Each operation follows the same shape: fetch the branch, take a ``Snapshot`` of
its head, decide with the core, build the commit in memory, push. A push refused
as non-fast-forward means someone else pushed first: fetch again, recompute the
change from the new head (it may now be empty, or conflict) and retry, a bounded
number of times with backoff. Nothing is ever force-pushed, and since every
attempt starts from the fetched head, an operation that already landed is seen
as done and not written twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from reconciler.core import (
    backoff,
    imageref,
    manifests,
    planning,
    trailers,
    versions,
)
from reconciler.core.changes import ChangeSet
from reconciler.engine import faults
from reconciler.engine.snapshot import Scanner, Snapshot
from reconciler.errors import (
    GitError,
    InputError,
    ManifestError,
    NonFastForward,
    NothingToRevert,
    PushRejected,
    RevertConflict,
    UnknownRollout,
)

if TYPE_CHECKING:  # a warm read-only command never loads pygit2 (adapters/gitmemo)
    from reconciler.adapters import git, scancache
    from reconciler.core import models

log = logging.getLogger(__name__)

Outcome = Literal["pushed", "committed", "unchanged", "dry-run", "stale"]


@dataclass(frozen=True)
class Expect:
    """What the caller's decision was based on. When the fetched head says
    otherwise (someone else wrote meanwhile), nothing is written: outcome "stale"."""

    newest: str | None  # the rollout's newest reconciler record (commit), None for none
    current: str | None  # the value the targets held


@dataclass(frozen=True)
class Result:
    """What a write operation did."""

    outcome: Outcome
    rollout: str
    action: trailers.Action
    release: str
    previous: str | None
    commit: str | None
    changes: ChangeSet
    message: str = ""
    attempts: int = 1
    files: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Retry:
    """Bounded retries for non-fast-forward pushes, waiting as ``waits`` says."""

    attempts: int = 5
    waits: backoff.Policy = backoff.PUSH_RACE


class Releaser:
    """Release operations against one branch of one config repository."""

    def __init__(self, mirror: git.Mirror, *, retry: Retry = Retry(),
                 sleep: Callable[[float], None] = time.sleep,
                 on_push: Callable[[str, float], None] | None = None,
                 environment: str | None = None, path: str | None = None,
                 arrivals: Callable[[], datetime] | None = None,
                 store: scancache.Store | None = None, audit_depth: int | None = None) -> None:
        """``path``: the cluster's root directory (``--path``); None for the whole tree.
        ``arrivals``: a clock, where releases arrive through pull requests (``Scanner``).
        ``store``: the on-disk scan cache (``engine/scanstore``), the CLI's.
        ``audit_depth``: bound the audit trail in memory (``core/auditindex``), the daemon's."""
        self.mirror = mirror
        # Written as the ``Environment`` trailer of every commit (``--environment``).
        self.environment = environment
        # Told each push's result ("pushed", "rejected", "error") and its seconds.
        self.on_push = on_push or (lambda result, seconds: None)
        self.scanner = Scanner(mirror, environment=environment, path=path, arrivals=arrivals,
                               store=store, audit_depth=audit_depth)
        self.retry = retry
        self._sleep = sleep
        # ``(rollout, tag) -> digest`` the ImagePolicy reported: what a release writes
        # into the ``$imagepolicy`` markers that pin one (the daemon sets it).
        self.digest_of: Callable[[str, str], str | None] = lambda rollout, tag: None

    def snapshot(self, *, fetch: bool = True, store: scancache.Store | None = None) -> Snapshot:
        """The branch head's snapshot (``store``: as ``Scanner.snapshot``'s)."""
        head = self.mirror.fetch() if fetch else self.mirror.head()
        return self.scanner.snapshot(head, store=store)

    # -- release -------------------------------------------------------------

    def digest_for(self, rollout: str, tag: str, given: str | None = None) -> str | None:
        """The image digest of ``tag``: ``given`` (checked), else what ``digest_of``
        knows, else None."""
        return imageref.check_digest(given) if given else self.digest_of(rollout, tag)

    def release(self, rollout: str, tag: str, *, push: bool, dry_run: bool = False,
                expect: Expect | None = None, digest: str | None = None,
                requested_by: str | None = None) -> Result:
        """Write ``tag`` into every target of ``rollout`` as one commit (and push).
        ``digest``: the image's, for the ``$imagepolicy`` markers that pin one
        (default: what ``digest_of`` knows); ``requested_by``: the person who asked
        (the ``Requested-By`` trailer)."""
        versions.parse(tag)  # InvalidTag: nothing is written
        digest = self.digest_for(rollout, tag, digest)

        def build(snap: Snapshot) -> tuple[Result, dict[str, bytes]]:
            targets = targets_of(snap, rollout)
            current, _ = planning.current_release(targets)
            moved = moved_since(snap, rollout, current, expect)
            if moved:
                return Result("stale", rollout, "release", tag, current, None,
                              ChangeSet(rollout=rollout), message=moved), {}
            digest_known(rollout, tag, targets, digest)
            changes = planning.changes_for(rollout, targets, tag, digest=digest)
            if not changes:
                newest = next((r for r in snap.history if r.trailers.rollout == rollout), None)
                if newest is not None and newest.trailers.release != tag:
                    # Held: a person set the targets to ``tag``. An explicit release of
                    # that same tag adopts it with a record-only commit.
                    message = trailers.adopt_message(rollout=rollout, release=tag,
                                                     previous=newest.trailers.release,
                                                     environment=self.environment,
                                                     requested_by=requested_by)
                    return Result("committed", rollout, "release", tag,
                                  newest.trailers.release, None, changes,
                                  message=message), {}
                return Result("unchanged", rollout, "release", tag, current, None,
                              changes, message=f"{rollout} already holds {tag}"), {}
            files = write(snap, changes, self.mirror)
            message = trailers.release_message(changes, release=tag, previous=current,
                                               environment=self.environment,
                                               requested_by=requested_by)
            return Result("committed", rollout, "release", tag, current, None, changes,
                          message=message), files

        return self.commit_loop(build, push=push, dry_run=dry_run)

    # -- revert --------------------------------------------------------------

    def revert(self, rollout: str, *, reason: str, push: bool,
               dry_run: bool = False, expect: Expect | None = None) -> Result:
        """Revert the rollout's last release commit (or roll back if it conflicts).

        The release commit is chosen once, on the first attempt. If a retry finds it
        already reverted (someone else did it meanwhile), the result is "unchanged":
        a retry never goes on to revert the release before it.
        """
        chosen: list[str] = []

        def build(snap: Snapshot) -> tuple[Result, dict[str, bytes]]:
            targets = targets_of(snap, rollout)
            current, _ = planning.current_release(targets)
            moved = moved_since(snap, rollout, current, expect)
            if moved:
                return Result("stale", rollout, "revert", current or "", None, None,
                              ChangeSet(rollout=rollout), message=moved), {}
            record = last_release(snap.history, rollout)
            if chosen and (record is None or record.commit != chosen[0]):
                return Result("unchanged", rollout, "revert", current or "(unknown)", None,
                              None, ChangeSet(rollout=rollout),
                              message=f"release commit {chosen[0][:12]} was reverted "
                                      f"meanwhile"), {}
            if record is None:
                raise NothingToRevert(
                    f"{rollout} has no release commit on this branch that is not "
                    f"already reverted")
            chosen[:] = [record.commit]
            released = record.trailers.release
            previous = record.trailers.previous_release
            if previous is None:
                raise NothingToRevert(
                    f"release commit {record.commit[:12]} of {rollout} has no "
                    f"Previous-Release trailer (its targets held no single release "
                    f"before it); set the release you want with `reconciler release`")
            try:
                files = self.mirror.revert(commit=record.commit, onto=snap.commit)
            except RevertConflict:
                before = self._digest_before(record, targets)
                digest_known(rollout, previous, targets, before)
                changes = planning.changes_for(rollout, targets, previous, digest=before)
                if not changes:
                    return Result("unchanged", rollout, "rollback", previous, current, None,
                                  changes, message=f"{rollout} already holds {previous}"), {}
                files = write(snap, changes, self.mirror)
                message = trailers.rollback_message(
                    changes, release=previous, previous=released,
                    reverted_sha=record.commit, reason=reason, environment=self.environment)
                return Result("committed", rollout, "rollback", previous, released, None,
                              changes, message=message), files
            changes = planning.changes_for(rollout, targets, previous)
            if not files:
                return Result("unchanged", rollout, "revert", previous, current, None, changes,
                              message=f"the change of {record.commit[:12]} is already undone "
                                      f"on the branch"), {}
            message = trailers.revert_message(
                reverted_subject=record.subject, reverted_sha=record.commit,
                rollout=rollout, release=previous, previous=released, reason=reason,
                environment=self.environment)
            return Result("committed", rollout, "revert", previous, released, None,
                          changes, message=message), files

        return self.commit_loop(build, push=push, dry_run=dry_run)

    def _digest_before(self, record: trailers.Record,
                       targets: Sequence[manifests.Target]) -> str | None:
        """The image digest the pinned targets held before ``record``'s release (what
        a rollback restores); None when none does or they disagree."""
        pinned = planning.needs_digest(targets)
        if not pinned:
            return None
        parents = next(iter(self.mirror.log(record.commit, limit=1))).parents
        blobs = dict(self.mirror.list_files(parents[0])) if parents else {}
        from reconciler.core import yamldoc  # the YAML stack, only when it is needed

        found: set[str | None] = set()
        for t in pinned:
            scalar = None
            if t.file in blobs:
                try:
                    scalar = yamldoc.parse(self.mirror.read_blob(blobs[t.file]), file=t.file)[
                        t.document].find(t.path, sequences=True)
                except (ManifestError, IndexError):
                    scalar = None
            held = scalar.value if scalar is not None and isinstance(scalar.value, str) else ""
            found.add(held if t.setter == "digest" else
                      getattr(imageref.parse(held), "digest", None))
        return found.pop() if len(found) == 1 else None

    # -- shared --------------------------------------------------------------

    def commit_loop(
        self, build: Callable[[Snapshot], tuple[Result, dict[str, bytes]]], *,
        push: bool, dry_run: bool,
    ) -> Result:
        attempts = self.retry.attempts if push and not dry_run else 1
        for attempt in range(1, attempts + 1):
            snap = self.snapshot()
            result, files = build(snap)
            if result.outcome in ("unchanged", "stale"):
                return _with(result, attempts=attempt)
            if dry_run:
                return _with(result, outcome="dry-run", attempts=attempt, files=files)
            sha = self.mirror.commit(parent=snap.commit, files=files, message=result.message,
                                     allow_empty=not files)
            if not push:
                return _with(result, commit=sha, attempts=attempt, files=files)
            faults.hit("revert-built" if result.action in ("revert", "rollback")
                       else "release-built")
            started = time.perf_counter()
            try:
                self.mirror.push(sha)
            except NonFastForward:
                self.on_push("rejected", time.perf_counter() - started)
                if attempt == attempts:
                    raise
                delay = self.retry.waits.delay(attempt - 1)
                log.info("push of %s was not a fast-forward; fetching and retrying in "
                         "%.2fs (attempt %d of %d)", sha[:12], delay, attempt, attempts)
                self._sleep(delay)
                continue
            except PushRejected:
                self.on_push("rejected", time.perf_counter() - started)
                raise
            except GitError:
                self.on_push("error", time.perf_counter() - started)
                raise
            self.on_push("pushed", time.perf_counter() - started)
            return _with(result, outcome="pushed", commit=sha, attempts=attempt, files=files)
        raise AssertionError("unreachable: the loop returns or raises")


def moved_since(snap: Snapshot, rollout: str, current: str | None,
           expect: Expect | None) -> str | None:
    if expect is None:
        return None
    newest = next((r.commit for r in snap.history if r.trailers.rollout == rollout), None)
    if newest != expect.newest or current != expect.current:
        return (f"the branch moved since the decision (now at {snap.commit[:12]}, "
                f"{rollout} holds {current}); deciding again")
    return None


def _with(result: Result, **changes: object) -> Result:
    from dataclasses import replace
    return replace(result, **changes)  # type: ignore[arg-type]


def targets_of(snap: Snapshot, rollout: str) -> list[manifests.Target]:
    inv = snap.inventory
    if rollout not in inv.rollouts:
        known = ", ".join(sorted(inv.rollouts)) or "none"
        raise UnknownRollout(f"no Rollout {rollout} in the repository (known: {known})")
    if rollout in inv.broken:
        first = inv.broken[rollout][0]
        raise ManifestError(first.message, file=first.file, document=first.document,
                            field=first.field, line=first.line)
    targets = inv.targets.get(rollout, [])
    if not targets:
        entry = inv.rollouts[rollout]
        raise ManifestError(inv.no_target(rollout), file=entry.file, document=entry.document)
    return targets


def digest_known(rollout: str, tag: str, targets: Sequence[manifests.Target],
                  digest: str | None) -> None:
    """Refuse a release that would leave a pinned digest behind its new tag."""
    pinned = planning.needs_digest(targets) if digest is None else []
    if pinned:
        where = ", ".join(f"{t.file}:{t.line} {t.field_name}" for t in pinned)
        raise InputError(f"{rollout} pins the image digest ({where}), and the digest of {tag} "
                         f"is unknown: give it with --digest, or let the daemon take it from "
                         f"the ImagePolicy (spec.digestReflectionPolicy: Always or "
                         f"IfNotPresent)")


def write(snap: Snapshot, changes: ChangeSet, mirror: git.Mirror) -> dict[str, bytes]:
    """New contents of every file the change set touches, rewritten surgically."""
    from reconciler.core import rewrite  # the YAML stack: read-only commands never load it

    out: dict[str, bytes] = {}
    for file in changes.files:
        if file in snap.inventory.unparsable:  # pragma: no cover - targets never come from them
            raise ManifestError("file does not parse; it is never rewritten", file=file)
        edits = [(c.document, c.path, c.new) for c in changes.changes if c.file == file]
        out[file] = rewrite.set_values(mirror.read_blob(snap.blobs[file]), file=file, edits=edits)
    return out


def last_release(history: Sequence[trailers.Record], rollout: str) -> trailers.Record | None:
    """The newest release commit of ``rollout`` that no later commit reverted."""
    reverted = {r.trailers.reverts for r in history if r.trailers.reverts}
    # A rollback has no Reverts trailer; it takes out the newest release before it.
    rolled_back = False
    for record in history:  # newest first
        t = record.trailers
        if t.rollout != rollout:
            continue
        if t.action == "rollback":
            rolled_back = True
            continue
        if t.action == "release":
            if rolled_back or record.commit in reverted:
                rolled_back = False
                continue
            return record
    return None


def presets_by_name(presets: Sequence[models.PolicyPreset]) -> dict[str, models.PolicyPreset]:
    return {p.name: p for p in presets}
