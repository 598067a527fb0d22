"""A loopback stand-in for GitHub's REST API v3: pulls, issues, statuses, check runs.

Modelled on the REST reference (API version 2022-11-28) and the shapes it documents:

* https://docs.github.com/en/rest/pulls/pulls: the list (``state``, ``head=owner:branch``,
  ``base``, ``sort``, ``direction``, ``per_page``/``page`` with ``Link``) carries no
  ``mergeable``; the single read does, ``null`` while it is computed after a push;
  ``merge_commit_sha`` is a test merge until merged. Create answers 201, or 422
  "Validation Failed" with "A pull request already exists for owner:branch.".
  Merge (``PUT .../merge``): 200 ``{sha, merged, message}``, 405 "Pull Request is not
  mergeable" (also for a failing required check: "Required status check ... is
  expected."), 409 "Head branch was modified. Review and try the merge again.", 422 for
  an unknown ``merge_method``. Rebase merges always write new commits.
* https://docs.github.com/en/rest/commits/statuses (combined ``state`` is ``pending``
  with no status at all) and https://docs.github.com/en/rest/checks/runs (an object
  ``{total_count, check_runs}`` per page).
* https://docs.github.com/en/rest/issues (comments, labels, ``closed_by``).
* https://docs.github.com/en/rest/pulls/reviews: "List reviews for a pull request", in
  chronological order, paginated (``per_page`` up to 100); each ``{id, user: {login},
  body, state, commit_id, submitted_at, html_url, pull_request_url, author_association}``
  with ``state`` APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED (or PENDING for the
  token's own unsubmitted review); an approval stays on the commit it was given at.
* https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api:
  ``x-ratelimit-*`` on every answer; 403 with ``x-ratelimit-remaining: 0`` when the
  primary limit is used up, 403 with ``retry-after`` for a secondary limit.
* 401 "Bad credentials" for a wrong token, 404 "Not Found" for an unknown repository.
"""

from __future__ import annotations

import hashlib
from typing import Any

from tests.support.forges.model import BOT, Pull, Refused, Repo
from tests.support.forges.server import Request, Response, StandIn

DOCS = "https://docs.github.com/rest"
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_METHODS = {"merge": "merge", "squash": "squash", "rebase": "rebase"}


class GitHubStandIn(StandIn):
    kind = "github"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route("GET", _REPO + r"/pulls", self.list_pulls)
        self.route("POST", _REPO + r"/pulls", self.create_pull)
        self.route("GET", _REPO + r"/pulls/(?P<n>\d+)", self.get_pull)
        self.route("PATCH", _REPO + r"/pulls/(?P<n>\d+)", self.edit_pull)
        self.route("PUT", _REPO + r"/pulls/(?P<n>\d+)/merge", self.merge_pull)
        self.route("GET", _REPO + r"/pulls/(?P<n>\d+)/reviews", self.list_reviews)
        self.route("GET", _REPO + r"/issues/(?P<n>\d+)", self.get_issue)
        self.route("POST", _REPO + r"/issues/(?P<n>\d+)/comments", self.add_comment)
        self.route("POST", _REPO + r"/issues/(?P<n>\d+)/labels", self.add_labels)
        self.route("GET", _REPO + r"/commits/(?P<ref>[^/]+)/status", self.combined_status)
        self.route("GET", _REPO + r"/commits/(?P<ref>[^/]+)/check-runs", self.check_runs)

    def authorised(self, headers: Any) -> bool:
        return headers.get("Authorization") in (f"Bearer {self.model.token}",
                                                f"token {self.model.token}")

    def limit_headers(self) -> dict[str, str]:
        return {"x-ratelimit-limit": str(self.rate_limit),
                "x-ratelimit-remaining": str(max(self.remaining, 0)),
                "x-ratelimit-reset": str(self.reset_at),
                "x-ratelimit-used": str(self.rate_limit - max(self.remaining, 0)),
                "x-ratelimit-resource": "core"}

    def error(self, status: int, message: str, **extra: Any) -> Response:
        return Response(status, {"message": message, "documentation_url": DOCS,
                                 "status": str(status), **extra})

    def rate_limited(self, *, secondary: int | None) -> Response:
        if secondary is not None:
            response = self.error(403, "You have exceeded a secondary rate limit. Please "
                                       "wait a few minutes before you try again.")
            response.headers["retry-after"] = str(secondary)
            return response
        return self.error(403, "API rate limit exceeded for user ID 1.")

    def _repo(self, request: Request) -> Repo:
        return self.find_repo(f"{request.params['owner']}/{request.params['name']}")

    def _json(self, repo: Repo, pull: Pull, *, full: bool, read: bool = True) -> dict[str, Any]:
        head_sha = self.model.head_sha(repo, pull)
        data: dict[str, Any] = {
            "url": f"{self.url}/repos/{repo.full_name}/pulls/{pull.number}",
            "html_url": f"https://github.test/{repo.full_name}/pull/{pull.number}",
            "number": pull.number, "state": "open" if pull.state == "open" else "closed",
            "title": pull.title, "body": pull.body, "user": {"login": pull.author},
            "labels": [{"name": label} for label in pull.labels],
            "created_at": pull.created_at, "updated_at": pull.updated_at,
            "closed_at": pull.closed_at, "merged_at": pull.merged_at,
            "merge_commit_sha": pull.merge_commit_sha or _test_merge(pull, head_sha),
            "head": {"label": f"{repo.full_name.split('/')[0]}:{pull.head}",
                     "ref": pull.head, "sha": head_sha},
            "base": {"label": f"{repo.full_name.split('/')[0]}:{pull.base}",
                     "ref": pull.base, "sha": self.model.sha(repo, pull.base)},
        }
        if full:
            mergeable = self.model.mergeable(repo, pull, read=read)
            data.update(merged=pull.merged, mergeable=mergeable,
                        merged_by={"login": pull.merged_by} if pull.merged_by else None,
                        mergeable_state=_mergeable_state(self, repo, pull, mergeable, head_sha),
                        comments=len(pull.comments))
        return data

    def list_pulls(self, request: Request) -> Response:
        repo = self._repo(request)
        state = request.query.get("state", "open")
        head = request.query.get("head")
        pulls = [pull for pull in repo.pulls.values()
                 if state == "all" or (pull.state == "open") == (state == "open")]
        if head:
            owner, _, branch = head.partition(":")
            pulls = [pull for pull in pulls
                     if owner == repo.full_name.split("/")[0] and pull.head == branch]
        if request.query.get("base"):
            pulls = [pull for pull in pulls if pull.base == request.query["base"]]
        key = "updated_at" if request.query.get("sort") == "updated" else "created_at"
        pulls.sort(key=lambda pull: (getattr(pull, key), pull.number),
                   reverse=request.query.get("direction", "desc") == "desc")
        return self.paginate(request, [self._json(repo, pull, full=False) for pull in pulls],
                             size_param="per_page")

    def create_pull(self, request: Request) -> Response:
        repo, body = self._repo(request), request.body or {}
        if not all(body.get(key) for key in ("title", "head", "base")):
            return self.error(422, "Validation Failed", errors=[{"code": "missing_field"}])
        for field_ in ("head", "base"):
            if self.model.sha(repo, body[field_]) is None:
                return self.error(422, "Validation Failed", errors=[
                    {"resource": "PullRequest", "field": field_, "code": "invalid"}])
        if any(p.state == "open" and p.head == body["head"] and p.base == body["base"]
               for p in repo.pulls.values()):
            owner = repo.full_name.split("/")[0]
            return self.error(422, "Validation Failed", errors=[{
                "resource": "PullRequest", "code": "custom",
                "message": f"A pull request already exists for {owner}:{body['head']}."}])
        pull = self.model.open_pull(repo, title=body["title"], body=body.get("body") or "",
                                    head=body["head"], base=body["base"])
        return Response(201, self._json(repo, pull, full=True, read=False))

    def get_pull(self, request: Request) -> Response:
        repo = self._repo(request)
        return Response(200, self._json(repo, repo.pulls[int(request.params["n"])], full=True))

    def edit_pull(self, request: Request) -> Response:
        repo, body = self._repo(request), request.body or {}
        pull = repo.pulls[int(request.params["n"])]
        pull.title = body.get("title", pull.title)
        pull.body = body.get("body", pull.body)
        if body.get("state") == "closed" and pull.state == "open":
            self.model.close(repo, pull, by=BOT)
        pull.updated_at = self.model.now()
        return Response(200, self._json(repo, pull, full=True))

    def merge_pull(self, request: Request) -> Response:
        repo, body = self._repo(request), request.body or {}
        pull = repo.pulls[int(request.params["n"])]
        method = body.get("merge_method", "merge")
        if method not in _METHODS:
            return self.error(422, "Validation Failed", errors=[
                {"field": "merge_method", "code": "invalid"}])
        title = body.get("commit_title") or f"Merge pull request #{pull.number}"
        message = f"{title}\n\n{body.get('commit_message') or ''}".strip()
        try:
            sha = self.model.merge(repo, pull, head_sha=body.get("sha"), method=method,
                                   message=message, refuse_while_computing=False)
        except Refused as refused:
            if refused.reason == "stale":
                return self.error(409, "Head branch was modified. Review and try the "
                                       "merge again.")
            if refused.reason == "checks":
                return self.error(405, f'Required status check "{refused.detail}" is '
                                       "expected.")
            return self.error(405, "Pull Request is not mergeable")
        return Response(200, {"sha": sha, "merged": True,
                              "message": "Pull Request successfully merged"})

    def list_reviews(self, request: Request) -> Response:
        repo = self._repo(request)
        pull = repo.pulls[int(request.params["n"])]
        items = [{"id": r.id, "user": {"login": r.user}, "body": "",
                  "state": "DISMISSED" if r.dismissed else r.state, "commit_id": r.commit_id,
                  "submitted_at": r.submitted_at, "author_association": "MEMBER",
                  "html_url": f"https://github.test/{repo.full_name}/pull/{pull.number}"
                              f"#pullrequestreview-{r.id}",
                  "pull_request_url": f"{self.url}/repos/{repo.full_name}/pulls/{pull.number}"}
                 for r in pull.reviews]
        return self.paginate(request, items, size_param="per_page")

    def get_issue(self, request: Request) -> Response:
        repo = self._repo(request)
        pull = repo.pulls[int(request.params["n"])]
        return Response(200, {"number": pull.number, "title": pull.title,
                              "state": "open" if pull.state == "open" else "closed",
                              "pull_request": {"url": f"{self.url}/repos/{repo.full_name}"
                                                      f"/pulls/{pull.number}"},
                              "closed_by": {"login": pull.closed_by or pull.merged_by}
                              if pull.state != "open" else None})

    def add_comment(self, request: Request) -> Response:
        pull = self._repo(request).pulls[int(request.params["n"])]
        pull.comments.append(str((request.body or {}).get("body")))
        return Response(201, {"id": len(pull.comments), "body": pull.comments[-1],
                              "user": {"login": BOT}})

    def add_labels(self, request: Request) -> Response:
        pull = self._repo(request).pulls[int(request.params["n"])]
        for label in (request.body or {}).get("labels") or []:
            if label not in pull.labels:
                pull.labels.append(str(label))
        return Response(200, [{"name": label} for label in pull.labels])

    def combined_status(self, request: Request) -> Response:
        repo, sha = self._repo(request), request.params["ref"]
        statuses = [c for c in repo.checks if c.sha == sha and c.kind == "status"]
        states = {c.state for c in statuses}
        state = ("failure" if states & {"failure", "error"} else
                 "pending" if "pending" in states or not statuses else "success")
        return Response(200, {"state": state, "sha": sha, "total_count": len(statuses),
                              "statuses": [{"id": c.id, "context": c.name, "state": c.state,
                                            "description": None} for c in statuses]})

    def check_runs(self, request: Request) -> Response:
        repo, sha = self._repo(request), request.params["ref"]
        runs = [{"id": c.id, "name": c.name, "head_sha": c.sha, "status": c.state,
                 "conclusion": c.conclusion}
                for c in repo.checks if c.sha == sha and c.kind == "check-run"]
        page = self.paginate(request, runs, size_param="per_page")
        page.body = {"total_count": len(runs), "check_runs": page.body}
        return page


def _test_merge(pull: Pull, head_sha: str) -> str:
    """What GitHub shows as ``merge_commit_sha`` before a merge: its test merge commit."""
    return hashlib.sha1(f"test-merge {pull.number} {head_sha}".encode()).hexdigest()


def _mergeable_state(stand_in: GitHubStandIn, repo: Repo, pull: Pull,
                     mergeable: bool | None, head_sha: str) -> str:
    if pull.state != "open" or mergeable is None:
        return "unknown"
    if not mergeable:
        return "dirty"
    return "clean" if stand_in.model.checks_passed(repo, head_sha) else "blocked"
