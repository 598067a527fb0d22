"""What the fault tests (test_faults_*.py) watch a daemon through: a started daemon
(``reconciler run`` as a process that has reconciled podinfo once and says it is
ready), the signals a person sees (``/readyz`` and its reason, the Rollout's Ready
condition, the daemon's log, ``/metrics``), the bound on fetch attempts the backoff
allows over a window, and the one line of figures each test prints.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import E2E, FETCH_INTERVAL, RESYNC, DaemonProcess


def http_port(e2e: E2E, daemon: DaemonProcess) -> int:
    def listening() -> str:
        found = re.search(r"serving HTTP on [0-9.]+:(\d+)", daemon.log())
        return found.group(1) if found else ""
    return int(e2e.wait_until("the HTTP server to listen", listening))


def get(port: int, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
            code, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        code, raw = err.code, err.read()
        err.close()
    try:
        return code, json.loads(raw)
    except ValueError:
        return code, raw.decode()


def readyz(port: int) -> tuple[int, str]:
    code, body = get(port, "/readyz")
    return code, body.get("reason", "") if isinstance(body, dict) else str(body)


def not_ready(e2e: E2E, port: int, saying: str) -> str:
    """Wait until /readyz answers 503 with a reason containing ``saying``; the reason."""
    def check() -> str:
        code, why = readyz(port)
        return why if code == 503 and saying in why else ""
    return e2e.wait_until(f"/readyz 503 saying {saying!r}", check)


def reconciles(port: int) -> float:
    """reconciler_reconciles_total, every result summed, from /metrics."""
    _, text = get(port, "/metrics")
    return sum(float(m) for m in re.findall(
        r"^reconciler_reconciles_total\{[^}]*\} ([0-9.e+]+)$", str(text), re.M))


def ready(e2e: E2E) -> dict[str, Any]:
    return e2e.condition("Ready")


def reason_is(e2e: E2E, reason: str) -> Callable[[], dict[str, Any]]:
    return lambda: ready(e2e) if ready(e2e).get("reason") == reason else {}


def log_lines(daemon: DaemonProcess, pattern: str) -> int:
    return len(re.findall(pattern, daemon.log()))


def started(e2e: E2E, *flags: str) -> tuple[DaemonProcess, int]:
    """A daemon that has reconciled podinfo once and says it is ready."""
    daemon = e2e.start_daemon(*flags)
    port = http_port(e2e, daemon)
    e2e.wait_until("podinfo up to date", lambda: ready(e2e).get("reason") == "UpToDate")
    e2e.wait_until("/readyz 200", lambda: readyz(port)[0] == 200)
    return daemon, port


def released(e2e: E2E, version: str) -> Callable[[], list[Any]]:
    return lambda: e2e.reconciler_commits(action="release", release=version)


def figures(fault: str, **values: object) -> None:
    print(f"\n[{fault}] " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                      for k, v in values.items()))


def fetch_bound(window: float) -> int:
    """Fetch attempts the daemon may make in ``window`` seconds while fetches fail:
    the periodic fetch backs off from the fetch interval (doubling, jitter down to
    0.75); the one rollout with a release due tries on every resync (RESYNC seconds)
    and on its own retry timer (1 s doubling). Fetching at the fixed interval alone
    would exceed it; a busy loop would exceed it a hundredfold."""
    interval = float(FETCH_INTERVAL)
    periodic, step, t = 0, 0.75 * interval, 0.0
    while t < window:
        periodic, t, step = periodic + 1, t + step, step * 2
    rollout = int(window / RESYNC) + 1 + int(window).bit_length() + 1
    return periodic + rollout


def fetch_delays(daemon: DaemonProcess) -> list[float]:
    """The delays the daemon logged before each next fetch, in order."""
    return [float(d) for d in re.findall(r"next fetch in ([0-9.]+)s", daemon.log())]
