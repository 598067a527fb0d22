"""``reconciler run``: connect, start the daemon, stop it cleanly on SIGTERM/SIGINT.

On a signal the daemon stops taking work; a reconcile in the middle of a push
finishes it (the push either lands whole or not at all; the next start sees
which from git), the watches stop, and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from pythonjsonlogger.json import JsonFormatter

from reconciler.adapters import cluster as k8s
from reconciler.adapters import git
from reconciler.engine.daemon import Daemon, Options

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


def run(*, mirror: git.Mirror, kubeconfig: Path | None, namespace: str | None, workers: int,
        resync_interval: float, fetch_interval: float, flux_source: str, flux_nudge: bool,
        policies_dir: Path | None, log_format: str) -> None:
    setup_logging(log_format)
    cluster = k8s.Cluster.connect(kubeconfig=kubeconfig, namespace=namespace)
    daemon = Daemon(cluster=cluster, mirror=mirror, options=Options(
        namespace=namespace, workers=workers, resync_interval=resync_interval,
        fetch_interval=fetch_interval, flux_source=flux_source, flux_nudge=flux_nudge,
        policies_dir=policies_dir))
    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    log.info("reconciling %s (branch %s)", mirror.url, mirror.branch)
    while not stopping.wait(1.0):
        pass
    daemon.shutdown()
