"""Where a warm ``reconciler plan`` on sample-repo/ spends its time, as a process.

Each stage is its own process, measured like the command itself (wall clock, from
spawn to exit), and imports a little more than the stage before it; the
differences between the medians are what each part costs a whole run. The last
stage is the command: a warm mirror, its memo and a warm scan cache, so what it
adds over the stage before is the run's own work (the refs of the ``file://``
remote and of the mirror read, the fetch skipped when they match, the mirror's
answers from the memo, the snapshot from the scan cache, presets, planning,
printing). Each stage starts and ends the way
``cli.main`` does for a short command (dataclass methods from the run before,
garbage collector off, ``os._exit`` at the end), so the differences are imports
and work, not teardown. Stages run interleaved, N rounds.
``-X importtime`` would say the same with its own overhead in every figure; this
needs none.

A second table splits the run itself (the last stage): the same warm ``plan`` in a
process that wraps the run's parts in CPU timers (``INSIDE``) and prints what each
took; a part that contains another includes it.

``--instructions`` counts each stage, and each of ``plan``, ``validate`` and
``check`` warm, once under valgrind (callgrind) instead: millions of instructions,
which a loaded machine does not move.

Run: ``.venv/bin/python bench/cli_stages.py [--runs 30] [--instructions]`` (about a
minute; two with ``--instructions``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cli_speed  # noqa: E402

# Each stage starts as ``cli.main`` does for a short command: dataclass methods from
# the run before (interfaces/methodcache), collector off.
PROLOGUE = "from reconciler.interfaces import methodcache; methodcache.install()"
STAGES: list[tuple[str, str]] = [
    ("interpreter (`python -c pass`)", "pass"),
    ("+ click and the CLI group", f"{PROLOGUE}; import reconciler.interfaces.cli"),
    ("+ every other module `plan` imports (the project's; no pydantic, no YAML parser, "
     "no pathspec, no pygit2)",
     f"{PROLOGUE}; import reconciler.interfaces.cli, reconciler.interfaces.readcommands"),
]
# What a run the memo beside the mirror cannot answer (a new commit, a remote that is
# not local) loads on top: printed after the commands, for comparison.
WITH_PYGIT2 = ("for comparison: the stage before the commands + pygit2 (a run "
               "adapters/gitmemo cannot answer)",
               f"{PROLOGUE}; import reconciler.interfaces.cli, "
               "reconciler.interfaces.readcommands, pygit2")


# The parts of a warm run, each timed by CPU (``time.process_time``) around one call.
INSIDE = r"""
import gc, json, os, sys, time
from reconciler.interfaces import methodcache
methodcache.install()
gc.disable()
from reconciler.interfaces.cli import cli
from reconciler.interfaces import readcommands, repoaccess
from reconciler.adapters import gitmemo
from reconciler.core import planning
from reconciler.engine import presets, snapshot, verdicts
spent = {}
def timer(name, fn):
    def timed(*args, **kwargs):
        started = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + (time.process_time() - started) * 1000
    return timed
repoaccess.load = timer("settings: flags and variables (interfaces/flags)", repoaccess.load)
presets.load = timer("presets from the scan cache", presets.load)
gitmemo.ReadMirror.fetch = timer("fetch (file://, up to date: skipped, the refs read)",
                                 gitmemo.ReadMirror.fetch)
snapshot.roots = timer("cluster roots from the scan cache", snapshot.roots)
snapshot.Scanner.snapshot = timer("snapshot: tree listing, ignore rules, scans from the "
                                  "cache, history", snapshot.Scanner.snapshot)
verdicts.read_all = timer("verdict notes", verdicts.read_all)
planning.plan = timer("planning", planning.plan)
started = time.process_time()
try:
    cli(["plan", "--repo", sys.argv[1]], prog_name="reconciler")
except SystemExit:
    pass
spent["the whole run"] = (time.process_time() - started) * 1000
sys.stdout.flush()
os.write(2, json.dumps(spent).encode())
os._exit(0)
"""


def inside(repo: cli_speed.Repo, runs: int) -> dict[str, list[float]]:
    """CPU ms of each part of a warm ``plan``, one list per part (``INSIDE``)."""
    out: dict[str, list[float]] = {}
    for _ in range(runs):
        proc = subprocess.run([sys.executable, "-c", INSIDE, repo.url], env=repo.env,
                              cwd=cli_speed.NEUTRAL, capture_output=True, check=True)
        for name, ms in json.loads(proc.stderr.decode().strip().splitlines()[-1]).items():
            out.setdefault(name, []).append(ms)
    return out


def counted(args: list[str], env: dict[str, str]) -> float:
    """Millions of instructions ``args`` executes (valgrind's callgrind, children too)."""
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                           "--trace-children=yes", *args], env=env, cwd=cli_speed.NEUTRAL,
                          capture_output=True, text=True, check=False)
    return sum(float(line.split()[3]) for line in proc.stderr.splitlines()
               if "Collected" in line) / 1e6


def instructions() -> int:
    """Each stage and each warm command once, counted (``--instructions``)."""
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        base = cli_speed.NEUTRAL = Path(tmp)
        repo = cli_speed.Repo("sample", cli_speed.sample_repo(base), base / "cache")
        for command in cli_speed.COMMANDS:  # the mirror, the scan cache, the methods
            cli_speed.timed(repo.args(command), repo.env)
            cli_speed.timed(repo.args(command), repo.env)
        print("Warm commands on sample-repo/, millions of instructions\n")
        print("| stage | total | adds |")
        print("|---|---:|---:|")
        before = 0.0
        for name, code in STAGES:
            total = counted([sys.executable, "-c",
                             f"import gc, os; gc.disable(); {code}; os._exit(0)"], repo.env)
            print(f"| {name} | {total:,.1f} | {total - before:+,.1f} |")
            before = total
        for command in cli_speed.COMMANDS:
            total = counted(repo.args(command), repo.env)
            print(f"| `reconciler {command}`, warm | {total:,.1f} | {total - before:+,.1f} |")
        name, code = WITH_PYGIT2
        total = counted([sys.executable, "-c",
                         f"import gc, os; gc.disable(); {code}; os._exit(0)"], repo.env)
        print(f"| {name} | {total:,.1f} | {total - before:+,.1f} |")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--instructions", action="store_true",
                        help="count each stage's instructions once under valgrind instead "
                             "(what a loaded machine cannot disturb)")
    args = parser.parse_args()
    if args.instructions:
        return instructions()
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as tmp:
        base = cli_speed.NEUTRAL = Path(tmp)
        repo = cli_speed.Repo("sample", cli_speed.sample_repo(base), base / "cache")
        plan = repo.args("plan")
        cli_speed.timed(plan, repo.env)  # the mirror and the scan cache, once
        cli_speed.timed(plan, repo.env)
        times: dict[str, cli_speed.Series] = {}
        started = cli_speed.load()
        for _ in range(args.runs):
            for name, code in STAGES:
                wrapped = f"import gc, os; gc.disable(); {code}; os._exit(0)"
                times.setdefault(name, cli_speed.Series()).run(
                    [sys.executable, "-c", wrapped], repo.env)
            times.setdefault("+ the run itself: `reconciler plan`, warm",
                             cli_speed.Series()).run(plan, repo.env)
        parts = inside(repo, args.runs)
    print(f"Warm `plan` on sample-repo/, stage by stage, ms over {args.runs} runs; load "
          f"average {started} at the start, {cli_speed.load()} at the end\n")
    print("| stage | wall median | wall p90 | CPU median | adds (wall) | adds (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    wall = cpu = 0.0
    for name, series in times.items():
        now_wall, now_cpu = statistics.median(series.wall), statistics.median(series.cpu)
        print(f"| {name} | {series.cells()} | {now_wall - wall:+.1f} | {now_cpu - cpu:+.1f} |")
        wall, cpu = now_wall, now_cpu
    print(f"\nInside the run (the last stage), CPU ms, median of {args.runs} runs\n")
    print("| part | CPU median |")
    print("|---|---:|")
    for name, values in sorted(parts.items(), key=lambda kv: kv[0] == "the whole run"):
        print(f"| {name} | {statistics.median(values):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
