"""Where a warm ``reconciler plan`` on sample-repo/ spends its time, as a process.

Each stage is its own process, measured like the command itself (wall clock, from
spawn to exit), and imports a little more than the stage before it; the
differences between the medians are what each part costs a whole run. The last
stage is the command: a warm mirror and a warm scan cache, so what it adds over
the stage before is the run's own work (fetch over ``file://``, snapshot from the
scan cache, presets, planning, printing). Each stage starts and ends the way
``cli.main`` does (garbage collector off, ``os._exit`` at the end), so the
differences are imports and work, not teardown. Stages run interleaved, N rounds.
``-X importtime`` would say the same with its own overhead in every figure; this
needs none.

Run: ``.venv/bin/python bench/cli_stages.py [--runs 30]`` (about a minute).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import cli_speed  # noqa: E402

STAGES: list[tuple[str, str]] = [
    ("interpreter (`python -c pass`)", "pass"),
    ("+ click and the CLI group", "import reconciler.interfaces.cli"),
    ("+ pygit2", "import reconciler.interfaces.cli, pygit2"),
    ("+ pydantic and the core's models (class creation)",
     "import reconciler.interfaces.cli, pygit2, reconciler.core.models"),
    ("+ every other module `plan` imports (ruamel.yaml, pathspec, the project's)",
     "import reconciler.interfaces.cli, reconciler.interfaces.readcommands"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
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
    print(f"Warm `plan` on sample-repo/, stage by stage, ms over {args.runs} runs; load "
          f"average {started} at the start, {cli_speed.load()} at the end\n")
    print("| stage | wall median | wall p90 | CPU median | adds (wall) | adds (CPU) |")
    print("|---|---:|---:|---:|---:|---:|")
    wall = cpu = 0.0
    for name, series in times.items():
        now_wall, now_cpu = statistics.median(series.wall), statistics.median(series.cpu)
        print(f"| {name} | {series.cells()} | {now_wall - wall:+.1f} | {now_cpu - cpu:+.1f} |")
        wall, cpu = now_wall, now_cpu
    return 0


if __name__ == "__main__":
    sys.exit(main())
