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
        times: dict[str, list[float]] = {}
        for _ in range(args.runs):
            for name, code in STAGES:
                wrapped = f"import gc, os; gc.disable(); {code}; os._exit(0)"
                times.setdefault(name, []).append(
                    cli_speed.timed([sys.executable, "-c", wrapped], repo.env))
            times.setdefault("+ the run itself: `reconciler plan`, warm", []).append(
                cli_speed.timed(plan, repo.env))
    print(f"Warm `plan` on sample-repo/, stage by stage, ms over {args.runs} runs\n")
    print("| stage | median | p90 | adds (median) |")
    print("|---|---:|---:|---:|")
    before = 0.0
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.1f} | {cli_speed.pct(values, 0.9):.1f} | "
              f"{median - before:+.1f} |")
        before = median
    return 0


if __name__ == "__main__":
    sys.exit(main())
