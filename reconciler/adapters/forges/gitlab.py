"""GitLab merge requests through the REST API v4 (gitlab.com and self-managed).

One of the ``Forge`` adapters (see ``base.py``, imported here as ``model``) the
pull-request writer uses. Modelled on GitLab's API documentation:

* merge requests: https://docs.gitlab.com/api/merge_requests/ (list with
  ``source_branch``/``target_branch``/``state``, create (409 when one is already open for
  the source branch), update with ``title``/``description``/``state_event``/``add_labels``,
  get; ``detailed_merge_status`` is ``unchecked``/``checking``/``preparing`` while GitLab
  computes mergeability, ``mergeable`` once it can be merged, a reason word otherwise;
  the older ``merge_status`` is the fallback; the order of the words is GitLab's
  ``MergeRequests::Mergeability::DetailedMergeStatusService``: preparing, checking,
  unchecked, then ``mergeable`` or the first failing check). Merge: ``PUT .../merge`` with ``sha``
  (409 when the source branch moved), ``squash``, ``merge_commit_message`` and
  ``squash_commit_message``; 405 when it cannot be merged now (draft, closed, pipeline
  pending or failed), 406 on conflicts (some versions answer 405 for that too,
  gitlab-org/gitlab#364102), 422 when the merge itself failed.
* merge request pipelines: ``GET .../merge_requests/:iid/pipelines`` (newest first,
  each with ``sha`` and ``status``), https://docs.gitlab.com/api/merge_requests/#list-merge-request-pipelines
* notes: https://docs.gitlab.com/api/notes/#create-new-merge-request-note
* rate limits: https://docs.gitlab.com/administration/settings/user_and_ip_rate_limits/
  (``RateLimit-Remaining``, ``RateLimit-Reset`` epoch seconds, ``Retry-After`` on 429).
* pagination: https://docs.gitlab.com/api/rest/#pagination (``X-Next-Page``, ``Link``).

GitLab picks the merge method per project, not per request (merge commit, merge commit
with semi-linear history, or fast-forward), and squashing per request. So ``REBASE``
needs a fast-forward project and ``MERGE`` a merge-commit one: asking for the other is a
``ForgeInvalid`` naming the project setting, rather than a merge of a shape nobody asked
for. ``SQUASH`` works on both (on a merge-commit project GitLab adds a merge commit
after the squash commit; both get the given message). The token goes in ``PRIVATE-TOKEN``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2

from reconciler.adapters.forges import base as model
from reconciler.adapters.forges import transport
from reconciler.errors import ForgeConflict, ForgeInvalid

DEFAULT_API_URL = "https://gitlab.com/api/v4"
LIMITS = transport.RateLimitHeaders(remaining="ratelimit-remaining", reset="ratelimit-reset")

_COMPUTING = frozenset({"unchecked", "checking", "preparing", "approvals_syncing",
                        "cannot_be_merged_recheck", "cannot_be_merged_rechecking"})
_PIPELINE = {"success": model.Verdict.PASSED, "skipped": model.Verdict.PASSED,
             "failed": model.Verdict.FAILED, "canceled": model.Verdict.FAILED}
_METHODS_FOR = {"merge": {model.MergeMethod.MERGE, model.MergeMethod.SQUASH},
                "rebase_merge": {model.MergeMethod.MERGE, model.MergeMethod.SQUASH},
                "ff": {model.MergeMethod.REBASE, model.MergeMethod.SQUASH}}


class GitLab:
    """``base.Forge`` for one GitLab project (``group/subgroup/name``)."""

    kind = "gitlab"

    def __init__(self, *, repo: str, token_file: Path | str, api_url: str = DEFAULT_API_URL,
                 timeout: float = 30.0, transport_: httpx2.BaseTransport | None = None,
                 clock: Callable[[], float] | None = None,
                 ca_bundle: Path | None = None) -> None:
        self.repo = repo
        self._project = f"/projects/{quote(repo, safe='')}"
        self._merge_method: str | None = None
        self.api = transport.Api(
            kind=self.kind, base_url=api_url, token_file=transport.TokenFile(token_file),
            auth_header=lambda token: ("PRIVATE-TOKEN", token), limits=LIMITS,
            timeout=timeout, transport=transport_, clock=clock, ca_bundle=ca_bundle)

    def __repr__(self) -> str:
        return f"GitLab(repo={self.repo!r}, api={self.api!r})"

    @transport.parsed
    def find_open(self, *, head: str, base: str) -> model.PullRequest | None:
        for item in self._list(head=head, target=base, state="opened"):
            return self.get(number=int(item["iid"]))
        return None

    @transport.parsed
    def find_last_closed(self, *, head: str, base: str) -> model.PullRequest | None:
        ended = [item for item in self._list(head=head, target=base, state="all")
                 if item.get("state") in ("closed", "merged")]
        if not ended:
            return None
        latest = max(ended, key=lambda item: (
            str(item.get("merged_at") or item.get("closed_at") or item.get("updated_at")),
            int(item["iid"])))
        return self.get(number=int(latest["iid"]))

    @transport.parsed
    def get(self, *, number: int) -> model.PullRequest:
        return _pull(self.api.call("GET", f"{self._project}/merge_requests/{number}"))

    @transport.parsed
    def open(self, *, title: str, body: str, head: str, base: str) -> model.PullRequest:
        return _pull(self.api.call("POST", f"{self._project}/merge_requests", json={
            "source_branch": head, "target_branch": base, "title": title,
            "description": body}))

    @transport.parsed
    def update(self, *, number: int, title: str | None = None,
               body: str | None = None) -> model.PullRequest:
        changes = {key: value for key, value in (("title", title), ("description", body))
                   if value is not None}
        return _pull(self.api.call("PUT", f"{self._project}/merge_requests/{number}",
                                   json=changes))

    @transport.parsed
    def checks(self, *, number: int, sha: str,
               required: Collection[str] = ()) -> model.Checks:
        pipelines = list(self.api.pages(f"{self._project}/merge_requests/{number}/pipelines",
                                        params={"per_page": 100}))
        mine = [pipeline for pipeline in pipelines if pipeline.get("sha") == sha]
        items: list[model.Check] = []
        if mine:
            newest = max(mine, key=lambda pipeline: int(pipeline.get("id") or 0))
            status = str(newest.get("status"))
            items.append(model.Check(name="pipeline", kind="pipeline", detail=status,
                                     verdict=_PIPELINE.get(status, model.Verdict.PENDING)))
        elif pipelines:
            # Pipelines ran for earlier heads, none yet for this one: it is being created.
            items.append(model.Check(name="pipeline", kind="pipeline", detail="not created",
                                     verdict=model.Verdict.PENDING))
        return model.summarise(sha, items, required)

    @transport.parsed
    def approvals(self, *, number: int, head_sha: str) -> tuple[str, ...]:
        # "Get approval state" (merge_request_approvals API): approved_by [{user}].
        data = self.api.call("GET", f"{self._project}/merge_requests/{number}/approvals")
        return tuple(sorted(name for entry in data.get("approved_by") or []
                            if isinstance(entry, dict)
                            and (name := _user(entry.get("user")))))

    @transport.parsed
    def merge(self, *, number: int, head_sha: str, title: str, message: str,
              method: model.MergeMethod) -> model.Merged:
        project_method = self._project_merge_method()
        if method not in _METHODS_FOR.get(project_method, set(model.MergeMethod)):
            raise ForgeInvalid(
                f"gitlab project {self.repo} merges with merge_method={project_method}, "
                f"which cannot {method.value}: choose the merge method in the project's "
                "settings (Merge requests > Merge method) or another --merge-method")
        full = f"{title}\n\n{message}".strip()
        data = self.api.call(
            "PUT", f"{self._project}/merge_requests/{number}/merge",
            json={"sha": head_sha, "squash": method is model.MergeMethod.SQUASH,
                  "merge_commit_message": full, "squash_commit_message": full,
                  "should_remove_source_branch": False},
            statuses={422: ForgeConflict})
        pull = _pull(data)
        if pull.merge_commit_sha is None:
            raise ForgeConflict(f"gitlab merge request !{number} was accepted but is "
                                f"{data.get('state')!s}, not merged")
        return model.Merged(sha=pull.merge_commit_sha, method=method)

    @transport.parsed
    def comment(self, *, number: int, body: str) -> None:
        self.api.call("POST", f"{self._project}/merge_requests/{number}/notes",
                      json={"body": body})

    @transport.parsed
    def add_label(self, *, number: int, label: str) -> None:
        self.api.call("PUT", f"{self._project}/merge_requests/{number}",
                      json={"add_labels": label})

    @transport.parsed
    def close(self, *, number: int) -> model.PullRequest:
        return _pull(self.api.call("PUT", f"{self._project}/merge_requests/{number}",
                                   json={"state_event": "close"}))

    def _project_merge_method(self) -> str:
        # A project setting that changes rarely; read once per adapter.
        if self._merge_method is None:
            project = self.api.call("GET", self._project)
            self._merge_method = str(project.get("merge_method") or "merge")
        return self._merge_method

    def _list(self, *, head: str, target: str, state: str) -> list[dict[str, Any]]:
        return list(self.api.pages(f"{self._project}/merge_requests", params={
            "state": state, "source_branch": head, "target_branch": target,
            "order_by": "updated_at", "sort": "desc", "per_page": 100}))


def _user(user: Any) -> str | None:
    return str(user["username"]) if isinstance(user, dict) and user.get("username") else None


def _mergeable(data: dict[str, Any]) -> bool | None:
    detailed = data.get("detailed_merge_status")
    if detailed is not None:
        return None if detailed in _COMPUTING else detailed == "mergeable"
    status = data.get("merge_status")
    return None if status in _COMPUTING or status is None else status == "can_be_merged"


def _pull(data: dict[str, Any]) -> model.PullRequest:
    state = {"opened": model.PullState.OPEN, "merged": model.PullState.MERGED}.get(
        str(data.get("state")), model.PullState.CLOSED)
    merged_sha = None
    if state is model.PullState.MERGED:
        # Fast-forward without squash leaves both empty: the head itself is on the base.
        merged_sha = str(data.get("merge_commit_sha") or data.get("squash_commit_sha")
                         or data["sha"])
    return model.PullRequest(
        number=int(data["iid"]), url=str(data.get("web_url") or ""),
        title=str(data.get("title") or ""), body=str(data.get("description") or ""),
        head=str(data["source_branch"]), base=str(data["target_branch"]),
        head_sha=str(data.get("sha") or ""), state=state, merge_commit_sha=merged_sha,
        mergeable=_mergeable(data) if state is model.PullState.OPEN else False,
        mergeable_detail=data.get("detailed_merge_status") or data.get("merge_status"),
        labels=tuple(str(label) for label in data.get("labels") or []),
        author=_user(data.get("author")),
        closed_by=_user(data.get("closed_by")) if state is model.PullState.CLOSED else None,
        merged_by=_user(data.get("merge_user") or data.get("merged_by")))
