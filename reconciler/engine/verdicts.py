"""Recording bake verdicts (and declined pull requests) in git, and reading everyone's back.

Where it fits: after each decision the daemon hands the step's bake bookkeeping to
``Verdicts.record``: every bake that has ended (Succeeded or Failed) and has no
verdict of this environment yet is written as a git note on its release commit
(format: ``core/verdicts``; I/O: the git adapter) and pushed. It is level-triggered
— the bookkeeping lives in the Rollout status, so a daemon killed between the end
of a bake and the record writes it once after the restart — and idempotent (a note
that already holds the verdict is left alone). ``Verdicts.all`` reads every
environment's verdicts (for promotion, the history), cached per notes commit. The
same notes hold the decisions people made on release pull requests (``core/declines``):
``Verdicts.decide`` records one, ``Verdicts.declined`` reads them back.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from reconciler.core import auditindex, declines, trailers, verdicts
from reconciler.engine import faults
from reconciler.errors import NonFastForward

if TYPE_CHECKING:  # the daemon's; ``read`` serves the CLI without them (and APScheduler)
    from reconciler.adapters import git
    from reconciler.core import progress
    from reconciler.engine.repository import Repository

log = logging.getLogger(__name__)

ATTEMPTS = 5
_KEPT = 4  # notes commits whose verdicts ``Verdicts`` keeps (they share their objects)
_CHUNK = 4096  # verdicts read before a bounded read bounds them again (at least)


class _State(NamedTuple):
    head: str | None
    found: tuple[verdicts.Verdict, ...]
    decided: tuple[declines.Decline, ...]


def read(mirror: git.Mirror) -> tuple[verdicts.Verdict, ...]:
    """Every verdict in the mirror's notes (as last fetched), newest first."""
    return read_all(mirror)[0]


def read_all(mirror: git.Mirror, *, depth: int | None = None) -> tuple[
        tuple[verdicts.Verdict, ...], tuple[declines.Decline, ...]]:
    """Every bake verdict (newest first) and every decision on a pull request (oldest
    first) in the mirror's notes, as last fetched.

    With ``depth``, the verdicts are bounded as they are read (``auditindex``): a
    chunk of notes at a time is merged into what is kept and bounded again, so what
    is held is about twice what is kept, never every verdict (a start on 15,000
    notes peaked 12.8 MiB when they were all read first). Bounding only looks at
    what is newer, so this keeps what bounding them all at once keeps. The decisions
    are read whole (a few per pull request): notes come in commit-id order, and
    whether a decline still stands depends on every later decision of its release."""
    found: tuple[verdicts.Verdict, ...] = auditindex.Found() if depth is not None else ()
    chunk: list[verdicts.Verdict] = []
    decided: list[declines.Decline] = []
    for commit, text in mirror.notes(verdicts.NOTES_REF):
        chunk += verdicts.parse(commit, text)
        decided += declines.parse(commit, text)
        # As many again as is kept: sorting is then O(n log n) over the whole read.
        if depth is not None and len(chunk) >= max(_CHUNK, len(found)):
            found, chunk = _kept(found, chunk, depth), []
    found = _kept(found, chunk, depth) if depth is not None \
        else tuple(verdicts.canonical(chunk))
    return found, tuple(sorted(decided, key=_decided_order))


def _kept(found: tuple[verdicts.Verdict, ...], chunk: list[verdicts.Verdict],
          depth: int) -> auditindex.Found:
    both = verdicts.canonical([*found, *chunk])
    return auditindex.bounded_verdicts(
        found.like(both) if isinstance(found, auditindex.Found) else both, depth=depth)


def _decided_order(decline: declines.Decline) -> tuple[datetime, str, str, str]:
    """Oldest first; ties in note order (notes are read in commit order)."""
    return decline.at, decline.commit, decline.rollout, decline.environment


def _changed(mirror: git.Mirror, old: str, new: str) -> tuple[
        list[verdicts.Verdict], list[declines.Decline]] | None:
    """The verdicts and decisions the notes gained from ``old`` to ``new``; None when
    a note lost one (then only a full read says what the notes hold)."""
    added: list[verdicts.Verdict] = []
    decided: list[declines.Decline] = []
    for commit, before, after in mirror.notes_changed(old, new):
        gone_v = set(verdicts.parse(commit, before or ""))
        gone_d = set(declines.parse(commit, before or ""))
        now_v = verdicts.parse(commit, after or "")
        now_d = declines.parse(commit, after or "")
        if not gone_v <= set(now_v) or not gone_d <= set(now_d):
            return None
        added += [v for v in now_v if v not in gone_v]
        decided += [d for d in now_d if d not in gone_d]
    return added, decided


class Verdicts:
    def __init__(self, *, repository: Repository, environment: str,
                 depth: int | None = None) -> None:
        """``depth``: keep only what the decisions need (``core/auditindex``), the
        daemon's; None keeps every verdict."""
        self._repository = repository
        self.environment = environment
        self._depth = depth
        self._recorded: dict[str, set[str]] = {}  # rollout -> its commits known in git
        self._lock = threading.Lock()
        self._reading = threading.Lock()  # one reader of a notes move at a time
        # The notes as read at the last few notes commits, newest first: a move back
        # to one of them (notes rewritten on the remote and fetched) or on from one
        # of them (ours written again on another writer's notes) is a step from there.
        self._states: list[_State] = []
        self.full_reads = 0  # how many times every note was read (tests, benchmarks)

    def _read(self) -> tuple[tuple[verdicts.Verdict, ...], tuple[declines.Decline, ...]]:
        """What the notes hold, cached per notes commit. When the notes move, only the
        notes that changed since a commit already read are read (one tree diff, not
        every note) and merged into what is held; notes that lost a verdict or a
        decision since every commit held (notes rewritten by hand) are read whole
        again. One thread reads; the others wait for its answer instead of reading
        the same move again."""
        mirror = self._repository.mirror
        head = mirror.notes_head(verdicts.NOTES_REF)
        with self._lock:
            if head is not None and self._states and self._states[0].head == head:
                return self._states[0].found, self._states[0].decided
        with self._reading:
            # Again, now that this thread reads: while it waited, another may have read
            # a newer commit, and a step from that one back to the head read above
            # would look like notes that lost a verdict: every note read again, a burst
            # that grows with the history (measured: docs/performance.md, "Soak").
            head = mirror.notes_head(verdicts.NOTES_REF)
            with self._lock:
                states = list(self._states)
            if head is None:
                state = _State(None, (), ())
            else:
                state = next((s for s in states if s.head == head), None) \
                    or self._step(mirror, states, head)
            with self._lock:
                self._states = [state, *(s for s in states if s.head != state.head)][:_KEPT]
            return state.found, state.decided

    def _step(self, mirror: git.Mirror, states: Sequence[_State], head: str) -> _State:
        """The notes at ``head``: from the newest state held whose notes ``head`` only
        adds to, else every note read."""
        for old in states:
            if old.head is None:
                continue
            step = _changed(mirror, old.head, head)
            if step is None:
                continue
            added, added_decided = step
            # What the bound left out of ``found`` stays (``auditindex.Found``).
            merged = verdicts.merged(old.found, added)
            found = old.found.like(merged) if isinstance(old.found, auditindex.Found) \
                else tuple(merged)
            decided = old.decided
            if added_decided:
                decided = tuple(sorted(set(decided) | set(added_decided), key=_decided_order))
            return self._bounded(head, found, decided)
        found, decided = read_all(mirror, depth=self._depth)
        self.full_reads += 1
        return self._bounded(head, found, decided)

    def _bounded(self, head: str, found: tuple[verdicts.Verdict, ...],
                 decided: tuple[declines.Decline, ...]) -> _State:
        if self._depth is not None:
            found = auditindex.bounded_verdicts(found, depth=self._depth)
            decided = auditindex.bounded_decisions(decided, depth=self._depth)
        return _State(head, found, decided)

    def all(self) -> tuple[verdicts.Verdict, ...]:
        """Every verdict in the mirror's notes (as far as ``depth``), newest first."""
        return self._read()[0]

    def decisions(self) -> tuple[declines.Decline, ...]:
        """Every decision people made on pull requests, oldest first."""
        return self._read()[1]

    def declined(self, key: str) -> Mapping[str, str]:
        """The releases of ``key`` declined in this environment and not resumed, and why."""
        return declines.active(self._read()[1], rollout=key, environment=self.environment)

    def decide(self, decline: declines.Decline) -> bool:
        """Record a person's decision on a release's pull request (idempotent); a
        failure is raised and the caller tries again on a later pass."""
        written = self._write(decline.commit, lambda note: declines.add(note, decline))
        if written:
            log.info("%s: recorded %s %s%s in %s", decline.rollout, decline.release,
                     decline.decision.lower(),
                     f" (pull request #{decline.number})" if decline.number else "",
                     self.environment)
        return written

    def pending(self, key: str, kept: Sequence[progress.Bookkeeping],
                records: Sequence[trailers.Record]) -> list[verdicts.Verdict]:
        """The ended bakes of ``key`` that have no verdict in git yet (pure but for
        the memo of what is already recorded)."""
        by_commit = {r.commit: r for r in records}
        out = []
        for k in kept:
            record = by_commit.get(k.commit)
            if k.bake_status not in verdicts.RESULTS or record is None or k.bake_end is None:
                continue
            if k.commit in self._recorded.get(key, ()):
                continue
            if record.trailers.action == "step" and k.bake_status == "Succeeded":
                continue  # a canary step that baked well is no verdict on the release
            out.append(verdicts.Verdict(
                commit=k.commit, rollout=key, release=record.trailers.release,
                environment=self.environment,
                result="Succeeded" if k.bake_status == "Succeeded" else "Failed",
                started=k.bake_start, ended=k.bake_end,
                failed=tuple(verdicts.FailedCheck(name=name, message=_detail(k.message, name))
                             for name in k.failed_checks)))
        return out

    def record(self, key: str, kept: Sequence[progress.Bookkeeping],
               records: Sequence[trailers.Record]) -> int:
        """Write the verdicts ``pending`` finds; returns how many were written. A
        failure is raised (the caller retries later); nothing is ever forced."""
        written = 0
        for verdict in self.pending(key, kept, records):
            faults.hit("verdict-pending")
            if self._write(verdict.commit, functools.partial(_add_verdict, verdict=verdict)):
                written += 1
                log.info("%s: recorded %s verdict of %s (%s) in %s", key, verdict.result,
                         verdict.release, verdict.commit[:12], self.environment)
            self._recorded.setdefault(key, set()).add(verdict.commit)
        # Only bakes the status still holds are ever asked about again.
        held = {k.commit for k in kept}
        if key in self._recorded:  # only this rollout's set is pruned: O(its bakes)
            self._recorded[key] &= held
        return written

    def _write(self, commit: str, change: Callable[[str | None], str | None]) -> bool:
        """Apply ``change`` to the note on ``commit`` and push it; False when the note
        already says it (written before a restart). Not under the repository's lock:
        the mirror reads, writes and pushes the note under its notes' lock only
        (``Mirror.update_note``), so releases and reverts do not wait for a verdict's
        push, which walks every note (~1.5 s at 1,000,000 notes)."""
        mirror = self._repository.mirror
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return mirror.update_note(commit, change, verdicts.NOTES_REF) is not None
            except NonFastForward:
                if attempt == ATTEMPTS:
                    raise
                # Another cluster recorded a verdict meanwhile: take its notes and
                # add ours on top, never over it.
                mirror.fetch_notes()
        return False


def _add_verdict(note: str | None, *, verdict: verdicts.Verdict) -> str | None:
    return verdicts.add(note, verdict)


def _detail(message: str, name: str) -> str:
    """The part of a failed bake's message about HealthCheck ``name``."""
    marker = f"{name}: "
    at = message.find(marker)
    if at < 0:
        return ""
    rest = message[at + len(marker):]
    return rest.split("; ", 1)[0].strip()



