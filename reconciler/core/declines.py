"""Declined releases as git notes: the format (DESIGN.md "Writing").

Where it fits: when a person closes a release's pull request without merging it, the
pull-request writer records that in git, as a note on the release commit the pull
request proposed, under the same notes ref as the bake verdicts
(``refs/notes/reconciler``). That makes a decline last: a restarted daemon, another
replica and ``reconciler plan`` all know the release is not to be proposed again, with
no forge call, and ``reconciler history`` lists who declined what and when. Reopening
the pull request resumes the release: a later ``Resumed`` paragraph on the same commit.
A ``Merged`` paragraph sits on a merge commit that lost the release's trailers (a
person squashed with a message of their own): it says which release that commit is, so
the release is recognised, baked and recorded as if the trailers were there.
An ``Approved`` paragraph is a person's approval of a release that waits for one
(``spec.approval: manual``, ``reconciler approve``): it sits on the branch head the
approval was given at, names no pull request, and may name the canary ``Step``.
Pure: text in, text and values out. One paragraph per decision::

    Declined in production: 6.6.0 of apps/podinfo, pull request #12 closed by alice.

    Decision: Declined
    Rollout: apps/podinfo
    Release: 6.6.0
    Environment: production
    Pull-Request: 12
    By: alice
    Decided-At: 2026-12-03T08:00:00Z

The commit is on the pull request's branch, not on the branch Flux applies; a note
names its commit by id and keeps it from nothing, so it outlives the branch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from reconciler.core import trailers

Decision = Literal["Declined", "Resumed", "Merged", "Approved"]
DECISIONS: tuple[Decision, ...] = ("Declined", "Resumed", "Merged", "Approved")

_FIELD = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): ?(.*)$")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    return _UNSAFE.sub(" ", text).strip()


@dataclass(frozen=True)
class Decline:
    """A person's decision on one release's pull request in one environment."""

    commit: str  # the release commit the pull request proposed (Approved: the head)
    rollout: str
    release: str
    environment: str
    number: int  # the pull request; 0 for an approval given outside one
    at: datetime
    by: str | None = None
    decision: Decision = "Declined"
    previous: str | None = None  # Merged: the release the targets held before
    step: int | None = None  # Approved: the canary step approved (None: the release)

    def why(self) -> str:
        """As the status and ``plan`` say it."""
        return f"declined in pull request #{self.number}" + (f" by {self.by}" if self.by
                                                              else "")

    def render(self) -> str:
        who = f" by {self.by}" if self.by else ""
        at_step = f" (step {self.step})" if self.step is not None else ""
        where = f", pull request #{self.number}" if self.number else ""
        if self.decision == "Approved":
            sentence = (f"Approved in {self.environment}: {self.release}{at_step} of "
                        f"{self.rollout}{where}{who}.")
        elif self.decision == "Declined":
            sentence = (f"Declined in {self.environment}: {self.release} of {self.rollout}, "
                        f"pull request #{self.number} closed{who}.")
        elif self.decision == "Merged":
            sentence = (f"Merged in {self.environment}: {self.release} of {self.rollout}, "
                        f"pull request #{self.number} merged{who} as this commit, whose "
                        f"message lost reconciler's trailers; it counts as that release.")
        else:
            sentence = (f"Resumed in {self.environment}: {self.release} of {self.rollout}, "
                        f"pull request #{self.number} reopened{who}.")
        lines = [f"Decision: {self.decision}", f"Rollout: {self.rollout}",
                 f"Release: {self.release}", f"Environment: {self.environment}",
                 *([f"Pull-Request: {self.number}"] if self.number else [])]
        if self.step is not None:
            lines.append(f"Step: {self.step}")
        if self.previous:
            lines.append(f"Previous-Release: {self.previous}")
        if self.by:
            lines.append(f"By: {_one_line(self.by)}")
        stamp = self.at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        lines.append(f"Decided-At: {stamp}")
        return f"{_one_line(sentence)}\n\n" + "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        """An entry of ``reconciler history -o json`` (``action: "declined"`` or
        ``"resumed"``)."""
        return {
            "commit": self.commit, "rollout": self.rollout,
            "action": self.decision.lower(), "release": self.release,
            "previous_release": None, "environment": self.environment,
            "time": self.at.isoformat(), "pull_request": self.number or None, "by": self.by,
            "reason": self.why() if self.decision == "Declined" else
            f"approved{f' at step {self.step}' if self.step is not None else ''}"
            + (f" by {self.by}" if self.by else "") if self.decision == "Approved" else
            f"pull request #{self.number} "
            f"{'reopened' if self.decision == 'Resumed' else 'merged'}"
            + (f" by {self.by}" if self.by else ""),
        }


def parse(commit: str, note: str) -> list[Decline]:
    """Every well-formed decision in the note on ``commit``; other paragraphs (bake
    verdicts, a person's words) are ignored."""
    out: list[Decline] = []
    for paragraph in re.split(r"\n\s*\n", note.strip()):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            m = _FIELD.match(line.strip())
            if m:
                fields.setdefault(m.group(1), m.group(2).strip())
        decision = fields.get("Decision")
        number = fields.get("Pull-Request", "0" if decision == "Approved" else "")
        step = fields.get("Step")
        try:
            at = datetime.fromisoformat(fields.get("Decided-At", "").replace("Z", "+00:00"))
        except ValueError:
            continue
        if decision not in DECISIONS or not (number.isascii() and number.isdigit()) or not all(
                fields.get(k) for k in ("Rollout", "Release", "Environment")) or (
                step is not None and not (step.isascii() and step.isdigit())):
            continue
        out.append(Decline(commit=commit, rollout=fields["Rollout"], release=fields["Release"],
                           environment=fields["Environment"], number=int(number),
                           at=at if at.tzinfo else at.replace(tzinfo=UTC),
                           by=fields.get("By") or None,
                           decision=decision,  # checked against DECISIONS above
                           previous=fields.get("Previous-Release") or None,
                           step=int(step) if step is not None else None))
    return out


def add(note: str | None, decline: Decline) -> str | None:
    """The note with ``decline`` added, or None when the note's latest decision on that
    rollout, environment and pull request is already this one (recording is
    idempotent: a pass that sees the same closed pull request again writes nothing)."""
    def slot(d: Decline) -> tuple[object, ...]:
        if d.decision == "Approved":
            return d.rollout, d.environment, d.release, d.step, d.decision
        return d.rollout, d.environment, d.number

    same = [d for d in parse(decline.commit, note or "") if slot(d) == slot(decline)]
    if same and max(same, key=lambda d: d.at).decision == decline.decision:
        return None
    block = decline.render()
    return block + "\n" if not note or not note.strip() else f"{note.rstrip()}\n\n{block}\n"


def active(found: Iterable[Decline], *, rollout: str, environment: str) -> Mapping[str, str]:
    """The releases of ``rollout`` declined in ``environment`` and not resumed since,
    and why: the latest decision on each release wins."""
    latest: dict[str, Decline] = {}
    for d in found:
        if d.rollout != rollout or d.environment != environment or d.decision == "Approved":
            continue
        seen = latest.get(d.release)
        if seen is None or d.at >= seen.at:
            latest[d.release] = d
    return {tag: d.why() for tag, d in latest.items() if d.decision == "Declined"}


def adopted(found: Iterable[Decline], *, rollout: str, environment: str,
            subjects: Mapping[str, tuple[str, datetime]]) -> list[trailers.Record]:
    """The merge commits of ``rollout``'s pull requests that lost the trailers (a
    person's squash with a message of their own), as the release records they are.
    ``subjects``: each such commit's subject and time, for those on the branch (a
    commit not in it is left out)."""
    out = []
    for d in found:
        if (d.decision != "Merged" or d.rollout != rollout or d.environment != environment
                or d.commit not in subjects):
            continue
        subject, when = subjects[d.commit]
        out.append(trailers.Record(commit=d.commit, time=when, subject=subject,
                                   trailers=trailers.Trailers(
                                       rollout=rollout, action="release", release=d.release,
                                       previous_release=d.previous,
                                       environment=environment)))
    return out


def approval(found: Iterable[Decline], *, rollout: str, release: str, environment: str,
             step: int | None = None) -> Decline | None:
    """The approval of ``release`` of ``rollout`` in ``environment`` (at canary
    ``step``; None: the release itself), the earliest one, or None."""
    for d in found:  # oldest first
        if (d.decision, d.rollout, d.release, d.environment, d.step) == (
                "Approved", rollout, release, environment, step):
            return d
    return None
