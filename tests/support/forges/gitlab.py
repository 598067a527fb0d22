"""A loopback stand-in for GitLab's REST API v4: projects, merge requests, pipelines, notes.

Modelled on https://docs.gitlab.com/api/merge_requests/ and the pages it links:

* list (``state`` opened/closed/merged/all, ``source_branch``, ``target_branch``,
  ``order_by``, ``sort``, ``per_page``/``page``; ``X-Page``, ``X-Next-Page``, ``X-Total``,
  ``X-Total-Pages`` and ``Link``), create (201; 409 "Another open merge request already
  exists for this source branch"), update (``title``, ``description``, ``state_event``,
  ``add_labels``), single read (``merge_status`` / ``detailed_merge_status`` ``checking``
  for the first read after a push, then ``can_be_merged``/``mergeable`` or
  ``cannot_be_merged``/``conflict``; ``sha``, ``merge_commit_sha``, ``squash_commit_sha``,
  ``head_pipeline``, ``closed_by``, ``merge_user``).
* ``PUT .../merge`` (``sha``, ``squash``, ``merge_commit_message``, ``squash_commit_message``):
  200 with the merged merge request; 405 "Method Not Allowed" when it cannot be merged
  now (closed, still checking, pipeline required and not green, marked unmergeable);
  406 "Branch cannot be merged" on conflicts or when a fast-forward needs a rebase;
  409 "SHA does not match HEAD of source branch". The project's ``merge_method``
  (``merge``, ``rebase_merge``, ``ff``) decides the shape, ``squash`` adds a squash commit.
* ``GET .../merge_requests/:iid/approvals`` (https://docs.gitlab.com/api/merge_request_approvals/,
  "Get approval state"): ``{id, iid, project_id, title, state, merge_status, approved,
  approvals_required, approvals_left, approved_by: [{user: {id, username, name}}]}``;
  approvals are reset by a push (the project setting ``reset_approvals_on_push``, on here).
* ``GET .../merge_requests/:iid/pipelines`` newest first; notes; ``GET /projects/:id``.
* rate limits (https://docs.gitlab.com/administration/settings/user_and_ip_rate_limits/):
  ``RateLimit-Limit/-Observed/-Remaining/-Reset/-ResetTime`` on every answer, 429 "Retry
  later" with ``Retry-After`` once used up.
* 401 "401 Unauthorized" for a wrong ``PRIVATE-TOKEN``/``Bearer``, 404 "404 Project Not
  Found" for an unknown project (its id is the URL-encoded path).
"""

from __future__ import annotations

import subprocess
from typing import Any

from tests.support.forges.model import BOT, Pull, Refused, Repo
from tests.support.forges.server import Request, Response, StandIn
from tests.support.gitrepo import git_env

PREFIX = "/api/v4"
_PROJECT = PREFIX + r"/projects/(?P<id>[^/]+)"
_MR = _PROJECT + r"/merge_requests/(?P<iid>\d+)"
_STATE = {"open": "opened", "closed": "closed", "merged": "merged"}


class GitLabStandIn(StandIn):
    kind = "gitlab"
    rate_limit = 2000

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route("GET", _PROJECT, self.get_project)
        self.route("GET", _PROJECT + r"/merge_requests", self.list_mrs)
        self.route("POST", _PROJECT + r"/merge_requests", self.create_mr)
        self.route("GET", _MR, self.get_mr)
        self.route("PUT", _MR, self.update_mr)
        self.route("PUT", _MR + r"/merge", self.merge_mr)
        self.route("GET", _MR + r"/pipelines", self.mr_pipelines)
        self.route("GET", _MR + r"/approvals", self.mr_approvals)
        self.route("POST", _MR + r"/notes", self.add_note)

    @property
    def api_url(self) -> str:
        return self.url + PREFIX

    def authorised(self, headers: Any) -> bool:
        return (headers.get("PRIVATE-TOKEN") == self.model.token
                or headers.get("Authorization") == f"Bearer {self.model.token}")

    def limit_headers(self) -> dict[str, str]:
        return {"RateLimit-Limit": str(self.rate_limit),
                "RateLimit-Observed": str(self.rate_limit - max(self.remaining, 0)),
                "RateLimit-Remaining": str(max(self.remaining, 0)),
                "RateLimit-Reset": str(self.reset_at),
                "RateLimit-ResetTime": _http_date(self.reset_at)}

    def error(self, status: int, message: str) -> Response:
        words = {401: "401 Unauthorized", 404: "404 Project Not Found"}
        return Response(status, {"message": words.get(status, message)})

    def rate_limited(self, *, secondary: int | None) -> Response:
        wait = secondary if secondary is not None else max(
            0, self.reset_at - int(self.model.clock()))
        return Response(429, {"message": "Retry later"}, {"Retry-After": str(wait)})

    def paginate(self, request: Request, items: list[Any], *, size_param: str) -> Response:
        response = super().paginate(request, items, size_param=size_param)
        page = max(1, int(request.query.get("page", "1")))
        size = max(1, min(int(request.query.get(size_param, self.page_size)), self.page_size))
        pages = max(1, -(-len(items) // size))
        response.headers.update({"X-Page": str(page), "X-Per-Page": str(size),
                                 "X-Next-Page": str(page + 1) if page < pages else "",
                                 "X-Prev-Page": str(page - 1) if page > 1 else "",
                                 "X-Total": str(len(items)), "X-Total-Pages": str(pages)})
        response.headers.pop("X-Total-Count", None)
        return response

    def _repo(self, request: Request) -> Repo:
        return self.find_repo(request.params["id"])

    def _pipelines(self, repo: Repo, pull: Pull) -> list[dict[str, Any]]:
        shas = set(subprocess.run(
            ["git", "rev-list", f"refs/heads/{pull.base}..refs/heads/{pull.head}"],
            cwd=repo.bare.path, env=git_env(repo.bare.home), capture_output=True,
            check=False).stdout.decode().split())
        shas.add(self.model.head_sha(repo, pull))
        found = [c for c in repo.checks if c.kind == "pipeline" and c.sha in shas]
        return [{"id": c.id, "iid": c.id, "project_id": 1, "sha": c.sha, "ref": pull.head,
                 "status": c.state, "source": "merge_request_event"}
                for c in sorted(found, key=lambda c: c.id, reverse=True)]

    def _json(self, repo: Repo, pull: Pull, *, read: bool) -> dict[str, Any]:
        mergeable = self.model.mergeable(repo, pull, read=read)
        head_sha = self.model.head_sha(repo, pull)
        if pull.state != "open":
            detailed, status = "not_open", "cannot_be_merged"
        elif mergeable is None:
            detailed, status = "checking", "checking"
        elif not mergeable:
            detailed, status = "conflict", "cannot_be_merged"
        elif not self.model.checks_passed(repo, head_sha):
            detailed, status = "ci_still_running", "can_be_merged"
        else:
            detailed, status = "mergeable", "can_be_merged"
        pipelines = self._pipelines(repo, pull)
        head_pipeline = next((p for p in pipelines if p["sha"] == head_sha), None)
        return {
            "id": 1000 + pull.number, "iid": pull.number, "project_id": 1,
            "title": pull.title, "description": pull.body, "state": _STATE[pull.state],
            "created_at": pull.created_at, "updated_at": pull.updated_at,
            "merged_at": pull.merged_at, "closed_at": pull.closed_at,
            "source_branch": pull.head, "target_branch": pull.base,
            "author": {"username": pull.author}, "labels": list(pull.labels),
            "merge_status": status, "detailed_merge_status": detailed,
            # A fast-forward leaves merge_commit_sha empty; so does a squash on a
            # fast-forward project, which reports the squash commit instead.
            "sha": head_sha, "merge_commit_sha": pull.merge_commit_sha
            if pull.merge_commit_sha not in (head_sha, pull.squash_commit_sha) else None,
            "squash_commit_sha": pull.squash_commit_sha,
            "closed_by": {"username": pull.closed_by} if pull.state == "closed" else None,
            "merge_user": {"username": pull.merged_by} if pull.merged_by else None,
            "merged_by": {"username": pull.merged_by} if pull.merged_by else None,
            "head_pipeline": head_pipeline,
            "web_url": f"https://gitlab.test/{repo.full_name}/-/merge_requests/{pull.number}",
        }

    def get_project(self, request: Request) -> Response:
        repo = self._repo(request)
        return Response(200, {"id": 1, "path_with_namespace": repo.full_name,
                              "merge_method": repo.merge_method, "squash_option": "default_off",
                              "only_allow_merge_if_pipeline_succeeds":
                                  bool(repo.required_checks)})

    def list_mrs(self, request: Request) -> Response:
        repo, query = self._repo(request), request.query
        state = query.get("state", "all")
        pulls = [p for p in repo.pulls.values() if state == "all" or _STATE[p.state] == state]
        for key, attr in (("source_branch", "head"), ("target_branch", "base")):
            if query.get(key):
                pulls = [p for p in pulls if getattr(p, attr) == query[key]]
        order = "updated_at" if query.get("order_by") == "updated_at" else "created_at"
        pulls.sort(key=lambda p: (getattr(p, order), p.number),
                   reverse=query.get("sort", "desc") == "desc")
        return self.paginate(request, [self._json(repo, p, read=False) for p in pulls],
                             size_param="per_page")

    def create_mr(self, request: Request) -> Response:
        repo, body = self._repo(request), request.body or {}
        source, target = body.get("source_branch"), body.get("target_branch")
        if not body.get("title") or not source or not target:
            return Response(400, {"error": "title, source_branch, target_branch are missing"})
        if self.model.sha(repo, source) is None or self.model.sha(repo, target) is None:
            return Response(422, {"message": ["Source branch or target branch is invalid"]})
        for pull in repo.pulls.values():
            if pull.state == "open" and pull.head == source and pull.base == target:
                return Response(409, {"message": [
                    "Another open merge request already exists for this source branch: "
                    f"!{pull.number}"]})
        pull = self.model.open_pull(repo, title=body["title"], head=source, base=target,
                                    body=body.get("description") or "")
        return Response(201, self._json(repo, pull, read=False))

    def get_mr(self, request: Request) -> Response:
        repo = self._repo(request)
        return Response(200, self._json(repo, repo.pulls[int(request.params["iid"])],
                                        read=True))

    def mr_approvals(self, request: Request) -> Response:
        repo = self._repo(request)
        pull = repo.pulls[int(request.params["iid"])]
        head = self.model.head_sha(repo, pull)
        latest = {r.user: r for r in pull.reviews if r.state in ("APPROVED", "UNAPPROVED")}
        users = [u for u, r in latest.items()
                 if r.state == "APPROVED" and r.commit_id == head and not r.dismissed]
        return Response(200, {
            "id": pull.number + 1000, "iid": pull.number, "project_id": 1,
            "title": pull.title, "state": _STATE.get(pull.state, pull.state),
            "merge_status": "can_be_merged", "approved": bool(users),
            "approvals_required": 0, "approvals_left": 0,
            "approved_by": [{"user": {"id": 10 + i, "username": u, "name": u.title()}}
                            for i, u in enumerate(users)]})

    def update_mr(self, request: Request) -> Response:
        repo, body = self._repo(request), request.body or {}
        pull = repo.pulls[int(request.params["iid"])]
        pull.title = body.get("title", pull.title)
        pull.body = body.get("description", pull.body)
        for label in str(body.get("add_labels") or "").split(","):
            if label.strip() and label.strip() not in pull.labels:
                pull.labels.append(label.strip())
        if body.get("state_event") == "close" and pull.state == "open":
            self.model.close(repo, pull, by=BOT)
        pull.updated_at = self.model.now()
        return Response(200, self._json(repo, pull, read=True))

    def merge_mr(self, request: Request) -> Response:
        repo, body = self._repo(request), request.body or {}
        pull = repo.pulls[int(request.params["iid"])]
        squash = bool(body.get("squash"))
        if repo.merge_method == "ff":
            method = "squash" if squash else "ff"
        else:
            method = "squash-merge" if squash else "merge"
        message = (body.get("squash_commit_message") if squash else None) or body.get(
            "merge_commit_message") or f"Merge branch '{pull.head}' into '{pull.base}'"
        try:
            self.model.merge(repo, pull, head_sha=body.get("sha"), method=method,
                             message=message, refuse_while_computing=True)
        except Refused as refused:
            if refused.reason == "stale":
                return Response(409, {"message": "SHA does not match HEAD of source branch: "
                                                 f"{refused.detail}"})
            if refused.reason in ("conflict", "need_rebase"):
                return Response(406, {"message": "Branch cannot be merged"})
            return Response(405, {"message": "405 Method Not Allowed"})
        if method == "squash":
            pull.squash_commit_sha = pull.merge_commit_sha
        return Response(200, self._json(repo, pull, read=True))

    def mr_pipelines(self, request: Request) -> Response:
        repo = self._repo(request)
        pull = repo.pulls[int(request.params["iid"])]
        return self.paginate(request, self._pipelines(repo, pull), size_param="per_page")

    def add_note(self, request: Request) -> Response:
        pull = self._repo(request).pulls[int(request.params["iid"])]
        pull.comments.append(str((request.body or {}).get("body")))
        return Response(201, {"id": len(pull.comments), "body": pull.comments[-1],
                              "author": {"username": BOT}, "system": False})


def _http_date(epoch: int) -> str:
    from email.utils import formatdate

    return formatdate(epoch, usegmt=True)
