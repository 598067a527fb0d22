"""Soak: ``reconciler run`` releasing, baking and reverting across 100 rollouts for
half an hour; resident memory, open file descriptors and threads must stay flat.

The world is the one of bench/daemon_latency.py, whose helpers this script imports:
the API emulator in this process, a bare repository (over ``file://``, or over smart
HTTP with ``--transport http``: the tests' ``git http-backend`` server), and the
daemon as a separate process with the production intervals (fetch every 30 s, full
resync every 300 s) and its HTTP server on a free loopback port. This script plays:

* the image reflector: every ``--interval`` seconds (jittered ±20%, fixed seed) the
  next rollout in turn that is not busy gets a new, higher tag in its ImagePolicy;
* Flux: 0.5 s after the remote's branch moves, the Kustomizations whose substitute
  changed in git take the new value into their spec (a new generation), and every
  Kustomization reports the new head applied, Ready for its generation (they all
  source from the one GitRepository, as in a real fleet): ``daemon_latency.flux_applied``,
  what the daemon requires before a bake (engine/applied.py);
* the HealthChecks: healthy, except for every ``--fail-every``-th release, whose
  check turns Unhealthy as soon as the release shows in the Rollout's history, so
  the daemon reverts it; the check is healthy again once the bake is marked failed.

Bakes last 1 s (even rollouts) or 2 s (odd ones). Every 10 s the script samples the
daemon from ``/proc/<pid>`` (VmRSS, RssAnon, RssFile and the part of it that is the
mirror's pack files, open fds, threads, CPU time), its
``/metrics`` (releases, reverts, bake outcomes, reconcile errors), the remote
(commit count) and the daemon's mirror on disk.

Baselines in the same run: the daemon once it has reconciled every rollout and
before the first release (``synced``), and again after ``--warmup`` minutes of
releases (``start``); peak, end and the least-squares slope are taken over the
samples after the warm-up. Exit status: 1 if the daemon dies, 2 if releases stop
landing (no new commit on the remote for ``--stall`` seconds while tags are offered,
or a release not settled within 60 s).

Run: ``.venv/bin/python bench/soak.py [--minutes 30] [--rollouts 100] [--interval 2.5]
[--transport file|http] [--history N] [--out samples.json|.csv]``; ``--history 50``
starts the daemon on 50 earlier releases of every rollout (bench/soak_history.py), so
its bounded indexes are full from the start and the slope after the warm-up is growth,
not filling (``--minutes`` counts after the
warm-up). ``BENCH_DAEMON_PREFIX`` wraps the daemon as in bench/daemon_latency.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package; importing daemon_latency also puts the project on sys.path.
import daemon_latency
import soak_history
import soakflux
import soakreport
from daemon_latency import IMAGE_API, ROLLOUT_API
from soakreport import SAMPLE_EVERY, SETTLE_TIMEOUT

from reconciler.core import status
from reconciler.core.status import tag_of
from reconciler.emulator.server import Emulator
from tests.support import shardworld

SAVE_EVERY = round(300 / SAMPLE_EVERY)  # samples between writes of --out: five minutes


@dataclass
class Pending:
    """A tag offered to one rollout, followed until its bake settles."""

    tag: str
    fail: bool
    offered: float
    unhealthy: bool = False


class Soak:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.args, self.work = args, work
        self.names = [f"app{i}" for i in range(args.rollouts)]
        self.bare = daemon_latency.make_repo(work, args.rollouts)
        if args.history:
            started = time.monotonic()
            written = soak_history.seed_history(
                self.bare, apps=args.rollouts, rounds=args.history,
                fail_every=args.fail_every,
                template=shardworld.APP.replace("{labels}", ""))
            # A forge keeps a fleet's past packed; loose, a long one (~1M objects at
            # --history 1000) takes git http-backend past the stand-in's 60 s to
            # pack for the first clone.
            subprocess.run(["git", "--git-dir", str(self.bare), "repack", "-a", "-d", "-q"],
                           check=True)
            print(f"history: {written} earlier commits and their verdicts written and "
                  f"packed in {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)
        self.read = daemon_latency.ref_reader(self.bare)
        self.closing = contextlib.ExitStack()
        self.repo_args = ["--repo", f"file://{self.bare}"]
        self.repo_env: dict[str, str] = {}
        if args.transport == "http":
            # The transport of production remotes (smart HTTP with basic auth), served by
            # the tests' git http-backend server in this process.
            sys.path.insert(0, str(daemon_latency.ROOT))
            from tests.support import githttp
            server = self.closing.enter_context(githttp.serve_git_http(work, home=work / "home"))
            self.repo_args = ["--repo", server.url_for(self.bare), "--username", server.username]
            self.repo_env = {"RECONCILER_GIT_PASSWORD": server.password}
        self.emulator = Emulator(history_limit=20000).start()
        daemon_latency.seed(self.emulator, args.rollouts, self.read())
        for i, name in enumerate(self.names):
            # daemon_latency's fleet, with short bakes and a deploy timeout that only a
            # stuck Flux would reach.
            self.emulator.apply({
                "apiVersion": ROLLOUT_API, "kind": "Rollout",
                "metadata": {"name": name, "namespace": "apps"},
                "spec": {"releasesImagePolicy": {"name": name},
                         "bakeTime": f"{1 + i % 2}s", "deployTimeout": "2m",
                         "healthCheckSelector": {"selector": {"matchLabels": {"app": name}}}}})
            if args.history:
                # The tags a fleet that has run for months has seen: the status's
                # availableReleases (bounded at 50) start full too, as on such a fleet,
                # instead of filling by one per release for 3.5 hours.
                self.emulator.set_status(ROLLOUT_API, "Rollout", namespace="apps", name=name,
                                         status={"availableReleases": [
                                             status.version_info(t)
                                             for t in soak_history.tags(args.history)]})
        self.flux = soakflux.Flux(self.emulator, self.bare, self.names)
        self.samples: list[dict[str, Any]] = []
        self.settled: list[tuple[float, float, str]] = []  # (offered at, seconds, outcome)
        self.stuck: list[str] = []
        self.offered = 0
        self.t0 = 0.0
        self.gc: subprocess.Popen[bytes] | None = None

    # -- the daemon -------------------------------------------------------------

    def start_daemon(self) -> None:
        kubeconfig = self.emulator.write_kubeconfig(self.work / "kubeconfig")
        self.log_path = self.work / "daemon.log"
        # A wrapper given in BENCH_DAEMON_PREFIX (a tracemalloc harness, say) must run
        # the daemon in its own process: /proc figures are read from the process started.
        prefix = os.environ.get("BENCH_DAEMON_PREFIX", "").split()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [*prefix, sys.executable, "-m", "reconciler", "run", *self.repo_args,
                 "--kubeconfig", str(kubeconfig), "--workers", "4", "--no-flux-nudge",
                 "--http-address", "127.0.0.1:0"],
                env={**daemon_latency.ENV, "RECONCILER_CACHE_DIR": str(self.work / "cache"),
                     **self.repo_env},
                stdout=log, stderr=subprocess.STDOUT)

        def port() -> int | None:
            self.check_alive()
            found = re.search(r"serving HTTP on [0-9.]+:(\d+)",
                              self.log_path.read_text(errors="replace"))
            return int(found.group(1)) if found else None
        self.port: int = daemon_latency.wait(port, "the HTTP server to listen", timeout=300,
                                             step=0.1)

    def housekeep_remote(self) -> None:
        """``git gc --auto`` in the remote, at most one at a time, when it is reached
        over ``file://``. A git server does this after each push (receive-pack's
        ``receive.autogc``, which ``--transport http`` runs), so its packs stay few;
        libgit2's local push writes a pack per push and packs nothing, and a remote of
        hundreds of packs made each of the daemon's fetches and pushes slower the
        longer the soak ran (430 packs after 12 minutes)."""
        if self.args.transport != "file":
            return
        if self.gc is None or self.gc.poll() is not None:
            self.gc = subprocess.Popen(["git", "-C", str(self.bare), "gc", "--auto", "--quiet"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-30:]
            raise DaemonDied(f"the daemon exited with {self.proc.returncode}; log tail:\n"
                             + "\n".join(tail))

    def stop_daemon(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    # -- samples ----------------------------------------------------------------

    def sample(self, phase: str) -> dict[str, Any]:
        self.check_alive()
        s: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 1), "phase": phase}
        try:
            s.update(soakreport.proc_figures(self.proc.pid))
        except FileNotFoundError:  # it exited between the check and the read
            self.proc.wait(5)
            self.check_alive()
            raise
        s["mirror_bytes"], s["mirror_files"] = soakreport.disk_usage(self.work / "cache")
        s["commits"] = soakreport.commits(self.bare)
        s["offered"] = self.offered
        s["settled"] = len(self.settled)
        s["stuck"] = len(self.stuck)
        s["api_requests"] = self.emulator.count()
        self.emulator.clear_log()  # the bench process must not grow either
        s["watches"] = self.emulator.watchers()
        s.update({f"m_{k}": v for k, v in soakreport.scrape(self.port).items()})
        self.samples.append(s)
        if self.args.out and len(self.samples) % SAVE_EVERY == 0:
            soakreport.write_samples(self.args.out, self, self.args)
        print(f"{s['t']:7.0f}s {phase:7} rss {s['VmRSS'] / 1024:6.1f} MiB  fds {s['fds']:3.0f}"
              f"  threads {s['threads']:3.0f}  commits {s['commits']:5}  "
              f"settled {s['settled']:4}  stuck {s['stuck']}", file=sys.stderr, flush=True)
        return s

    # -- the fleet --------------------------------------------------------------

    def offer(self, i: int, pending: dict[int, Pending], version: dict[int, int]) -> None:
        version[i] += 1
        self.offered += 1
        tag = f"1.0.{version[i]}"
        fail = self.offered % self.args.fail_every == 0
        pending[i] = Pending(tag, fail, time.monotonic())
        self.emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps",
                                 name=self.names[i], status={"latestRef": {"tag": tag}})

    def follow(self, i: int, p: Pending, pending: dict[int, Pending]) -> None:
        name = self.names[i]
        obj = self.emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name=name)
        history = ((obj or {}).get("status") or {}).get("history") or []
        entry = next((e for e in history if e.get("action") == "release"
                      and tag_of(e.get("version")) == p.tag), None)
        state = (entry or {}).get("bakeStatus")
        if p.fail and not p.unhealthy and state in ("Deploying", "InProgress"):
            self.emulator.set_status(ROLLOUT_API, "HealthCheck", namespace="apps", name=name,
                                     status={"status": "Unhealthy", "message": "soak",
                                             "lastErrorTime": daemon_latency.now()})
            p.unhealthy = True
        elapsed = time.monotonic() - p.offered
        if state in ("Succeeded", "Failed", "Cancelled") or elapsed > SETTLE_TIMEOUT:
            if elapsed > SETTLE_TIMEOUT and state not in ("Succeeded", "Failed", "Cancelled"):
                self.stuck.append(f"{name} {p.tag} ({state or 'not released'})")
            else:
                self.settled.append((p.offered - self.t0, elapsed, str(state)))
            if p.unhealthy:
                self.emulator.set_status(ROLLOUT_API, "HealthCheck", namespace="apps",
                                         name=name, status={"status": "Healthy",
                                                            "message": ""})
            del pending[i]

    def run(self) -> None:
        args = self.args
        rng = random.Random(args.seed)
        self.flux.thread.start()
        self.start_daemon()
        self.t0 = time.monotonic()

        def all_reconciled() -> bool:
            self.check_alive()
            done = sum(1 for r in self.emulator.objects(ROLLOUT_API, "Rollout")
                       if (r.get("status") or {}).get("conditions"))
            return done == len(self.names)
        daemon_latency.wait(all_reconciled, "first reconcile of every rollout", timeout=600,
                            step=0.5)
        time.sleep(SAMPLE_EVERY)  # let the initial sync's status writes and echoes settle
        self.sample("synced")
        pending: dict[int, Pending] = {}
        version = dict.fromkeys(range(args.rollouts), 0)
        turn = 0
        begin = time.monotonic()
        warm_end = begin + args.warmup * 60
        end = warm_end + args.minutes * 60
        next_offer = begin
        next_sample = begin + SAMPLE_EVERY
        while True:
            now = time.monotonic()
            if now >= end:
                break
            if now >= next_offer:
                for _ in range(args.rollouts):
                    i, turn = turn, (turn + 1) % args.rollouts
                    if i not in pending:
                        self.offer(i, pending, version)
                        break
                step = args.interval if now >= warm_end else args.warmup_interval
                next_offer += step * rng.uniform(0.8, 1.2)
            for i, p in list(pending.items()):
                self.follow(i, p, pending)
            if now >= next_sample:
                self.sample("warmup" if now < warm_end else "soak")
                next_sample += SAMPLE_EVERY
                self.housekeep_remote()
            time.sleep(0.05)
        deadline = time.monotonic() + SETTLE_TIMEOUT + 5
        while pending and time.monotonic() < deadline:
            for i, p in list(pending.items()):
                self.follow(i, p, pending)
            time.sleep(0.05)
        self.sample("end")


class DaemonDied(RuntimeError):
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0,
                        help="length of the soak after the warm-up")
    parser.add_argument("--warmup", type=float, default=2.0, help="minutes before 'start'")
    parser.add_argument("--rollouts", type=int, default=100)
    parser.add_argument("--interval", type=float, default=2.5,
                        help="seconds between new tags (jittered ±20%%)")
    parser.add_argument("--warmup-interval", type=float,
                        help="seconds between new tags during the warm-up (default: "
                             "--interval): a faster warm-up brings the daemon to the state "
                             "thousands of releases leave it in, then the soak measures "
                             "at --interval")
    parser.add_argument("--fail-every", type=int, default=5,
                        help="every Nth release fails its HealthCheck and is reverted")
    parser.add_argument("--stall", type=float, default=60.0,
                        help="seconds without a new commit that count as releases stopping")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--history", type=int, default=0, metavar="N",
                        help="N earlier releases of every rollout in git before the start "
                             "(bench/soak_history.py): the daemon's bounded indexes start "
                             "full, as on a fleet that has run for months")
    parser.add_argument("--transport", choices=("file", "http"), default="file",
                        help="how the daemon reaches the remote: file:// or smart HTTP "
                             "(git http-backend)")
    parser.add_argument("--out", type=Path,
                        help="write the samples here (.json or .csv), every five minutes "
                             "and at the end: a soak stopped by anything, even a machine "
                             "going away, can be read back with --report (.json)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (daemon log, repositories)")
    parser.add_argument("--report", type=Path, metavar="JSON",
                        help="only print the report of samples written with --out")
    args = parser.parse_args()
    if args.warmup_interval is None:
        args.warmup_interval = args.interval
    if args.report:
        return soakreport.report_file(args.report)
    tmp = tempfile.mkdtemp(prefix="reconciler-soak-")
    soak = Soak(args, Path(tmp))
    died = False
    try:
        soak.run()
    except DaemonDied as exc:
        print(f"DAEMON DIED: {exc}")
        died = True
    except KeyboardInterrupt:  # ends the soak early; what was sampled is reported
        print(f"stopped by SIGINT after {soak.samples[-1]['t'] if soak.samples else 0:.0f} s")
    finally:
        soak.flux.stop.set()
        soak.stop_daemon()
        soak.emulator.stop()
        soak.closing.close()
        if soak.gc is not None:
            soak.gc.wait()
        if args.out:
            soakreport.write_samples(args.out, soak, args)
    status = soakreport.report(soak, args) if soak.samples else 1
    if args.keep:
        print(f"work directory kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if died else status


if __name__ == "__main__":
    raise SystemExit(main())
