"""Writing a canary's commits: a step, the promotion, or the abort that ends it.

Where it fits: ``core/progress`` decides that a stage of a canary is due
(``progress.Step.stage``: ``"2/3"``, ``"promote"`` or ``"abort"``); the direct
writer hands such a step here instead of to ``Releaser.release``/``revert``. What
each commit changes comes from the pure ``core/steps.py``; this module reads the
snapshot and, for an abort, the values the targets held before the canary began
(the tree of the first step commit's parent), then goes through the releaser's
commit loop: fetch, build from the fetched head, push, never forced; the
``Expect`` guard turns a decision made from an older head into "stale", so a
stage is never written twice (a restart decides again from git).

Canary steps and the promotion always push directly, whatever ``spec.writeMode``
says: a step waiting on a person's merge would bake nothing. The abort is a revert and
goes the way reverts go (``--revert-mode``; a refused push becomes an urgent pull
request holding the same one commit, ``revert``).
"""

from __future__ import annotations

from reconciler.core import manifests, planning, progress, steps, trailers, yamldoc
from reconciler.core.changes import ChangeSet
from reconciler.engine import releaser as writing
from reconciler.engine.releaser import Expect, Releaser, Result
from reconciler.engine.snapshot import Snapshot
from reconciler.errors import ManifestError, NothingToRevert

Key = tuple[str, int, tuple[str, ...]]


def write(r: Releaser, key: str, step: progress.Step, expect: Expect) -> Result:
    """Write the canary stage ``step`` decided for rollout ``key`` (and push)."""
    if step.stage == steps.ABORT:
        return abort(r, key, reason=step.message, expect=expect)
    release = step.release
    assert release is not None and step.stage is not None

    def build(snap: Snapshot) -> tuple[Result, dict[str, bytes]]:
        stable, canary = writing.targets_of(snap, key), snap.inventory.canary.get(key, [])
        current, _ = planning.current_release(stable)
        moved = writing.moved_since(snap, key, current, expect)
        stage = _stage(step)
        action: trailers.Action = "promote" if stage.kind == steps.PROMOTE else "step"
        if moved:
            return Result("stale", key, action, release, current, None,
                          ChangeSet(rollout=key), message=moved), {}
        changes = steps.changes(stage, rollout=key, release=release, stable=stable,
                                canary=canary)
        message = steps.message(changes, stage=stage, release=release, previous=current,
                                environment=r.environment)
        return Result("committed", key, action, release, current, None, changes,
                      message=message), writing.write(snap, changes, r.mirror)

    return r.commit_loop(build, push=True, dry_run=False)


def _stage(step: progress.Step) -> steps.Stage:
    if step.stage == steps.PROMOTE:
        return steps.Stage(steps.PROMOTE, weight=0)
    number, _, total = (step.stage or "").partition("/")
    return steps.Stage("step", int(number), int(total), step.weight or 0)


def revert(r: Releaser, key: str, step: progress.Step, expect: Expect | None, *,
           push: bool) -> Result:
    """The revert ``step`` decided for ``key``: the canary's abort when it is one (a
    pull request proposes the same commit), else the releaser's revert."""
    if step.stage == steps.ABORT:
        return abort(r, key, reason=step.message, expect=expect, push=push)
    return r.revert(key, reason=step.message, push=push, expect=expect)


def in_flight(r: Releaser, key: str) -> bool:
    """Whether ``key``'s newest record (at the mirror's head) is a step or promote
    commit: its revert is a canary's abort (what ``reconciler revert`` writes then)."""
    records = r.snapshot(fetch=False).records(key)
    return bool(records) and records[0].trailers.action in ("step", steps.PROMOTE)


def abort(r: Releaser, key: str, *, reason: str, expect: Expect | None = None,
          push: bool = True, dry_run: bool = False) -> Result:
    """One commit restoring every target of ``key`` to its value before the canary
    (``push``/``dry_run`` as for ``Releaser.revert``)."""

    def build(snap: Snapshot) -> tuple[Result, dict[str, bytes]]:
        stable, canary = writing.targets_of(snap, key), snap.inventory.canary.get(key, [])
        current, _ = planning.current_release(stable)
        moved = writing.moved_since(snap, key, current, expect)
        records = snap.records(key)
        newest = records[0] if records else None
        first = steps.started(records)
        if moved or newest is None or first is None:
            return Result("stale", key, "revert", current or "", None, None,
                          ChangeSet(rollout=key),
                          message=moved or f"{key} has no canary in flight"), {}
        before = _values_before(r, first, [*stable, *canary])
        changes = steps.restore(key, [*stable, *canary], before)
        if not changes:
            raise NothingToRevert(f"the canary of {newest.trailers.release} is already "
                                  f"undone on the branch")
        restored = newest.trailers.previous_release or current
        message = steps.abort_message(changes, first_commit=first, newest=newest,
                                      stable=restored, reason=reason,
                                      environment=r.environment)
        return Result("committed", key, "revert", restored or "", newest.trailers.release,
                      None, changes, message=message), writing.write(snap, changes, r.mirror)

    return r.commit_loop(build, push=push, dry_run=dry_run)


def _values_before(r: Releaser, first: trailers.Record,
                   targets: list[manifests.Target]) -> dict[Key, str]:
    """What each target's field held in the parent of the canary's first commit."""
    parents = next(iter(r.mirror.log(first.commit, limit=1))).parents
    blobs = dict(r.mirror.list_files(parents[0])) if parents else {}
    out: dict[Key, str] = {}
    parsed: dict[str, list[yamldoc.Document]] = {}
    for t in targets:
        if t.file not in blobs:
            continue
        try:
            if t.file not in parsed:
                parsed[t.file] = yamldoc.parse(r.mirror.read_blob(blobs[t.file]), file=t.file)
            scalar = parsed[t.file][t.document].find(t.path, sequences=True)
        except (ManifestError, IndexError):
            continue
        if scalar is not None and isinstance(scalar.value, str):
            out[(t.file, t.document, t.path)] = scalar.value
    return out
