"""The scan cache on disk beside the mirror (adapters/scancache, engine/scanstore):
a second process reads its scans back instead of reading and parsing the files;
two processes saving at once leave a file both can read; a damaged file, a damaged
record or another version is ignored and replaced, never an error."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reconciler.adapters import git, scancache
from reconciler.engine import scanstore, snapshot
from tests.support import gitrepo
from tests.support.cli import run

ROOT = Path(__file__).resolve().parents[2]


def scanner(fleet: gitrepo.BareRepo, cache: Path, *,
            version: str | None = None) -> tuple[snapshot.Scanner, scancache.Store]:
    """A scanner as a fresh process has it: new mirror object, new store."""
    mirror = git.Mirror.open(fleet.url, cache_dir=cache)
    mirror.fetch()
    store = scancache.Store.beside(mirror.path, version=version or scanstore.version())
    return snapshot.Scanner(mirror, store=store), store


def view(snap: snapshot.Snapshot) -> tuple[object, ...]:
    inv = snap.inventory
    return (inv.rollouts, inv.targets, inv.problems, inv.broken, inv.unparsable, snap.blobs)


def test_a_second_process_reads_the_scans_from_disk(fleet: gitrepo.BareRepo,
                                                    tmp_path: Path) -> None:
    first_scanner, store = scanner(fleet, tmp_path)
    first = first_scanner.snapshot(fleet.head())
    assert first.stats.stored == 0 and first.stats.parsed > 0
    assert store.path.is_file() and store.path.parent.name.endswith(".git")

    again_scanner, _ = scanner(fleet, tmp_path)
    again = again_scanner.snapshot(fleet.head())
    assert (again.stats.parsed, again.stats.screened_out) == (0, 0)
    assert again.stats.stored == again.stats.files == first.stats.files
    assert view(again) == view(first)
    plain = snapshot.Scanner(again_scanner.mirror).snapshot(fleet.head())
    assert view(plain) == view(first)


@pytest.mark.parametrize("damage", [
    b"", b"{", b"\xff\xfe not json", b"[]", b'{"version": 7}',
    b'{"version": "VERSION", "entries": []}',
])
def test_a_damaged_file_is_ignored_and_replaced(fleet: gitrepo.BareRepo, tmp_path: Path,
                                                damage: bytes) -> None:
    reference = snapshot.Scanner(git.Mirror.open(fleet.url, cache_dir=tmp_path / "ref"))
    expected = view(reference.snapshot(reference.mirror.fetch()))
    first, store = scanner(fleet, tmp_path)
    store.path.write_bytes(damage.replace(b"VERSION", store.version.encode()))
    snap = first.snapshot(fleet.head())
    assert snap.stats.stored == 0 and view(snap) == expected
    assert json.loads(store.path.read_text())["version"] == store.version


def test_a_damaged_record_is_scanned_again(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    first, store = scanner(fleet, tmp_path)
    expected = view(first.snapshot(fleet.head()))
    data = json.loads(store.path.read_text())
    damaged = [k for k, v in data["entries"].items() if isinstance(v, dict)][:2]
    for key in damaged:
        data["entries"][key] = {"parsed": True, "rollouts": "nonsense"}
    store.path.write_text(json.dumps(data))

    again, store = scanner(fleet, tmp_path)
    snap = again.snapshot(fleet.head())
    assert view(snap) == expected
    assert snap.stats.parsed == len(damaged)
    entries = json.loads(store.path.read_text())["entries"]
    assert all(isinstance(entries[k]["rollouts"], list) for k in damaged)


def test_another_version_is_ignored(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    old, _ = scanner(fleet, tmp_path, version="0/0.0.1/older-code")
    expected = view(old.snapshot(fleet.head()))
    new, store = scanner(fleet, tmp_path)
    snap = new.snapshot(fleet.head())
    assert snap.stats.stored == 0 and snap.stats.parsed > 0 and view(snap) == expected
    assert json.loads(store.path.read_text())["version"] == scanstore.version()


def test_the_version_names_the_format_the_release_and_the_code() -> None:
    import reconciler
    from reconciler.core import scanrecords

    fmt, release, digest = scanstore.version().split("/")
    assert (int(fmt), release) == (scanrecords.FORMAT, reconciler.__version__)
    assert len(digest) == 16


def test_a_save_keeps_what_was_used_then_the_most_recent_others(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    writer = scancache.Store(path, version="v", older=3)
    for i in range(10):
        writer.put(f"k{i}", i)
    writer.save()
    reader = scancache.Store(path, version="v", older=3)
    assert [reader.get(k) for k in ("k9", "k8")] == [9, 8]
    reader.put("new", 1)
    reader.save()
    kept = json.loads(path.read_text())["entries"]
    assert list(kept) == ["k9", "k8", "new", "k0", "k1", "k2"]
    untouched = scancache.Store(path, version="v", older=3)
    assert untouched.get("k0") == 0
    untouched.save()  # nothing changed: nothing written
    assert json.loads(path.read_text())["entries"] == kept


def test_an_unwritable_cache_costs_nothing_but_time(tmp_path: Path) -> None:
    store = scancache.Store(tmp_path / "not-a-dir" / "cache.json", version="v")
    (tmp_path / "not-a-dir").write_text("a file where the directory should be")
    store.put("k", 1)
    store.save()  # logged at debug level, not raised
    assert store.get("k") == 1


WRITER = """
import json, sys
from pathlib import Path
from reconciler.adapters import scancache
path, name, rounds = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
value = {"parsed": True, "rollouts": [], "targets": [], "problems": [[name * 50, 0, None,
         "error", 1, None]]}
for i in range(rounds):
    store = scancache.Store(path, version="v")
    assert store.get("shared") in (None, 1), "a reader saw another value"
    for k in range(300):
        store.put(f"{name}-{k}", value)
    store.put("shared", 1)
    store.put(f"{name}-round", i)
    store.save()
"""


def test_two_processes_saving_at_once_leave_a_file_both_can_read(tmp_path: Path) -> None:
    path = tmp_path / "mirror.git" / scancache.FILE_NAME
    path.parent.mkdir()
    rounds = 40
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), name, str(rounds)],
                              cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    reads = 0
    while any(p.poll() is None for p in procs):
        if path.exists():
            data = json.loads(path.read_bytes())  # never half a file
            assert data["version"] == "v" and data["entries"]["shared"] == 1
            reads += 1
        time.sleep(0.001)
    for proc in procs:
        _, err = proc.communicate()
        assert proc.returncode == 0, err
    assert reads > 0
    final = scancache.Store(path, version="v")
    assert final.get("shared") == 1
    last = {name: final.get(f"{name}-round") for name in ("a", "b")}
    assert rounds - 1 in last.values()  # the last save of one of them, whole
    assert not list(path.parent.glob(f".{scancache.FILE_NAME}.*"))  # no temporary left


def test_plan_reads_the_cache_a_run_before_wrote(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    first = run("plan", "--repo", fleet.url, "-o", "json", cache=tmp_path)
    assert first.returncode == 0, first.stderr
    (cache_file,) = tmp_path.glob(f"*.git/{scancache.FILE_NAME}")
    written = cache_file.stat().st_mtime_ns
    second = run("plan", "--repo", fleet.url, "-o", "json", cache=tmp_path)
    assert second.returncode == 0 and second.stdout == first.stdout
    assert cache_file.stat().st_mtime_ns == written  # all found: nothing to write
    cache_file.write_bytes(b"{ damaged")
    third = run("validate", "--repo", fleet.url, cache=tmp_path)
    assert third.returncode == 0 and third.stderr.endswith("25 YAML files\n"), third.stderr
    assert json.loads(cache_file.read_text())["version"] == scanstore.version()
