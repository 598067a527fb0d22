"""Prometheus metrics, all in one place: names, labels, buckets and the calls that move them.

Where it fits: the daemon (and ``reconciler run``) holds one ``Metrics`` and calls its
methods at the moments they describe; the HTTP server (``interfaces.http``) serves
``Metrics.registry`` on ``/metrics`` and counts webhook requests itself. Each
``Metrics`` owns its own ``CollectorRegistry``, so two apps in one process (tests,
benchmarks) never share or clash over a metric.

Label values are small fixed sets (the ``*_RESULTS`` / ``*_REASONS`` tuples below),
never rollout names, tags or messages: every series is created at start-up with
the value 0, so a dashboard's ``rate()`` works before the first event and the number
of series cannot grow with user input. The methods take plain ``str`` so the engine
can type its dependency as a Protocol of its own (the engine must not import
``interfaces``); a value outside the set raises ``ValueError``.

The metrics (all prefixed ``reconciler_``)::

    reconciles_total{result}                 counter    one per reconcile pass
    reconcile_duration_seconds               histogram  wall time of a pass
    releases_total                           counter    release commits pushed
    reverts_total{reason}                    counter    revert/rollback commits pushed
    bake_outcomes_total{result}              counter    bakes that ended
    git_push_duration_seconds{result}        histogram  one push, from start to verdict
    queue_depth                              gauge      keys waiting in the work queue
    leader                                   gauge      1 while this replica leads, else 0
    webhook_requests_total{endpoint,code}    counter    every request to /hooks/*

plus the standard ``process_*``, ``python_info`` and ``python_gc_*`` collectors.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder

from reconciler.core import reasons

PREFIX = "reconciler"

RECONCILE_RESULTS = ("ok", "retry", "stalled", "error")
"""``ok``: decided (and acted, if there was something to do); ``retry``: a transient
error, retried with backoff; ``stalled``: a permanent problem (invalid spec, setup
error) waiting for a person; ``error``: an unexpected exception (a bug)."""

REVERT_REASONS = (reasons.BAKE_FAILED, reasons.DEPLOY_TIMEOUT, "Other")
"""The condition reason of the step that reverted (``core.reasons``); any other is
counted as ``Other`` so the label stays a closed set when reasons are added."""

BAKE_RESULTS = ("Succeeded", "Failed", "Cancelled")
"""The settled ``bakeStatus`` values of a Rollout's history (kuberik's words)."""

PUSH_RESULTS = ("pushed", "rejected", "error")
"""``rejected``: the server refused the update (non-fast-forward, hook, protection);
``error``: the push reached no verdict (network, authentication)."""

WEBHOOK_ENDPOINTS: tuple[str, ...] = ("git", "release")

_RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                      60.0)
_PUSH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    """The reconciler's metrics in a registry of their own.

    Methods are thread-safe (prometheus_client locks each value), so workers, the
    scheduler and the HTTP server may call them concurrently.
    """

    def __init__(self, *, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        r = self.registry
        self.reconciles = Counter(f"{PREFIX}_reconciles", "Reconcile passes, by result.",
                                  ["result"], registry=r)
        self.reconcile_duration = Histogram(
            f"{PREFIX}_reconcile_duration_seconds", "Wall time of one reconcile pass.",
            buckets=_RECONCILE_BUCKETS, registry=r)
        self.releases = Counter(f"{PREFIX}_releases", "Release commits pushed.", registry=r)
        self.reverts = Counter(f"{PREFIX}_reverts",
                               "Revert or rollback commits pushed, by reason.", ["reason"],
                               registry=r)
        self.bakes = Counter(f"{PREFIX}_bake_outcomes", "Bakes that ended, by result.",
                             ["result"], registry=r)
        self.push_duration = Histogram(
            f"{PREFIX}_git_push_duration_seconds",
            "Latency of one git push to the config repository, by result.", ["result"],
            buckets=_PUSH_BUCKETS, registry=r)
        self.queue_depth = Gauge(f"{PREFIX}_queue_depth",
                                 "Rollouts waiting in the work queue.", registry=r)
        self.leader = Gauge(f"{PREFIX}_leader",
                            "1 while this replica holds the leader lease, else 0.", registry=r)
        self.webhooks = Counter(f"{PREFIX}_webhook_requests",
                                "Webhook requests, by endpoint and HTTP status code.",
                                ["endpoint", "code"], registry=r)
        for result in RECONCILE_RESULTS:
            self.reconciles.labels(result=result)
        for reason in REVERT_REASONS:
            self.reverts.labels(reason=reason)
        for result in BAKE_RESULTS:
            self.bakes.labels(result=result)
        for result in PUSH_RESULTS:
            self.push_duration.labels(result=result)
        for endpoint in WEBHOOK_ENDPOINTS:
            self.webhooks.labels(endpoint=endpoint, code="202")

    # -- called by the daemon ---------------------------------------------------

    def observe_reconcile(self, result: str, seconds: float) -> None:
        """One reconcile pass ended; ``result`` is one of ``RECONCILE_RESULTS``."""
        self.reconciles.labels(result=_known(result, RECONCILE_RESULTS)).inc()
        self.reconcile_duration.observe(seconds)

    def release_pushed(self) -> None:
        """A release commit was pushed (not a stale or dry run)."""
        self.releases.inc()

    def revert_pushed(self, reason: str) -> None:
        """A revert (or rollback) commit was pushed; ``reason`` is ``step.reason``."""
        self.reverts.labels(reason=reason if reason in REVERT_REASONS else "Other").inc()

    def bake_ended(self, result: str) -> None:
        """A bake settled (``BAKE_RESULTS``): call once, when a history entry first
        turns settled."""
        self.bakes.labels(result=_known(result, BAKE_RESULTS)).inc()

    def observe_push(self, result: str, seconds: float) -> None:
        """One ``git push`` reached its verdict (``PUSH_RESULTS``) after ``seconds``."""
        self.push_duration.labels(result=_known(result, PUSH_RESULTS)).observe(seconds)

    def track_queue(self, depth: Callable[[], int]) -> None:
        """Read the queue depth at scrape time (e.g. ``len(daemon.queue)``)."""
        self.queue_depth.set_function(lambda: float(depth()))

    def set_leader(self, leading: bool) -> None:
        """Whether this replica leads; a daemon without leader election sets True."""
        self.leader.set(1 if leading else 0)

    # -- called by the HTTP server ----------------------------------------------

    def webhook(self, endpoint: str, code: int) -> None:
        self.webhooks.labels(endpoint=endpoint, code=str(code)).inc()

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition for a scrape: body and content type, negotiated from
        ``Accept`` (Prometheus text format by default, OpenMetrics on request)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


def _known(value: str, allowed: tuple[str, ...]) -> str:
    # A label value outside the documented set is a bug in the caller; refusing it
    # keeps the series a closed set that dashboards can rely on.
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
    return value
