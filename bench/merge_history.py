"""Reading a history of pull-request merges into audit records (``arrivals.records``),
beside git's own read of the same trailers (``git log --format=%(trailers)``).

Where the releases reach the branch through pull requests, every release is two
commits: the release on the pull request's branch and the merge that brought it
(GitHub's "Merge pull request #N" or, with auto-merge passing the message on, a
merge repeating the release's trailers). A daemon reads them all at start
(``Scanner.history``) and the CLI's ``history`` reads them every run. The reader
walks each merge's side to learn what it brought, then meets those commits again
in the main walk. Until stop 30 their trailers were parsed both times, and each
merge's side was walked with a revision walker of its own (~70 us to set up, for
what is nearly always one commit on the merge's first parent).

The history is written by ``git fast-import`` (``--merges`` pull requests over
``--apps`` rollouts, half the merges repeating the trailers) and mirrored over
``file://``. Each read is timed ``--repeat`` times; the figure is the median. The
floor of the same run is ``git log --format=%H %P%n%(trailers)`` over the same
history, in a fresh process: every commit with its parents and trailers, what git
alone costs to read it.

Run: ``.venv/bin/python bench/merge_history.py --merges 5000 20000``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from notes_reads import _timed

from reconciler.adapters.git import Mirror
from reconciler.engine import arrivals


def _message(rollout: str, release: str) -> str:
    return (f"{rollout}: {release}\n\nRollout: {rollout}\nRelease: {release}\n"
            f"Previous-Release: 0.0.1\nAction: release\nEnvironment: prod\n")


def write_history(bare: Path, *, merges: int, apps: int) -> None:
    """``merges`` pull requests, each one release commit merged with ``--no-ff``."""
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    out: list[str] = []

    def data(text: str) -> None:
        out.append(f"data {len(text.encode())}\n{text}\n")

    t = 1_700_000_000
    out.append(f"commit refs/heads/main\nmark :1\ncommitter a <a@example.com> {t} +0000\n")
    data("init")
    out.append("M 644 inline README\n")
    data("fleet\n")
    main, mark = 1, 1
    for i in range(merges):
        t += 10
        rollout = f"apps/app-{i % apps}"
        side = mark = mark + 1
        out.append(f"commit refs/heads/release\nmark :{side}\n"
                   f"committer a <a@example.com> {t} +0000\n")
        data(_message(rollout, f"1.{i}.0"))
        out.append(f"from :{main}\nM 644 inline {rollout}/tag\n")
        data(f"1.{i}.0\n")
        mark += 1
        merged = _message(rollout, f"1.{i}.0") if i % 2 else \
            f"Merge pull request #{i} from org/release\n"
        out.append(f"commit refs/heads/main\nmark :{mark}\n"
                   f"committer a <a@example.com> {t + 1} +0000\n")
        data(merged)
        out.append(f"from :{main}\nmerge :{side}\nM 644 inline {rollout}/tag\n")
        data(f"1.{i}.0\n")
        main = mark
    subprocess.run(["git", "fast-import", "--quiet"], cwd=bare, check=True,
                   input="".join(out).encode())


def _median_ms(read: Callable[[], object], repeat: int) -> float:
    return statistics.median(_timed(read)[0] for _ in range(repeat))


def one(work: Path, *, merges: int, apps: int, repeat: int) -> tuple[int, float, float]:
    bare = work / "remote.git"
    write_history(bare, merges=merges, apps=apps)
    with Mirror.open(f"file://{bare}", cache_dir=work / "cache") as mirror:
        head = mirror.fetch()
        found = arrivals.records(mirror, mirror.log(head))
        ours = _median_ms(lambda: arrivals.records(mirror, mirror.log(head)), repeat)
    floor = _median_ms(lambda: subprocess.run(
        ["git", "log", "--format=%H %P%n%(trailers)", "main"], cwd=bare, check=True,
        capture_output=True), repeat)
    return len(found), ours, floor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--merges", type=int, nargs="+", default=[5000])
    parser.add_argument("--apps", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'merges':>7} {'commits':>8} {'records':>8} {'arrivals.records':>17} "
          f"{'git log trailers':>17}")
    for merges in args.merges:
        with tempfile.TemporaryDirectory(prefix="merge-history-") as tmp:
            records, ours, floor = one(Path(tmp), merges=merges, apps=args.apps,
                                       repeat=args.repeat)
        print(f"{merges:>7} {2 * merges + 1:>8} {records:>8} {ours:>14.0f} ms "
              f"{floor:>14.0f} ms", flush=True)


if __name__ == "__main__":
    main()
