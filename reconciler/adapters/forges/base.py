"""The one small interface every forge adapter implements, and the values it returns.

The pull-request writer (``reconciler/engine/writers/pullrequest.py``) talks to a forge
only through ``Forge``: find the pull request of a branch, open or update it, read its
state and its checks, merge it, comment, label, close. GitHub, GitLab and Gitea/Forgejo
(``github.py``, ``gitlab.py``, ``gitea.py``) translate their own shapes into the frozen
dataclasses below, and their errors into ``reconciler.errors`` (``ForgeError`` and its
kin), so the writer never sees an HTTP status or a forge's JSON.

What each field means on each forge is in docs/pull-requests.md; in short:

* ``PullRequest.mergeable`` is ``None`` while the forge is still computing it (GitHub's
  ``mergeable: null``, GitLab's ``unchecked``/``checking``). Gitea has no such state in its
  API: it answers ``false`` while checking, so on Gitea ``False`` can mean "not yet".
* ``Checks`` folds every signal the forge has on a commit into one verdict: GitHub's
  combined commit status *and* its check runs, GitLab's merge-request pipeline, Gitea's
  combined commit status.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class PullState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    """Closed without being merged: the release it carried was declined."""
    MERGED = "merged"


class MergeMethod(StrEnum):
    MERGE = "merge"
    """A merge commit with two parents."""
    SQUASH = "squash"
    """One new commit on the base with the given title and message."""
    REBASE = "rebase"
    """The pull request's commits replayed on the base, no merge commit."""


class Verdict(StrEnum):
    NONE = "none"
    """The forge knows of no check on that commit (no CI configured, or none reported yet)."""
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"


@dataclass(frozen=True)
class PullRequest:
    """A pull request (GitLab: merge request) as the forge reports it now.

    ``number`` is what the forge shows people (GitHub/Gitea ``number``, GitLab ``iid``).
    ``merge_commit_sha`` is the commit the merge put on the base: the merge commit, the
    squash commit, or the last rebased commit; ``None`` until merged.
    ``mergeable`` is ``False`` once the pull request is closed or merged.
    ``mergeable_detail`` is the forge's own word for why (GitHub ``mergeable_state``,
    GitLab ``detailed_merge_status``), for a status message; ``None`` where there is none.
    ``closed_by``/``merged_by`` are logins where the forge says who (GitHub answers
    ``closed_by`` only on the issue, which ``get`` reads for a closed, unmerged one).
    """

    number: int
    url: str
    title: str
    body: str
    head: str
    base: str
    head_sha: str
    state: PullState
    merge_commit_sha: str | None
    mergeable: bool | None
    mergeable_detail: str | None
    labels: tuple[str, ...]
    author: str | None
    closed_by: str | None
    merged_by: str | None


@dataclass(frozen=True)
class Check:
    """One signal on a commit: a commit status, a check run, or a pipeline."""

    name: str
    kind: str
    """``status``, ``check-run`` or ``pipeline``."""
    verdict: Verdict
    detail: str
    """The forge's own state word (``in_progress``, ``failure``, ``canceled``...)."""


@dataclass(frozen=True)
class Checks:
    """Every check the forge reports for ``sha`` and what they add up to.

    ``verdict`` is FAILED when any check failed, PENDING when any is still running or a
    required name has not reported yet (``missing``), PASSED when at least one check
    exists and all passed, NONE when there is none and none is required.
    """

    sha: str
    verdict: Verdict
    items: tuple[Check, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Merged:
    """What a successful merge call put on the base branch."""

    sha: str
    method: MergeMethod


def summarise(sha: str, items: Collection[Check], required: Collection[str]) -> Checks:
    """The verdict over ``items`` for ``sha`` (pure; every adapter uses it).

    Neutral and skipped check runs count as passed, as GitHub counts them for required
    checks. A required name that is absent keeps the verdict PENDING, since a CI job that
    has not started yet looks exactly like that.
    """
    names = {check.name for check in items}
    missing = tuple(sorted(name for name in required if name not in names))
    verdicts = {check.verdict for check in items}
    if Verdict.FAILED in verdicts:
        verdict = Verdict.FAILED
    elif Verdict.PENDING in verdicts or missing:
        verdict = Verdict.PENDING
    elif items:
        verdict = Verdict.PASSED
    else:
        verdict = Verdict.NONE
    return Checks(sha=sha, verdict=verdict, items=tuple(items), missing=missing)


@dataclass(frozen=True)
class Review:
    """One review of a pull request, in the order the forge lists them (oldest first)."""

    login: str | None
    state: str  # the forge's own word: APPROVED, CHANGES_REQUESTED, REQUEST_CHANGES, ...
    commit: str | None
    standing: bool = True  # False: dismissed or stale, as the forge says


def approvers(reviews: Iterable[Review], *, head_sha: str,
              votes: Collection[str]) -> tuple[str, ...]:
    """Who approves ``head_sha``: each reviewer's latest review whose state is one of
    ``votes`` (a comment neither grants nor withdraws), when it is ``APPROVED``, on that
    commit and still standing. Pure; GitHub and Gitea read reviews this way."""
    latest = {r.login: r for r in reviews if r.login and r.state in votes}
    return tuple(sorted(login for login, r in latest.items() if login and r.standing
                        and r.state == "APPROVED" and r.commit == head_sha))


class Forge(Protocol):
    """A forge's pull requests, through its REST API. Every argument is keyword-only.

    Errors: ``ForgeAuthError`` (401/403), ``ForgeNotFound`` (404), ``ForgeInvalid``
    (400/422), ``ForgeConflict`` (merge refused, duplicate), ``ForgeRateLimited`` (with
    the wait; never slept here), ``ForgeError`` (anything else that may clear).
    """

    kind: str
    """``github``, ``gitlab`` or ``gitea``."""

    def find_open(self, *, head: str, base: str) -> PullRequest | None:
        """The open pull request from branch ``head`` into ``base``, if there is one."""
        ...

    def find_last_closed(self, *, head: str, base: str) -> PullRequest | None:
        """The most recently closed or merged pull request from ``head`` into ``base``."""
        ...

    def get(self, *, number: int) -> PullRequest:
        """One pull request, read afresh (the read that makes ``mergeable`` known)."""
        ...

    def open(self, *, title: str, body: str, head: str, base: str) -> PullRequest:
        """Open a pull request; ``ForgeConflict`` when one is already open for ``head``."""
        ...

    def update(self, *, number: int, title: str | None = None,
               body: str | None = None) -> PullRequest:
        """Change the title and/or body of an open pull request."""
        ...

    def checks(self, *, number: int, sha: str, required: Collection[str] = ()) -> Checks:
        """The checks on ``sha``, the pull request's head commit."""
        ...

    def approvals(self, *, number: int, head_sha: str) -> tuple[str, ...]:
        """Who approved the pull request as it stands at ``head_sha``: GitHub and Gitea
        count each reviewer's latest review when it is ``APPROVED`` for that commit (not
        dismissed, not stale); GitLab counts its ``approved_by`` (which its project
        setting may reset on a push)."""
        ...

    def merge(self, *, number: int, head_sha: str, title: str, message: str,
              method: MergeMethod) -> Merged:
        """Merge, refused with ``ForgeConflict`` unless the head is still ``head_sha``.

        ``title`` and ``message`` become the merge or squash commit's message; a rebase
        keeps the pull request's own commit messages (and so their trailers).
        """
        ...

    def comment(self, *, number: int, body: str) -> None:
        """Add a comment to the pull request's conversation."""
        ...

    def add_label(self, *, number: int, label: str) -> None:
        """Add one label (created on the fly where the forge does that)."""
        ...

    def close(self, *, number: int) -> PullRequest:
        """Close without merging."""
        ...
