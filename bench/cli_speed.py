"""Whole-process speed of the read-only commands: ``plan``, ``validate``, ``check``.

Each command runs as its own process (``python -m reconciler ...``, the way a CI
job or a person runs it) against a mirror that is already on disk and up to date,
on two repositories: sample-repo/ (18 files) and a generated one of 10,000 YAML
files (``release_cost.make_repo``: 1 in 50 names kuberik.com). Each repository has
two commits, so ``check --base main~1 --head main`` compares a real change.

* cold: the on-disk scan cache and the git memo beside the mirror are deleted
  before every run (the mirror itself stays: only the scans and the memo's answers
  are made again, with pygit2, as after a new commit);
* warm: the scan cache is there from the run before.

Baselines measured in the same run, interleaved with the commands so a burst of
load on the machine hits every row alike: ``python -c pass`` (the interpreter
floor, with this venv's site-packages), ``git rev-parse HEAD`` and
``git ls-tree -r HEAD`` in the mirror (the git floor).

The fetch every run makes (a ``--repo`` URL is fetched, as before) is reported on
its own: the first fetch of a fresh process into an up-to-date mirror, over
``file://`` and over smart HTTP on loopback (``git http-backend``, the test
suite's server) and over SSH on loopback (a real ``sshd``, the test suite's, where
installed), and ``plan`` as a whole process over each loopback server.

``--before DIR`` adds rows for another checkout of the package measured in the same
run (``git archive <rev> | tar -x -C DIR``): the figures before a change, beside
those after it, under the same load.

Every child runs with bytecode caches written and used (``PYTHONDONTWRITEBYTECODE``
unset), as an installed package has them; without them each run compiles every
module it imports again, which is no part of the command's cost.

Each row gives the median and p90 of the wall clock (what a person waits for) and
the median CPU time of the child (user + system): on a machine shared with other
jobs the CPU time moves much less than the wall clock, so compare those when the
load average printed at the start and end of the run is high.

Run: ``.venv/bin/python bench/cli_speed.py [--runs 15] [--files 10000] [--before DIR]``
(``--warm-only``: the sample's warm rows; ``--transports-only``: the fetch and ``plan``
over each transport).
Prints ms; the figures go into docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import release_cost  # noqa: E402

from reconciler.adapters import gitcache  # noqa: E402
from tests.support import githttp, sshd  # noqa: E402

COMMANDS = ("plan", "validate", "check")
SAMPLE = ROOT / "sample-repo"
ENV = {k: v for k, v in release_cost.GIT_ENV.items()
       if not k.startswith("RECONCILER_") and k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPATH"] = str(ROOT)  # this checkout's package, whatever the venv has installed

FETCH_ONCE = """
import sys, time
from pathlib import Path
from reconciler.adapters import git
if len(sys.argv) == 5 and sys.argv[3] == "--ssh":  # a key and known_hosts beside it
    key = Path(sys.argv[4])
    creds = git.Credentials(ssh_key=key, known_hosts=key.with_name("known_hosts"))
elif len(sys.argv) > 3:
    creds = git.Credentials(username=sys.argv[3], password=sys.argv[4])
else:
    creds = None
mirror = git.Mirror.open(sys.argv[1], cache_dir=Path(sys.argv[2]), credentials=creds)
started, cpu = time.perf_counter(), time.process_time()
mirror.fetch()
print((time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000)
"""


def sh(*args: str, cwd: Path | None = None) -> str:
    return release_cost.sh(*args, cwd=cwd)


def second_commit(bare: Path, work: Path, edit: Callable[[Path], None]) -> None:
    """One more commit on ``main`` (``check`` compares it with its parent)."""
    clone = work / "edit"
    sh("git", "clone", "-q", str(bare), str(clone))
    edit(clone)
    sh("git", "commit", "-q", "-a", "-m", "edit", cwd=clone)
    sh("git", "push", "-q", "origin", "main", cwd=clone)
    shutil.rmtree(clone)


def sample_repo(work: Path) -> Path:
    src = work / "src"
    shutil.copytree(SAMPLE, src)
    bare = work / "remote.git"
    sh("git", "init", "-q", "--bare", "-b", "main", str(bare))
    sh("git", "init", "-q", "-b", "main", str(src))
    sh("git", "add", "-A", cwd=src)
    sh("git", "commit", "-q", "-m", "fleet", cwd=src)
    sh("git", "push", "-q", str(bare), "main", cwd=src)
    shutil.rmtree(src)

    def edit(clone: Path) -> None:
        path = clone / "apps" / "podinfo" / "deployment.yaml"
        path.write_text(path.read_text() + "# edited\n")

    second_commit(bare, work, edit)
    return bare


def generated_repo(work: Path, files: int) -> Path:
    bare = release_cost.make_repo(work, files)

    def edit(clone: Path) -> None:
        path = clone / "team1" / "svc1" / "flux.yaml"
        path.write_text(path.read_text().replace('VERSION: "1.0.0"', 'VERSION: "1.0.1"'))

    second_commit(bare, work, edit)
    return bare


class Repo:
    """One repository as the commands see it: its URL, cache directory and mirror;
    ``package``: the checkout whose ``reconciler`` runs (this one by default)."""

    def __init__(self, name: str, bare: Path, cache: Path, *, package: Path = ROOT) -> None:
        self.name, self.bare, self.cache = name, bare, cache
        self.url = f"file://{bare}"
        self.env = {**ENV, "RECONCILER_CACHE_DIR": str(cache), "PYTHONPATH": str(package)}
        self.mirror = gitcache.path_for(cache, self.url)

    def args(self, command: str) -> list[str]:
        extra = ["--base", "main~1", "--head", "main"] if command == "check" else []
        return [sys.executable, "-m", "reconciler", command, "--repo", self.url, *extra]

    def drop_scans(self) -> None:
        for path in self.mirror.glob("reconciler-*"):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()


# Children run in the bench's own directory (set by main), not in this checkout:
# ``python -m`` puts the working directory first on sys.path, where it would win over
# PYTHONPATH (and --before).
NEUTRAL = ROOT


class Series:
    """Wall-clock and CPU milliseconds of the runs of one row."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def run(self, args: list[str], env: dict[str, str]) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.wall.append(timed(args, env))
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.append((after.ru_utime - before.ru_utime + after.ru_stime
                         - before.ru_stime) * 1000)

    def cells(self) -> str:
        return (f"{statistics.median(self.wall):.1f} | {pct(self.wall, 0.9):.1f} | "
                f"{statistics.median(self.cpu):.1f}")


def timed(args: list[str], env: dict[str, str], *, ok: tuple[int, ...] = (0, 1)) -> float:
    started = time.perf_counter()
    proc = subprocess.run(args, env=env, cwd=NEUTRAL, capture_output=True, check=False)
    spent = (time.perf_counter() - started) * 1000
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(args)}: exit {proc.returncode}\n"
                         f"{proc.stderr.decode(errors='replace')}")
    return spent


def pct(values: list[float], q: float) -> float:
    return release_cost.pct(values, q)


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def fetch_once(url: str, cache: Path, *creds: str) -> tuple[float, float]:
    """``(wall, CPU)`` ms of the fetch alone, timed inside the fresh process."""
    out = subprocess.run([sys.executable, "-c", FETCH_ONCE, url, str(cache), *creds],
                         env=ENV, cwd=NEUTRAL, capture_output=True, text=True,
                         check=True).stdout
    wall, cpu = out.split()
    return float(wall), float(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--before", type=Path, help="another checkout, measured alongside")
    parser.add_argument("--warm-only", action="store_true",
                        help="only the warm commands on the sample, the code before and "
                             "`python -c pass` (about a minute: for a quiet moment)")
    parser.add_argument("--transports-only", action="store_true",
                        help="only the fetch and `plan` on the sample over file://, "
                             "loopback HTTP and loopback SSH (about a minute)")
    args = parser.parse_args()
    global NEUTRAL
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        base = NEUTRAL = Path(tmp)
        (base / "sample").mkdir()
        (base / "big").mkdir()
        repos = [Repo("sample", sample_repo(base / "sample"), base / "sample" / "cache")]
        if args.transports_only:
            timed(repos[0].args("plan"), repos[0].env)  # the mirror, fetched once
            started = load()
            loopback = measure_fetch(base, repos[0], args.runs)
            print(f"Transports, ms over {args.runs} runs; load average {started} at the "
                  f"start, {load()} at the end\n")
            print_loopback(loopback)
            return 0
        if not args.warm_only:
            repos.append(Repo(f"{args.files:,} files", generated_repo(base / "big", args.files),
                              base / "big" / "cache"))
        before = [] if args.before is None else [
            Repo(r.name, r.bare, r.cache.with_name("cache-before"), package=args.before)
            for r in repos]
        rows: dict[tuple[str, str, str], Series] = {}
        floors: dict[tuple[str, str], Series] = {}
        for repo in repos + before:  # the mirror, fetched once: every run is warm-mirror
            for command in COMMANDS if args.warm_only else ("plan",):
                timed(repo.args(command), repo.env)
        started = load()
        for _ in range(args.runs):
            floors.setdefault(("python -c pass", ""), Series()).run(
                [sys.executable, "-c", "pass"], ENV)
            for repo in repos:
                for name, git_args in () if args.warm_only else (
                        ("git rev-parse HEAD", ["rev-parse", "HEAD"]),
                        ("git ls-tree -r HEAD", ["ls-tree", "-r", "HEAD"])):
                    floors.setdefault((name, repo.name), Series()).run(
                        ["git", "-C", str(repo.bare), *git_args], ENV)
                for command in COMMANDS:
                    if not args.warm_only:
                        repo.drop_scans()
                        rows.setdefault((repo.name, command, "cold"), Series()).run(
                            repo.args(command), repo.env)
                    rows.setdefault((repo.name, command, "warm"), Series()).run(
                        repo.args(command), repo.env)
            for repo in before:
                for command in COMMANDS:
                    rows.setdefault((repo.name, command, "before (none)"), Series()).run(
                        repo.args(command), repo.env)
        loopback = {} if args.warm_only else measure_fetch(base, repos[0], args.runs)

    print(f"Whole process, ms over {args.runs} runs; load average {started} at the start, "
          f"{load()} at the end\n")
    print("| repository | command | scan cache | wall median | wall p90 | CPU median |")
    print("|---|---|---|---:|---:|---:|")
    for (repo_name, command, cache), series in sorted(
            rows.items(), key=lambda item: ([r.name for r in repos].index(item[0][0]),
                                            COMMANDS.index(item[0][1]))):
        print(f"| {repo_name} | `{command}` | {cache} | {series.cells()} |")
    print("\nBaselines, same run\n")
    print("| baseline | repository | wall median | wall p90 | CPU median |")
    print("|---|---|---:|---:|---:|")
    for (name, repo_name), series in floors.items():
        print(f"| `{name}` | {repo_name or '-'} | {series.cells()} |")
    print_loopback(loopback)
    return 0


def print_loopback(loopback: dict[str, Series]) -> None:
    if not loopback:
        return  # --warm-only: not measured
    print("\nThe fetch alone (first fetch of a fresh process into an up-to-date mirror, "
          "timed inside it), and `plan` on the sample over loopback HTTP and SSH (over HTTP "
          "its CPU column includes the server's git http-backend; over SSH, sshd's "
          "children are not counted)\n")
    print("| what | wall median | wall p90 | CPU median |")
    print("|---|---:|---:|---:|")
    for name, series in loopback.items():
        print(f"| {name} | {series.cells()} |")


def measure_fetch(base: Path, sample: Repo, runs: int) -> dict[str, Series]:
    """The fetch over file:// and loopback HTTP, and plan as a process over HTTP."""
    out: dict[str, Series] = {}
    home = base / "http-home"
    with githttp.serve_git_http(sample.bare.parent, home=home) as server:
        url = server.url_for(sample.bare)
        cache = base / "http-cache"
        env = {**ENV, "RECONCILER_CACHE_DIR": str(cache),
               "RECONCILER_GIT_USERNAME": server.username,
               "RECONCILER_GIT_PASSWORD": server.password}
        plan = [sys.executable, "-m", "reconciler", "plan", "--repo", url]
        timed(plan, env)
        creds = (server.username, server.password)
        for _ in range(runs):
            for name, fetched in (("fetch alone, file://", fetch_once(sample.url, sample.cache)),
                                  ("fetch alone, http:// loopback",
                                   fetch_once(url, cache, *creds))):
                series = out.setdefault(name, Series())
                series.wall.append(fetched[0])
                series.cpu.append(fetched[1])
            out.setdefault("`plan` process, file://", Series()).run(sample.args("plan"),
                                                                    sample.env)
            out.setdefault("`plan` process, http:// loopback", Series()).run(plan, env)
    if not sshd.available():
        print(f"no SSH rows: {sshd.SKIP_REASON}", file=sys.stderr)
        return out
    with sshd.serve_sshd(base / "sshd") as ssh:
        url = ssh.url_for(sample.bare)
        known = ssh.client_key.with_name("known_hosts")
        known.write_text(ssh.known_hosts_line())
        cache = base / "ssh-cache"
        env = {**ENV, "RECONCILER_CACHE_DIR": str(cache),
               "RECONCILER_GIT_SSH_KEY": str(ssh.client_key),
               "RECONCILER_GIT_KNOWN_HOSTS": str(known)}
        plan = [sys.executable, "-m", "reconciler", "plan", "--repo", url]
        timed(plan, env)
        git_env = {**ENV, "GIT_SSH_COMMAND": f"ssh -i {ssh.client_key} -o IdentitiesOnly=yes "
                                             f"-o UserKnownHostsFile={known} -o BatchMode=yes"}
        for _ in range(runs):
            wall, cpu = fetch_once(url, cache, "--ssh", str(ssh.client_key))
            series = out.setdefault("fetch alone, ssh:// loopback", Series())
            series.wall.append(wall)
            series.cpu.append(cpu)
            out.setdefault("`plan` process, ssh:// loopback", Series()).run(plan, env)
            # The floor: git's own client over the same server, connection included.
            out.setdefault("`git ls-remote`, ssh:// loopback (OpenSSH client)",
                           Series()).run(["git", "ls-remote", url, "main"], git_env)
    return out


if __name__ == "__main__":
    os.environ.pop("RECONCILER_CACHE_DIR", None)
    sys.exit(main())
