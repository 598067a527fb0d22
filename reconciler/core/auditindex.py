"""The audit trail a long-running reconciler keeps in memory: bounded by what the
decisions need, not every record since the start.

Where it fits: ``engine/snapshot.Scanner`` reads the reconciler's commits from git
(``engine/arrivals``) and keeps them newest first between snapshots. Kept whole,
that index grew by a record (0.5-1 KiB) with every commit for as long as the daemon
ran (docs/reliability.md "Soak"). :func:`bounded` keeps, per environment and
rollout:

* the newest ``depth`` records: the newest record (deploy, bake, revert), the last
  release (``releaser.last_release``), the records a Rollout's status history shows
  (``versionHistoryLimit`` entries, when it is at most ``depth``), and the reverts of
  what those records released;
* of the older ones, no record but what the decisions read of a revert or rollback
  (:class:`Trail` ``taken_out``): each release it took out and when the newest such
  revert was, so every quarantined tag stays quarantined (``core/quarantine``) and
  promotion still sees an upstream revert after a verdict (``core/promotion``);
  its commit, subject and reason are in git;
* and how many records were left out (:class:`Trail` ``omitted``, the reverts among
  them), so the status history's ``id`` (kuberik counts every entry since the
  first) is the number it was, on every pass and after a restart.

Bake verdicts (git notes, ``engine/verdicts``) are bounded alike
(:func:`bounded_verdicts`): the newest ``depth`` per environment and rollout, and of
the older ones only which releases failed (:class:`Found` ``failed``), so a release
that failed somewhere is never promoted from there, however long ago.

A failure is kept for ever, so what is kept of one is small: a release name and a
time (docs/performance.md, "A failure kept for ever, in bytes").

Decisions on pull requests and approvals (``core/declines``, in the same notes) are
bounded by :func:`bounded_decisions`, per environment and rollout: the approvals of
the newest ``depth`` releases approved, the newest ``depth`` merges that lost their
trailers, and of every other release only its latest decision, when that is a
decline still standing.

Bounding is a function of the history alone (each record is kept or dropped by
what is newer than it), so an index extended commit by commit and one read whole
after a restart are the same. The CLI's ``history`` and ``stats`` read git itself,
never this index.

Pure: records in, records out.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence, Set
from typing import TypeVar

from reconciler.core import declines, trailers, verdicts

DEFAULT_DEPTH = 50
"""Records kept per rollout and environment beyond the reverts (a status history of
up to 50 entries, kuberik's and the reconciler's default is 10)."""

TAKEN_OUT = ("revert", "rollback")

Key = tuple[str | None, str]  # (environment, rollout)
V = TypeVar("V")
Removed = Mapping[str, float]
"""Releases taken out by a revert or rollback -> when the newest of those was, as a
POSIX timestamp: 24 bytes, half a datetime, and ordered as the datetimes are
(a float tells microseconds apart at any date this side of 2200)."""


class Trail(tuple[trailers.Record, ...]):
    """Records, newest first, as a tuple; per ``(environment, rollout)``, ``omitted``
    counts the older records the index left out, and ``taken_out`` holds the releases
    their reverts and rollbacks took out (:data:`Removed`): older than every record
    of that key here. Both are shared between trails, never changed in place."""

    omitted: Mapping[Key, int]
    taken_out: Mapping[Key, Removed]

    def __new__(cls, records: Iterable[trailers.Record] = (), *,
                omitted: Mapping[Key, int] | None = None,
                taken_out: Mapping[Key, Removed] | None = None) -> Trail:
        trail = super().__new__(cls, records)
        trail.omitted = dict(omitted or {})
        trail.taken_out = dict(taken_out or {})
        return trail

    def like(self, records: Iterable[trailers.Record]) -> Trail:
        """``records`` with what this trail left out (a selection or an extension of
        these records, newest first)."""
        return Trail(records, omitted=self.omitted, taken_out=self.taken_out)

    def only(self, keep: Iterable[trailers.Record], *,
             environment: str | None = None) -> Trail:
        """``keep`` (a selection of these records, newest first) as a ``Trail`` that
        has what was left out for ``environment`` (and for records without one,
        which count for every environment), keyed ``(None, rollout)``."""
        counts: dict[Key, int] = {}
        for (env, rollout), n in self.omitted.items():
            if env is None or env == environment or environment is None:
                counts[(None, rollout)] = counts.get((None, rollout), 0) + n
        out: dict[Key, Removed] = {}
        for (env, rollout), removed in self.taken_out.items():
            if env is None or env == environment or environment is None:
                out[(None, rollout)] = joined(out.get((None, rollout)), removed)
        return Trail(keep, omitted=counts, taken_out=out)


def joined(one: Removed | None, other: Removed) -> Removed:
    """The releases of both, each with the later time (``one`` is shared when it
    is all there is)."""
    if not one:
        return other
    out = dict(one)
    for release, when in other.items():
        if release not in out or out[release] < when:
            out[release] = when
    return out


def omitted(records: Sequence[trailers.Record], rollout: str) -> int:
    """How many older records of ``rollout`` an index left out of ``records``."""
    if not isinstance(records, Trail):
        return 0
    return sum(n for (_, name), n in records.omitted.items() if name == rollout)


def bounded(records: Iterable[trailers.Record], *, depth: int = DEFAULT_DEPTH) -> Trail:
    """``records`` (newest first) bounded as the module docstring says; what an earlier
    ``bounded`` left out (``records`` a ``Trail``) is carried over. Read once, in
    order: ``records`` may be a lazy walk of the history, never held whole."""
    carried = dict(records.omitted) if isinstance(records, Trail) else {}
    seen: dict[Key, int] = {}
    reverted: set[tuple[Key, str | None]] = set()
    kept: list[trailers.Record] = []
    new: dict[Key, dict[str, float]] = {}
    for record in records:
        t = record.trailers
        key = (t.environment, t.rollout)
        count = seen.get(key, 0)
        seen[key] = count + 1
        if count < depth:
            kept.append(record)
            if t.action in TAKEN_OUT:
                reverted.add((key, t.previous_release))
            continue
        carried[key] = carried.get(key, 0) + 1
        if t.action in TAKEN_OUT and t.previous_release \
                and (key, t.previous_release) not in reverted:
            # The newest revert of a release wins; not added to ``reverted``, so what
            # is held while reading is what is kept (``new``), not a second copy.
            taken = new.setdefault(key, {})
            if t.previous_release not in taken:
                taken[sys.intern(t.previous_release)] = record.time.timestamp()
    before = records.taken_out if isinstance(records, Trail) else {}
    return Trail(kept, omitted=carried, taken_out=_carried(before, new, reverted))


def _carried(before: Mapping[Key, Mapping[str, V]], new: Mapping[Key, dict[str, V]],
             newer: Set[tuple[Key, str | None]]) -> dict[Key, Mapping[str, V]]:
    """What an earlier index left out (``before``, older than everything since) with
    what this one leaves out (``new``), less the releases a newer record or verdict
    covers (``newer``: (key, release) pairs). A key nothing changed keeps its mapping
    (shared): the cost follows the window, not every failure ever kept."""
    changed = set(new) | {key for key, release in newer
                          if release is not None and release in before.get(key, ())}
    out = dict(before)
    for key in changed:
        old = before.get(key, {})
        out[key] = {**{r: v for r, v in old.items() if (key, r) not in newer},
                    **new.get(key, {})}
    return out


class Found(tuple[verdicts.Verdict, ...]):
    """Bake verdicts, newest first, as a tuple; ``failed``: per ``(environment,
    rollout)``, the releases whose ``Failed`` verdicts the index left out (older
    than every verdict of that key here; a mapping to None, shared, never changed)."""

    failed: Mapping[Key, Mapping[str, None]]

    def __new__(cls, found: Iterable[verdicts.Verdict] = (), *,
                failed: Mapping[Key, Mapping[str, None]] | None = None) -> Found:
        held = super().__new__(cls, found)
        held.failed = dict(failed or {})
        return held

    def like(self, found: Iterable[verdicts.Verdict]) -> Found:
        """``found`` (these verdicts with others, newest first) with what this left out."""
        return Found(found, failed=self.failed)


def bounded_verdicts(found: Sequence[verdicts.Verdict], *,
                     depth: int = DEFAULT_DEPTH) -> Found:
    """Bake verdicts (newest first) bounded the same way: per environment and rollout
    the newest ``depth``, and of the older ones which releases failed, so a release
    that failed somewhere is never promoted from there (``core/promotion``), however
    long ago. What an earlier ``bounded_verdicts`` left out (``found`` a ``Found``)
    is carried over."""
    seen: dict[Key, int] = {}
    failed: set[tuple[Key, str | None]] = set()
    kept: list[verdicts.Verdict] = []
    new: dict[Key, dict[str, None]] = {}
    for verdict in found:
        key = (verdict.environment, verdict.rollout)
        count = seen.get(key, 0)
        seen[key] = count + 1
        if count < depth:
            kept.append(verdict)
        elif verdict.result == "Failed" and (key, verdict.release) not in failed:
            new.setdefault(key, {})[sys.intern(verdict.release)] = None
        if verdict.result == "Failed":
            failed.add((key, verdict.release))
    before = found.failed if isinstance(found, Found) else {}
    return Found(kept, failed=_carried(before, new, failed))


def bounded_decisions(decided: Sequence[declines.Decline], *,
                      depth: int = DEFAULT_DEPTH) -> tuple[declines.Decline, ...]:
    """Decisions (oldest first, as ``engine/verdicts`` holds them) bounded per
    environment and rollout by what reads them:

    * ``declines.approval`` (the earliest approval of a release and step): every
      approval of the newest ``depth`` releases approved; a release approved before
      those is asked for again, never released unapproved;
    * ``declines.adopted`` (merges that lost their trailers, as releases): the newest
      ``depth`` ``Merged``, as many as the records index keeps;
    * ``declines.active`` and the ``declined`` figure (the latest decision on each
      release that is not an approval): that latest decision when it is ``Declined``;
      a release reopened (``Resumed``) or merged since has no decline standing, so
      its older decisions say nothing more.

    Kept in the order given; what is newer decides what is kept, so bounding a list
    extended decision by decision and bounding it read whole agree."""
    approved: dict[Key, dict[str, int]] = {}  # release -> rank, the newest approved 0
    merged: dict[Key, int] = {}
    settled: set[tuple[Key, str]] = set()  # releases whose latest decision was seen
    keep: list[bool] = [False] * len(decided)
    for i in range(len(decided) - 1, -1, -1):  # newest first
        d = decided[i]
        key = (d.environment, d.rollout)
        if d.decision == "Approved":
            ranks = approved.setdefault(key, {})
            keep[i] = ranks.setdefault(d.release, len(ranks)) < depth
            continue
        if d.decision == "Merged":
            merged[key] = merged.get(key, 0) + 1
            keep[i] = merged[key] <= depth
        if (key, d.release) in settled:
            continue
        settled.add((key, d.release))
        if d.decision == "Declined":
            keep[i] = True
    return tuple(d for d, kept in zip(decided, keep, strict=True) if kept)
