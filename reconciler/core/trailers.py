"""Commit messages and their machine-readable trailers (DESIGN.md, commit contract).

Every commit the reconciler writes ends with a paragraph of trailers::

    Rollout: apps/podinfo
    Release: 6.5.0
    Previous-Release: 6.4.0
    Action: release

``Release`` is always the value the commit leaves in the targets and
``Previous-Release`` the value it replaced, whatever the action; so for a revert
``Previous-Release`` names the release that failed (and is quarantined). Reverts
keep git's own shape: subject ``Revert "<subject>"`` and the body line
``This reverts commit <sha>.``.

Pure: strings in, strings and records out. ``git log`` alone tells the story; this
module is how the ``history`` command and the quarantine (``core/quarantine``) read
it back, finding the trailers by git's own rules (``gittrailers``): a commit is ours
exactly when ``git log --format=%(trailers)`` shows our trailers on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from reconciler.core import gittrailers
from reconciler.core.changes import ChangeSet

Action = Literal["release", "revert", "rollback", "step", "promote"]
ACTIONS: tuple[Action, ...] = ("release", "revert", "rollback", "step", "promote")
MIGRATE = "migrate"
"""The ``Action`` of ``reconciler migrate``'s commit, which is no release."""

ROLLOUT = "Rollout"
RELEASE = "Release"
PREVIOUS = "Previous-Release"
ACTION = "Action"
REVERTS = "Reverts"
REASON = "Reason"
ENVIRONMENT = "Environment"
# Who asked for a release the reconciler wrote on a person's behalf (the dashboard's
# actions): the user name the dashboard authenticated, never a token.
REQUESTED_BY = "Requested-By"
# A canary step commit (``Action: step``, core/steps.py): which step of how many
# (``2/3``) and the canary's traffic weight it wrote, in percent.
STEP = "Step"
WEIGHT = "Weight"

_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def _one_line(text: str) -> str:
    """Trailer values must stay on one line; control characters become spaces."""
    return _UNSAFE.sub(" ", text).strip()


one_line = _one_line


def _short(name: str) -> str:
    return name.split("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Trailers:
    """The parsed trailer paragraph of a reconciler commit."""

    rollout: str
    action: Action
    release: str
    previous_release: str | None = None
    reverts: str | None = None
    reason: str | None = None
    # The cluster's environment (``--environment``); None on commits written before
    # environments existed, which count for every environment.
    environment: str | None = None
    requested_by: str | None = None
    step: str | None = None  # "2/3" on a step commit
    weight: int | None = None  # the canary's weight a step or promote commit wrote

    def render(self) -> str:
        lines = [f"{ROLLOUT}: {self.rollout}", f"{RELEASE}: {self.release}"]
        if self.previous_release is not None:
            lines.append(f"{PREVIOUS}: {self.previous_release}")
        lines.append(f"{ACTION}: {self.action}")
        if self.step:
            lines.append(f"{STEP}: {self.step}")
        if self.weight is not None:
            lines.append(f"{WEIGHT}: {self.weight}")
        if self.environment:
            lines.append(f"{ENVIRONMENT}: {_one_line(self.environment)}")
        if self.reverts:
            lines.append(f"{REVERTS}: {self.reverts}")
        if self.reason:
            lines.append(f"{REASON}: {_one_line(self.reason)}")
        if self.requested_by:
            lines.append(f"{REQUESTED_BY}: {_one_line(self.requested_by)}")
        return "\n".join(lines)


def change_lines(changes: ChangeSet) -> list[str]:
    """One indented line per change, as every commit body lists them."""
    out = []
    for c in changes.changes:
        what = f"{c.kind} {c.object}".strip()
        # Documents count from 1 here too, as in plan's output and every error.
        out.append(f"  {c.file} [{c.document + 1}] {what} {c.pointer}: {c.old} -> {c.new}")
    return out


def release_message(changes: ChangeSet, *, release: str, previous: str | None,
                    environment: str | None = None, requested_by: str | None = None,
                    ) -> str:
    """The message of a release commit, rendered from its change set; ``requested_by``
    names the person who asked for it (the ``Requested-By`` trailer)."""
    subject = f"{_short(changes.rollout)}: {previous or '(none)'} -> {release}"
    body = [f"Release {release} of {changes.rollout}.", "", *change_lines(changes)]
    trailers = Trailers(
        rollout=changes.rollout, action="release", release=release, previous_release=previous,
        environment=environment, requested_by=requested_by,
    )
    return "\n".join([subject, "", *body, "", trailers.render(), ""])


def adopt_message(*, rollout: str, release: str, previous: str | None,
                  environment: str | None = None, requested_by: str | None = None) -> str:
    """A record-only commit: the targets already hold ``release`` (set by hand), and
    from now on the reconciler treats it as its own; automatic releases resume."""
    subject = f"{_short(rollout)}: adopt {release} (set by hand)"
    body = [f"The targets of {rollout} were set to {release} by a commit without",
            "reconciler trailers. This commit changes no file; it records that release",
            "as the reconciler's, which lifts the hold on automatic releases."]
    trailers = Trailers(rollout=rollout, action="release", release=release,
                        previous_release=previous, reason="adopted a manual change",
                        environment=environment, requested_by=requested_by)
    return "\n".join([subject, "", *body, "", trailers.render(), ""])


def revert_message(
    *, reverted_subject: str, reverted_sha: str, rollout: str, release: str,
    previous: str, reason: str, environment: str | None = None,
) -> str:
    """git's own revert shape, plus a sentence for people and the trailers.

    ``release`` is what the revert restores; ``previous`` the release taken out.
    """
    subject = f'Revert "{reverted_subject}"'
    body = [
        f"This reverts commit {reverted_sha}.",
        "",
        f"{previous} failed: {_one_line(reason).rstrip('.')}. Back to {release}; "
        f"{previous} will not be released again automatically.",
    ]
    trailers = Trailers(
        rollout=rollout, action="revert", release=release, previous_release=previous,
        reverts=reverted_sha, reason=reason, environment=environment,
    )
    return "\n".join([subject, "", *body, "", trailers.render(), ""])


def rollback_message(
    changes: ChangeSet, *, release: str, previous: str, reverted_sha: str, reason: str,
    environment: str | None = None,
) -> str:
    """A commit that sets the previous release again when ``git revert`` conflicts."""
    why = (
        f"{_one_line(reason)}; git revert of {reverted_sha[:12]} conflicted with later "
        f"edits, so {release} was set again directly"
    )
    subject = f"{_short(changes.rollout)}: roll back {previous} -> {release}"
    body = [
        f"Roll back {changes.rollout} from {previous} to {release}.",
        f"A revert of {reverted_sha[:12]} did not apply cleanly, so only",
        "the release fields were set back; other edits since then are kept.",
        "",
        *change_lines(changes),
    ]
    trailers = Trailers(
        rollout=changes.rollout, action="rollback", release=release,
        previous_release=previous, reason=why, environment=environment,
    )
    return "\n".join([subject, "", *body, "", trailers.render(), ""])


def migrate_message(changes: Sequence[tuple[str, str, str]], *, releases: dict[str, str],
                    environment: str | None = None) -> str:
    """The one commit of ``reconciler migrate``: the target fields kuberik's
    rollout-controller set in the cluster, added to git with the release each rollout
    runs now. ``changes`` are ``(file [document] object, JSON Pointer, value)`` lines,
    ``releases`` rollout -> release. Its ``Action: migrate`` is no release: ``parse``
    leaves it out of the history, and it quarantines nothing."""
    count = len(changes)
    subject = (f"Migrate from kuberik's rollout-controller: add {count} target "
               f"field{'s' if count != 1 else ''}")
    body = ["kuberik's rollout-controller set these fields in the cluster, not in git.",
            "The reconciler only rewrites fields that git holds, so they are added here",
            "with the release each rollout runs now: applying them changes nothing.",
            "", *(f"  {where} {pointer}: (missing) -> {value}"
                  for where, pointer, value in changes)]
    lines = []
    for rollout, release in sorted(releases.items()):
        lines += [f"{ROLLOUT}: {rollout}", f"{RELEASE}: {_one_line(release)}"]
    lines.append(f"{ACTION}: {MIGRATE}")
    if environment:
        lines.append(f"{ENVIRONMENT}: {_one_line(environment)}")
    return "\n".join([subject, "", *body, "", *lines, ""])


def parse(message: str) -> Trailers | None:
    """Read the trailers of a reconciler commit; None for any other commit.

    The trailers are those git finds (the last paragraph, by git's rules), and
    they must carry ``Rollout``, ``Release`` and a known ``Action``. The first
    value of a token counts; names are matched exactly, as the contract writes them.
    """
    fields = _fields(message)
    action = fields.get(ACTION)
    if ROLLOUT not in fields or RELEASE not in fields or action not in ACTIONS:
        return None
    return Trailers(
        rollout=fields[ROLLOUT],
        action=action,  # checked against ACTIONS above
        release=fields[RELEASE],
        previous_release=fields.get(PREVIOUS),
        reverts=fields.get(REVERTS),
        reason=fields.get(REASON),
        environment=fields.get(ENVIRONMENT) or None,
        requested_by=fields.get(REQUESTED_BY) or None,
        step=fields.get(STEP) or None,
        weight=_weight(fields.get(WEIGHT)),
    )


def _weight(text: str | None) -> int | None:
    return int(text) if text is not None and text.isascii() and text.isdigit() \
        and int(text) <= 100 else None


def is_migrate(message: str) -> bool:
    """Whether ``message`` is ``reconciler migrate``'s commit: trailers with a
    ``Rollout`` and ``Action: migrate``, read as ``parse`` reads them. Pure."""
    fields = _fields(message)
    return ROLLOUT in fields and fields.get(ACTION) == MIGRATE


def _fields(message: str) -> dict[str, str]:
    """The trailers git finds in ``message``, the first value of each token."""
    if ROLLOUT not in message:  # most commits are people's: not ours, whatever git finds
        return {}
    fields: dict[str, str] = {}
    for token, value in gittrailers.parse(message):
        fields.setdefault(token, value)
    return fields


@dataclass(frozen=True, slots=True)
class Record:
    """One reconciler commit in the audit trail."""

    commit: str
    time: datetime
    subject: str
    trailers: Trailers

    def as_dict(self) -> dict[str, str | int | None]:
        t = self.trailers
        return {
            "commit": self.commit,
            "rollout": t.rollout,
            "action": t.action,
            "release": t.release,
            "previous_release": t.previous_release,
            "time": self.time.isoformat(),
            "reason": t.reason,
            "reverts": t.reverts,
            "subject": self.subject,
            "environment": t.environment,
            "requested_by": t.requested_by,
            "step": t.step,
            "weight": t.weight,
        }


def records(commits: Iterable[tuple[str, str, datetime]]) -> list[Record]:
    """Audit records from ``(sha, message, time)`` commits, in the order given."""
    out = []
    for sha, message, when in commits:
        t = parse(message)
        if t is not None:
            out.append(Record(commit=sha, time=when, subject=message.split("\n", 1)[0],
                              trailers=t))
    return out
