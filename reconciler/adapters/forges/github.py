"""GitHub (and GitHub Enterprise Server) pull requests through the REST API v3.

One of the ``Forge`` adapters (see ``base.py``, imported here as ``model``) the
pull-request writer uses. Modelled on GitHub's REST reference, API version 2022-11-28:

* pulls: https://docs.github.com/en/rest/pulls/pulls (list with ``head=owner:branch``,
  create, update, get; ``mergeable`` is ``null`` while GitHub computes it in the
  background after a push; ``merge_commit_sha`` before the merge is a *test* merge, so it
  is only reported once ``merged`` is true). Merge: ``PUT /pulls/{n}/merge`` with
  ``commit_title``, ``commit_message``, ``merge_method``, ``sha``: 405 "Pull Request is not
  mergeable", 409 "Head branch was modified. Review and try the merge again.", 422 on
  validation errors.
* commit statuses: https://docs.github.com/en/rest/commits/statuses (combined status,
  ``state`` is ``pending`` even with no status at all, so the items are judged instead);
  check runs: https://docs.github.com/en/rest/checks/runs (``/commits/{ref}/check-runs``,
  ``status`` and ``conclusion``). Both count: a repository may use either or both.
* issues for comments, labels and ``closed_by``: https://docs.github.com/en/rest/issues
* rate limits: https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
  (403/429 with ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``; secondary limits
  with ``retry-after``).

The token goes in ``Authorization: Bearer`` (fine-grained and classic tokens, app tokens).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import httpx2

from reconciler.adapters.forges import base as model
from reconciler.adapters.forges import transport
from reconciler.errors import (
    ForgeAuthError,
    ForgeConflict,
    ForgeError,
    ForgeInvalid,
    ForgeNotFound,
)

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
LIMITS = transport.RateLimitHeaders(remaining="x-ratelimit-remaining", reset="x-ratelimit-reset")

_FAILED_CONCLUSIONS = frozenset({"failure", "cancelled", "timed_out", "action_required",
                                 "stale", "startup_failure"})
_PASSED_CONCLUSIONS = frozenset({"success", "neutral", "skipped"})
_STATUS_VERDICT = {"success": model.Verdict.PASSED, "pending": model.Verdict.PENDING,
                   "failure": model.Verdict.FAILED, "error": model.Verdict.FAILED}


class GitHub:
    """``model.Forge`` for one repository on GitHub."""

    kind = "github"

    def __init__(self, *, repo: str, token_file: Path | str, api_url: str = DEFAULT_API_URL,
                 timeout: float = 30.0, transport_: httpx2.BaseTransport | None = None,
                 clock: Callable[[], float] | None = None,
                 ca_bundle: Path | None = None) -> None:
        self.owner, _, self.name = repo.partition("/")
        self._repo = f"/repos/{self.owner}/{self.name}"
        self.api = transport.Api(
            kind=self.kind, base_url=api_url, token_file=transport.TokenFile(token_file),
            auth_header=lambda token: ("Authorization", f"Bearer {token}"), limits=LIMITS,
            headers={"Accept": "application/vnd.github+json",
                     "X-GitHub-Api-Version": "2022-11-28"},
            timeout=timeout, transport=transport_, clock=clock, ca_bundle=ca_bundle)

    def __repr__(self) -> str:
        return f"GitHub(repo='{self.owner}/{self.name}', api={self.api!r})"

    @transport.parsed
    def find_open(self, *, head: str, base: str) -> model.PullRequest | None:
        for item in self._list(head=head, base_branch=base, state="open"):
            return self.get(number=int(item["number"]))
        return None

    @transport.parsed
    def find_last_closed(self, *, head: str, base: str) -> model.PullRequest | None:
        closed = [item for item in self._list(head=head, base_branch=base, state="closed")
                  if item.get("closed_at")]
        if not closed:
            return None
        latest = max(closed, key=lambda item: (str(item["closed_at"]), int(item["number"])))
        return self.get(number=int(latest["number"]))

    @transport.parsed
    def get(self, *, number: int) -> model.PullRequest:
        data = self.api.call("GET", f"{self._repo}/pulls/{number}")
        closed_by = None
        if data.get("state") == "closed" and not data.get("merged"):
            try:
                issue = self.api.call("GET", f"{self._repo}/issues/{number}")
                closed_by = _login(issue.get("closed_by"))
            except (ForgeAuthError, ForgeNotFound):
                # A token without "Issues: read" cannot say who closed it; the decline
                # itself is still known, so that is no reason to fail the read.
                log.info("github: cannot read who closed pull request #%d (the token "
                         "lacks Issues: read)", number)
        return _pull(data, closed_by=closed_by)

    @transport.parsed
    def open(self, *, title: str, body: str, head: str, base: str) -> model.PullRequest:
        try:
            data = self.api.call("POST", f"{self._repo}/pulls",
                                 json={"title": title, "body": body, "head": head,
                                       "base": base})
        except ForgeInvalid as err:
            # GitHub answers a duplicate with 422 "A pull request already exists for ...".
            if "already exists" in str(err):
                raise ForgeConflict(str(err), status=422) from err
            raise
        return _pull(data, closed_by=None)

    @transport.parsed
    def update(self, *, number: int, title: str | None = None,
               body: str | None = None) -> model.PullRequest:
        changes = {key: value for key, value in (("title", title), ("body", body))
                   if value is not None}
        return _pull(self.api.call("PATCH", f"{self._repo}/pulls/{number}", json=changes),
                     closed_by=None)

    @transport.parsed
    def checks(self, *, number: int, sha: str,
               required: Collection[str] = ()) -> model.Checks:
        items: list[model.Check] = []
        combined = self.api.call("GET", f"{self._repo}/commits/{sha}/status",
                                 params={"per_page": 100})
        for status in combined.get("statuses") or []:
            state = str(status.get("state"))
            items.append(model.Check(name=str(status.get("context")), kind="status",
                                    verdict=_STATUS_VERDICT.get(state, model.Verdict.PENDING),
                                    detail=state))
        for run in self.api.pages(f"{self._repo}/commits/{sha}/check-runs",
                                  params={"per_page": 100}, key="check_runs"):
            items.append(_check_run(run))
        return model.summarise(sha, items, required)

    @transport.parsed
    def approvals(self, *, number: int, head_sha: str) -> tuple[str, ...]:
        # Chronological (docs: "List reviews for a pull request").
        return model.approvers((model.Review(_login(r.get("user")), str(r.get("state")),
                                             r.get("commit_id"))
                                for r in self.api.pages(f"{self._repo}/pulls/{number}/reviews",
                                                        params={"per_page": 100})),
                               head_sha=head_sha,
                               votes=("APPROVED", "CHANGES_REQUESTED", "DISMISSED"))

    @transport.parsed
    def merge(self, *, number: int, head_sha: str, title: str, message: str,
              method: model.MergeMethod) -> model.Merged:
        data = self.api.call("PUT", f"{self._repo}/pulls/{number}/merge",
                             json={"commit_title": title, "commit_message": message,
                                   "sha": head_sha, "merge_method": method.value})
        if not isinstance(data, dict) or not data.get("sha"):
            raise ForgeError(f"github merged pull request #{number} but named no commit")
        return model.Merged(sha=str(data["sha"]), method=method)

    @transport.parsed
    def comment(self, *, number: int, body: str) -> None:
        self.api.call("POST", f"{self._repo}/issues/{number}/comments", json={"body": body})

    @transport.parsed
    def add_label(self, *, number: int, label: str) -> None:
        self.api.call("POST", f"{self._repo}/issues/{number}/labels", json={"labels": [label]})

    @transport.parsed
    def close(self, *, number: int) -> model.PullRequest:
        self.api.call("PATCH", f"{self._repo}/pulls/{number}", json={"state": "closed"})
        return self.get(number=number)

    def _list(self, *, head: str, base_branch: str, state: str) -> list[dict[str, Any]]:
        # ``head`` must be qualified with the owner, or GitHub ignores the filter.
        return list(self.api.pages(f"{self._repo}/pulls", params={
            "state": state, "head": f"{self.owner}:{head}", "base": base_branch,
            "sort": "updated", "direction": "desc", "per_page": 100}))


def _login(user: Any) -> str | None:
    return str(user["login"]) if isinstance(user, dict) and user.get("login") else None


def _pull(data: dict[str, Any], *, closed_by: str | None) -> model.PullRequest:
    merged = bool(data.get("merged")) or bool(data.get("merged_at"))
    state = (model.PullState.MERGED if merged else
             model.PullState.OPEN if data.get("state") == "open" else model.PullState.CLOSED)
    mergeable = data.get("mergeable")
    return model.PullRequest(
        number=int(data["number"]), url=str(data.get("html_url") or ""),
        title=str(data.get("title") or ""), body=str(data.get("body") or ""),
        head=str(data["head"]["ref"]), base=str(data["base"]["ref"]),
        head_sha=str(data["head"]["sha"]), state=state,
        merge_commit_sha=str(data["merge_commit_sha"]) if merged else None,
        mergeable=(None if mergeable is None else bool(mergeable))
        if state is model.PullState.OPEN else False,
        mergeable_detail=data.get("mergeable_state"),
        labels=tuple(str(label["name"]) for label in data.get("labels") or []),
        author=_login(data.get("user")), closed_by=closed_by,
        merged_by=_login(data.get("merged_by")))


def _check_run(run: dict[str, Any]) -> model.Check:
    status = str(run.get("status"))
    conclusion = run.get("conclusion")
    if status != "completed" or conclusion is None:
        verdict, detail = model.Verdict.PENDING, status
    elif conclusion in _PASSED_CONCLUSIONS:
        verdict, detail = model.Verdict.PASSED, str(conclusion)
    elif conclusion in _FAILED_CONCLUSIONS:
        verdict, detail = model.Verdict.FAILED, str(conclusion)
    else:
        verdict, detail = model.Verdict.PENDING, str(conclusion)
    return model.Check(name=str(run.get("name")), kind="check-run", verdict=verdict,
                      detail=detail)
