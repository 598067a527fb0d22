"""Pull-request latency: ImagePolicy change -> pull request open, and a person's merge
-> bake start, beside the direct-push path measured in the same run.

The world is the one of bench/daemon_latency.py, whose helpers this script imports:
the API emulator in this process, a bare repository, and ``reconciler run`` as a
separate process reading the repository over ``file://``. The pull-request paths add
the GitHub stand-in of the test suite (``tests/support/forges/``) on loopback, holding
that same bare repository: the daemon pushes its branch there and opens the pull
request through the stand-in's API, and a person's merge is made by the stand-in with
``git merge --no-ff`` in a clone, pushed to ``main``. Three worlds, each with its own
emulator, repository and daemon, run side by side and take their events in turn
(round by round), so a burst of load on the machine hits every path alike:

* **pull request, webhooks**: ``--write-mode pull-request --forge github``, the
  stand-in POSTing its pull-request webhooks to the daemon's ``/hooks/git``;
* **direct push** (the baseline): the default write mode;
* **pull request, polling**: as the first, without webhooks, ``--fetch-interval 5``
  (``--poll-events``, fewer: each event waits on the daemon's timers). Its merge comes
  6.5 to 11.5 s after the pull request opened (uniform, fixed seed): the writer reads an
  open pull request 2 s, 6 s and 14 s after opening it (then backing off to
  ``--forge-poll-max``), so such a merge is found by the periodic fetch, as a merge after
  a real review mostly would be, or at worst by the read at 14 s. A merge at once would
  be found by the read at 2 s; a fixed delay would lock the bench's rhythm to the fetch
  timer's (each event ends just after a fetch) and always hit the same phase.

Per event, on the next of ``--rollouts`` rollouts in turn (each event a fresh release):

* open (pull request): from writing the ImagePolicy's ``status.latestRef.tag`` to the
  stand-in holding an open pull request on ``reconciler/default/apps/appN`` whose body
  proposes that tag; then ``merge_as`` (a person's merge commit). Merge -> bake start
  runs from just before the merge call to the Rollout's ``status.history[0]`` naming the
  tag with a ``bakeStartTime``; Flux is played (``flux_applied``) as soon as the merge
  call returns, i.e. the merge commit is on ``main``;
* commit (direct): from the same write to the release commit being the remote's head;
  commit -> bake start from then on, Flux played the same way at once.

Then a HealthCheck turns Unhealthy, the daemon reverts by a push (``--revert-mode
direct``, the default), and the check is Healthy again. The merge call itself (the
stand-in's clone, merge and push, in this process) is printed below the table.

Run: ``.venv/bin/python bench/pr_latency.py [--events 50] [--poll-events 20]
[--rollouts 10]`` (about five minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# bench/ is not a package; importing daemon_latency also puts the project on sys.path.
import daemon_latency
from daemon_latency import IMAGE_API, ROLLOUT_API, flux_applied, make_repo, pct, ref_reader, seed

from reconciler.core import proposals
from reconciler.core.status import tag_of
from reconciler.emulator.server import Emulator
from tests.support.forges import STAND_INS
from tests.support.forges.server import StandIn
from tests.support.gitrepo import BareRepo

REPO = "team/fleet"
TOKEN = "bench-forge-token"
SECRET = b"bench-webhook-secret"
WARMUP = 3  # events per path, not counted
REVIEW = (6.5, 11.5)  # seconds from open to merge on the polling path (see above)
PATHS = {"pr": "pull request, webhooks", "direct": "direct push",
         "poll": "pull request, polling (fetch 5 s)"}


class World:
    """One emulator, one bare repository, one daemon; a forge stand-in unless direct."""

    def __init__(self, kind: str, work: Path, rollouts: int,
                 *, review: tuple[float, float] = (0.0, 0.0)) -> None:
        self.kind, self.work, self.review = kind, work, review
        self.rng = random.Random(11)
        work.mkdir()
        self.closing = contextlib.ExitStack()
        self.bare = make_repo(work, rollouts)
        self.read = ref_reader(self.bare)
        self.emulator = Emulator(history_limit=20000).start()
        self.closing.callback(self.emulator.stop)
        self.stand_in: StandIn | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = work / "daemon.log"
        self.out: dict[str, list[float]] = {"open": [], "bake": [], "merge": [], "landed": []}
        self.version = dict.fromkeys(range(rollouts), 0)
        self.events = 0
        try:
            self.setup()
        except BaseException:
            self.closing.close()
            raise

    def setup(self) -> None:
        kind, work = self.kind, self.work
        seed(self.emulator, len(self.version), self.read())
        flags = ["--fetch-interval", "5" if kind == "poll" else "30"]
        if kind != "direct":
            self.stand_in = STAND_INS["github"](token=TOKEN)
            self.stand_in.add_repo(REPO, BareRepo(path=self.bare, home=work / "home"))
            self.closing.enter_context(self.stand_in.serving())
            (work / "forge-token").write_text(TOKEN + "\n")
            flags += ["--write-mode", "pull-request", "--forge", "github",
                      "--forge-api-url", self.stand_in.api_url, "--forge-repo", REPO,
                      "--forge-token-file", str(work / "forge-token"),
                      "--revert-mode", "direct"]
        if kind == "pr":
            (work / "webhook-secret").write_bytes(SECRET + b"\n")
            flags += ["--webhook-secret-file", str(work / "webhook-secret")]
        self.start_daemon(flags)
        if kind == "pr":
            assert self.stand_in is not None
            self.stand_in.deliver_to(f"http://127.0.0.1:{self.port}/hooks/git", SECRET)

    def start_daemon(self, flags: list[str]) -> None:
        kubeconfig = self.emulator.write_kubeconfig(self.work / "kubeconfig")
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "reconciler", "run", "--repo", f"file://{self.bare}",
                 "--kubeconfig", str(kubeconfig), "--resync-interval", "3600",
                 "--workers", "4", "--no-flux-nudge", "--http-address", "127.0.0.1:0",
                 *flags],
                env={**daemon_latency.ENV, "RECONCILER_CACHE_DIR": str(self.work / "cache")},
                stdout=log, stderr=subprocess.STDOUT)
        self.closing.callback(self.stop_daemon)

        def port() -> int | None:
            self.check_alive()
            found = re.search(r"serving HTTP on [0-9.]+:(\d+)",
                              self.log_path.read_text(errors="replace"))
            return int(found.group(1)) if found else None
        self.port: int = self.wait(port, "the HTTP server to listen", step=0.05)

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-30:]
            raise RuntimeError(f"{self.kind}: the daemon exited with {self.proc.returncode}:\n"
                               + "\n".join(tail))

    def stop_daemon(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def wait(self, check: Callable[[], Any], what: str, *, timeout: float = 60.0,
             step: float = 0.0005) -> Any:
        try:
            return daemon_latency.wait(check, f"{self.kind}: {what}", timeout, step)
        except TimeoutError:
            self.check_alive()  # a dead daemon says so, with its log
            raise

    def synced(self, rollouts: int) -> None:
        def all_reconciled() -> bool:
            self.check_alive()
            return sum(1 for r in self.emulator.objects(ROLLOUT_API, "Rollout")
                       if (r.get("status") or {}).get("conditions")) == rollouts
        self.wait(all_reconciled, "first reconcile of every rollout", timeout=300, step=0.2)

    # -- what the script plays ----------------------------------------------------------

    def offer(self, name: str, tag: str) -> float:
        t0 = time.perf_counter()
        self.emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name=name,
                                 status={"latestRef": {"tag": tag}})
        return t0

    def baking(self, name: str, tag: str) -> float:
        def started() -> bool:
            obj = self.emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name=name)
            entry = ((obj or {}).get("status") or {}).get("history") or [{}]
            return bool(tag_of(entry[0].get("version")) == tag and entry[0].get("bakeStartTime"))
        self.wait(started, f"bake of {name} {tag}", step=0.002)
        return time.perf_counter()

    def proposed(self, name: str, tag: str) -> int | None:
        """The number of the open pull request proposing ``tag`` for ``name``, if any."""
        assert self.stand_in is not None
        branch = proposals.branch(environment="default", rollout=f"apps/{name}")
        with self.stand_in.model.lock:
            for pull in self.stand_in.repo(REPO).pulls.values():
                said = proposals.proposed(pull.body)
                if pull.state == "open" and pull.head == branch and said and said[1] == tag:
                    return pull.number
        return None

    def revert(self, name: str, tag: str) -> None:
        """A HealthCheck fails the bake; the daemon pushes the revert; healthy again."""
        before = self.read()
        self.emulator.set_status(ROLLOUT_API, "HealthCheck", namespace="apps", name=name,
                                 status={"status": "Unhealthy", "message": "bench",
                                         "lastErrorTime": daemon_latency.now()})
        self.wait(lambda: self.read() != before, f"revert {name} {tag}")
        self.emulator.set_status(ROLLOUT_API, "HealthCheck", namespace="apps", name=name,
                                 status={"status": "Healthy", "message": ""})

    def event(self) -> None:
        i = self.events % len(self.version)
        name = f"app{i}"
        self.version[i] += 1
        tag = f"1.0.{self.version[i]}"
        if self.stand_in is None:
            before = self.read()
            t0 = self.offer(name, tag)
            head = self.wait(lambda: (h := self.read()) != before and h,
                             f"release {name} {tag}")
            t1 = t2 = time.perf_counter()
            flux_applied(self.emulator, name, head, tag)
            t3 = self.baking(name, tag)
            merge = 0.0
        else:
            t0 = self.offer(name, tag)
            number = self.wait(lambda: self.proposed(name, tag), f"pull request {name} {tag}")
            t1 = time.perf_counter()
            time.sleep(self.rng.uniform(*self.review))
            t2 = time.perf_counter()
            merged = self.stand_in.merge_as(REPO, number, user="ana", method="merge")
            merge = time.perf_counter() - t2
            flux_applied(self.emulator, name, merged, tag)
            t3 = self.baking(name, tag)
        if self.events >= WARMUP:
            self.out["open"].append(t1 - t0)
            self.out["bake"].append(t3 - t2)
            self.out["merge"].append(merge)
            self.out["landed"].append(t3 - t2 - merge)
        self.events += 1
        self.revert(name, tag)


def measure(args: argparse.Namespace, work: Path) -> dict[str, World]:
    kinds = ["pr", "direct"] + (["poll"] if args.poll_events else [])
    with contextlib.ExitStack() as stack:
        worlds: dict[str, World] = {}
        for kind in kinds:
            worlds[kind] = World(kind, work / kind, args.rollouts,
                                 review=REVIEW if kind == "poll" else (0.0, 0.0))
            stack.push(worlds[kind].closing)
        for world in worlds.values():
            world.synced(args.rollouts)
        wanted = {"pr": args.events, "direct": args.events, "poll": args.poll_events}
        for r in range(WARMUP + max(wanted.values())):
            for kind, world in worlds.items():
                if r < WARMUP + wanted[kind]:
                    world.event()
            print(f"round {r + 1}", file=sys.stderr, end="\r", flush=True)
        print(file=sys.stderr)
        return worlds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50,
                        help="measured events per path (webhooks, direct)")
    parser.add_argument("--poll-events", type=int, default=20,
                        help="measured events on the polling path (0: skip it)")
    parser.add_argument("--rollouts", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reconciler-prlatency-") as tmp:
        worlds = measure(args, Path(tmp))
    print(f"\nms; {args.rollouts} rollouts, {args.events} events per path ({args.poll_events} "
          f"polling, merged {REVIEW[0]:g}-{REVIEW[1]:g} s after opening) after {WARMUP} warm-up, "
          "paths in turn, same run; with 50 events p99 is the slowest\n")
    head = (f"{'path':34} | {'open/commit p50':>15} | {'p99':>7} | "
            f"{'merge/commit -> bake start p50':>30} | {'p99':>7}")
    print(head)
    print("-" * len(head))
    for kind, world in worlds.items():
        out = world.out
        print(f"{PATHS[kind]:34} | {pct(out['open'], .5):15.1f} | {pct(out['open'], .99):7.1f} | "
              f"{pct(out['bake'], .5):30.1f} | {pct(out['bake'], .99):7.1f}")
    print("\nthe merge call alone (the stand-in's clone, git merge --no-ff and push, in this "
          "process), and merge landed -> bake start:")
    for kind in ("pr", "poll"):
        if kind in worlds:
            out = worlds[kind].out
            print(f"  {PATHS[kind]}: merge call p50 {pct(out['merge'], .5):.1f}, "
                  f"p99 {pct(out['merge'], .99):.1f}; landed -> bake start p50 "
                  f"{pct(out['landed'], .5):.1f}, p99 {pct(out['landed'], .99):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
