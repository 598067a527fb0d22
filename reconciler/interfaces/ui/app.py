"""The dashboard's routes, mounted on the daemon's HTTP app under ``/ui/``.

Part of the dashboard (``interfaces/ui``; docs/dashboard.md). Pages are rendered on
the server (Jinja2, ``templates/``) with inline SVG charts; one small script
(``static/dashboard.js``) filters the list, counts a bake down and swaps in fresh
HTML when the server-sent event stream says something changed. Everything is
served from the package: no CDN, no build step.

    GET  /ui/                                   every rollout with its state
                                                (?namespace=&state=&q= filter it)
    GET  /ui/rollouts/{namespace}/{name}        one rollout: candidates, bake, charts,
                                                timeline
    GET  /ui/events                             text/event-stream: "change" events
    GET  /ui/static/{file}                      the stylesheet and the script
    POST /ui/api/rollouts/{ns}/{name}/release   {"tag": ...}   release it now
    POST /ui/api/rollouts/{ns}/{name}/retry     {"tag": ...}   a quarantined tag again
    POST /ui/api/rollouts/{ns}/{name}/lift-hold {}             adopt the manual change
    POST /ui/api/rollouts/{ns}/{name}/approve   {"tag": ..., "step"?: n}  approve the
                                                release that waits for an approval

``?partial=1`` on a page returns only its live part (what the script swaps in).
The actions answer 404 while no token file is configured (off unless configured),
401 without a valid ``Authorization: Bearer`` token, 403 for a cross-site request
or one that is not ``application/json``, 400 for a bad body or tag, 404 for an
unknown rollout, 409 when the action does not apply (the reason says why), 503
when git could not be written, and 200 with what was written.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, Protocol

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup, escape
from starlette.concurrency import run_in_threadpool

from reconciler.engine.actions import Actions
from reconciler.engine.insight import Insight
from reconciler.engine.releaser import Result
from reconciler.errors import (
    InputError,
    InvalidTag,
    ReconcilerError,
    TransientError,
    UnknownRollout,
)
from reconciler.interfaces.ui import auth, pages, states

log = logging.getLogger(__name__)

PREFIX = "/ui"
MAX_ACTION_BODY = 4096
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; connect-src 'self'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class Dashboard(Protocol):
    """What the dashboard needs of the daemon (``engine.surface.Surface`` has both)."""

    insight: Insight
    actions: Actions


@dataclass(frozen=True)
class Config:
    tokens: auth.Tokens | None = None  # None: read-only (the actions answer 404)
    commit_url: str | None = None  # "https://forge/org/fleet/commit/{sha}"
    events_interval: float = 1.0  # seconds between two looks for a change
    events_max_age: float = 300.0  # an event stream ends then; the browser reconnects


@dataclass(frozen=True)
class _Static:
    body: bytes
    gzipped: bytes
    media_type: str
    version: str


def _static_files() -> dict[str, _Static]:
    out = {}
    for name, media in (("dashboard.css", "text/css; charset=utf-8"),
                        ("dashboard.js", "text/javascript; charset=utf-8")):
        body = resources.files("reconciler.interfaces.ui").joinpath("static", name).read_bytes()
        out[name] = _Static(body=body, gzipped=gzip.compress(body, 9, mtime=0),
                            media_type=media, version=hashlib.sha256(body).hexdigest()[:12])
    return out


def _templates(config: Config, files: dict[str, _Static]) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("reconciler.interfaces.ui"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)

    def commit(sha: str, text: str | None = None) -> Markup:
        label = escape(text or sha[:12])
        if not sha:
            return Markup("")
        if config.commit_url is None:
            return Markup(f'<code title="{escape(sha)}">{label}</code>')
        url = config.commit_url.replace("{sha}", sha)
        return Markup(f'<a class="commit" href="{escape(url)}" title="{escape(sha)}" '
                      f'rel="noopener noreferrer"><code>{label}</code></a>')

    def stamp(when: datetime | None) -> str:
        return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else ""

    env.filters.update(ago=states.ago, duration=states.duration, stamp=stamp,
                       iso=lambda w: w.isoformat() if w else "")
    env.globals.update(commit=commit, prefix=PREFIX, label=states.label,
                       static=lambda name: f"{PREFIX}/static/{name}?v={files[name].version}")
    return env


def _respond(request: Request, body: str | bytes, *, media_type: str,
             headers: dict[str, str] | None = None, status: int = 200,
             gzipped: bytes | None = None) -> Response:
    """With gzip when the client takes it: a list of a thousand rollouts is mostly
    the same markup over and over, and shrinks about tenfold."""
    raw = body.encode() if isinstance(body, str) else body
    out = {"Vary": "Accept-Encoding", **(headers or {})}
    if "gzip" in request.headers.get("accept-encoding", "") and len(raw) > 1024:
        out["Content-Encoding"] = "gzip"
        raw = gzipped if gzipped is not None else gzip.compress(raw, 6)
    return Response(raw, status_code=status, media_type=media_type, headers=out)


def mount(app: FastAPI, dashboard: Dashboard, config: Config) -> None:
    """Add the dashboard's routes to ``app`` (left out of the OpenAPI document: pages,
    not an API). ``app.state.stopping`` (a ``threading.Event``), when present, ends
    the event streams on shutdown."""
    files = _static_files()
    env = _templates(config, files)
    insight, actions = dashboard.insight, dashboard.actions
    stopping: threading.Event = getattr(app.state, "stopping", None) or threading.Event()

    def page(request: Request, name: str, context: dict[str, Any], started: float) -> Response:
        context.update(environment=insight.environment, actions_on=config.tokens is not None,
                       key=insight.change_key(), now=insight.now(),
                       events_interval=config.events_interval)
        partial = request.query_params.get("partial") == "1"
        template = env.get_template(f"_{name}.html" if partial else f"{name}.html")
        gathered = time.perf_counter()
        body = template.render(context)
        # Server-Timing: the browser's developer tools show where the time went.
        timing = (f"gather;dur={(gathered - started) * 1000:.1f}, "
                  f"render;dur={(time.perf_counter() - gathered) * 1000:.1f}")
        return _respond(request, body, media_type="text/html; charset=utf-8",
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-store",
                                 "X-Dashboard-Key": context["key"], "Server-Timing": timing})

    @app.get(PREFIX, include_in_schema=False)
    def ui_root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=308)

    @app.get(f"{PREFIX}/", include_in_schema=False)
    def ui_overview(request: Request) -> Response:
        started = time.perf_counter()
        q = request.query_params
        now = insight.now()
        rows = pages.rows(insight.rollouts(), now=now, bake_time=insight.bake_time)
        context = pages.overview(rows, namespace=q.get("namespace"), state=q.get("state"),
                                 text=q.get("q"))
        context["charts"] = pages.overview_charts(insight.report(pages.WINDOW))
        return page(request, "overview", context, started)

    @app.get(f"{PREFIX}/rollouts/{{namespace}}/{{name}}", include_in_schema=False)
    def ui_rollout(request: Request, namespace: str, name: str) -> Response:
        started = time.perf_counter()
        detail = insight.detail(namespace, name)
        if detail is None:
            body = env.get_template("missing.html").render(
                rollout=f"{namespace}/{name}", environment=insight.environment,
                actions_on=False, key=insight.change_key(), now=insight.now(),
                events_interval=config.events_interval)
            return _respond(request, body, media_type="text/html; charset=utf-8", status=404,
                            headers=SECURITY_HEADERS)
        now = insight.now()
        return page(request, "rollout", {
            "d": detail, "state": states.of(detail.obj, now=now, bake_time=(
                detail.policy.bake_time if detail.policy else None)),
            "candidates": pages.candidates(detail), "checks": pages.checks(detail.checks),
            "bake": pages.bake_in_flight(detail, now=now),
            "timeline": pages.timeline(detail, now=now),
            "charts": pages.rollout_charts(insight.report(pages.WINDOW), key=detail.key,
                                           environment=detail.environment)}, started)

    @app.get(f"{PREFIX}/static/{{name}}", include_in_schema=False)
    def ui_static(request: Request, name: str) -> Response:
        found = files.get(name)
        if found is None:
            return Response("not found", status_code=404, media_type="text/plain")
        cache = ("public, max-age=31536000, immutable"
                 if request.query_params.get("v") == found.version else "no-cache")
        return _respond(request, found.body, media_type=found.media_type,
                        gzipped=found.gzipped, headers={"Cache-Control": cache,
                                                        "X-Content-Type-Options": "nosniff"})

    @app.get(f"{PREFIX}/events", include_in_schema=False)
    async def ui_events(request: Request) -> StreamingResponse:
        async def stream() -> Any:
            yield f"retry: {int(config.events_interval * 2000)}\n\n"
            last, ends, quiet = None, time.monotonic() + config.events_max_age, 0.0
            while not stopping.is_set() and time.monotonic() < ends:
                if await request.is_disconnected():
                    return
                key = await run_in_threadpool(insight.change_key)
                if key != last:
                    yield f"event: change\ndata: {key}\n\n"
                    last, quiet = key, 0.0
                elif quiet >= 15:
                    yield ": keep-alive\n\n"  # proxies close idle streams
                    quiet = 0.0
                await asyncio.sleep(config.events_interval)
                quiet += config.events_interval

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    def act(kind: str) -> Callable[[Actions, str, str, dict[str, Any], str], dict[str, Any]]:
        def run(a: Actions, namespace: str, name: str, body: dict[str, Any],
                user: str) -> dict[str, Any]:
            if kind == "lift-hold":
                return _answer(a.lift_hold(namespace, name, requested_by=user))
            tag = body.get("tag")
            if not isinstance(tag, str) or not tag:
                raise InvalidTag('the body needs "tag": the release tag')
            if kind == "approve":
                step = body.get("step")
                if step is not None and (type(step) is not int or step < 1):
                    raise InputError('"step" must be a canary step number (1, 2, ...)')
                return a.approve(namespace, name, tag, requested_by=user, step=step)
            do = a.release if kind == "release" else a.retry
            return _answer(do(namespace, name, tag, requested_by=user))
        return run

    @app.post(f"{PREFIX}/api/rollouts/{{namespace}}/{{name}}/{{kind}}", include_in_schema=False)
    async def ui_action(request: Request, namespace: str, name: str, kind: str) -> JSONResponse:
        def refuse(code: int, detail: str, **headers: str) -> JSONResponse:
            client = request.client.host if request.client else "unknown"
            log.warning("refused dashboard action %s on %s/%s from %s: %d %s", kind,
                        namespace, name, client, code, detail)
            return JSONResponse({"detail": detail}, status_code=code, headers=headers or None)

        if config.tokens is None:
            return refuse(404, "dashboard actions are off: no --ui-token-file is configured")
        if kind not in ACTIONS:
            return refuse(404, f"no action {kind!r}: {', '.join(ACTIONS)}")
        if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
            return refuse(403, "cross-site request refused")
        origin = request.headers.get("origin")
        if origin and origin.split("://", 1)[-1] != request.headers.get("host"):
            return refuse(403, "cross-origin request refused")
        user = await run_in_threadpool(config.tokens.who, request.headers.get("authorization"))
        if user is None:
            return refuse(401, "send Authorization: Bearer <token> (a token of "
                          "--ui-token-file)", **{"WWW-Authenticate": 'Bearer realm="reconciler"'})
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return refuse(403, "send the body as application/json")
        raw = await request.body()
        if len(raw) > MAX_ACTION_BODY:
            return refuse(413, f"body over {MAX_ACTION_BODY} bytes")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return refuse(400, "the body is not JSON")
        if not isinstance(body, dict):
            return refuse(400, "the body must be a JSON object")
        try:
            result = await run_in_threadpool(act(kind), actions, namespace, name, body, user)
        except UnknownRollout as exc:
            return refuse(404, str(exc))
        except InvalidTag as exc:
            return refuse(400, f"tag: {exc}")
        except InputError as exc:
            return refuse(409, str(exc))
        except TransientError as exc:
            return refuse(503, f"git could not be written: {exc}")
        except ReconcilerError as exc:
            return refuse(409, str(exc))
        return JSONResponse({**result, "requested_by": user})


ACTIONS = ("release", "retry", "lift-hold", "approve")


def _answer(result: Result) -> dict[str, Any]:
    return {"outcome": result.outcome, "commit": result.commit, "release": result.release,
            "message": result.message.split("\n", 1)[0]}
