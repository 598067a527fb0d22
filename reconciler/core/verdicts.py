"""Bake verdicts as git notes: the format (DESIGN.md "Fleet repositories").

Where it fits: when a bake ends, the engine records its verdict as a note on the
release commit, under ``refs/notes/reconciler``; the git adapter does the I/O.
Another cluster's reconciler reads the notes after a fetch to decide promotion,
and ``reconciler history`` lists them beside the commits. Pure: text in, text and
values out.

Why notes: a note annotates the release commit without changing it or the branch,
so Flux has nothing to re-apply, a protected branch does not stand in the way (the
notes ref is not a branch), and ``git log --notes=reconciler`` shows each verdict
right under the release it is about. One note may hold several verdicts (one per
environment that baked that commit), each a paragraph::

    Verified in staging: 6.5.0 of apps/podinfo stayed healthy for 10m.

    Bake: Succeeded
    Rollout: apps/podinfo
    Release: 6.5.0
    Environment: staging
    Bake-Started: 2026-12-03T08:00:00Z
    Bake-Ended: 2026-12-03T08:10:00Z

A failed bake names each failed HealthCheck on a ``Failed-HealthCheck`` line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

NOTES_REF = "refs/notes/reconciler"

Result = Literal["Succeeded", "Failed"]
RESULTS: tuple[Result, ...] = ("Succeeded", "Failed")

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): ?(.*)$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    return _UNSAFE.sub(" ", text).strip()


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value.microsecond == 0 \
        else value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FailedCheck:
    name: str  # namespace/name
    message: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """The end of one bake of one release commit in one environment."""

    commit: str  # the release commit the verdict is about
    rollout: str
    release: str
    environment: str
    result: Result
    ended: datetime
    started: datetime | None = None
    failed: tuple[FailedCheck, ...] = ()

    def render(self) -> str:
        if self.result == "Succeeded":
            took = ""
            if self.started is not None:
                took = f" for {_duration((self.ended - self.started).total_seconds())}"
            sentence = (f"Verified in {self.environment}: {self.release} of {self.rollout} "
                        f"stayed healthy{took}.")
        else:
            names = ", ".join(f.name for f in self.failed) or "a HealthCheck"
            sentence = (f"Failed in {self.environment}: {self.release} of {self.rollout}; "
                        f"{names} failed the bake.")
        lines = [f"Bake: {self.result}", f"Rollout: {self.rollout}",
                 f"Release: {self.release}", f"Environment: {self.environment}"]
        if self.started is not None:
            lines.append(f"Bake-Started: {_time(self.started)}")
        lines.append(f"Bake-Ended: {_time(self.ended)}")
        lines += [f"Failed-HealthCheck: {_one_line(f.name)}: {_one_line(f.message)}"
                  for f in self.failed]
        return f"{_one_line(sentence)}\n\n" + "\n".join(lines)

    def reason(self) -> str | None:
        if not self.failed:
            return None
        return "; ".join(f"{f.name}: {f.message}" if f.message else f.name
                         for f in self.failed)

    def as_dict(self) -> dict[str, Any]:
        """An entry of ``reconciler history -o json`` (``action: "bake"``)."""
        return {
            "commit": self.commit,
            "rollout": self.rollout,
            "action": "bake",
            "result": self.result,
            "release": self.release,
            "previous_release": None,
            "environment": self.environment,
            "time": self.ended.isoformat(),
            "bake_started": self.started.isoformat() if self.started else None,
            "reason": self.reason(),
            "failed_health_checks": [{"name": f.name, "message": f.message}
                                     for f in self.failed],
        }


def _duration(seconds: float) -> str:
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "",
             f"{secs}s" if secs or not (hours or minutes) else ""]
    return "".join(parts)


def parse(commit: str, note: str) -> list[Verdict]:
    """Every well-formed verdict in the note on ``commit``; anything else is ignored
    (a person may add their own paragraphs to the note)."""
    out: list[Verdict] = []
    for paragraph in re.split(r"\n\s*\n", note.strip()):
        fields: dict[str, str] = {}
        failed: list[FailedCheck] = []
        for line in paragraph.splitlines():
            m = _FIELD.match(line.strip())
            if not m:
                continue
            key, value = m.group(1), m.group(2).strip()
            if key == "Failed-HealthCheck":
                name, _, message = value.partition(": ")
                failed.append(FailedCheck(name=name, message=message))
            else:
                fields.setdefault(key, value)
        result = fields.get("Bake")
        ended = _parse_time(fields.get("Bake-Ended"))
        if result not in RESULTS or ended is None or not all(
                fields.get(k) for k in ("Rollout", "Release", "Environment")):
            continue
        out.append(Verdict(commit=commit, rollout=fields["Rollout"], release=fields["Release"],
                           environment=fields["Environment"],
                           result=result,  # checked against RESULTS above
                           ended=ended, started=_parse_time(fields.get("Bake-Started")),
                           failed=tuple(failed)))
    return out


def add(note: str | None, verdict: Verdict) -> str | None:
    """The note with ``verdict`` added, or None when the note already holds a verdict
    of that commit, rollout and environment (recording is idempotent: a restart
    between the bake's end and the record writes it once)."""
    existing = parse(verdict.commit, note or "")
    if any(v.rollout == verdict.rollout and v.environment == verdict.environment
           for v in existing):
        return None
    block = verdict.render()
    return block + "\n" if not note or not note.strip() else f"{note.rstrip()}\n\n{block}\n"


def newest_first(found: Iterable[Verdict]) -> list[Verdict]:
    """Newest first by (end, commit); verdicts that tie keep the order given."""
    return sorted(found, key=lambda v: (v.ended, v.commit), reverse=True)


def canonical(found: Iterable[Verdict]) -> list[Verdict]:
    """Newest first by (end, commit), verdicts that tie by (environment, rollout): the
    one order whatever order the notes were read in."""
    return newest_first(sorted(found, key=lambda v: (v.environment, v.rollout)))


def merged(found: Sequence[Verdict], added: Iterable[Verdict]) -> list[Verdict]:
    """``canonical(set(found) | set(added))`` for ``found`` already canonical and
    distinct: each added verdict is placed by a binary search, so a daemon whose notes
    gain one verdict does not hash and sort the thousands it holds (it did, on every
    notes move; the soak's CPU showed it)."""
    out = list(found)
    for verdict in added:
        key = (verdict.ended, verdict.commit)
        lo, hi = 0, len(out)
        while lo < hi:  # the first verdict not newer than this one
            mid = (lo + hi) // 2
            if (out[mid].ended, out[mid].commit) > key:
                lo = mid + 1
            else:
                hi = mid
        tie = (verdict.environment, verdict.rollout)
        at, known = lo, False
        while at < len(out) and (out[at].ended, out[at].commit) == key:
            if out[at] == verdict:
                known = True
                break
            if (out[at].environment, out[at].rollout) > tie:
                break
            at += 1
        if not known:
            out.insert(at, verdict)
    return out
