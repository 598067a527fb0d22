"""End-to-end harness: the daemon as a separate process against real servers.

Each test gets an ``E2E`` world, all on loopback:

* the Kubernetes API emulator, seeded with the objects Flux would have built from
  sample-repo/ (Rollouts with second-scale bake times, ImagePolicies at the current
  releases, Healthy HealthChecks, Flux Kustomizations and GitRepository);
* sample-repo/ as a bare repository (one human commit, non-fast-forward pushes
  refused, every ref update logged) served by ``git http-backend`` with basic auth;
* ``FakeFlux`` reporting the branch head as applied;
* ``reconciler run`` started with ``E2E.start_daemon()`` as a child process whose
  output goes to a file, shown in the report when the test fails.

Whatever happens, teardown stops every process it started (SIGTERM, then SIGKILL)
and every server. Waits are bounded polls (``wait_until``); absence is checked
over a window (``stays``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest

from reconciler.core.status import tag_of
from reconciler.emulator.flux import FakeFlux
from reconciler.emulator.server import Emulator
from reconciler.interfaces import demo
from tests.integration.conftest import sample_files
from tests.support import githttp, gitrepo, secretscan

T = TypeVar("T")

ROLLOUT_API = "kuberik.com/v1alpha1"
HC_API = "kuberik.com/v1alpha1"
GATE_API = "kuberik.com/v1alpha1"
IMAGE_API = "image.toolkit.fluxcd.io/v1"
APPS = "clusters/production/apps.yaml"

BAKE = "2s"
DEPLOY_TIMEOUT = "5s"
FETCH_INTERVAL = "0.3"
RESYNC = 2.0  # seconds between full reconciles (the daemon's --resync-interval)
WAIT = 30.0  # the longest any single expectation may take


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Commit:
    """One commit on the remote branch, read with the git CLI (not the project's code)."""

    sha: str
    parents: list[str]
    time: int  # committer time, seconds since the epoch
    author: str
    subject: str
    body: str
    trailers: dict[str, str]

    @property
    def action(self) -> str | None:
        return self.trailers.get("Action")


@dataclass
class DaemonProcess:
    """One ``reconciler run`` child process and the file its output goes to."""

    proc: subprocess.Popen[bytes]
    log_path: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def running(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def terminate(self, timeout: float) -> int | None:
        """SIGTERM, then wait up to ``timeout``; the exit code, or None if still running."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> int:
        if self.running():
            self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(10)

    def stop(self) -> None:
        """Always leaves the process reaped: SIGTERM, a grace period, then SIGKILL."""
        if self.terminate(5.0) is None:
            self.kill()


class E2E:
    """One world for one test: emulator, served bare repository, FakeFlux, daemons."""

    def __init__(self, tmp: Path, emulator: Emulator, bare: gitrepo.BareRepo,
                 server: githttp.GitHTTPServer, flux: FakeFlux) -> None:
        self.tmp = tmp
        self.emulator = emulator
        self.bare = bare
        self.server = server
        self.flux = flux
        self.url = server.url_for(bare.path)
        self.kubeconfig = emulator.write_kubeconfig(tmp / "kubeconfig")
        self.cache_dir = tmp / "daemon-cache"
        self.initial = bare.head()
        self.human_commits = [self.initial]
        self.daemons: list[DaemonProcess] = []
        (tmp / "home").mkdir(exist_ok=True)

    # -- processes -------------------------------------------------------------

    def env(self, cache_dir: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("RECONCILER_", "KUBERNETES_", "GIT_"))
               and k not in ("KUBECONFIG", "HOME", "XDG_CACHE_HOME")}
        env.update(HOME=str(self.tmp / "home"), PYTHONUNBUFFERED="1",
                   RECONCILER_GIT_PASSWORD=self.server.password,
                   RECONCILER_CACHE_DIR=str(cache_dir))
        return env

    def start_daemon(self, *extra: str, cache_dir: Path | None = None,
                     env: dict[str, str] | None = None) -> DaemonProcess:
        """``reconciler run`` as a child process, output to ``daemon-<n>.log``; its HTTP
        server on a free loopback port (the log says which); ``env`` adds variables
        (e.g. RECONCILER_FAULT_POINT)."""
        log_path = self.tmp / f"daemon-{len(self.daemons) + 1}.log"
        cmd = [sys.executable, "-m", "reconciler", "run", "--repo", self.url,
               "--username", self.server.username, "--kubeconfig", str(self.kubeconfig),
               "--fetch-interval", FETCH_INTERVAL, "--resync-interval", str(RESYNC),
               "--workers", "2", "--http-address", "127.0.0.1:0", *extra]
        with log_path.open("wb") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT,
                                    env={**self.env(cache_dir or self.cache_dir),
                                         **(env or {})}, cwd=self.tmp)
        daemon = DaemonProcess(proc, log_path)
        secretscan.watch_file(log_path, "daemon log")
        self.daemons.append(daemon)
        return daemon

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A person running the ``reconciler`` CLI from their own machine (own cache)."""
        proc = subprocess.run(
            [sys.executable, "-m", "reconciler", *args, "--repo", self.url,
             "--username", self.server.username],
            env=self.env(self.tmp / "cli-cache"), cwd=self.tmp, capture_output=True,
            text=True, timeout=60, check=False)
        secretscan.capture_process(proc, f"reconciler {args[0]}")
        return proc

    def stop(self) -> None:
        for daemon in self.daemons:
            daemon.stop()

    # -- the cluster ------------------------------------------------------------

    def rollout(self, name: str = "podinfo") -> dict[str, Any]:
        obj = self.emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name=name)
        assert obj is not None, f"Rollout apps/{name} is gone"
        return obj

    def status(self, name: str = "podinfo") -> dict[str, Any]:
        return self.rollout(name).get("status") or {}

    def releases(self, name: str = "podinfo") -> list[str | None]:
        """The tags of status.availableReleases (kuberik's VersionInfo objects)."""
        return [tag_of(r) for r in self.status(name).get("availableReleases") or []]

    def newest(self, name: str = "podinfo") -> dict[str, Any]:
        """status.history[0], or {} when there is none."""
        history = self.status(name).get("history") or [{}]
        return history[0] if isinstance(history[0], dict) else {}

    def entry(self, version: str, name: str = "podinfo") -> dict[str, Any]:
        """The newest status.history entry of a release of ``version``."""
        return next((e for e in self.status(name).get("history") or []
                     if tag_of(e.get("version")) == version and e.get("action") == "release"), {})

    def condition(self, kind: str, name: str = "podinfo") -> dict[str, Any]:
        return next((c for c in self.status(name).get("conditions") or []
                     if c.get("type") == kind), {})

    def events(self, reason: str | None = None, name: str = "podinfo") -> list[dict[str, Any]]:
        return [e for e in self.emulator.objects("v1", "Event", namespace="apps")
                if (e.get("involvedObject") or {}).get("name") == name
                and (reason is None or e.get("reason") == reason)]

    def rollout_writes(self, since: str, name: str = "podinfo") -> list[dict[str, Any]]:
        """Every version of the Rollout written after resourceVersion ``since``, oldest
        first, read back through a watch on the emulator (plain HTTP, one second)."""
        url = (f"{self.emulator.url}/apis/{ROLLOUT_API}/namespaces/apps/rollouts"
               f"?watch=true&resourceVersion={since}&timeoutSeconds=1")
        with urllib.request.urlopen(url, timeout=10) as response:
            events = [json.loads(line) for line in response.read().splitlines() if line]
        return [e["object"] for e in events if e.get("type") in ("ADDED", "MODIFIED")
                and e["object"]["metadata"]["name"] == name]

    def set_rollout_spec(self, name: str, **fields: Any) -> None:
        obj = self.rollout(name)
        obj["spec"].update(fields)
        self.emulator.apply(obj)

    def offer(self, tag: str, name: str = "podinfo") -> None:
        """The ImagePolicy reports ``tag`` as the latest image."""
        self.emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name=name,
                                 status={"latestRef": {"tag": tag}})

    def health(self, name: str, state: str, message: str) -> None:
        status: dict[str, Any] = {"status": state, "message": message, "lastChangeTime": now()}
        if state == "Unhealthy":
            status["lastErrorTime"] = now()
        self.emulator.set_status(HC_API, "HealthCheck", namespace="apps", name=name,
                                 status=status)

    def gate(self, name: str, *, passing: bool) -> None:
        self.emulator.apply({
            "apiVersion": GATE_API, "kind": "RolloutGate",
            "metadata": {"name": name, "namespace": "apps"},
            "spec": {"rolloutRef": {"name": "podinfo"}, "passing": passing},
        })

    # -- the remote ----------------------------------------------------------------

    def head(self) -> str:
        return self.bare.head()

    def commits(self) -> list[Commit]:
        """Every commit reachable from the branch, newest first, trailers per git."""
        sep, end = "\x1f", "\x1e"
        fmt = sep.join(["%H", "%P", "%ct", "%an", "%s", "%b", "%(trailers:only,unfold)"]) + end
        out = self.bare.git("log", f"--format={fmt}", f"refs/heads/{self.bare.branch}")
        commits = []
        for raw in out.decode().split(end):
            if not raw.strip():
                continue
            sha, parents, ctime, author, subject, body, trailer_text = (
                raw.lstrip("\n").split(sep))
            found: dict[str, str] = {}
            for line in trailer_text.splitlines():
                key, colon, value = line.partition(":")
                if colon:
                    found.setdefault(key.strip(), value.strip())
            commits.append(Commit(sha, parents.split(), int(ctime), author, subject, body,
                                  found))
        return commits

    def reconciler_commits(self, *, action: str | None = None,
                           release: str | None = None) -> list[Commit]:
        return [c for c in self.commits() if c.trailers.get("Rollout") == "apps/podinfo"
                and (action is None or c.action == action)
                and (release is None or c.trailers.get("Release") == release)]

    def human_commit(self, files: dict[str, bytes | str], message: str) -> str:
        sha = self.bare.commit(files, message)
        self.human_commits.append(sha)
        return sha

    def note(self, commit: str) -> str:
        """The reconciler's note (bake verdicts) on ``commit`` in the remote, or ""."""
        try:
            return self.bare.git("notes", "--ref=reconciler", "show", commit).decode()
        except AssertionError:  # no note on that commit (git exits 1)
            return ""

    def file(self, path: str, rev: str | None = None) -> bytes:
        return self.bare.show(rev or self.head(), path)

    def check_history_intact(self) -> None:
        """Nothing was force-pushed and no person's commit was lost."""
        deny = self.bare.git("config", "--get", "receive.denyNonFastForwards").decode()
        assert deny.strip() == "true"
        head = self.head()
        for c in self.commits():
            assert self._is_ancestor(self.initial, c.sha), (
                f"{c.sha[:12]} {c.subject!r} does not descend from the initial commit")
        for sha in self.human_commits:
            assert self._is_ancestor(sha, head), f"human commit {sha[:12]} was lost"
        # Every update of the branch, as the remote logged it, was a fast-forward.
        reflog = self.bare.path / "logs" / "refs" / "heads" / self.bare.branch
        for line in reflog.read_text().splitlines():
            old, new = line.split()[:2]
            if old != "0" * 40:
                assert self._is_ancestor(old, new), f"non-fast-forward update {old}..{new}"

    def _is_ancestor(self, a: str, b: str) -> bool:
        proc = subprocess.run(["git", "merge-base", "--is-ancestor", a, b],
                              cwd=self.bare.path, env=gitrepo.git_env(self.bare.home),
                              capture_output=True, check=False, timeout=30)
        return proc.returncode == 0

    # -- waiting -------------------------------------------------------------------

    def _check_alive(self) -> None:
        for daemon in self.daemons:
            if daemon is self.daemons[-1] and not daemon.running():
                raise AssertionError(f"the daemon (pid {daemon.pid}) exited with "
                                     f"{daemon.proc.returncode}")

    def wait_until(self, what: str, check: Callable[[], T], timeout: float = WAIT) -> T:
        """Poll ``check`` until it returns something truthy (returned); fail after
        ``timeout`` seconds, or at once if the current daemon died."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            self._check_alive()
            if time.monotonic() >= deadline:
                raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}; "
                                     f"podinfo status: {self.status()!r}")
            time.sleep(0.1)

    def stays(self, what: str, check: Callable[[], bool], seconds: float) -> None:
        """``check`` holds at every poll for ``seconds`` (for things that must NOT happen)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert check(), f"no longer true: {what}; podinfo status: {self.status()!r}"
            self._check_alive()
            time.sleep(0.1)


def seed(emulator: Emulator) -> None:
    """The cluster as Flux would have built it from sample-repo/, with short timings."""
    demo.seed(emulator, bake=BAKE, deploy_timeout=DEPLOY_TIMEOUT)


@pytest.fixture
def e2e(tmp_path: Path, git_home: Path) -> Iterator[E2E]:
    bare = gitrepo.make_bare_repo(tmp_path / "srv" / "fleet.git", sample_files(),
                                  home=git_home, message="Initial fleet configuration")
    # Log every update of the branch so the test can prove none was a forced one.
    bare.git("config", "core.logAllRefUpdates", "always")
    bare.git("update-ref", "-m", "start logging", f"refs/heads/{bare.branch}", bare.head())
    emulator = Emulator().start()
    world: E2E | None = None
    try:
        seed(emulator)
        with githttp.serve_git_http(bare.path.parent, home=git_home / "http") as server:
            flux = FakeFlux(emulator, bare.path, delay=0.3).start()
            try:
                world = E2E(tmp_path, emulator, bare, server, flux)
                yield world
            finally:
                if world is not None:
                    world.stop()
                flux.stop()
    finally:
        emulator.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None],
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, attach every daemon's output to the report."""
    report = yield
    world = getattr(item, "funcargs", {}).get("e2e")
    if report.failed and isinstance(world, E2E):
        for daemon in world.daemons:
            report.sections.append((f"daemon pid {daemon.pid} ({daemon.log_path.name})",
                                    daemon.log() or "(no output)"))
    return report
