"""Gitea and Forgejo pull requests through the API v1.

One of the ``Forge`` adapters (see ``base.py``, imported here as ``model``) the
pull-request writer uses; Forgejo serves the same API. Modelled on Gitea's own handlers
and converters (go-gitea/gitea ``routers/api/v1/repo/pull.go``,
``services/convert/pull.go``) and its swagger (https://gitea.com/api/swagger):

* ``GET /repos/{owner}/{repo}/pulls`` has no head-branch filter, so the open pull
  request of a branch is found by reading the listing (``state``, ``sort``, ``page``,
  ``limit``; ``Link`` and ``X-Total-Count`` headers) and matching ``head.label``, which
  is always the branch name (``head.ref`` becomes ``refs/pull/N/head`` once the branch
  is gone).
* ``mergeable`` is a plain boolean: Gitea answers ``false`` while it is still checking
  the pull request (``pr.Mergeable`` is false in the ``checking`` status), so on Gitea
  ``PullRequest.mergeable`` is never ``None`` and ``False`` may mean "not yet".
* ``POST /pulls/{index}/merge`` takes ``Do`` (``merge``, ``squash``, ``rebase``...),
  ``MergeTitleField``, ``MergeMessageField``, ``head_commit_id``; it answers 200 with no
  body, 405 when the pull request is not mergeable now ("Please try again later" while
  checking), 409 on conflicts and when the head is no longer ``head_commit_id``
  ("head out of date"). The merge commit is then read from ``merge_commit_sha``.
* ``POST /pulls`` answers 409 when an open pull request exists for the same branches.
* commit statuses: ``GET /repos/{owner}/{repo}/commits/{ref}/status`` (combined, each
  status with ``context`` and ``status``).
* labels are added by id (``POST /issues/{index}/labels``), so a missing label is
  created first (``POST /repos/{owner}/{repo}/labels``).

Gitea sends no rate-limit headers of its own; a 429 from a proxy in front of it is
honoured through ``Retry-After``. The token goes in ``Authorization: token``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import httpx2

from reconciler.adapters.forges import base as model
from reconciler.adapters.forges import transport
from reconciler.errors import ForgeConflict, ForgeError

DEFAULT_API_URL = "https://gitea.com/api/v1"
LIMITS = transport.RateLimitHeaders(remaining=None, reset=None)
LABEL_COLOR = "#d73a4a"

# Gitea's branch protection lets only ``success`` through for a required context, so a
# ``warning`` does not count as passed here either.
_STATUS_VERDICT = {"success": model.Verdict.PASSED, "pending": model.Verdict.PENDING,
                   "failure": model.Verdict.FAILED, "error": model.Verdict.FAILED,
                   "warning": model.Verdict.FAILED}
_DO = {model.MergeMethod.MERGE: "merge", model.MergeMethod.SQUASH: "squash",
       model.MergeMethod.REBASE: "rebase"}


class Gitea:
    """``base.Forge`` for one repository on Gitea or Forgejo."""

    kind = "gitea"

    def __init__(self, *, repo: str, token_file: Path | str, api_url: str = DEFAULT_API_URL,
                 timeout: float = 30.0, transport_: httpx2.BaseTransport | None = None,
                 clock: Callable[[], float] | None = None,
                 ca_bundle: Path | None = None) -> None:
        self.owner, _, self.name = repo.partition("/")
        self._repo = f"/repos/{self.owner}/{self.name}"
        self.api = transport.Api(
            kind=self.kind, base_url=api_url, token_file=transport.TokenFile(token_file),
            auth_header=lambda token: ("Authorization", f"token {token}"), limits=LIMITS,
            timeout=timeout, transport=transport_, clock=clock, ca_bundle=ca_bundle)

    def __repr__(self) -> str:
        return f"Gitea(repo='{self.owner}/{self.name}', api={self.api!r})"

    @transport.parsed
    def find_open(self, *, head: str, base: str) -> model.PullRequest | None:
        for item in self._list(head=head, base_branch=base, state="open"):
            return _pull(item)
        return None

    @transport.parsed
    def find_last_closed(self, *, head: str, base: str) -> model.PullRequest | None:
        closed = self._list(head=head, base_branch=base, state="closed")
        if not closed:
            return None
        latest = max(closed, key=lambda item: (
            str(item.get("closed_at") or item.get("merged_at") or ""), int(item["number"])))
        return _pull(latest)

    @transport.parsed
    def get(self, *, number: int) -> model.PullRequest:
        return _pull(self.api.call("GET", f"{self._repo}/pulls/{number}"))

    @transport.parsed
    def open(self, *, title: str, body: str, head: str, base: str) -> model.PullRequest:
        return _pull(self.api.call("POST", f"{self._repo}/pulls", json={
            "title": title, "body": body, "head": head, "base": base}))

    @transport.parsed
    def update(self, *, number: int, title: str | None = None,
               body: str | None = None) -> model.PullRequest:
        changes = {key: value for key, value in (("title", title), ("body", body))
                   if value is not None}
        return _pull(self.api.call("PATCH", f"{self._repo}/pulls/{number}", json=changes))

    @transport.parsed
    def checks(self, *, number: int, sha: str,
               required: Collection[str] = ()) -> model.Checks:
        combined = self.api.call("GET", f"{self._repo}/commits/{sha}/status",
                                 params={"limit": 50})
        items = []
        for status in (combined or {}).get("statuses") or []:
            word = str(status.get("status") or status.get("state"))
            items.append(model.Check(name=str(status.get("context")), kind="status",
                                     verdict=_STATUS_VERDICT.get(word, model.Verdict.PENDING),
                                     detail=word))
        return model.summarise(sha, items, required)

    @transport.parsed
    def approvals(self, *, number: int, head_sha: str) -> tuple[str, ...]:
        # modules/structs/pull_review.go: PullReview {user, state, commit_id, stale,
        # dismissed}; states APPROVED, PENDING, COMMENT, REQUEST_CHANGES, REQUEST_REVIEW.
        return model.approvers(
            (model.Review(_login(r.get("user")), str(r.get("state")), r.get("commit_id"),
                          standing=not r.get("dismissed") and not r.get("stale"))
             for r in self.api.pages(f"{self._repo}/pulls/{number}/reviews",
                                     params={"limit": 50})),
            head_sha=head_sha, votes=("APPROVED", "REQUEST_CHANGES"))

    @transport.parsed
    def merge(self, *, number: int, head_sha: str, title: str, message: str,
              method: model.MergeMethod) -> model.Merged:
        # Gitea answers 404 to a merge of a pull request that was closed meanwhile
        # (``ErrIsClosed``): a race with a person, not a wrong repository.
        self.api.call("POST", f"{self._repo}/pulls/{number}/merge", json={
            "Do": _DO[method], "MergeTitleField": title, "MergeMessageField": message,
            "head_commit_id": head_sha, "delete_branch_after_merge": False},
            statuses={404: ForgeConflict})
        merged = self.get(number=number)
        if merged.merge_commit_sha is None:
            raise ForgeError(f"gitea pull request #{number}: merged, but no "
                                       "merge_commit_sha in the answer")
        return model.Merged(sha=merged.merge_commit_sha, method=method)

    @transport.parsed
    def comment(self, *, number: int, body: str) -> None:
        self.api.call("POST", f"{self._repo}/issues/{number}/comments", json={"body": body})

    @transport.parsed
    def add_label(self, *, number: int, label: str) -> None:
        found = [item for item in self.api.pages(f"{self._repo}/labels", params={"limit": 50})
                 if item.get("name") == label]
        if found:
            label_id = int(found[0]["id"])
        else:
            created = self.api.call("POST", f"{self._repo}/labels",
                                    json={"name": label, "color": LABEL_COLOR})
            label_id = int(created["id"])
        self.api.call("POST", f"{self._repo}/issues/{number}/labels",
                      json={"labels": [label_id]})

    @transport.parsed
    def close(self, *, number: int) -> model.PullRequest:
        return _pull(self.api.call("PATCH", f"{self._repo}/pulls/{number}",
                                   json={"state": "closed"}))

    def _list(self, *, head: str, base_branch: str, state: str) -> list[dict[str, Any]]:
        return [item for item in self.api.pages(f"{self._repo}/pulls", params={
                    "state": state, "sort": "recentupdate", "limit": 50})
                if (item.get("head") or {}).get("label") == head
                and (item.get("base") or {}).get("ref") == base_branch]


def _login(user: Any) -> str | None:
    return str(user["login"]) if isinstance(user, dict) and user.get("login") else None


def _pull(data: dict[str, Any]) -> model.PullRequest:
    merged = bool(data.get("merged"))
    state = (model.PullState.MERGED if merged else
             model.PullState.OPEN if data.get("state") == "open" else model.PullState.CLOSED)
    return model.PullRequest(
        number=int(data["number"]), url=str(data.get("html_url") or ""),
        title=str(data.get("title") or ""), body=str(data.get("body") or ""),
        head=str(data["head"].get("label") or data["head"]["ref"]),
        base=str(data["base"]["ref"]), head_sha=str(data["head"].get("sha") or ""),
        state=state,
        merge_commit_sha=str(data["merge_commit_sha"])
        if merged and data.get("merge_commit_sha") else None,
        mergeable=bool(data.get("mergeable")) and state is model.PullState.OPEN,
        mergeable_detail=None,
        labels=tuple(str(label["name"]) for label in data.get("labels") or []),
        author=_login(data.get("user")), closed_by=None,
        merged_by=_login(data.get("merged_by")))
