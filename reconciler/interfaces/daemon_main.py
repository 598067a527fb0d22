"""``reconciler run``: connect, serve HTTP, elect a leader, run the daemon, stop cleanly.

Start-up order: the commit signing key has signed a probe already (``command``,
before the mirror opens), then the webhook secret is read (a missing file stops
start-up with one line), the HTTP server starts so the kubelet's probes answer while the
watches sync (``/readyz`` says 503 until then), then leader election (when on) and
the daemon. On SIGTERM/SIGINT the daemon stops taking work; a reconcile in the
middle of a push finishes it (the push lands whole or not at all; the next start
sees which from git); a leader releases its Lease so a standby takes over at once;
the HTTP server stops; the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType
from typing import Any

import click
from pythonjsonlogger.json import JsonFormatter

from reconciler.adapters import cluster as k8s
from reconciler.adapters import git, malloc, signing
from reconciler.adapters import hooks as hook_calls
from reconciler.core import scope
from reconciler.engine import faults
from reconciler.engine.daemon import Daemon
from reconciler.engine.leader import LeaderElector
from reconciler.engine.options import Options
from reconciler.interfaces import (
    clusters,
    forgesetup,
    http,
    notifysetup,
    settings,
    signingsetup,
    ui,
)
from reconciler.interfaces.exits import handle_errors
from reconciler.interfaces.metrics import Metrics
from reconciler.interfaces.repoaccess import releaser_for
from reconciler.interfaces.settings import RunSettings

log = logging.getLogger("reconciler")


def setup_logging(log_format: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # APScheduler logs every job run at INFO: far too chatty for a daemon log.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # httpx2 logs every forge request at INFO; the writer logs what each one did.
    logging.getLogger("httpx2").setLevel(logging.WARNING)


@click.command("run")
@settings.options(*settings.RUN_GROUPS)
@handle_errors
def command(**given: Any) -> None:
    """The daemon: release, bake and revert every Rollout, beside Flux.

    Every option can also be set with the environment variable named in its help
    (a flag wins over the variable)."""
    config = RunSettings.load(given)
    config.git.check_files()  # --repo first, as every other command does
    config.cluster.check_files()
    config.dashboard.check_files()
    notifysetup.check(config.notify)  # a bad notifications config: exit 2 now
    if config.notify.hook_secret_file is not None:  # missing or empty: exit 2 now
        hook_calls.SecretFile(config.notify.hook_secret_file).read()
    signer = signingsetup.connect(config.signing)  # a key that cannot sign: exit 2 now
    # The daemon's scans stay in memory; the CLI's go to the on-disk cache.
    releaser = releaser_for(config.git, signer=signer, scan_cache=False)
    if config.git.path is not None:
        clusters.select(releaser)  # a --path that is not in the repository: exit 2 now
    run(config, mirror=releaser.mirror, signer=signer)


def run(config: RunSettings, *, mirror: git.Mirror,
        signer: signing.Signer | None = None) -> None:
    server_cfg, cluster_cfg, sched = config.server, config.cluster, config.scheduling
    setup_logging(server_cfg.log_format)
    # Before any thread starts: fewer malloc arenas, less memory held free in them.
    if malloc.tune():
        log.debug("allocator: at most %d arenas (adapters/malloc.py)", malloc.ARENA_MAX)
    if signer is not None:
        log.info("signing every commit with the %s", signer.description)
    if config.git.path is not None:
        log.info("scoped to %s (environment %s)", config.git.path,
                 config.git.environment or scope.environment(config.git.path))
    faults.check()
    # A bad pull-request set-up stops start-up before anything connects.
    forge = forgesetup.connect(config.write, repo_url=config.git.repo)
    secret = (http.load_secret(server_cfg.webhook_secret_file)
              if server_cfg.webhook_secret_file else None)
    tokens = (ui.auth.Tokens(config.dashboard.ui_token_file)
              if config.dashboard.ui and config.dashboard.ui_token_file else None)
    address = server_cfg.address
    namespace = cluster_cfg.namespace
    cluster = k8s.Cluster.connect(kubeconfig=cluster_cfg.kubeconfig, namespace=namespace)
    metrics = Metrics()
    selector = cluster_cfg.watch_label_selector
    if selector is not None:
        log.info("sharded: reconciling only the Rollouts labelled %s", selector)
    elector: LeaderElector | None = None
    if config.leader.leader_elect:
        lease, renew, retry = config.leader.timings
        lease_name = config.leader.lease(selector)
        log.info("electing a leader on Lease %s/%s",
                 config.leader.leader_election_namespace, lease_name)
        elector = LeaderElector(cluster, namespace=config.leader.leader_election_namespace,
                                name=lease_name,
                                lease_duration=lease, renew_deadline=renew, retry_period=retry)
    hook_secret = config.notify.hook_secret_file
    daemon = Daemon(
        cluster=cluster, mirror=mirror, metrics=metrics, forge=forge,
        hook_caller=hook_calls.Caller(
            secret=hook_calls.SecretFile(hook_secret) if hook_secret else None),
        is_leader=elector.is_leader if elector else (lambda: True),
        options=Options(namespace=namespace, watch_label_selector=selector,
                        workers=sched.workers,
                        resync_interval=sched.resync_interval,
                        fetch_interval=sched.fetch_interval,
                        flux_source=cluster_cfg.flux_source, flux_nudge=cluster_cfg.flux_nudge,
                        policies_dir=config.release.policies, path=config.git.path,
                        environment=config.git.environment or (
                            scope.environment(config.git.path) if config.git.path
                            else "default"),
                        write_mode=config.write.write_mode,
                        revert_mode=config.write.revert_mode,
                        auto_merge=config.write.auto_merge,
                        merge_method=config.write.merge_method,
                        forge_poll=(2.0, config.write.forge_poll_max)))
    # The delivery gauges, computed when /metrics is scraped (docs/stats.md).
    metrics.track_delivery(daemon.surface.delivery.figures)
    outbox = notifysetup.attach(config.notify, daemon, branch=mirror.branch)
    if elector is not None:
        def started() -> None:
            metrics.set_leader(True)
            daemon.resync()  # the new leader reconciles everything at once

        elector.on_started = started
        elector.on_stopped = lambda: metrics.set_leader(False)
    else:
        metrics.set_leader(True)
    server = None
    if address is not None:
        dash = config.dashboard
        app = http.create_app(
            daemon.surface, webhook_secret=secret, metrics=metrics,
            dashboard=daemon.surface if dash.ui else None,
            dashboard_config=ui.Config(tokens=tokens, commit_url=dash.commit_url_template))
        server = http.serve(app, *address)
        log.info("serving HTTP on %s:%d", address[0], server[0].config.port)
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        daemon.start()
        if elector is not None:
            elector.start()
        log.info("reconciling %s (branch %s)", mirror.url, mirror.branch)
        while not stopping.wait(1.0):
            pass
    finally:
        daemon.shutdown()
        if outbox is not None:
            outbox.close(5.0)  # what is queued gets 5 s to go out
        if elector is not None:
            elector.stop()
        if server is not None:
            http.shutdown(*server)
        if signer is not None:
            signer.close()
