"""The loopback HTTP server under every forge stand-in, and the knobs they share.

A ``StandIn`` (subclassed per forge in ``github.py``, ``gitlab.py``, ``gitea.py``) serves
its routes on 127.0.0.1 from a thread (stdlib ``http.server``), checks the token on every
request (401 otherwise), answers 404 for a repository it does not hold, stamps its
rate-limit headers on every response, and paginates listings with ``Link`` headers.
The knobs a test turns are methods here (``exhaust``, ``throttle``, ``close_as``,
``push_as``, ``merge_as``, ``reopen_as``, ``set_check``, ``make_unmergeable``, ``require_checks``,
``fail_next``) and attributes of
``model`` (``compute_reads``); the forge subclasses only say how each forge spells it.
"""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tests.support.forges.model import Model, Pull, Repo
from tests.support.forges.webhooks import Deliveries
from tests.support.githttp import TLSFiles
from tests.support.gitrepo import BareRepo


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    body: Any
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class NotFound(Exception):
    pass


Route = tuple[str, "re.Pattern[str]", Callable[[Request], Response]]


class StandIn:
    """One forge on loopback. Subclasses fill ``routes`` and the forge-specific hooks."""

    kind: ClassVar[str] = ""
    rate_limit: ClassVar[int] = 5000

    def __init__(self, *, token: str, compute_reads: int = 1,
                 clock: Callable[[], float] | None = None, page_size: int = 30,
                 tls: TLSFiles | None = None) -> None:
        self.model = Model(token=token, compute_reads=compute_reads,
                           **({"clock": clock} if clock else {}))
        self.page_size = page_size
        self.tls = tls
        self.remaining = self.rate_limit
        self.reset_at = int(self.model.clock()) + 3600
        self.throttled: int | None = None
        self.failures: list[int] = []
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.routes: list[Route] = []
        self._server: ThreadingHTTPServer | None = None

    # -- knobs -------------------------------------------------------------------------

    def add_repo(self, full_name: str, bare: BareRepo) -> Repo:
        with self.model.lock:
            return self.model.add_repo(full_name, bare)

    def repo(self, full_name: str) -> Repo:
        return self.model.repos[full_name]

    def pull(self, full_name: str, number: int) -> Pull:
        return self.repo(full_name).pulls[number]

    def exhaust(self, *, reset_in: int) -> None:
        """The primary rate limit is used up until ``reset_in`` seconds from now."""
        self.remaining = 0
        self.reset_at = int(self.model.clock()) + reset_in

    def throttle(self, *, retry_after: int) -> None:
        """The next request hits a secondary limit that says ``Retry-After``."""
        self.throttled = retry_after

    def fail_next(self, *statuses: int) -> None:
        """The next requests answer these statuses (502, 503...) with an HTML page, as a
        load balancer in front of the forge does."""
        self.failures.extend(statuses)

    def merge_as(self, full_name: str, number: int, *, user: str, method: str = "merge",
                 message: str | None = None) -> str:
        """A person presses the merge button (``merge``, ``squash``, ``rebase``, ``ff``),
        with the forge's default message unless ``message``; returns the new base tip."""
        with self.model.lock:
            repo = self.repo(full_name)
            pull = repo.pulls[number]
            return self.model.merge(
                repo, pull, head_sha=None, method=method, refuse_while_computing=False,
                message=message or f"Merge pull request #{number} from {pull.head}", by=user)

    def reopen_as(self, full_name: str, number: int, *, user: str) -> None:
        """A person reopens a closed, unmerged pull request."""
        with self.model.lock:
            pull = self.pull(full_name, number)
            assert pull.state == "closed", "only a closed, unmerged pull request reopens"
            pull.state, pull.closed_by, pull.closed_at = "open", None, None
            pull.updated_at = self.model.now()
            self.model.on_change("reopened", self.repo(full_name), pull, user)

    def close_as(self, full_name: str, number: int, *, user: str) -> None:
        """A person closes the pull request without merging it."""
        with self.model.lock:
            repo = self.repo(full_name)
            self.model.close(repo, repo.pulls[number], by=user)

    def review_as(self, full_name: str, number: int, *, user: str, state: str = "APPROVED",
                  commit_id: str | None = None) -> None:
        """A person reviews the pull request (APPROVED, CHANGES_REQUESTED, COMMENTED;
        GitLab: APPROVED or UNAPPROVED) at ``commit_id`` (default: its head now)."""
        with self.model.lock:
            repo = self.repo(full_name)
            self.model.review(repo, repo.pulls[number], user=user, state=state,
                              commit_id=commit_id)

    def push_as(self, full_name: str, *, branch: str, files: Mapping[str, str],
                message: str) -> str:
        """A person pushes a commit on ``branch`` (straight into the bare repository)."""
        with self.model.lock:
            return self.repo(full_name).bare.commit(files, message, branch=branch)

    def deliver_to(self, url: str, secret: bytes) -> Deliveries:
        """Send this forge's pull-request webhooks to ``url`` (``webhooks.py``)."""
        deliveries = Deliveries(self.kind, url, secret)

        def emit(what: str, repo: Repo, pull: Pull, by: str) -> None:
            deliveries.emit(what, repo, pull, by=by, head_sha=self.model.head_sha(repo, pull))

        self.model.on_change = emit
        return deliveries

    def make_unmergeable(self, full_name: str, number: int) -> None:
        with self.model.lock:
            self.pull(full_name, number).unmergeable = True

    def require_checks(self, full_name: str, *names: str) -> None:
        """Branch protection: these checks must pass on the head before a merge."""
        self.repo(full_name).required_checks = list(names)

    def set_check(self, full_name: str, *, sha: str, name: str, state: str,
                  kind: str = "status", conclusion: str | None = None) -> None:
        """A CI system reports on ``sha`` (``kind``: status, check-run or pipeline)."""
        with self.model.lock:
            self.model.add_check(self.repo(full_name), sha=sha, name=name, kind=kind,
                                 state=state, conclusion=conclusion)

    # -- forge-specific hooks ------------------------------------------------------------

    def authorised(self, headers: Mapping[str, str]) -> bool:
        raise NotImplementedError

    def limit_headers(self) -> dict[str, str]:
        return {}

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"message": message})

    def rate_limited(self, *, secondary: int | None) -> Response:
        raise NotImplementedError

    # -- serving -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """Where the forge's API is rooted (GitHub's at the host, the others under a path)."""
        return self.url

    def route(self, method: str, pattern: str, handler: Callable[[Request], Response]) -> None:
        self.routes.append((method, re.compile(pattern + r"$"), handler))

    def handle(self, request: Request) -> Response:
        self.requests.append((request.method, request.path, dict(request.query)))
        if not self.authorised(request.headers):
            return self.error(401, "Bad credentials")
        if self.failures:
            return Response(self.failures.pop(0), "<html><body>Bad Gateway</body></html>")
        if self.throttled is not None:
            wait, self.throttled = self.throttled, None
            return self.rate_limited(secondary=wait)
        if self.remaining <= 0 and self.model.clock() < self.reset_at:
            return self.rate_limited(secondary=None)
        self.remaining -= 1
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                request.params = {key: unquote(value) for key, value
                                  in match.groupdict().items()}
                try:
                    with self.model.lock:
                        return handler(request)
                except (NotFound, KeyError):
                    return self.error(404, "Not Found")
        return self.error(404, "Not Found")

    def find_repo(self, name: str) -> Repo:
        if name not in self.model.repos:
            raise NotFound(name)
        return self.model.repos[name]

    def paginate(self, request: Request, items: list[Any], *, size_param: str) -> Response:
        """One page of ``items`` with ``Link`` (``next``, ``last``) as GitHub and Gitea
        send it; GitLab adds its ``X-*`` headers in its own subclass."""
        page = max(1, int(request.query.get("page", "1")))
        size = max(1, min(int(request.query.get(size_param, self.page_size)), self.page_size))
        last = max(1, -(-len(items) // size))
        chunk = items[(page - 1) * size: page * size]
        links = []
        for rel, number in (("next", page + 1), ("last", last)):
            if rel == "next" and page >= last:
                continue
            query = {**request.query, "page": str(number), size_param: str(size)}
            links.append(f'<{self.url}{request.path}?{urlencode(query)}>; rel="{rel}"')
        headers = {"Link": ", ".join(links)} if links else {}
        headers["X-Total-Count"] = str(len(items))
        return Response(200, chunk, headers)

    @contextmanager
    def serving(self) -> Iterator[StandIn]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this a keep-alive client's
            # delayed ACK holds the body back 40 ms (Nagle), as in the API emulator.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
                request = Request(self.command, parts.path, query, self.headers,
                                  json.loads(raw) if raw else None)
                response = stand_in.handle(request)
                html = isinstance(response.body, str)
                data = (b"" if response.body is None else response.body.encode() if html
                        else json.dumps(response.body).encode())
                self.send_response(response.status)
                for key, value in {**stand_in.limit_headers(), **response.headers}.items():
                    self.send_header(key, value)
                if data:
                    self.send_header("Content-Type", "text/html" if html
                                     else "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the request line is all it would say, and tests read ``requests``

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.tls.server_cert, self.tls.server_key)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=10)
