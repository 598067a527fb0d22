"""A first snapshot screened by ``git grep`` (``engine/scans``, ``adapters/gitscreen``)
is the snapshot the one-blob-at-a-time path builds, on trees made to trip it up.

Each tree is written object by object with pygit2 (so names git's porcelain would
refuse to create are there too): spaces, tabs, quotes, unicode, a newline and a
byte that is not UTF-8 in names, names that look like options (``-n``,
``--output=x.yaml``) or pathspec magic (``:x``, ``*``, ``[ab]``), symlinks inside
and outside the repository, a submodule (gitlink), executable files, Flux's
ignore files at the root and nested (with ``!`` taking a file back), and contents
with a NUL, CRLF, a very long line, the strings only in a comment, UTF-16, or YAML
that does not parse. The mirror is a real one (``file://``); the two paths are
the same ``Scanner`` with ``scans.BULK`` at 0 (git screens every first snapshot)
or out of reach (never), and the snapshots are compared whole: rollouts, targets,
markers, problems (skipped symlinks and submodules among them), the blob ids a
release may rewrite, the files in scope. Then one more commit, and the
incremental snapshots after it are compared the same way.
"""

from __future__ import annotations

import os
import random
import shutil
import threading
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode, ObjectType

from reconciler.adapters import git, gitscreen
from reconciler.core import manifests
from reconciler.engine import scans, scanstore
from reconciler.engine.snapshot import Scanner, Snapshot

pytestmark = pytest.mark.skipif(shutil.which("git") is None,
                                reason="git's command line is not installed: the "
                                       "snapshot then reads every blob (the fallback "
                                       "tested below runs everywhere else)")

ROLLOUT = """apiVersion: kuberik.com/v1alpha1
kind: Rollout
metadata: {{name: {name}, namespace: fleet}}
spec:
  bakeTime: 5m
  releasesImagePolicy: {{name: {name}}}
"""
TARGET = """apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
  namespace: fleet
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: {name}
spec:
  path: ./apps/{name}
  postBuild:
    substitute:
      VERSION: "1.0.{n}"
"""
MARKED = """apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: OCIRepository
metadata:
  name: {name}
  namespace: fleet
spec:
  ref:
    tag: 1.0.{n} # {{"$imagepolicy": "fleet:{name}:tag"}}
"""
PLAIN = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {name}
data:
  n: "{n}"
"""


def contents(name: str, n: int) -> list[bytes]:
    """Every kind of content a file may have (with and without the screen's strings)."""
    rollout, target = ROLLOUT.format(name=name), TARGET.format(name=name, n=n)
    return [rollout.encode(), target.encode(), MARKED.format(name=name, n=n).encode(),
            PLAIN.format(name=name, n=n).encode(),
            target.replace("\n", "\r\n").encode(),
            b"\0binary\0" + rollout.encode(),
            b"x: " + b"y" * 70_000 + b"\n# kuberik.com\n",
            b"# see kuberik.com for what this was\n" + PLAIN.format(name=name, n=n).encode(),
            b"kind: [unclosed\n  rollout.kuberik.com/rollout: " + name.encode() + b"\n",
            rollout.encode("utf-16"), b"", b"kuberik.co\nm\n"]


NAMES = ["a.yaml", "with space.yaml", "tab\tname.yml", 'quote"s.yaml', "ünïcödé.yaml",
         "new\nline.yaml", "-n.yaml", "--output=x.yaml", ":(top)x.yaml", "*.yaml",
         "[ab].yaml", "back\\slash.yaml", "values.json", "README.md", "Kustomization",
         "kustomization.yaml", "keep.yml", "local.yaml"]
DIRS = ["apps", "dir with space", "ünï", ".github", "-n", "ignored", "apps/nested",
        "clusters/prod"]
IGNORES = [b"ignored/\n", b"*.yml\n!keep.yml\n", b"/local.yaml\n", b"# nothing\n",
           b"dir with space/\n"]
NOT_UTF8 = b"latin-\xff.yaml"


def _tree(repo: pygit2.Repository, entries: dict[bytes, tuple[int, pygit2.Oid]]) -> pygit2.Oid:
    """A tree object of ``entries`` (raw name -> mode, id), in git's order."""
    def key(item: tuple[bytes, tuple[int, pygit2.Oid]]) -> bytes:
        return item[0] + (b"/" if item[1][0] == FileMode.TREE else b"")
    raw = b"".join(f"{mode:o} ".encode() + name + b"\0" + oid.raw
                   for name, (mode, oid) in sorted(entries.items(), key=key))
    return repo.odb.write(ObjectType.TREE, raw)


def write_tree(repo: pygit2.Repository, files: dict[bytes, tuple[int, bytes]]) -> pygit2.Oid:
    """The tree of ``files``: raw path -> (mode, bytes); a gitlink's bytes are its
    commit id in hex."""
    nested: dict[bytes, dict[bytes, tuple[int, bytes]]] = {}
    here: dict[bytes, tuple[int, pygit2.Oid]] = {}
    for path, (mode, data) in files.items():
        head, slash, rest = path.partition(b"/")
        if slash:
            nested.setdefault(head, {})[rest] = (mode, data)
        elif mode == FileMode.COMMIT:
            here[head] = (mode, pygit2.Oid(hex=data.decode()))
        else:
            here[head] = (mode, repo.create_blob(data))
    for name, inner in nested.items():
        here[name] = (FileMode.TREE, write_tree(repo, inner))
    return _tree(repo, here)


def generated(rng: random.Random, count: int) -> dict[bytes, tuple[int, bytes]]:
    """``count`` files at odd paths with every kind of content, plus links, a
    submodule and ignore files."""
    files: dict[bytes, tuple[int, bytes]] = {
        os.fsencode(f"apps/{name}"): (FileMode.BLOB, TARGET.format(name="app1", n=1).encode())
        for name in [*NAMES, NOT_UTF8.decode("utf-8", "surrogateescape")]}
    for n in range(count):
        folder = rng.choice([*DIRS, ""])
        name = rng.choice([*NAMES, NOT_UTF8.decode("utf-8", "surrogateescape")])
        path = os.fsencode(f"{folder}/{n}-{name}" if folder else f"{n}-{name}")
        mode = rng.choice([FileMode.BLOB] * 6 + [FileMode.BLOB_EXECUTABLE])
        files[path] = (mode, rng.choice(contents(f"app{n % 7}", n)))
    for folder in rng.sample(["", "apps", "ignored", "dir with space"], 2):
        files[os.fsencode(f"{folder}/.sourceignore" if folder else ".sourceignore")] = (
            FileMode.BLOB, b"".join(rng.sample(IGNORES, 2)))
    files[b"apps/link.yaml"] = (FileMode.LINK, b"../clusters/prod/0-a.yaml")
    files[b"apps/outside.yaml"] = (FileMode.LINK, b"/etc/passwd")
    files[b"vendor/module.yaml"] = (FileMode.COMMIT, b"1" * 40)
    return files


class Remote:
    """A bare repository written object by object, its branch moved by hand."""

    def __init__(self, path: Path) -> None:
        self.repo = pygit2.init_repository(str(path), bare=True)
        self.url = f"file://{path}"
        self.head: pygit2.Oid | None = None

    def commit(self, files: dict[bytes, tuple[int, bytes]]) -> str:
        sig = pygit2.Signature("t", "t@example.com", 1_700_000_000, 0)
        parents = [] if self.head is None else [self.head]
        self.head = self.repo.create_commit(None, sig, sig, "files\n", write_tree(
            self.repo, files), parents)
        self.repo.references.create("refs/heads/main", self.head, force=True)
        return str(self.head)


def edited(rng: random.Random, files: dict[bytes, tuple[int, bytes]]
           ) -> dict[bytes, tuple[int, bytes]]:
    """``files`` after one more commit: 30 of them changed or removed, a nested
    ignore file added."""
    files = dict(files)
    for path in rng.sample(sorted(p for p, f in files.items() if f[0] != FileMode.COMMIT), 30):
        if rng.random() < 0.3:
            del files[path]
        else:
            files[path] = (files[path][0], rng.choice(contents("app1", 99)))
    files[b"apps/nested/.sourceignore"] = (FileMode.BLOB, rng.choice(IGNORES))
    return files


def mirrored(tmp_path: Path, seed: int, count: int) -> tuple[Remote, str, git.Mirror]:
    """A remote of ``generated`` files (one commit, its id) and its mirror, fetched."""
    remote = Remote(tmp_path / "srv.git")
    head = remote.commit(generated(random.Random(seed), count))
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    assert mirror.fetch() == head
    return remote, head, mirror


def snap(mirror: git.Mirror, commit: str, *, bulk: bool, monkeypatch: pytest.MonkeyPatch,
         scanner: Scanner | None = None, path: str | None = None) -> tuple[Scanner, Snapshot]:
    monkeypatch.setattr(scans, "BULK", 0 if bulk else 1 << 60)
    scanner = scanner or Scanner(mirror, path=path)
    return scanner, scanner.snapshot(commit)


def same(a: Snapshot, b: Snapshot) -> None:
    assert a.commit == b.commit
    assert a.inventory == b.inventory
    assert a.blobs == b.blobs
    assert a.scope == b.scope
    assert a.stats.files == b.stats.files


def reads(mirror: git.Mirror, monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bytes of every blob the mirror hands out from now on."""
    seen: list[bytes] = []
    original = mirror.read_blob

    def read_blob(sha: str) -> bytes:
        data = original(sha)
        seen.append(data)
        return data
    monkeypatch.setattr(mirror, "read_blob", read_blob)
    return seen


def only_what_matters(seen: list[bytes], files: dict[bytes, tuple[int, bytes]]) -> bool:
    """Whether every blob read was an ignore file or one that holds the strings."""
    ignores = {data for path, (_, data) in files.items() if path.endswith(b".sourceignore")}
    return all(manifests.screen(data) or data in ignores for data in seen)


@pytest.mark.parametrize("seed", range(3))
def test_the_screened_first_snapshot_is_the_one_read_blob_by_blob(
        tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    remote = Remote(tmp_path / "srv.git")
    files = generated(rng, 120)
    head = remote.commit(files)
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    assert mirror.fetch() == head

    seen = reads(mirror, monkeypatch)
    bulk_scanner, bulk = snap(mirror, head, bulk=True, monkeypatch=monkeypatch)
    assert seen and only_what_matters(seen, files)
    one_scanner, one = snap(mirror, head, bulk=False, monkeypatch=monkeypatch)
    same(bulk, one)
    assert bulk.stats.parsed == one.stats.parsed > 0 and bulk.inventory.rollouts
    assert any("symbolic link" in p.message for p in bulk.inventory.problems)
    assert any("submodule" in p.message for p in bulk.inventory.problems)

    # One more commit: edits, a screened-out file that now matters, removals, a new
    # ignore file; the incremental snapshots after it agree too.
    files = edited(rng, files)
    head = remote.commit(files)
    assert mirror.fetch() == head
    same(snap(mirror, head, bulk=True, monkeypatch=monkeypatch, scanner=bulk_scanner)[1],
         snap(mirror, head, bulk=False, monkeypatch=monkeypatch, scanner=one_scanner)[1])
    same(snap(mirror, head, bulk=True, monkeypatch=monkeypatch)[1],
         snap(mirror, head, bulk=False, monkeypatch=monkeypatch)[1])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3, 23))
def test_the_screened_first_snapshot_on_many_more_trees(
        tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    remote = Remote(tmp_path / "srv.git")
    files = generated(rng, rng.choice((40, 400, 1500)))
    head = remote.commit(files)
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    mirror.fetch()
    same(snap(mirror, head, bulk=True, monkeypatch=monkeypatch)[1],
         snap(mirror, head, bulk=False, monkeypatch=monkeypatch)[1])
    same(snap(mirror, head, bulk=True, monkeypatch=monkeypatch, path="clusters/prod")[1],
         snap(mirror, head, bulk=False, monkeypatch=monkeypatch, path="clusters/prod")[1])


def test_git_names_exactly_the_files_holding_the_strings(tmp_path: Path) -> None:
    """The adapter alone, against Python's substring test, on every odd name and
    content (``manifests.screen`` is the definition)."""
    remote = Remote(tmp_path / "srv.git")
    files = generated(random.Random(7), 200)
    head = remote.commit(files)
    found = gitscreen.start(Path(remote.repo.path), head, needles=manifests.SCREENS,
                            suffixes=manifests.SUFFIXES).paths()
    expected = {os.fsdecode(p) for p, (mode, data) in files.items()
                if mode in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)
                and p.endswith((b".yaml", b".yml")) and manifests.screen(data)}
    assert found == expected
    assert {"apps/new\nline.yaml", "apps/latin-\udcff.yaml", "apps/--output=x.yaml",
            "apps/:(top)x.yaml", "apps/*.yaml"} <= found


def test_an_option_like_or_unknown_commit_is_never_handed_to_git(tmp_path: Path) -> None:
    remote = Remote(tmp_path / "srv.git")
    remote.commit({b"a.yaml": (FileMode.BLOB, ROLLOUT.format(name="a").encode())})
    for commit in ("--output=/tmp/x", "HEAD", "main", "0" * 39):
        assert gitscreen.start(Path(remote.repo.path), commit, needles=manifests.SCREENS,
                               suffixes=manifests.SUFFIXES).paths() is None
    # A well-formed id that is not in the repository: git fails, the answer is None.
    assert gitscreen.start(Path(remote.repo.path), "0" * 40, needles=manifests.SCREENS,
                           suffixes=manifests.SUFFIXES).paths() is None


@pytest.mark.parametrize("git_is", ["absent", "failing"])
def test_without_a_working_git_every_blob_is_read_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, git_is: str,
        caplog: pytest.LogCaptureFixture) -> None:
    _, head, mirror = mirrored(tmp_path, 11, 60)
    files = generated(random.Random(11), 60)
    one = snap(mirror, head, bulk=False, monkeypatch=monkeypatch)[1]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if git_is == "failing":
        fake = bin_dir / "git"
        fake.write_text("#!/bin/sh\necho 'fatal: not today' >&2\nexit 128\n")
        fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    seen = reads(mirror, monkeypatch)
    caplog.set_level("INFO", logger=gitscreen.__name__)
    fallback = snap(mirror, head, bulk=True, monkeypatch=monkeypatch)[1]
    same(fallback, one)
    assert not only_what_matters(seen, files)  # blob by blob: the others were read too
    if git_is == "failing":
        assert "not today" in caplog.text


def test_a_restart_finds_the_kept_scans_of_what_git_named(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan cache beside the mirror after a screened first snapshot holds the files
    that matter; a restarted scanner parses none of those and agrees."""
    remote = Remote(tmp_path / "srv.git")
    files = generated(random.Random(5), 150)
    head = remote.commit(files)
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    mirror.fetch()
    monkeypatch.setattr(scans, "BULK", 1)
    first = Scanner(mirror).snapshot(head, store=scanstore.beside(mirror))
    mirror.close()
    # The restarted process: its fetch receives nothing, so git's screen starts once
    # the listing shows how many files there are (not during it).
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    assert mirror.fetch() == head and mirror.last_fetch_objects == 0
    seen = reads(mirror, monkeypatch)
    again = Scanner(mirror).snapshot(head, store=scanstore.beside(mirror))
    assert only_what_matters(seen, files)
    # Kept: every scan JSON carries unchanged (a name that is not UTF-8 is parsed again).
    assert again.stats.stored > 0 and again.stats.parsed < first.stats.parsed
    assert again.stats.stored + again.stats.parsed == first.stats.parsed
    assert again.stats.screened_out == first.stats.screened_out
    same(again, first)
    same(again, snap(mirror, head, bulk=False, monkeypatch=monkeypatch)[1])


def _fake_git(bin_dir: Path, body: str) -> None:
    """A ``git`` on PATH that finds the commit id among its arguments, then runs ``body``."""
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "git"
    fake.write_text("#!/bin/sh\nfor a in \"$@\"; do [ ${#a} -eq 40 ] && c=$a; done\n" + body)
    fake.chmod(0o755)


def test_the_files_git_names_first_are_handed_out_before_it_is_done(tmp_path: Path) -> None:
    """``Screen.named`` gives each path as git prints it: the snapshot parses the first
    files while git searches on. The fake git names one file, then waits for a file
    the test creates only after it has seen that first name."""
    go = tmp_path / "go"
    _fake_git(tmp_path / "bin", f"printf '%s:a.yaml\\0' \"$c\"\n"
              f"while [ ! -e {go} ]; do sleep 0.02; done\n"
              "printf '%s:b.yaml\\0%s:c d.yaml' \"$c\" \"$c\"\n")
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{tmp_path / 'bin'}{os.pathsep}{path}"
    try:
        screen = gitscreen.start(tmp_path, "a" * 40, needles=manifests.SCREENS,
                                 suffixes=manifests.SUFFIXES)
    finally:
        os.environ["PATH"] = path
    opener = threading.Timer(10.0, go.touch)  # never left hanging if names were held back
    opener.start()
    try:
        names = screen.named()
        assert next(names) == "a.yaml"
        assert not go.exists()  # git is still at work: the first name came before its end
        go.touch()
        assert list(names) == ["b.yaml", "c d.yaml"]  # the last one without a final NUL
        assert screen.paths() == {"a.yaml", "b.yaml", "c d.yaml"}
    finally:
        opener.cancel()


def test_a_git_that_names_some_files_then_fails_leaves_every_file_looked_at(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    _, head, mirror = mirrored(tmp_path, 13, 60)
    one = snap(mirror, head, bulk=False, monkeypatch=monkeypatch)[1]
    _fake_git(tmp_path / "bin", "printf '%s:apps/a.yaml\\0%s:nowhere.yaml\\0' \"$c\" \"$c\"\n"
              "echo 'fatal: half way' >&2\nexit 128\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    caplog.set_level("INFO", logger=gitscreen.__name__)
    fallback = snap(mirror, head, bulk=True, monkeypatch=monkeypatch)[1]
    same(fallback, one)
    assert fallback.stats.parsed == one.stats.parsed
    assert fallback.stats.screened_out == one.stats.screened_out
    assert "half way" in caplog.text
