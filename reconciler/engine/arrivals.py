"""How commits on the branch become audit records when merges brought them.

Where it fits: ``engine/snapshot.Scanner.history`` reads the reconciler's commits
from the mirror and hands them here. A release merged from a pull request reached
the branch when its merge commit did, and a merge commit that repeats a release's
trailers is that release, not a second one (``records``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from reconciler.core import trailers

if TYPE_CHECKING:  # a warm read-only command never loads pygit2 (adapters/gitmemo)
    from reconciler.adapters import git

# A commit seen this much later than it was written arrived late (see ``_arrival``).
ARRIVAL_SLACK = timedelta(seconds=2)


def records(mirror: git.Mirror, commits: Iterable[git.CommitInfo], *,
            clock: Callable[[], datetime] | None = None) -> tuple[trailers.Record, ...]:
    """Records of ``commits`` (newest first), read as merges deliver them (``each``)."""
    return tuple(each(mirror, commits, clock=clock))


class _Merge:
    """A merge commit whose brought commits are still to come in the walk."""

    __slots__ = ("brought", "seen", "time")

    def __init__(self, commit: git.CommitInfo) -> None:
        self.time = commit.time
        self.brought: set[tuple[str, str, str]] = set()  # (rollout, action, release)
        self.seen: set[str] = set()  # rollouts released by a newer brought commit


def each(mirror: git.Mirror, commits: Iterable[git.CommitInfo], *,
         clock: Callable[[], datetime] | None = None) -> Iterator[trailers.Record]:
    """Records of ``commits`` (newest first, topological: a merge before what it
    brings), one at a time as they are read.

    A release merged from a pull request reached the branch when the merge commit
    did, not when it was written: its record takes the merge commit's time (a
    deploy timeout counts from there). A merge commit that repeats the trailers of
    a commit it brings in (an auto-merge passes the release's own message) is the
    same release, not a second one: the merged commit stays the record, since it
    is the one a revert can undo. Of several commits of one rollout that a merge
    brings in, the newest is the release.

    Held meanwhile: the merges whose brought commits the walk has not reached yet,
    not the history, so a daemon starting on a long history reads it in bounded
    memory when the caller bounds what it keeps (``Scanner.history``)."""
    now = clock() if clock is not None else None
    # A brought commit -> the newest merge that brought it, and its trailers as that
    # merge read them (parsed once, not again when the walk reaches the commit).
    pending: dict[str, tuple[_Merge, trailers.Trailers | None]] = {}
    for commit in commits:
        waiting = pending.pop(commit.sha, None)  # the merge is let go with its last one
        own = _brought(mirror, commit, pending) if len(commit.parents) > 1 else None
        by, t = waiting if waiting is not None else (None, trailers.parse(commit.message))
        if t is None:
            continue
        if own is not None and (t.rollout, t.action, t.release) in own.brought:
            continue
        if by is not None:
            # Older commits of one pull request were superseded in it before it
            # merged: never released on their own, so no record.
            if t.rollout in by.seen:
                continue
            by.seen.add(t.rollout)
        yield trailers.Record(commit=commit.sha,
                              time=_arrival(by.time if by is not None else commit.time, now),
                              subject=commit.message.split("\n", 1)[0], trailers=t)


def _brought(mirror: git.Mirror, merge: git.CommitInfo,
             pending: dict[str, tuple[_Merge, trailers.Trailers | None]]) -> _Merge:
    """``merge``'s bookkeeping; the commits it brings (reachable from a side, not from
    its first parent) pending on it, with their trailers, unless a newer merge brought
    them first."""
    found = _Merge(merge)
    for side in merge.parents[1:]:
        for inner in mirror.log(side, stop=merge.parents[0]):
            newer = pending.get(inner.sha)
            t = newer[1] if newer is not None else trailers.parse(inner.message)
            if t is not None:
                found.brought.add((t.rollout, t.action, t.release))
            if newer is None:
                pending[inner.sha] = (found, t)
    return found


def _arrival(written: datetime, seen: datetime | None) -> datetime:
    """When a commit reached the branch: when it was written, unless it was seen
    arriving clearly later (a pull request merged by fast-forward or rebase)."""
    if seen is not None and seen - written > ARRIVAL_SLACK:
        return seen
    return written
