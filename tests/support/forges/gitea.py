"""A loopback stand-in for the Gitea/Forgejo API v1: pulls, issues, labels, statuses.

Modelled on Gitea's own handlers and converters (go-gitea/gitea
``routers/api/v1/repo/pull.go``, ``services/convert/pull.go``) and its swagger:

* ``GET /repos/{owner}/{repo}/pulls`` (``state`` open/closed/all, ``sort``, ``page``,
  ``limit``; ``Link`` and ``X-Total-Count``), no filter on the head branch; each pull
  request with ``head.label`` = the branch name, ``head.ref``, ``head.sha``.
* ``mergeable`` is a boolean, ``false`` while Gitea is checking the pull request (its
  ``Mergeable`` is false in the ``checking`` status), ``merged``, ``merge_commit_sha``,
  ``merged_by``, ``closed_at``.
* ``POST /pulls`` 201; 409 "pull request already exists for these targets"; 422 when
  head and base are the same. ``PATCH /pulls/{index}`` answers 201, as Gitea does.
* ``POST /pulls/{index}/merge`` (``Do``, ``MergeTitleField``, ``MergeMessageField``,
  ``head_commit_id``): 200 with no body; 404 when the pull request is closed
  (``ErrIsClosed``), 405 when merged already, still checking or not in a mergeable
  state ("Please try again later"), or when required statuses are not all successful;
  409 "head out of date" when ``head_commit_id`` is not the head; 405 for a merge style
  it does not know. Its ``rebase`` is a plain ``git rebase`` then a fast-forward.
* ``GET /pulls/{index}/reviews`` (``page``, ``limit``): ``PullReview`` objects
  (``modules/structs/pull_review.go``: ``id``, ``user``, ``state`` APPROVED, PENDING,
  COMMENT, REQUEST_CHANGES or REQUEST_REVIEW, ``commit_id``, ``stale`` once the head has
  moved past it, ``official``, ``dismissed``, ``submitted_at``).
* ``GET /commits/{ref}/status`` (combined; each status has ``status`` and ``context``),
  ``GET/POST /labels``, ``POST /issues/{index}/labels`` (label ids), comments.

Gitea itself sends no rate-limit headers; ``exhaust``/``throttle`` answer 429 with
``Retry-After`` as a reverse proxy in front of it would.
"""

from __future__ import annotations

from typing import Any

from tests.support.forges.model import BOT, Pull, Refused, Repo
from tests.support.forges.server import Request, Response, StandIn

PREFIX = "/api/v1"
_REPO = PREFIX + r"/repos/(?P<owner>[^/]+)/(?P<name>[^/]+)"
_PULL = _REPO + r"/pulls/(?P<n>\d+)"
_DO = {"merge": "merge", "squash": "squash", "rebase": "rebase-keep"}


class GiteaStandIn(StandIn):
    kind = "gitea"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route("GET", _REPO + r"/pulls", self.list_pulls)
        self.route("POST", _REPO + r"/pulls", self.create_pull)
        self.route("GET", _PULL, self.get_pull)
        self.route("PATCH", _PULL, self.edit_pull)
        self.route("GET", _PULL + r"/reviews", self.list_reviews)
        self.route("POST", _PULL + r"/merge", self.merge_pull)
        self.route("GET", _REPO + r"/commits/(?P<ref>[^/]+)/status", self.combined_status)
        self.route("GET", _REPO + r"/labels", self.list_labels)
        self.route("POST", _REPO + r"/labels", self.create_label)
        self.route("POST", _REPO + r"/issues/(?P<n>\d+)/labels", self.add_labels)
        self.route("POST", _REPO + r"/issues/(?P<n>\d+)/comments", self.add_comment)

    @property
    def api_url(self) -> str:
        return self.url + PREFIX

    def authorised(self, headers: Any) -> bool:
        return headers.get("Authorization") in (f"token {self.model.token}",
                                                f"Bearer {self.model.token}")

    def error(self, status: int, message: str) -> Response:
        if status == 404:
            message = "The target couldn't be found."
        elif status == 401:
            message = "user does not exist"
        return Response(status, {"message": message, "url": "https://gitea.test/api/swagger"})

    def rate_limited(self, *, secondary: int | None) -> Response:
        wait = secondary if secondary is not None else max(
            0, self.reset_at - int(self.model.clock()))
        return Response(429, {"message": "Too Many Requests"}, {"Retry-After": str(wait)})

    def _repo(self, request: Request) -> Repo:
        return self.find_repo(f"{request.params['owner']}/{request.params['name']}")

    def _json(self, repo: Repo, pull: Pull, *, read: bool) -> dict[str, Any]:
        mergeable = self.model.mergeable(repo, pull, read=read)
        owner = repo.full_name.split("/")[0]
        return {
            "id": 500 + pull.number, "number": pull.number,
            "url": f"https://gitea.test/{repo.full_name}/pulls/{pull.number}",
            "html_url": f"https://gitea.test/{repo.full_name}/pulls/{pull.number}",
            "user": {"login": pull.author}, "title": pull.title, "body": pull.body,
            "labels": [{"id": repo.labels.get(name, 0), "name": name} for name in pull.labels],
            "state": "open" if pull.state == "open" else "closed",
            "mergeable": bool(mergeable), "merged": pull.merged,
            "merged_at": pull.merged_at, "closed_at": pull.closed_at,
            "created_at": pull.created_at, "updated_at": pull.updated_at,
            "merge_commit_sha": pull.merge_commit_sha,
            "merged_by": {"login": pull.merged_by} if pull.merged_by else None,
            "head": {"label": pull.head, "ref": pull.head,
                     "sha": self.model.head_sha(repo, pull), "repo_id": 1},
            "base": {"label": pull.base, "ref": pull.base,
                     "sha": self.model.sha(repo, pull.base), "repo_id": 1},
            "merge_base": "", "allow_maintainer_edit": False,
            "head_repo_owner": owner,
        }

    def list_pulls(self, request: Request) -> Response:
        repo = self._repo(request)
        state = request.query.get("state", "open")
        pulls = [p for p in repo.pulls.values()
                 if state == "all" or (p.state == "open") == (state == "open")]
        pulls.sort(key=lambda p: (p.updated_at, p.number), reverse=True)
        return self.paginate(request, [self._json(repo, p, read=False) for p in pulls],
                             size_param="limit")

    def create_pull(self, request: Request) -> Response:
        repo, body = self._repo(request), request.body or {}
        head, base = body.get("head"), body.get("base")
        if head == base:
            return self.error(422, "Invalid PullRequest: There are no changes between the "
                                   "head and the base")
        if not head or not base or self.model.sha(repo, head) is None \
                or self.model.sha(repo, base) is None:
            return self.error(404, "")
        for pull in repo.pulls.values():
            if pull.state == "open" and pull.head == head and pull.base == base:
                return self.error(409, f"pull request already exists for these targets "
                                       f"[id: {500 + pull.number}, issue_id: {pull.number}, "
                                       f"head_branch: {head}, base_branch: {base}]")
        pull = self.model.open_pull(repo, title=body.get("title") or "", head=head, base=base,
                                    body=body.get("body") or "")
        return Response(201, self._json(repo, pull, read=False))

    def get_pull(self, request: Request) -> Response:
        repo = self._repo(request)
        return Response(200, self._json(repo, repo.pulls[int(request.params["n"])], read=True))

    def list_reviews(self, request: Request) -> Response:
        repo = self._repo(request)
        pull = repo.pulls[int(request.params["n"])]
        head = self.model.head_sha(repo, pull)
        words = {"CHANGES_REQUESTED": "REQUEST_CHANGES", "COMMENTED": "COMMENT"}
        items = [{"id": r.id, "user": {"login": r.user, "username": r.user},
                  "state": words.get(r.state, r.state), "body": "", "commit_id": r.commit_id,
                  "stale": r.commit_id != head, "official": True, "dismissed": r.dismissed,
                  "comments_count": 0, "submitted_at": r.submitted_at,
                  "updated_at": r.submitted_at}
                 for r in pull.reviews]
        return self.paginate(request, items, size_param="limit")

    def edit_pull(self, request: Request) -> Response:
        repo, body = self._repo(request), request.body or {}
        pull = repo.pulls[int(request.params["n"])]
        pull.title = body.get("title", pull.title)
        pull.body = body.get("body", pull.body)
        if body.get("state") == "closed" and pull.state == "open":
            self.model.close(repo, pull, by=BOT)
        pull.updated_at = self.model.now()
        return Response(201, self._json(repo, pull, read=False))

    def merge_pull(self, request: Request) -> Response:
        repo, body = self._repo(request), request.body or {}
        pull = repo.pulls[int(request.params["n"])]
        if pull.state == "closed":
            return self.error(404, "")
        if pull.merged:
            return Response(405, None)
        do = body.get("Do") or "merge"
        if do not in _DO:
            return self.error(405, f"{do} is not allowed an allowed merge style for this "
                                   "repository")
        title = (body.get("MergeTitleField") or "").strip() or \
            f"Merge pull request '{pull.title}' (#{pull.number})"
        extra = (body.get("MergeMessageField") or "").strip()
        message = f"{title}\n\n{extra}" if extra else title
        try:
            self.model.merge(repo, pull, head_sha=body.get("head_commit_id"), method=_DO[do],
                             message=message, refuse_while_computing=True)
        except Refused as refused:
            if refused.reason == "stale":
                return self.error(409, "head out of date")
            if refused.reason == "checks":
                return self.error(405, "Not all required status checks successful")
            return self.error(405, "Please try again later")
        return Response(200, None)

    def combined_status(self, request: Request) -> Response:
        repo, sha = self._repo(request), request.params["ref"]
        statuses = [c for c in repo.checks if c.sha == sha and c.kind == "status"]
        states = {c.state for c in statuses}
        state = ("" if not statuses else "failure" if states & {"failure", "error"} else
                 "pending" if "pending" in states else "success")
        return Response(200, {"state": state, "sha": sha, "total_count": len(statuses),
                              "statuses": [{"id": c.id, "status": c.state, "context": c.name,
                                            "description": "", "target_url": ""}
                                           for c in statuses]})

    def list_labels(self, request: Request) -> Response:
        repo = self._repo(request)
        labels = [{"id": ident, "name": name, "color": "d73a4a"}
                  for name, ident in sorted(repo.labels.items(), key=lambda kv: kv[1])]
        return self.paginate(request, labels, size_param="limit")

    def create_label(self, request: Request) -> Response:
        repo, body = self._repo(request), request.body or {}
        name = str(body.get("name") or "")
        if not name or name in repo.labels:
            return self.error(422, "label name is empty or exists already")
        repo.next_id += 1
        repo.labels[name] = repo.next_id
        return Response(201, {"id": repo.next_id, "name": name, "color": body.get("color")})

    def add_labels(self, request: Request) -> Response:
        repo = self._repo(request)
        pull = repo.pulls[int(request.params["n"])]
        by_id = {ident: name for name, ident in repo.labels.items()}
        for ident in (request.body or {}).get("labels") or []:
            name = by_id.get(ident) if isinstance(ident, int) else str(ident)
            if name is None or name not in repo.labels:
                return self.error(422, f"label {ident} does not exist")
            if name not in pull.labels:
                pull.labels.append(name)
        return Response(200, [{"id": repo.labels[n], "name": n} for n in pull.labels])

    def add_comment(self, request: Request) -> Response:
        pull = self._repo(request).pulls[int(request.params["n"])]
        pull.comments.append(str((request.body or {}).get("body")))
        return Response(201, {"id": len(pull.comments), "body": pull.comments[-1],
                              "user": {"login": BOT}})
