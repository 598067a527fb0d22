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
    notes_push_duration_seconds{result}      histogram  one push of the bake verdicts (notes)
    notes_per_push                           histogram  verdicts that went out in one push
    queue_depth                              gauge      keys waiting in the work queue
    leader                                   gauge      1 while this replica leads, else 0
    webhook_requests_total{endpoint,code}    counter    every request to /hooks/*
    deployment_frequency_per_day{window}     gauge      releases per day (docs/stats.md)
    change_failure_ratio{window}             gauge      failed releases / releases
    time_to_restore_seconds{window,quantile} gauge      failed -> next verified release
    lead_time_seconds{window,quantile}       gauge      release commit -> its verdict

plus the standard ``process_*``, ``python_info`` and ``python_gc_*`` collectors.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from reconciler.core import reasons, stats
from reconciler.engine import delivery

log = logging.getLogger(__name__)

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

DELIVERY_WINDOWS: tuple[str, ...] = tuple(delivery.WINDOWS)
"""The windows of the delivery gauges (``engine/delivery``), ``7d`` and ``30d``."""

QUANTILES = (("0.5", "median"), ("0.9", "p90"))

_RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
                      60.0)
_PUSH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
# Notes that waited for a push go out together in the next (adapters/gitnotejobs).
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


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
        self.notes_push_duration = Histogram(
            f"{PREFIX}_notes_push_duration_seconds",
            "Latency of one push of the bake verdicts (git notes), by result: it walks "
            "every note, so it grows with them.", ["result"], buckets=_PUSH_BUCKETS,
            registry=r)
        self.notes_per_push = Histogram(
            f"{PREFIX}_notes_per_push", "Bake verdicts (notes) that went out in one push.",
            buckets=_BATCH_BUCKETS, registry=r)
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
            self.notes_push_duration.labels(result=result)
        for endpoint in WEBHOOK_ENDPOINTS:
            self.webhooks.labels(endpoint=endpoint, code="202")
        self._delivery = _DeliveryCollector()
        r.register(self._delivery)

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

    def observe_notes_push(self, result: str, seconds: float, notes: int) -> None:
        """One push of ``notes`` verdicts reached its verdict (``PUSH_RESULTS``)."""
        self.notes_push_duration.labels(result=_known(result, PUSH_RESULTS)).observe(seconds)
        if result == "pushed":
            self.notes_per_push.observe(notes)

    def track_queue(self, depth: Callable[[], int]) -> None:
        """Read the queue depth at scrape time (e.g. ``len(daemon.queue)``)."""
        self.queue_depth.set_function(lambda: float(depth()))

    def set_leader(self, leading: bool) -> None:
        """Whether this replica leads; a daemon without leader election sets True."""
        self.leader.set(1 if leading else 0)

    def track_delivery(self, figures: Callable[[], Mapping[str, stats.Figures]]) -> None:
        """Read the delivery figures per window at scrape time
        (``engine.delivery.Delivery.figures``, which caches them)."""
        self._delivery.source = figures

    # -- called by the HTTP server ----------------------------------------------

    def webhook(self, endpoint: str, code: int) -> None:
        self.webhooks.labels(endpoint=endpoint, code=str(code)).inc()

    def render(self, accept: str | None) -> tuple[bytes, str]:
        """The exposition for a scrape: body and content type, negotiated from
        ``Accept`` (Prometheus text format by default, OpenMetrics on request)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type


class _DeliveryCollector:
    """The delivery gauges, read from a source at scrape time. Every series exists
    from the start: a figure that is not defined (no release in the window, no
    sample for a quantile, the repository not read yet) is NaN, not 0."""

    def __init__(self) -> None:
        self.source: Callable[[], Mapping[str, stats.Figures]] | None = None

    def collect(self) -> Iterator[Metric]:
        found: Mapping[str, stats.Figures] = {}
        if self.source is not None:
            try:
                found = self.source()
            except Exception as exc:  # a scrape never fails on this; the log says why
                log.warning("delivery metrics unavailable: %s", exc)
        nan = math.nan
        freq = GaugeMetricFamily(f"{PREFIX}_deployment_frequency_per_day",
                                 "Release commits per day over the window.", labels=["window"])
        ratio = GaugeMetricFamily(f"{PREFIX}_change_failure_ratio",
                                  "Failed releases / releases over the window (NaN: none).",
                                  labels=["window"])
        restore = GaugeMetricFamily(
            f"{PREFIX}_time_to_restore_seconds",
            "From a failed release to the next verified one, ended in the window.",
            labels=["window", "quantile"])
        lead = GaugeMetricFamily(
            f"{PREFIX}_lead_time_seconds",
            "From a release commit of the window to its Succeeded verdict.",
            labels=["window", "quantile"])
        for window in DELIVERY_WINDOWS:
            f = found.get(window)
            freq.add_metric([window], f.per_day if f else nan)
            cfr = f.change_failure_rate if f else None
            ratio.add_metric([window], nan if cfr is None else cfr)
            for quantile, attr in QUANTILES:
                for family, spread in ((restore, f.time_to_restore if f else None),
                                       (lead, f.lead_time if f else None)):
                    value = getattr(spread, attr) if spread else None
                    family.add_metric([window, quantile], nan if value is None else value)
        yield from (freq, ratio, restore, lead)


def _known(value: str, allowed: tuple[str, ...]) -> str:
    # A label value outside the documented set is a bug in the caller; refusing it
    # keeps the series a closed set that dashboards can rely on.
    if value not in allowed:
        raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
    return value
