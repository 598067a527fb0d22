"""What one kind of operation leaves in the process's memory when repeated thousands
of times: the C heap in use (glibc), Python's small-object heap (pymalloc: bytes in
use and its arenas), the trimmed ``RssAnon``, and libgit2's object cache.

The soak's daemon grows a few MiB an hour at the real rate (docs/performance.md,
"Soak"). A soak takes hours and mixes everything; this repeats one part alone, in a
few minutes, so that a part that leaks shows as a slope and one that does not as a
flat line (or the sawtooth of a bounded cache).

Kinds (``--op``, comma-separated where they are the mirror's):

* the mirror's, each step on a fresh release commit pushed over ``file://`` (a
  repository of ``--history`` commits, 50 files): ``note`` (a verdict note written
  and pushed), ``diff`` (the entries changed since the last step), ``list`` (every
  entry of the tree), ``blob`` (the changed blobs read), ``log`` (the newest 50
  commits), ``anc`` (an ancestry check), ``revert`` (a revert computed),
  ``notesdiff`` (the notes changed by the step), ``fetch`` (a fetch with nothing
  new);
* the cluster's, through the official client against the API emulator run in
  another process (so that its own memory is not counted): ``patch`` (a Rollout's
  status merge-patched), ``list-rollouts``, ``watch`` (a watch stream opened and run
  to its one-second timeout).

Every ``--per`` steps: a full collection, ``malloc_trim``, then the figures.
``--no-pack`` keeps the mirror from packing (a daemon releasing a few times an hour
packs rarely), ``--cache-max-age S`` sets when the mirror's handle, and with it
libgit2's object cache, is reopened at the next write (``git.CACHE_MAX_AGE``).

Run: ``.venv/bin/python bench/op_memory.py --op note,diff,list,blob,log,anc,revert,notesdiff``
or ``--op patch --per 1000``.
"""

from __future__ import annotations

import argparse
import gc
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import daemon_latency  # also puts the project on sys.path
import heapowners

from reconciler.adapters import cluster as k8s
from reconciler.adapters import git, malloc
from reconciler.core import verdicts

MIRROR_OPS = ("note", "diff", "list", "blob", "log", "anc", "revert", "notesdiff", "fetch")
CLUSTER_OPS = ("patch", "list-rollouts", "watch")
FIGURES = ("malloc_in_use_kib", "pymalloc_allocated_kib", "pymalloc_total_kib", "RssAnon",
           "libgit2_cache_kib")


def _figures() -> list[float]:
    gc.collect()
    malloc.trim()
    found = heapowners.stats()
    return [float(found.get(k, 0)) for k in FIGURES]


def _manifest(i: int, value: str) -> bytes:
    return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: f{i % 50}\n"
            f"data:\n  v: '{value}'\n").encode()


def mirror_steps(work: Path, ops: set[str], history: int, *, pack: bool = True,
                 cache_max_age: float | None = None) -> Callable[[int], None]:
    remote = work / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    stream = b"".join(
        b"commit refs/heads/main\ncommitter a <a@b.c> %d +0000\ndata 2\nc\n"
        b"M 100644 inline apps/f%d.yaml\ndata %d\n%s\n"
        % (1_700_000_000 + i, i % 50, len(_manifest(i, str(i))), _manifest(i, str(i)))
        for i in range(history))
    subprocess.run(["git", "-C", str(remote), "fast-import", "--quiet"], input=stream,
                   check=True)
    mirror = git.Mirror.open(f"file://{remote}", cache_dir=work / "cache")
    mirror.fetch()
    if not pack:  # as a daemon releasing a few times an hour: no pack for hours
        mirror.packer.check_every = 10**9
    if cache_max_age is not None:
        mirror.cache_max_age = cache_max_age
    last = [mirror.head()]

    def step(k: int) -> None:
        prev = last[0]
        commit = mirror.commit(parent=prev, files={f"apps/f{k % 50}.yaml": _manifest(k, f"x{k}")},
                               message=f"release {k}")
        mirror.push(commit)
        notes_before = mirror.notes_head(verdicts.NOTES_REF)
        if "note" in ops:
            mirror.add_note(commit, f"note {k}\n", verdicts.NOTES_REF)
        if "diff" in ops:
            mirror.changed_entries(prev, commit)
        if "list" in ops:
            mirror.list_entries(commit, suffixes=(".yaml",))
        if "blob" in ops:
            for entry in mirror.changed_entries(prev, commit):
                if entry.blob:
                    mirror.read_blob(entry.blob)
        if "log" in ops:
            list(mirror.log(commit, limit=50))
        if "anc" in ops:
            mirror.is_ancestor(prev, commit)
        if "revert" in ops:
            mirror.revert(commit=commit, onto=commit)
        notes_after = mirror.notes_head(verdicts.NOTES_REF)
        if "notesdiff" in ops and notes_before and notes_after:
            mirror.notes_changed(notes_before, notes_after)
        if "fetch" in ops:
            mirror.fetch()
        last[0] = commit

    return step


def cluster_steps(work: Path, op: str,
                  closing: list[Callable[[], object]]) -> Callable[[int], None]:
    kubeconfig = work / "kubeconfig"
    server = subprocess.Popen([sys.executable, "-c", f"""
import sys, time
sys.path.insert(0, {str(daemon_latency.ROOT)!r})
from reconciler.emulator.server import Emulator
emulator = Emulator(history_limit=1000).start()
emulator.apply({{"apiVersion": {daemon_latency.ROLLOUT_API!r}, "kind": "Rollout",
                 "metadata": {{"name": "app0", "namespace": "apps"}}, "spec": {{}}}})
emulator.write_kubeconfig({str(kubeconfig)!r})
print("up", flush=True)
time.sleep(1e9)
"""], stdout=subprocess.PIPE, text=True)
    closing.append(server.kill)
    assert server.stdout is not None and server.stdout.readline().strip() == "up"
    cluster = k8s.Cluster.connect(kubeconfig=kubeconfig)

    def step(k: int) -> None:
        if op == "patch":
            cluster.patch_status(k8s.ROLLOUT, namespace="apps", name="app0", status={
                "history": [{"version": f"1.{k}.{j}", "id": j} for j in range(10)]})
        elif op == "list-rollouts":
            cluster.list(k8s.ROLLOUT, namespace="apps")
        else:
            from kubernetes import watch
            call = lambda *a, **kw: cluster._custom.list_namespaced_custom_object(  # noqa: E731
                *a, **kw)
            for _ in watch.Watch().stream(  # type: ignore[no-untyped-call]
                    call, "kuberik.com", "v1alpha1", "apps", "rollouts", timeout_seconds=1,
                    _request_timeout=(5.0, 3)):
                pass

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--op", required=True)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--per", type=int, default=300, help="steps between two readings")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--history", type=int, default=3000)
    parser.add_argument("--no-pack", action="store_true",
                        help="the mirror never packs (a daemon releasing rarely)")
    parser.add_argument("--cache-max-age", type=float,
                        help="seconds before the mirror reopens its handle (git.CACHE_MAX_AGE)")
    args = parser.parse_args()
    ops = set(args.op.split(","))
    closing: list[Callable[[], object]] = []
    with tempfile.TemporaryDirectory(prefix="op-memory-") as tmp:
        try:
            if ops <= set(MIRROR_OPS):
                step = mirror_steps(Path(tmp), ops, args.history, pack=not args.no_pack,
                                    cache_max_age=args.cache_max_age)
            elif len(ops) == 1 and ops <= set(CLUSTER_OPS):
                step = cluster_steps(Path(tmp), ops.pop(), closing)
            else:
                parser.error(f"--op: mirror kinds {MIRROR_OPS}, or one of {CLUSTER_OPS}")
            for k in range(args.warmup):
                step(k)
            print(f"{'steps':>6} " + " ".join(f"{f.replace('_kib', ''):>22}" for f in FIGURES))
            k = args.warmup
            first = _figures()
            print(f"{k:>6} " + " ".join(f"{v:>18.0f} KiB" for v in first), flush=True)
            for _ in range(args.rounds):
                for _ in range(args.per):
                    k += 1
                    step(k)
                print(f"{k:>6} " + " ".join(f"{v:>18.0f} KiB" for v in _figures()), flush=True)
        finally:
            for close in closing:
                close()


if __name__ == "__main__":
    main()
