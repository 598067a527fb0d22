"""Sharding: N rollouts releasing at once, one daemon against K shard daemons.

Two worlds in turn, built the same way: the API emulator in this process, a bare
repository served by ``git http-backend`` on loopback (tests/support/githttp.py)
holding N apps (tests/support/shardworld.py; every
Rollout labelled ``sharding.fluxcd.io/key: shard<i % K + 1>``, in git and in the
cluster), and ``reconciler run`` processes speaking to both:

- **one daemon**: no selector, it owns all N;
- **K shards**: one daemon per shard, ``--watch-label-selector
  sharding.fluxcd.io/key=shardJ``, all writing the same branch.

Once every Rollout is reconciled, the script writes a new tag into all N
ImagePolicies, one after the other as fast as it can, stamping each write. A thread
polls the remote's branch ref (every 2 ms) and stamps each head it sees; a commit's
landing time is the first stamp of a head that contains it (the history is linear,
so that is exact to the poll). Per rollout: latency from its ImagePolicy write to
its release commit on the remote.

Counted at the end, from git and the daemons:

- **lost**: rollouts without a release commit of the new tag when the run ends;
- **duplicate**: release commits beyond one per rollout;
- **forced**: branch updates in the remote's reflog that were not fast-forwards, and
  heads seen by the poller that the final branch does not contain;
- **push retries per commit**: pushes refused as non-fast-forward over release
  commits pushed (``reconciler_git_push_duration_seconds_count{result="rejected"}``
  and ``reconciler_releases_total`` of every daemon's /metrics);
- **stale decisions**: passes that found the branch moved under their decision
  and decided again (daemon logs).

Why not ``file://``, as bench/daemon_latency.py uses: libgit2's local transport checks
fast-forward against the refs it listed when it connected, then writes the remote ref
without compare-and-swap (``local_push_update_remote_ref`` in
``src/libgit2/transports/local.c`` calls ``git_reference_create`` with force set), so
two processes pushing to one ``file://`` repository can overwrite each other's commit.
``git receive-pack`` behind any git server locks the ref and checks its old value.
``--transport file`` shows it (the forced column).

Run: ``.venv/bin/python bench/shards.py [--rollouts 2000] [--shards 4] [--timeout 1800]``.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from daemon_latency import ENV, pct, sh  # noqa: E402

from reconciler.emulator.server import Emulator  # noqa: E402
from tests.support import githttp, shardworld  # noqa: E402

TAG = "1.0.1"


@dataclass
class Run:
    """What one world measured."""

    name: str
    daemons: int
    latency: list[float] = field(default_factory=list)  # seconds, one per rollout landed
    drain: float = 0.0  # first ImagePolicy write to the last release commit landing
    offer_spread: float = 0.0  # first to last ImagePolicy write
    lost: int = 0
    duplicate: int = 0
    forced: int = 0
    releases: float = 0.0
    rejected: float = 0.0
    stale: int = 0


class RefPoller:
    """Stamps every value of the remote's branch ref, as fast as ``step`` allows."""

    def __init__(self, bare: Path, step: float = 0.002) -> None:
        self.ref = bare / "refs" / "heads" / "main"
        self.bare = bare
        self.step = step
        self.seen: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def read(self) -> str:
        try:
            return self.ref.read_text().strip()
        except FileNotFoundError:  # packed meanwhile (libgit2 never packs; git gc might)
            return sh("git", "--git-dir", str(self.bare), "rev-parse", "refs/heads/main").strip()

    def _run(self) -> None:
        last = ""
        while not self._stop.is_set():
            head = self.read()
            if head and head != last:
                self.seen.append((time.perf_counter(), head))
                last = head
            time.sleep(self.step)

    def start(self) -> RefPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def make_repo(work: Path, n: int, k: int) -> Path:
    src = work / "src"
    for rel, text in shardworld.files(n, lambda i: f"shard{i % k + 1}").items():
        path = src / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(str(text))
    bare = work / "srv" / "remote.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(bare))
    for key, value in (("core.logAllRefUpdates", "always"),  # to check nothing was forced
                       ("receive.denyNonFastForwards", "true"), ("http.receivepack", "true"),
                       # No gc in the middle of the run (a forge runs it on its own time).
                       ("receive.autogc", "false")):
        sh("git", "--git-dir", str(bare), "config", key, value)
    sh("git", "init", "-q", "-b", "main", str(src))
    sh("git", "add", "-A", cwd=src)
    sh("git", "commit", "-q", "-m", "fleet", cwd=src)
    sh("git", "push", "-q", str(bare), "main", cwd=src)
    return bare


@dataclass
class Remote:
    url: str
    username: str | None = None
    password: str | None = None


def start_daemon(work: Path, remote: Remote, kubeconfig: Path, name: str,
                 selector: str | None) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = work / f"{name}.log"
    extra = ["--watch-label-selector", selector] if selector else []
    if remote.username:
        extra += ["--username", remote.username]
    env = {**ENV, "RECONCILER_CACHE_DIR": str(work / f"cache-{name}"), "PYTHONPATH": str(ROOT)}
    if remote.password:
        env["RECONCILER_GIT_PASSWORD"] = remote.password
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "run", "--repo", remote.url,
             "--kubeconfig", str(kubeconfig), "--fetch-interval", "30",
             "--resync-interval", "3600", "--workers", "4", "--no-flux-nudge",
             "--http-address", "127.0.0.1:0", *extra], env=env, stdout=log, stderr=log)
    return proc, log_path


def scrape(log_path: Path) -> dict[str, float]:
    """The daemon's push and release counters, from its /metrics."""
    port = re.search(r"serving HTTP on [\d.]+:(\d+)", log_path.read_text())
    assert port, f"no HTTP port in {log_path}"
    with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/metrics", timeout=30) as r:
        text = r.read().decode()
    out = {}
    for key, pattern in (("releases", r"^reconciler_releases_total (\S+)"),
                         ("rejected", r'^reconciler_git_push_duration_seconds_count'
                                      r'\{result="rejected"\} (\S+)')):
        m = re.search(pattern, text, re.M)
        out[key] = float(m.group(1)) if m else 0.0
    return out


def commits(bare: Path) -> list[tuple[str, str, str, str]]:
    """(sha, Rollout, Release, Action) along the branch, oldest first."""
    fmt = ("%H%x1f%(trailers:key=Rollout,valueonly,separator=)%x1f"
           "%(trailers:key=Release,valueonly,separator=)%x1f"
           "%(trailers:key=Action,valueonly,separator=)")
    out = sh("git", "--git-dir", str(bare), "log", "--reverse", "--first-parent",
             f"--format={fmt}", "refs/heads/main")
    return [tuple(p.strip() for p in line.split("\x1f"))  # type: ignore[misc]
            for line in out.splitlines() if line]


def forced_updates(bare: Path, seen: list[tuple[float, str]]) -> int:
    def ancestor(a: str, b: str) -> bool:
        return subprocess.run(["git", "--git-dir", str(bare), "merge-base", "--is-ancestor",
                               a, b], env=ENV, capture_output=True).returncode == 0

    bad = 0
    reflog = bare / "logs" / "refs" / "heads" / "main"
    for line in reflog.read_text().splitlines():
        old, new = line.split()[:2]
        if old != "0" * 40 and not ancestor(old, new):
            bad += 1
    final = sh("git", "--git-dir", str(bare), "rev-parse", "refs/heads/main").strip()
    known = {sha for sha, *_ in commits(bare)}
    bad += sum(1 for _, head in seen if head not in known or not ancestor(head, final))
    return bad


def measure(name: str, n: int, k: int, sharded: bool, timeout: float, work: Path,
            transport: str) -> Run:
    bare = make_repo(work, n, k)
    if transport == "file":
        return _measure(name, n, k, sharded, timeout, work, bare, Remote(f"file://{bare}"))
    with githttp.serve_git_http(bare.parent, home=work / "http-home") as server:
        return _measure(name, n, k, sharded, timeout, work, bare, Remote(
            server.url_for(bare), server.username, server.password))


def _measure(name: str, n: int, k: int, sharded: bool, timeout: float, work: Path,
             bare: Path, remote: Remote) -> Run:
    poller = RefPoller(bare)
    emulator = Emulator(history_limit=max(20000, 20 * n)).start()
    shardworld.seed(emulator, n, lambda i: f"shard{i % k + 1}", head=poller.read())
    kubeconfig = emulator.write_kubeconfig(work / "kubeconfig")
    selectors = ([f"sharding.fluxcd.io/key=shard{j + 1}" for j in range(k)] if sharded
                 else [None])
    daemons = [start_daemon(work, remote, kubeconfig, f"daemon-{j + 1}", sel)
               for j, sel in enumerate(selectors)]
    run = Run(name, len(daemons))
    try:
        deadline = time.monotonic() + 600
        while sum(1 for r in emulator.objects(shardworld.ROLLOUT_API, "Rollout")
                  if (r.get("status") or {}).get("conditions")) < n:
            assert time.monotonic() < deadline, "the daemons did not reconcile every rollout"
            assert all(p.poll() is None for p, _ in daemons), "a daemon exited"
            time.sleep(0.5)
        time.sleep(2.0)  # the initial status writes settle
        print(f"{name}: {n} rollouts reconciled; offering {TAG} to all", file=sys.stderr)
        poller.start()
        offered: dict[str, float] = {}
        for i in range(n):
            offered[f"apps/app{i}"] = time.perf_counter()
            shardworld.offer(emulator, f"app{i}", TAG)
        run.offer_spread = max(offered.values()) - min(offered.values())
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            landed = {r for _, r, tag, action in commits(bare)
                      if action == "release" and tag == TAG}
            if len(landed) >= n:
                break
            assert all(p.poll() is None for p, _ in daemons), "a daemon exited"
            time.sleep(2.0)
        time.sleep(1.0)  # anything more (a duplicate) has a moment to land
        for _, log_path in daemons:
            counts = scrape(log_path)
            run.releases += counts["releases"]
            run.rejected += counts["rejected"]
            run.stale += len(re.findall(r"the branch moved since the decision",
                                        log_path.read_text()))
    finally:
        poller.stop()
        for proc, _ in daemons:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in daemons:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        emulator.stop()
    history = commits(bare)
    order = {sha: idx for idx, (sha, *_) in enumerate(history)}
    landed_at: dict[str, float] = {}
    done = -1
    for stamp, head in poller.seen:
        idx = order.get(head, -1)
        for sha, *_ in history[done + 1: idx + 1]:
            landed_at[sha] = stamp
        done = max(done, idx)
    per_rollout: dict[str, list[str]] = {}
    for sha, rollout, tag, action in history:
        if action == "release" and tag == TAG:
            per_rollout.setdefault(rollout, []).append(sha)
    run.lost = n - len(per_rollout)
    run.duplicate = sum(len(shas) - 1 for shas in per_rollout.values())
    run.forced = forced_updates(bare, poller.seen)
    run.latency = [landed_at[shas[0]] - offered[rollout]
                   for rollout, shas in per_rollout.items() if shas[0] in landed_at]
    if run.latency:
        last = max(landed_at[shas[0]] for shas in per_rollout.values() if shas[0] in landed_at)
        run.drain = last - min(offered.values())
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rollouts", type=int, default=2000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds to wait for every release after the offers")
    parser.add_argument("--transport", choices=("http", "file"), default="http")
    args = parser.parse_args()
    n, k = args.rollouts, args.shards
    runs = []
    for name, sharded in (("one daemon", False), (f"{k} shards", True)):
        with tempfile.TemporaryDirectory(prefix="reconciler-shards-") as tmp:
            runs.append(measure(name, n, k, sharded, args.timeout, Path(tmp), args.transport))
        print(f"measured {name}", file=sys.stderr)
    print(f"\n{n} rollouts, a new tag offered to all at once, over {args.transport} "
          f"(load average {os.getloadavg()[0]:.1f} at the end)\n")
    print(f"{'world':>10} | {'daemons':>7} | {'lost':>4} | {'dup':>3} | {'forced':>6} | "
          f"{'retries/commit':>14} | {'stale':>5} | {'p50 s':>7} | {'p99 s':>7} | "
          f"{'drain s':>7} | {'commits/s':>9}")
    print("-" * 104)
    for r in runs:
        retries = r.rejected / r.releases if r.releases else float("nan")
        rate = len(r.latency) / r.drain if r.drain else float("nan")
        print(f"{r.name:>10} | {r.daemons:>7} | {r.lost:>4} | {r.duplicate:>3} | "
              f"{r.forced:>6} | {retries:>14.2f} | {r.stale:>5} | "
              f"{pct(r.latency, .5) / 1000:>7.2f} | {pct(r.latency, .99) / 1000:>7.2f} | "
              f"{r.drain:>7.1f} | {rate:>9.1f}")
    print(f"\n(ImagePolicy writes took {runs[0].offer_spread:.1f} s and "
          f"{runs[1].offer_spread:.1f} s from first to last)")
    return 0 if all(r.lost == r.duplicate == r.forced == 0 for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
