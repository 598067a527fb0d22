"""The HTTP surface of ``reconciler run``: probes, metrics, webhooks and a read-only API.

Where it fits: an interface over the daemon. The app reaches the daemon only through
``Backend`` (a Protocol the daemon satisfies), so it is tested with a fake and holds
no state of its own beyond the webhook secret and the metrics registry.

    GET  /healthz                                   200 while the process works, else 503
    GET  /readyz                                    200, or 503 with the reason
    GET  /metrics                                   Prometheus text (OpenMetrics on request)
    POST /hooks/git                                 a push to the config repo: fetch now; a
                                                    pull-request event: read it now; 202
    POST /hooks/release                             {"rollout": "ns/name", "tag": "6.5.0"}; 202
    GET  /api/v1/rollouts                           every Rollout, summarised
    GET  /api/v1/rollouts/{namespace}/{name}        one Rollout, or 404
    GET  /api/v1/rollouts/{namespace}/{name}/history  its audit trail from git, newest first
    GET  /openapi.json                              the OpenAPI document of all the above
    GET  /ui/...                                    the web dashboard (``interfaces/ui``)

Webhooks. Both hooks take an HMAC-SHA256 of the raw body keyed with the secret, as
Flux's notification-controller sends it (``X-Signature: sha256=<hex>``, provider
``generic-hmac``), as GitHub does (``X-Hub-Signature-256: sha256=<hex>``) or as Gitea
and Forgejo do (``X-Gitea-Signature`` / ``X-Forgejo-Signature``: bare hex), or GitLab's
``X-Gitlab-Token``, the secret itself (GitLab signs nothing); every signature header
present must match, compared in constant time. The checks run in
this order, each refusal answered with ``{"detail": <reason>}`` and logged with the
reason, never with the body or the secret:

    404  no secret configured: the hooks are disabled (and left out of the OpenAPI
         document), so an unauthenticated endpoint can never exist by mistake
    401  no signature header
    400  both Content-Length and Transfer-Encoding (ambiguous framing); the
         connection is closed after the answer
    413  Content-Length over the limit, or more bytes than the limit actually sent
         (a chunked body, or one whose Content-Length lies)
    401  a signature that is malformed or does not match
    400  not JSON, or the wrong shape; for /hooks/release a tag that is not a valid
         release tag (the reason says why)
    404  /hooks/release naming a rollout the daemon does not know
    202  accepted

A registered release is only a candidate: it still goes through selection, gates
and bake. Registering the same pair again is accepted with ``"new": false``.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from reconciler import __version__
from reconciler.adapters.forges import events as forge_events
from reconciler.adapters.forges.events import PullRequestEvent
from reconciler.core import versions
from reconciler.engine.surface import Noted
from reconciler.errors import InvalidTag, PermanentError
from reconciler.interfaces import ui
from reconciler.interfaces.httpmodels import (
    RELEASE_TAG_PATTERN,
    GitHookAccepted,
    HistoryRecord,
    Liveness,
    Readiness,
    Refusal,
    ReleaseAccepted,
    ReleaseHook,
    RolloutView,
    view,
)
from reconciler.interfaces.metrics import Metrics
from reconciler.interfaces.webhookchecks import (
    SIGNATURE_HEADERS,
    _check_signatures,
    _json,
    _read_body,
    _Refused,
    _shape,
)

log = logging.getLogger(__name__)

MiB = 1024 * 1024
_ROLLOUT = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?/[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?")


class Backend(Protocol):
    """What the HTTP surface needs from the daemon. Every method is called from a
    worker thread of the server, concurrently with the daemon's own threads."""

    def alive(self) -> bool:
        """The process can still do its job (its threads run); False fails liveness."""

    def ready(self) -> tuple[bool, str]:
        """Whether to receive traffic, and why (or why not), in one line."""

    def rollouts(self) -> Sequence[Mapping[str, Any]]:
        """Every Rollout object in the informer store."""

    def rollout(self, *, namespace: str, name: str) -> Mapping[str, Any] | None:
        """One Rollout object from the store, or None."""

    def history(self, *, namespace: str, name: str) -> Sequence[Mapping[str, Any]]:
        """Audit records of the rollout (``trailers.Record.as_dict()``), newest first."""

    def request_fetch(self) -> None:
        """Fetch the config repository and reconcile what changed, soon; must not block."""

    def register_release(self, *, namespace: str, name: str, tag: str) -> bool:
        """Add ``tag`` (already validated) as a release candidate; False if already known."""

    def knows(self, *, namespace: str, name: str) -> bool:
        """Whether a Rollout of that name exists."""

    def pull_request(self, event: PullRequestEvent) -> Noted:
        """A forge says a pull request changed; which rollout's it is, if any."""



__all__ = [
    "RELEASE_TAG_PATTERN",
    "SIGNATURE_HEADERS",
    "Backend",
    "GitHookAccepted",
    "HistoryRecord",
    "Liveness",
    "MiB",
    "Readiness",
    "Refusal",
    "ReleaseAccepted",
    "ReleaseHook",
    "RolloutView",
    "create_app",
    "load_secret",
    "serve",
    "shutdown",
    "view",
]



# -- the app ---------------------------------------------------------------------------

def _hook_doc(body_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {"required": True,
                        "content": {"application/json": {"schema": body_schema}}},
        "parameters": [{"name": h, "in": "header", "required": False,
                        "schema": {"type": "string", "pattern": "^sha256=[0-9a-fA-F]{64}$"},
                        "description": "HMAC-SHA256 of the raw body: sha256=<hex>"}
                       for h in SIGNATURE_HEADERS],
    }


_REFUSALS: dict[int | str, dict[str, Any]] = {
    code: {"model": Refusal, "description": text} for code, text in (
        (400, "Not JSON, the wrong shape, or an invalid tag"),
        (401, "Missing, malformed or wrong signature"),
        (404, "Hooks disabled, or an unknown rollout"),
        (413, "Body over the size limit"))}


def create_app(backend: Backend, *, webhook_secret: bytes | None, max_body: int = MiB,
               metrics: Metrics | None = None, dashboard: ui.Dashboard | None = None,
               dashboard_config: ui.Config | None = None) -> FastAPI:
    """The app. ``webhook_secret`` None disables the hooks (404); ``metrics`` defaults
    to a fresh ``Metrics`` (pass the daemon's so ``/metrics`` shows its counts);
    ``dashboard`` mounts the web dashboard on ``/ui/`` (``interfaces/ui``)."""
    metrics = metrics or Metrics()
    hooks_on = webhook_secret is not None
    if not hooks_on:
        log.info("webhooks disabled: no webhook secret configured")
    app = FastAPI(title="reconciler", version=__version__, docs_url=None, redoc_url=None,
                  description="Health, metrics, webhooks and a read-only API of the "
                              "reconciler daemon.")
    app.state.metrics = metrics
    app.state.stopping = threading.Event()  # set by ``shutdown``: ends event streams
    if dashboard is not None:
        ui.mount(app, dashboard, dashboard_config or ui.Config())

    async def hook(request: Request, endpoint: str,
                   handle: Callable[[bytes, Mapping[str, str]], Awaitable[JSONResponse]]
                   ) -> JSONResponse:
        try:
            if webhook_secret is None:
                raise _Refused(404, "webhooks are disabled: no webhook secret is configured")
            if not any(h in request.headers for h in SIGNATURE_HEADERS):
                raise _Refused(401, f"no signature: send {' or '.join(SIGNATURE_HEADERS)}")
            body = await _read_body(request, max_body)
            _check_signatures(request, body, webhook_secret)
            response = await handle(body, request.headers)
        except ClientDisconnect:
            r = _Refused(400, "client disconnected before sending the whole body")
        except _Refused as refused:
            r = refused
        except Exception:
            log.exception("POST %s failed", request.url.path)
            metrics.webhook(endpoint, 500)
            return JSONResponse({"detail": "internal error; see the reconciler log"},
                                status_code=500)
        else:
            metrics.webhook(endpoint, response.status_code)
            return response
        client = request.client.host if request.client else "unknown"
        log.warning("refused POST %s from %s: %d %s", request.url.path, client, r.code,
                    r.logged)
        metrics.webhook(endpoint, r.code)
        return JSONResponse({"detail": r.detail}, status_code=r.code,
                            headers={"Connection": "close"} if r.close else None)

    async def on_git(body: bytes, headers: Mapping[str, str]) -> JSONResponse:
        data = _json(body)
        if not isinstance(data, dict):
            raise _Refused(400, "body must be a JSON object")
        event = forge_events.pull_request(headers, data)
        if event is None:
            await run_in_threadpool(backend.request_fetch)
            log.info("git webhook: fetching the config repository now")
            return JSONResponse(GitHookAccepted().model_dump(), status_code=202)
        noted = await run_in_threadpool(lambda: backend.pull_request(event))
        if noted.rollout is None:
            log.info("git webhook: %s pull request #%d (%s) is not one of this "
                     "reconciler's", event.forge, event.number, event.action)
        return JSONResponse(GitHookAccepted(fetch=noted.fetch, rollout=noted.rollout,
                                            pull_request=event.number).model_dump(),
                            status_code=202)

    async def on_release(body: bytes, headers: Mapping[str, str]) -> JSONResponse:
        data = _json(body)
        if not isinstance(data, dict):
            raise _Refused(400, "body must be a JSON object with rollout and tag")
        try:
            hook_body = ReleaseHook.model_validate(data)
        except ValidationError as exc:
            raise _Refused(400, _shape(exc)) from None
        try:
            versions.parse(hook_body.tag)
        except InvalidTag as exc:
            raise _Refused(400, f"tag: {exc}", "tag: not a valid release tag") from None
        namespace, name = hook_body.rollout.split("/", 1)
        if not await run_in_threadpool(lambda: backend.knows(namespace=namespace, name=name)):
            raise _Refused(404, f"unknown rollout {hook_body.rollout}")
        new = await run_in_threadpool(lambda: backend.register_release(
            namespace=namespace, name=name, tag=hook_body.tag))
        log.info("release webhook: %s %s %s", hook_body.rollout, hook_body.tag,
                 "registered" if new else "already known")
        return JSONResponse(ReleaseAccepted(new=new).model_dump(), status_code=202)

    @app.post("/hooks/git", status_code=202, response_model=GitHookAccepted,
              responses=_REFUSALS, include_in_schema=hooks_on,
              openapi_extra=_hook_doc({"type": "object"}), tags=["webhooks"])
    async def git_hook(request: Request) -> JSONResponse:
        """A push to the config repository (Flux alert or git host webhook): fetch now. A
        pull-request event on one of the reconciler's branches: read that pull request
        now (and fetch, when it was merged)."""
        return await hook(request, "git", on_git)

    @app.post("/hooks/release", status_code=202, response_model=ReleaseAccepted,
              responses=_REFUSALS, include_in_schema=hooks_on,
              openapi_extra=_hook_doc(ReleaseHook.model_json_schema()), tags=["webhooks"])
    async def release_hook(request: Request) -> JSONResponse:
        """Register a release candidate; it still goes through selection, gates and bake."""
        return await hook(request, "release", on_release)

    @app.get("/healthz", response_model=Liveness, responses={503: {"model": Liveness}},
             tags=["probes"])
    def healthz() -> JSONResponse:
        alive = backend.alive()
        return JSONResponse(Liveness(alive=alive).model_dump(), status_code=200 if alive else 503)

    @app.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}},
             tags=["probes"])
    def readyz() -> JSONResponse:
        ready, reason = backend.ready()
        return JSONResponse(Readiness(ready=ready, reason=reason).model_dump(),
                            status_code=200 if ready else 503)

    @app.get("/metrics", response_class=Response, tags=["probes"],
             responses={200: {"content": {"text/plain": {}}}})
    def prometheus(request: Request) -> Response:
        body, content_type = metrics.render(request.headers.get("accept"))
        return Response(body, media_type=content_type)

    @app.get("/api/v1/rollouts", tags=["api"])
    def list_rollouts() -> list[RolloutView]:
        views = [view(o) for o in backend.rollouts()]
        return sorted(views, key=lambda v: (v.namespace, v.name))

    @app.get("/api/v1/rollouts/{namespace}/{name}", tags=["api"],
             responses={404: {"model": Refusal}})
    def get_rollout(namespace: str, name: str) -> RolloutView:
        obj = backend.rollout(namespace=namespace, name=name)
        if obj is None:
            raise HTTPException(404, f"unknown rollout {namespace}/{name}")
        return view(obj)

    @app.get("/api/v1/rollouts/{namespace}/{name}/history", tags=["api"],
             responses={404: {"model": Refusal}})
    def get_history(namespace: str, name: str) -> list[HistoryRecord]:
        """The rollout's audit trail, newest first; still served after it is deleted."""
        records = backend.history(namespace=namespace, name=name)
        if not records and not backend.knows(namespace=namespace, name=name):
            raise HTTPException(404, f"unknown rollout {namespace}/{name}")
        return [HistoryRecord.model_validate(dict(r)) for r in records]

    return app


# -- secret and server -----------------------------------------------------------------

def load_secret(path: Path | str) -> bytes:
    """The webhook secret from a mounted file, without the trailing newline editors
    and ``kubectl create secret --from-file`` leave; one clear line if unusable."""
    try:
        secret = Path(path).read_bytes().rstrip(b"\r\n")
    except FileNotFoundError:
        raise PermanentError(f"webhook secret file {path} does not exist") from None
    except OSError as exc:
        raise PermanentError(f"cannot read webhook secret file {path}: {exc.strerror}") from None
    if not secret.strip():  # blanks only: a key anyone could guess
        raise PermanentError(f"webhook secret file {path} is empty")
    return secret


def serve(app: FastAPI, host: str, port: int, *, graceful_timeout: int = 5,
          start_timeout: float = 10.0) -> tuple[uvicorn.Server, threading.Thread]:
    """Run ``app`` with uvicorn in a background thread; returns once it listens.

    The socket is bound here, so a busy port raises ``PermanentError`` in the caller
    (uvicorn itself would ``sys.exit`` in its thread), and port 0 picks a free port
    (``server.config.port`` holds the real one). Stop it with ``shutdown``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise PermanentError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    config = uvicorn.Config(app, host=host, port=sock.getsockname()[1], log_config=None,
                            access_log=False, server_header=False, lifespan="auto",
                            timeout_graceful_shutdown=graceful_timeout)
    server = uvicorn.Server(config)

    def run() -> None:
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()  # uvicorn closes it on a clean stop; not if start-up failed

    thread = threading.Thread(target=run, name="http", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            shutdown(server, thread)
            raise PermanentError(f"HTTP server on {host}:{config.port} did not start")
        time.sleep(0.01)
    log.info("HTTP server listening on %s:%d", host, config.port)
    return server, thread


def shutdown(server: uvicorn.Server, thread: threading.Thread, timeout: float = 10.0) -> None:
    """Stop accepting, let requests in flight finish (up to the graceful timeout), join."""
    stopping = getattr(getattr(server.config.app, "state", None), "stopping", None)
    if isinstance(stopping, threading.Event):
        stopping.set()  # the dashboard's event streams end instead of holding the exit
    server.should_exit = True
    thread.join(timeout)
