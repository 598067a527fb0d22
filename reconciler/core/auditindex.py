"""The audit trail a long-running reconciler keeps in memory: bounded by what the
decisions need, not every record since the start.

Where it fits: ``engine/snapshot.Scanner`` reads the reconciler's commits from git
(``trailers.records``) and keeps them newest first between snapshots. Kept whole,
that index grew by a record (0.5-1 KiB) with every commit for as long as the daemon
ran (docs/reliability.md "Soak"). :func:`bounded` keeps, per environment and
rollout:

* the newest ``depth`` records: the newest record (deploy, bake, revert), the last
  release (``releaser.last_release``), the records a Rollout's status history shows
  (``versionHistoryLimit`` entries, when it is at most ``depth``), and the reverts of
  what those records released;
* of the older ones, only the newest revert or rollback of each release it took out,
  slimmed to what the decisions read (:func:`_slim`):
  every quarantined tag stays quarantined (``trailers.quarantined``), and promotion
  still sees an upstream revert after a verdict (``core/promotion``); a tag reverted
  twice needs only the later revert for both;
* and how many records were left out (:class:`Trail` ``omitted``), so the status
  history's ``id`` (kuberik counts every entry since the first) is the number it
  was, on every pass and after a restart.

Bake verdicts (git notes, ``engine/verdicts``) are bounded alike
(:func:`bounded_verdicts`): the newest ``depth`` per environment and rollout, and
the newest ``Failed`` verdict of every older release that failed, slimmed alike.

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

import dataclasses
import sys
from collections.abc import Iterable, Mapping, Sequence

from reconciler.core import declines, trailers, verdicts

DEFAULT_DEPTH = 50
"""Records kept per rollout and environment beyond the reverts (a status history of
up to 50 entries, kuberik's and the reconciler's default is 10)."""

TAKEN_OUT = ("revert", "rollback")

Key = tuple[str | None, str]  # (environment, rollout)


class Trail(tuple[trailers.Record, ...]):
    """Records, newest first, as a tuple; ``omitted`` counts, per ``(environment,
    rollout)``, the older records the index left out."""

    omitted: Mapping[Key, int]

    def __new__(cls, records: Iterable[trailers.Record] = (), *,
                omitted: Mapping[Key, int] | None = None) -> Trail:
        trail = super().__new__(cls, records)
        trail.omitted = dict(omitted or {})
        return trail

    def only(self, keep: Iterable[trailers.Record], *,
             environment: str | None = None) -> Trail:
        """``keep`` (a selection of these records, newest first) as a ``Trail`` that
        counts what was omitted for ``environment`` (and for records without one,
        which count for every environment), keyed ``(None, rollout)``."""
        counts: dict[Key, int] = {}
        for (env, rollout), n in self.omitted.items():
            if env is None or env == environment or environment is None:
                counts[(None, rollout)] = counts.get((None, rollout), 0) + n
        return Trail(keep, omitted=counts)


def omitted(records: Sequence[trailers.Record], rollout: str) -> int:
    """How many older records of ``rollout`` an index left out of ``records``."""
    if not isinstance(records, Trail):
        return 0
    return sum(n for (_, name), n in records.omitted.items() if name == rollout)


def bounded(records: Sequence[trailers.Record], *, depth: int = DEFAULT_DEPTH) -> Trail:
    """``records`` (newest first) bounded as the module docstring says; what an earlier
    ``bounded`` omitted (``records`` a ``Trail``) is carried over."""
    carried = dict(records.omitted) if isinstance(records, Trail) else {}
    seen: dict[Key, int] = {}
    reverted: set[tuple[Key, str | None]] = set()
    kept: list[trailers.Record] = []
    for record in records:
        t = record.trailers
        key = (t.environment, t.rollout)
        count = seen.get(key, 0)
        seen[key] = count + 1
        if count < depth:
            kept.append(record)
            if t.action in TAKEN_OUT:
                reverted.add((key, t.previous_release))
        elif t.action in TAKEN_OUT and (key, t.previous_release) not in reverted:
            reverted.add((key, t.previous_release))
            kept.append(_slim(record))
        else:
            carried[key] = carried.get(key, 0) + 1
    return Trail(kept, omitted=carried)


def _slim(record: trailers.Record) -> trailers.Record:
    """An old revert or rollback as the decisions read it (``trailers.quarantined``,
    ``core/promotion``): who, what it took out, where and when; its subject, reason
    and the commit it reverted are in git. Kept for ever, so kept small (a few hundred
    bytes, names shared)."""
    t = record.trailers
    if not (record.subject or t.reason or t.reverts or t.requested_by or t.step
            or t.weight is not None):
        return record
    slim = trailers.Trailers(
        rollout=sys.intern(t.rollout), action=t.action, release=t.release,
        previous_release=t.previous_release,
        environment=sys.intern(t.environment) if t.environment else t.environment)
    return trailers.Record(commit=record.commit, time=record.time, subject="", trailers=slim)


def _slim_verdict(verdict: verdicts.Verdict) -> verdicts.Verdict:
    """An old Failed verdict as promotion reads it (that it failed, where); the checks
    that failed and their messages are in the note."""
    if not verdict.failed and verdict.started is None:
        return verdict
    return dataclasses.replace(verdict, rollout=sys.intern(verdict.rollout),
                               environment=sys.intern(verdict.environment),
                               started=None, failed=())


def bounded_verdicts(found: Sequence[verdicts.Verdict], *,
                     depth: int = DEFAULT_DEPTH) -> tuple[verdicts.Verdict, ...]:
    """Bake verdicts (newest first) bounded the same way: per environment and rollout
    the newest ``depth``, and of the older ones the newest ``Failed`` verdict of each
    release, so a release that failed somewhere is never promoted from there
    (``core/promotion``), however long ago."""
    seen: dict[Key, int] = {}
    failed: set[tuple[Key, str]] = set()
    kept: list[verdicts.Verdict] = []
    for verdict in found:
        key = (verdict.environment, verdict.rollout)
        count = seen.get(key, 0)
        seen[key] = count + 1
        if verdict.result == "Failed":
            if count < depth:
                kept.append(verdict)
            elif (key, verdict.release) not in failed:
                kept.append(_slim_verdict(verdict))
            failed.add((key, verdict.release))
        elif count < depth:
            kept.append(verdict)
    return tuple(kept)


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
