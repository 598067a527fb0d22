"""Hostile input: every case of the corpus (hostile.py) is a test.

For each: a clear error naming the file, document and field on one line; the
repository untouched (a refused release leaves the remote head where it was, an
accepted one leaves every hostile file byte-identical and writes only podinfo's
targets); the daemon alive and still reconciling the other rollouts.

* Repository cases run the real CLI in this process (click's runner: the same code
  path as the console script, exit codes included) against a bare repository over
  ``file://``. The big inputs (alias bombs, 10 MB files, deep nesting) run their
  ``validate`` as a child process that reports its own peak RSS: memory bounded
  (``PEAK_GROWTH``), time bounded by the test timeout and printed. One more test
  runs ``validate`` and ``release`` as processes over a repository holding every
  combinable case at once.
* Cluster cases run against one daemon (in-process, the official client, the API
  emulator, FakeFlux) with every hostile object present from the start; the last
  test still releases podinfo beside them.
* HTTP cases send raw bytes to the real app served by uvicorn on loopback.
* One end-to-end test puts many hostile cases in front of ``reconciler run`` (the
  daemon as a process) at once and still releases podinfo.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from reconciler.adapters import cluster as k8s
from reconciler.adapters import git
from reconciler.core.status import tag_of
from reconciler.emulator.flux import FakeFlux
from reconciler.emulator.server import Emulator
from reconciler.engine.daemon import Daemon
from reconciler.engine.options import Options
from reconciler.interfaces import demo, http
from reconciler.interfaces.cli import cli
from tests.e2e.conftest import E2E
from tests.e2e.test_cluster_surface import port_of, request
from tests.integration.conftest import sample_files
from tests.reliability import hostile, hostilecluster, hostilehttp, hostilerepo
from tests.reliability.craftedtree import Raw
from tests.reliability.hostile import APPS, FRONTEND_OCI
from tests.reliability.hostilecluster import IMAGE_API, ROLLOUT_API, ClusterCase
from tests.reliability.hostilehttp import HttpCase
from tests.reliability.hostilerepo import RepoCase
from tests.support import gitrepo
from tests.support.fakedaemon import SECRET, FakeDaemon, sign

MiB = 1024 * 1024
PEAK_GROWTH = 200 * MiB  # over a validate of the plain sample repository
REPO_CASES = hostilerepo.all_repo_cases()
CLUSTER_CASES = hostilecluster.all_cluster_cases()
HTTP_CASES = hostilehttp.all_http_cases()


# -- the repository ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> gitrepo.BareRepo:
    """sample-repo/ as a bare repository, built once and copied for each case."""
    tmp = tmp_path_factory.mktemp("template")
    return gitrepo.make_bare_repo(tmp / "fleet.git", sample_files(), home=tmp / "home",
                                  message="Initial fleet configuration")


def copy_repo(template: gitrepo.BareRepo, where: Path) -> gitrepo.BareRepo:
    shutil.copytree(template.path, where / "fleet.git")
    return gitrepo.BareRepo(path=where / "fleet.git", home=template.home)


def _tree_entries(repo: gitrepo.BareRepo, tree: str) -> list[tuple[bytes, bytes, bytes]]:
    """``(mode, name, raw sha)`` of a tree object, parsed from its bytes."""
    data = repo.git("cat-file", "tree", tree)
    out, i = [], 0
    while i < len(data):
        space = data.index(b" ", i)
        nul = data.index(b"\0", space)
        out.append((data[i:space], data[space + 1:nul], data[nul + 1:nul + 21]))
        i = nul + 21
    return out


def _write_tree(repo: gitrepo.BareRepo, entries: list[tuple[bytes, bytes, bytes]]) -> str:
    def order(e: tuple[bytes, bytes, bytes]) -> bytes:  # git sorts a tree as name + "/"
        return e[1] + (b"/" if e[0] == b"40000" else b"")
    raw = b"".join(mode + b" " + name + b"\0" + sha for mode, name, sha in
                   sorted(entries, key=order))
    # --literally: git's own checks would refuse these names, which is the point.
    return repo.git("hash-object", "-t", "tree", "-w", "--literally", "--stdin",
                    input=raw).decode().strip()


def _blob(repo: gitrepo.BareRepo, data: bytes) -> bytes:
    return bytes.fromhex(repo.git("hash-object", "-w", "--stdin", input=data).decode().strip())


def commit_raw(repo: gitrepo.BareRepo, raws: tuple[Raw, ...], message: str) -> str:
    """A commit adding hand-crafted tree entries (names ``git mktree`` refuses)."""
    head = repo.head()
    root = _tree_entries(repo, f"{head}^{{tree}}")
    for raw in raws:
        if raw.mode == b"40000":  # a directory holding the data as rollout.yaml
            sha = bytes.fromhex(_write_tree(repo, [(b"100644", b"rollout.yaml",
                                                    _blob(repo, raw.data))]))
        else:
            sha = _blob(repo, raw.data)
        entry = (raw.mode, raw.name, sha)
        if not raw.parent:
            root.append(entry)
            continue
        assert "/" not in raw.parent
        i, (mode, name, sub) = next((i, e) for i, e in enumerate(root)
                                    if e[1] == raw.parent.encode())
        inner = [*_tree_entries(repo, sub.hex()), entry]
        root[i] = (mode, name, bytes.fromhex(_write_tree(repo, inner)))
    tree = _write_tree(repo, root)
    sha = repo.git("commit-tree", tree, "-p", head, "-m", message).decode().strip()
    repo.git("update-ref", f"refs/heads/{repo.branch}", sha, head)
    return sha


def apply_case(repo: gitrepo.BareRepo, case: RepoCase) -> str:
    if case.files or case.symlinks:
        repo.commit(dict(case.files), f"hostile: {case.name}", symlinks=case.symlinks)
    if case.raw:
        commit_raw(repo, case.raw, f"hostile: {case.name} (crafted tree)")
    return repo.head()


def identity(repo: gitrepo.BareRepo, rev: str, case: RepoCase) -> dict[str, Any]:
    """What must not change: each hostile path's object id (a symlink's too), and the
    raw entries of each crafted directory."""
    found: dict[str, Any] = {}
    for path in case.hostile_paths:
        found[path] = repo.git("rev-parse", f"{rev}:{path}").decode().strip()
    for raw in case.raw:
        tree = f"{rev}^{{tree}}" if not raw.parent else f"{rev}:{raw.parent}"
        found[f"raw:{raw.parent}/{raw.name!r}"] = next(
            e for e in _tree_entries(repo, tree) if e[1] == raw.name)
    return found


def changed_paths(repo: gitrepo.BareRepo, old: str, new: str) -> list[str]:
    out = repo.git("diff-tree", "-r", "-z", "--name-only", "--no-renames", old, new)
    return [p for p in out.decode(errors="surrogateescape").split("\0") if p]


# -- the CLI ------------------------------------------------------------------------------------

def run_cli(*args: str, repo: gitrepo.BareRepo, cache: Path) -> Result:
    """``reconciler <args> --repo <repo>`` in this process, as the console script runs it."""
    result = CliRunner().invoke(cli, [*args, "--repo", repo.url, "--cache-dir", str(cache)],
                                prog_name="reconciler")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"reconciler {args[0]} raised (a traceback for the user): "
                             f"{result.exception!r}") from result.exception
    return result


@dataclass
class Child:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss: int  # bytes, the child's own high-water mark


# The console script, reporting its own peak RSS when it exits (sys.exit included).
# VmHWM belongs to the process's own address space; getrusage's ru_maxrss would not
# do: Linux carries the parent's high-water mark across a (v)fork and exec.
_MEASURED = """\
import atexit, os, sys
def _peak():
    try:
        with open("/proc/self/status") as status:
            kib = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):  # not Linux: nothing measured
        kib = "0"
    with open(os.environ["PEAK_RSS_FILE"], "w") as out:
        out.write(kib)
atexit.register(_peak)
sys.argv[0] = "reconciler"
from reconciler.interfaces.cli import main
main()
"""


def run_measured(*args: str, cache: Path) -> Child:
    """``reconciler <args>`` as a child process: output, seconds and peak RSS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILER_")}
    peak = cache.parent / f"peak-rss-{time.monotonic_ns()}"
    env.update(RECONCILER_CACHE_DIR=str(cache), PEAK_RSS_FILE=str(peak))
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _MEASURED, *args], env=env,
                          capture_output=True, text=True, timeout=110, check=False)
    seconds = time.monotonic() - started
    return Child(proc.returncode, proc.stdout, proc.stderr, seconds,
                 int(peak.read_text()) * 1024)


@pytest.fixture(scope="module")
def baseline_rss(template: gitrepo.BareRepo, tmp_path_factory: pytest.TempPathFactory) -> int:
    child = run_measured("validate", "--repo", template.url,
                         cache=tmp_path_factory.mktemp("baseline"))
    assert child.returncode == 0, child.stderr
    return child.peak_rss


def no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


def problem_lines(stdout: str) -> list[str]:
    lines = stdout.splitlines()
    # One problem a line: a newline in a file name, key or value cannot start a line.
    for line in lines:
        assert line.startswith(("error: ", "warning: ")), (line, stdout)
    return lines


def check_validate(case: RepoCase, code: int, stdout: str, stderr: str) -> None:
    no_traceback(stderr)
    assert code == case.validate_exit, f"exit {code}\n{stdout}{stderr}"
    lines = problem_lines(stdout)
    if case.severity == "none":
        assert not lines, stdout
        return
    hits = [ln for ln in lines if case.where in ln and case.says in ln]
    assert hits, f"no line with {case.where!r} and {case.says!r}:\n{stdout}"
    assert hits[0].startswith(f"{case.severity}: "), hits[0]
    assert " errors, " in stderr.splitlines()[-1], stderr


def stderr_lines(result: Result) -> list[str]:
    lines = result.stderr.splitlines()
    for line in lines:
        assert line.startswith("reconciler: "), (line, result.stderr)
    return lines


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=[pytest.mark.slow] * c.slow)
                                  for c in REPO_CASES])
def test_repository_case(case: RepoCase, template: gitrepo.BareRepo, tmp_path: Path,
                         request: pytest.FixtureRequest) -> None:
    repo = copy_repo(template, tmp_path)
    head = apply_case(repo, case)
    before = identity(repo, head, case)
    cache = tmp_path / "cache"

    # validate: one line naming file, document and field; exit 1 on errors.
    if case.heavy:
        child = run_measured("validate", "--repo", repo.url, cache=cache)
        check_validate(case, child.returncode, child.stdout, child.stderr)
        growth = child.peak_rss - request.getfixturevalue("baseline_rss")
        print(f"{case.name}: validate {child.seconds:.1f}s, peak RSS "
              f"{child.peak_rss / MiB:.0f} MiB ({growth / MiB:+.0f} MiB over the baseline)")
        assert growth < PEAK_GROWTH, f"{case.name}: peak RSS grew by {growth / MiB:.0f} MiB"
    else:
        result = run_cli("validate", repo=repo, cache=cache)
        check_validate(case, result.exit_code, result.stdout, result.stderr)

    # plan: read-only, exit 0, JSON that parses; warnings one line each. (A big input
    # costs one more scan of the same bytes that release does anyway: skipped.)
    if not case.heavy:
        plan = run_cli("plan", "-o", "json", repo=repo, cache=cache)
        assert plan.exit_code == 0, plan.stderr
        rollouts = {p["rollout"]: p for p in json.loads(plan.stdout)}
        assert "apps/podinfo" in rollouts
        stderr_lines(plan)

    # release: lands without touching a hostile byte, or is refused with one line.
    release = run_cli("release", "apps/podinfo", "6.5.0", "--push", repo=repo, cache=cache)
    lines = stderr_lines(release)
    if case.release == "refused":
        assert release.exit_code == 2, release.stdout + release.stderr
        errors = [ln for ln in lines if ln.startswith("reconciler: error: ")]
        assert len(errors) == 1 and errors == lines[-1:], lines
        for fragment in case.refused:
            assert fragment in errors[0], (fragment, errors[0])
        assert repo.head() == head
        return
    assert release.exit_code == 0, release.stdout + release.stderr
    assert "pushed" in release.stdout
    new = repo.head()
    assert repo.git("rev-parse", f"{new}^").decode().strip() == head
    assert changed_paths(repo, head, new) == [APPS]
    after = identity(repo, new, case)
    if case.release == "rewrites":  # the hostile value was a target: replaced, nothing else
        old, now = repo.show(head, APPS), repo.show(new, APPS)
        for value, release in case.rewrite:
            old = old.replace(value, release)
        assert now == old, now.decode()
        after.pop(APPS), before.pop(APPS)
    assert after == before


def test_every_combinable_case_at_once_through_the_console_script(
        template: gitrepo.BareRepo, tmp_path: Path) -> None:
    """The real process over one repository holding every case that has its own files:
    one line per problem, exit 1; then a release of podinfo that touches none of them."""
    cases = [c for c in REPO_CASES if c.combinable and not c.heavy]
    repo = copy_repo(template, tmp_path)
    files: dict[str, bytes | str] = {}
    symlinks: dict[str, str] = {}
    for case in cases:
        files.update(case.files)
        symlinks.update(case.symlinks)
    repo.commit(files, "hostile: everything at once", symlinks=symlinks)
    head = repo.head()
    proc = subprocess.run([sys.executable, "-m", "reconciler", "validate", "--repo", repo.url,
                           "--cache-dir", str(tmp_path / "cache")], capture_output=True,
                          text=True, timeout=110, check=False)
    no_traceback(proc.stderr)
    assert proc.returncode == 1
    lines = problem_lines(proc.stdout)
    for case in cases:
        if case.severity != "none":
            assert any(case.where in ln and case.says in ln for ln in lines), case.name
    rel = subprocess.run([sys.executable, "-m", "reconciler", "release", "apps/podinfo",
                          "6.5.0", "--repo", repo.url, "--push", "--cache-dir",
                          str(tmp_path / "cache")], capture_output=True, text=True,
                         timeout=110, check=False)
    no_traceback(rel.stderr)
    assert rel.returncode == 0, rel.stderr
    assert changed_paths(repo, head, repo.head()) == [APPS]
    for line in rel.stderr.splitlines():
        assert line.startswith("reconciler: warning: skipped, never rewritten: "), line


@pytest.mark.parametrize("tag", hostile.HOSTILE_TAGS, ids=[t.name for t in hostile.HOSTILE_TAGS])
def test_hostile_tag_on_the_command_line(tag: hostile.Tag, template: gitrepo.BareRepo,
                                         tmp_path: Path) -> None:
    """``release apps/podinfo <tag>``: exit 2, one line giving the reason with the tag
    escaped, nothing written. ``plan --release``: the candidate is ignored, and says so
    on one line."""
    repo = copy_repo(template, tmp_path)
    head = repo.head()
    release = run_cli("release", "apps/podinfo", tag.value, "--push", repo=repo,
                      cache=tmp_path / "cache")
    lines = stderr_lines(release)
    assert (release.exit_code, len(lines)) == (2, 1), lines
    assert tag.why in lines[0], lines[0]
    plan = run_cli("plan", "--release", f"apps/podinfo={tag.value}", repo=repo,
                   cache=tmp_path / "cache")
    assert plan.exit_code == 0, plan.stderr
    ignored = [ln for ln in plan.stdout.splitlines() if ln.strip().startswith("Ignored")]
    assert len(ignored) == 1 and "not a valid semver OCI tag" in ignored[0], plan.stdout
    assert "apps/podinfo: nothing to do (at 6.4.0)" in plan.stdout
    assert repo.head() == head


# -- the cluster ----------------------------------------------------------------------------------

class Records(logging.Handler):
    """Every ERROR record and every record with a traceback, from the reconciler."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.bad: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.bad.append(record)


@dataclass
class ClusterWorld:
    emulator: Emulator
    repo: gitrepo.BareRepo
    daemon: Daemon
    records: Records
    head: str

    def rollout(self, name: str) -> dict[str, Any]:
        obj = self.emulator.get_object(ROLLOUT_API, "Rollout", namespace="apps", name=name)
        return obj or {}

    def condition(self, name: str, kind: str) -> dict[str, Any]:
        status = self.rollout(name).get("status")
        conditions = status.get("conditions") if isinstance(status, dict) else None
        return next((c for c in conditions or [] if isinstance(c, dict)
                     and c.get("type") == kind), {})

    def wait(self, what: str, check: Any, timeout: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up waiting for {what}")
            time.sleep(0.05)

    def problems(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records.bad]


@pytest.fixture(scope="module")
def cluster_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterWorld]:
    """One daemon, in-process, over the official client and the emulator, with every
    hostile cluster case present from the start beside sample-repo's two rollouts."""
    tmp = tmp_path_factory.mktemp("cluster")
    files: dict[str, bytes | str] = dict(sample_files())
    for case in CLUSTER_CASES:
        files.update(case.repo_files())
    repo = gitrepo.make_bare_repo(tmp / "fleet.git", files, home=tmp / "home",
                                  message="fleet with the cluster cases' targets")
    emulator = Emulator().start()
    records = Records()
    logger = logging.getLogger("reconciler")
    logger.addHandler(records)
    flux: FakeFlux | None = None
    daemon: Daemon | None = None
    try:
        demo.seed(emulator, bake="1s", deploy_timeout="10s")
        for case in CLUSTER_CASES:
            emulator.apply(case.manifest())
            if case.status is not None:
                emulator.set_status(ROLLOUT_API, "Rollout", namespace="apps", name=case.name,
                                    status=case.status)
            if case.image_policy is not None:
                emulator.apply(case.image_policy_object())
                emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps",
                                    name=case.name, status=case.image_policy)
        # frontend's ImagePolicy is hostile too: frontend must say so, podinfo carry on.
        emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="frontend",
                            status={"latestRef": {"tag": "1.4.3\n$(reboot)"}})
        flux = FakeFlux(emulator, repo.path, delay=0.1).start()
        client = k8s.Cluster.connect(kubeconfig=emulator.write_kubeconfig(tmp / "kubeconfig"))
        mirror = git.Mirror.open(repo.url, cache_dir=tmp / "cache")
        daemon = Daemon(cluster=client, mirror=mirror, options=Options(
            workers=2, fetch_interval=0.3, resync_interval=1.0, error_backoff=(0.2, 1.0)))
        daemon.start(sync_timeout=20)
        yield ClusterWorld(emulator, repo, daemon, records, repo.head())
    finally:
        if daemon is not None:
            daemon.shutdown()
            daemon.cluster.close()
            daemon.mirror.close()
        if flux is not None:
            flux.stop()
        emulator.stop()
        logger.removeHandler(records)


def matches(world: ClusterWorld, case: ClusterCase) -> dict[str, Any]:
    kind, status, reason = case.condition
    cond = world.condition(case.name, kind)
    ok = (cond.get("status"), cond.get("reason")) == (status, reason) \
        and all(fragment in cond.get("message", "") for fragment in case.says)
    return cond if ok else {}


@pytest.mark.parametrize("case", CLUSTER_CASES, ids=[c.name for c in CLUSTER_CASES])
def test_cluster_case(case: ClusterCase, cluster_world: ClusterWorld) -> None:
    world = cluster_world
    try:
        cond = world.wait(f"{case.condition} on apps/{case.name}",
                          lambda: matches(world, case))
    except AssertionError:
        raise AssertionError(f"apps/{case.name} status: {world.rollout(case.name)}") from None
    assert "\n" not in cond["message"], cond  # hostile values are escaped
    status = world.rollout(case.name)["status"]
    # Whatever was there before, the daemon wrote a status of the right shape.
    assert isinstance(status.get("history"), list), status
    assert isinstance(status.get("availableReleases"), list), status
    assert all(isinstance(t, dict) and isinstance(t.get("tag"), str)
               for t in status["availableReleases"]), status
    assert all(isinstance(c.get("lastTransitionTime"), str) for c in status["conditions"])
    assert world.repo.head() == world.head  # nothing written for any of them
    assert [p for p in world.problems() if case.name in p] == []


def test_cluster_daemon_still_releases_beside_every_hostile_rollout(
        cluster_world: ClusterWorld) -> None:
    world = cluster_world
    world.emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="podinfo",
                              status={"latestRef": {"tag": "6.5.0"}})

    def baked() -> bool:
        status = world.rollout("podinfo").get("status") or {}
        newest = (status.get("history") or [{}])[0]
        return (tag_of(newest.get("version")), newest.get("bakeStatus")) == ("6.5.0", "Succeeded")

    world.wait("6.5.0 to be released and baked", baked)
    for case in CLUSTER_CASES:
        assert matches(world, case), (case.name, world.rollout(case.name))
    front = world.condition("frontend", "Ready")
    assert "reports a tag that is never released: '1.4.3\\n$(reboot)'" in front["message"], \
        front
    assert world.repo.subjects()[:2] == ["podinfo: 6.4.0 -> 6.5.0",
                                         "fleet with the cluster cases' targets"]
    assert world.problems() == []
    assert world.daemon.surface.alive()


# -- HTTP ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def webhook_server() -> Iterator[tuple[int, FakeDaemon]]:
    backend = FakeDaemon()
    app = http.create_app(backend, webhook_secret=SECRET, max_body=hostilehttp.LIMIT)
    server, thread = http.serve(app, "127.0.0.1", 0)
    try:
        yield server.config.port, backend
    finally:
        http.shutdown(server, thread)


def _signer(body: bytes) -> str:
    return sign(body)


def exchange(port: int, data: bytes, *, half_close: bool = False,
             wait: float = 5.0) -> tuple[int, bytes, socket.socket]:
    """Send ``data``; the status code of the first response (0: none within ``wait``
    seconds, or the connection closed without one), the bytes read, the socket."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=wait)
    sock.sendall(data)
    if half_close:
        sock.shutdown(socket.SHUT_WR)
    received = b""
    try:
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    except TimeoutError:
        pass
    code = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else 0
    if code and b"content-length:" in received.lower():
        head, _, body = received.partition(b"\r\n\r\n")
        length = int(next(ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
                          if ln.lower().startswith(b"content-length:")))
        try:
            while len(body) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        except TimeoutError:
            pass
        received = head + b"\r\n\r\n" + body
    return code, received, sock


def still_serving(port: int) -> None:
    code, _, sock = exchange(port, b"GET /healthz HTTP/1.1\r\nHost: r\r\nConnection: close"
                                   b"\r\n\r\n")
    sock.close()
    assert code == 200
    body = b'{"ref": "refs/heads/main"}'
    code, _, sock = exchange(port, hostilehttp._post("/hooks/git", body, _signer))
    sock.close()
    assert code == 202


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c.name for c in HTTP_CASES])
def test_webhook_case(case: HttpCase, webhook_server: tuple[int, FakeDaemon]) -> None:
    port, backend = webhook_server
    candidates = set(backend.candidates)
    wait = 0.5 if case.expect == 0 else 5.0
    code, received, sock = exchange(port, case.request(_signer), half_close=case.half_close,
                                    wait=wait)
    try:
        if case.expect == 0:
            # Nothing to answer (or a 400 to a client already gone); meanwhile the
            # server serves everyone else.
            assert code in (0, 400), received
            still_serving(port)
        else:
            assert code == case.expect, received
            if case.detail:
                detail = json.loads(received.partition(b"\r\n\r\n")[2])["detail"]
                assert case.detail in detail and "\n" not in detail, detail
            if case.closes:  # the framing was ambiguous: the connection ends here
                assert sock.recv(1) == b""
    finally:
        sock.close()
    assert backend.candidates == candidates
    still_serving(port)


# -- end to end --------------------------------------------------------------------------------

E2E_FILES = ("yaml-unclosed-flow", "yaml-invalid-utf8", "duplicate-key-metadata",
             "alias-billion-laughs", "alias-bomb-spread-over-documents", "alias-recursive",
             "deep-flow-nesting", "manifest-over-10mib", "annotation-other-namespace",
             "annotation-path-traversal", "annotation-key-with-newline",
             "annotation-bare-name-other-namespace",
             "rollout-spec-a-string", "rollout-duration-overflow", "file-name-with-newline",
             "symlink-outside-repository", "symlink-climbing-out", "symlink-inside-repository")


@pytest.mark.slow  # ~10-20 s; kept out of the default run to hold it under ten minutes
def test_daemon_survives_everything_at_once(e2e: E2E) -> None:
    """``reconciler run`` with a repository and a cluster full of hostile input: it stays
    up, says what is wrong where a person looks, never writes a hostile file, and
    releases podinfo end to end."""
    cases = {c.name: c for c in REPO_CASES}
    chosen = [cases[name] for name in E2E_FILES]
    files: dict[str, bytes | str] = {}
    symlinks: dict[str, str] = {}
    for case in chosen:
        files.update(case.files)
        symlinks.update(case.symlinks)
    # A second copy of frontend's OCIRepository claims its tag for another rollout:
    # frontend stalls naming the file, document and field; podinfo is not affected.
    claim = "apps/hostile/claims-frontend.yaml"
    files[claim] = hostile.sample(FRONTEND_OCI).replace(
        b"rollout.kuberik.com/rollout: frontend", b"rollout.kuberik.com/rollout: podinfo-twin")
    files["apps/hostile/podinfo-twin.yaml"] = hostile.rollout("podinfo-twin")
    e2e.bare.commit(files, "Add a few things (hostile)", symlinks=symlinks)
    commit_raw(e2e.bare, (Raw("apps", b"../escape.yaml", b"# kuberik.com\nkind: [\n"),),
               "crafted tree entry")
    e2e.human_commits.append(e2e.head())
    hostile_head = e2e.head()
    kept = {p: e2e.bare.git("rev-parse", f"{hostile_head}:{p}").strip()
            for p in [*files, *symlinks]}

    # The cluster: Rollouts with wrong types everywhere, a frontend ImagePolicy with a
    # hostile tag.
    rollouts = [c for c in CLUSTER_CASES if c.spec is not None]
    for case in rollouts:
        manifest = case.manifest()
        assert manifest is not None
        e2e.emulator.apply(manifest)
    e2e.emulator.set_status(IMAGE_API, "ImagePolicy", namespace="apps", name="frontend",
                            status={"latestRef": {"tag": "1.4.3; reboot"}})

    secret = e2e.tmp / "webhook-secret"
    secret.write_bytes(SECRET + b"\n")
    daemon = e2e.start_daemon("--webhook-secret-file", str(secret))
    port = port_of(daemon, e2e)
    # Webhook bodies that lie about their size, while the daemon starts.
    for name in ("length-lies-short", "length-declares-over-the-limit",
                 "chunk-size-lies-short", "length-and-chunked"):
        case = next(c for c in HTTP_CASES if c.name == name)
        code, received, sock = exchange(port, case.request(_signer))
        sock.close()
        assert code in (400, 401, 413), received
    _, received, sock = exchange(port, hostilehttp._post(
        "/hooks/git", b'{"ref": 1}', _signer, length="1000"), wait=0.5)

    e2e.offer("6.5.0")
    e2e.wait_until("6.5.0 released and baked",
                   lambda: tag_of(e2e.newest().get("version")) == "6.5.0"
                   and e2e.newest().get("bakeStatus") == "Succeeded")
    sock.close()

    # Every hostile Rollout stalled with the field named; frontend stalled naming the
    # file, document and field of the double claim.
    for case in rollouts:
        _, status, reason = case.condition
        cond = e2e.wait_until(f"{case.name} {reason}", lambda c=case: next(
            (x for x in (e2e.rollout(c.name).get("status") or {}).get("conditions") or []
             if x.get("type") == c.condition[0] and x.get("reason") == c.condition[2]), None))
        assert cond["status"] == status, (case.name, cond)
        assert all(f in cond["message"] for f in case.says), (case.name, cond)
    front = e2e.wait_until("frontend to stall", lambda: e2e.condition("Stalled", "frontend")
                           if e2e.condition("Stalled", "frontend").get("status") == "True"
                           else None)
    assert front["reason"] == "SetupError"
    assert f"{claim}:12 (document 1) spec.ref.tag" in front["message"], front
    assert "claimed by several rollouts" in front["message"], front

    # Only podinfo's targets were written; every hostile file is as the person left it.
    for commit in e2e.reconciler_commits():
        assert changed_paths(e2e.bare, commit.parents[0], commit.sha) == [APPS]
    assert all(c.trailers.get("Rollout") == "apps/podinfo" for c in e2e.commits()
               if c.trailers.get("Rollout"))
    for path, sha in kept.items():
        assert e2e.bare.git("rev-parse", f"{e2e.head()}:{path}").strip() == sha, path
    assert daemon.running()
    code, body = request(port, "/healthz")
    assert (code, body) == (200, {"alive": True})
    log = daemon.log()
    assert "Traceback" not in log and "failed unexpectedly" not in log, log[-5000:]
    # Problems that concern no rollout are logged once, one line each, escaped.
    for logged in (f"error: {cases['alias-billion-laughs'].where}: line",
                   "error: apps/hostile/symlink-outside-repository.yaml: a symbolic link "
                   "to '/etc/passwd', outside the repository",
                   "error: apps/'../escape.yaml': a tree entry named '../escape.yaml'",
                   "error: apps/x\\nerror: forged.yaml (document 1): line 3",
                   f"error: {cases['manifest-over-10mib'].where}: file is 10485761 bytes"):
        assert log.count(logged) == 1, (logged, log[-5000:])
    e2e.check_history_intact()
