"""A first snapshot's listing by ``git ls-tree`` (``adapters/gitlisting``,
``engine/scans.listed``) is the pygit2 walk's, on the odd trees of
test_screen_equivalence, and is used only where the first clone checked the tree.

What a user would notice: the same snapshot (rollouts, targets, problems, the blobs a
release may rewrite, the files in scope) whichever way the tree was listed, before
and after one more commit; a tree with a name git refuses (a ``/`` inside a name,
``.git``, ``..``) is cloned all the same and its first snapshot still reports the
name; a symlink or a submodule among the listed files, or a git that fails, sends
the snapshot back to the walk.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pygit2
import pytest
from pygit2.enums import FileMode, ObjectType

from reconciler.adapters import git, gitclone, gitlisting
from reconciler.core import scope
from reconciler.engine import scans
from tests.integration import test_screen_equivalence as trees

pytestmark = pytest.mark.skipif(shutil.which("git") is None,
                                reason="git's command line is not installed: every "
                                       "first snapshot then walks the tree with pygit2")


def plain(rng: random.Random, count: int) -> dict[bytes, tuple[int, bytes]]:
    """``generated`` files (odd names, executables, ignore files) without the symlinks
    and the submodule, which send a listing back to the walk."""
    return {p: f for p, f in trees.generated(rng, count).items()
            if f[0] in (FileMode.BLOB, FileMode.BLOB_EXECUTABLE)}


def walked(mirror: git.Mirror, commit: str) -> dict[str, str]:
    return {e.path: e.blob for e in mirror.list_entries(commit, suffixes=scope.LISTED_SUFFIXES)
            if e.kind == "file" and e.blob is not None}


def listed(mirror: git.Mirror, commit: str) -> dict[str, str] | None:
    return gitlisting.start(mirror.path, commit).whole(scope.LISTED_SUFFIXES)


@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_git_lists_what_the_walk_lists(tmp_path: Path, chunk: int,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Names with spaces, tabs, a newline, quotes, unicode and a byte that is not
    UTF-8, option- and pathspec-like names, executables; taken apart a few bytes at a
    time too (records cut anywhere)."""
    monkeypatch.setattr(gitlisting, "_CHUNK", chunk)
    remote = trees.Remote(tmp_path / "srv.git")
    head = remote.commit(plain(random.Random(3), 300))
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    assert mirror.fetch() == head
    expected = walked(mirror, head)
    assert {"apps/new\nline.yaml", "apps/latin-\udcff.yaml", "apps/tab\tname.yml",
            "apps/Kustomization", "apps/values.json"} <= expected.keys()
    assert listed(mirror, head) == expected


def test_a_link_or_a_submodule_among_the_listed_files_is_left_to_the_walk(
        tmp_path: Path) -> None:
    remote = trees.Remote(tmp_path / "srv.git")
    files = plain(random.Random(4), 50)
    link = remote.commit({**files, b"apps/link.yaml": (FileMode.LINK, b"a.yaml")})
    module = remote.commit({**files, b"vendor/m.yaml": (FileMode.COMMIT, b"1" * 40)})
    elsewhere = remote.commit({**files, b"docs/link.md": (FileMode.LINK, b"README.md")})
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    mirror.fetch()
    assert listed(mirror, link) is None
    assert listed(mirror, module) is None
    assert listed(mirror, elsewhere) == walked(mirror, elsewhere)  # not a listed name


def test_the_suffix_is_chosen_on_the_bytes_as_on_the_decoded_name() -> None:
    """The records are chosen before their names are decoded: a name whose bytes are
    not UTF-8 before its suffix is listed (decoded as pygit2 decodes it), one whose
    suffix is followed by such a byte, or a suffix only in its directory, is not."""
    blob = b"100644 blob " + b"2" * 40 + b"\t"
    out = (blob + b"caf\xe9/\xff\xfe.yaml\0" + blob + b"a.yaml\xff\0"
           + blob + b"d.yaml/readme\0" + blob + b"ok.yml\0")
    assert gitlisting.parse(out, (".yaml", ".yml")) == {
        "caf\udce9/\udcff\udcfe.yaml": "2" * 40, "ok.yml": "2" * 40}


def test_a_suffix_that_is_not_ascii_is_left_to_the_walk(tmp_path: Path) -> None:
    remote = trees.Remote(tmp_path / "srv.git")
    head = remote.commit(plain(random.Random(7), 10))
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    mirror.fetch()
    assert gitlisting.start(mirror.path, head).whole((".yaml",))
    assert gitlisting.start(mirror.path, head).whole((".yaml", ".yäml")) is None


def test_a_failing_or_absent_git_or_an_odd_output_is_left_to_the_walk(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    remote = trees.Remote(tmp_path / "srv.git")
    head = remote.commit(plain(random.Random(5), 20))
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    mirror.fetch()
    assert listed(mirror, "0" * 40) is None  # not in the repository: git fails
    assert listed(mirror, "--output=x") is None  # never handed to git
    record = b"100644 blob " + b"1" * 40 + b"\ta\tb.yaml\0"
    assert gitlisting.parse(record, (".yaml",)) == {"a\tb.yaml": "1" * 40}
    assert gitlisting.parse(record[:-1], (".yaml",)) is None  # cut short
    assert gitlisting.parse(record * 2, (".yaml",)) is None  # a path twice
    assert gitlisting.parse(b"no tab.yaml\0", (".yaml",)) is None
    # Not listed, so never taken apart (nor able to change what is listed).
    assert gitlisting.parse(record + b"no tab.md\0", (".yaml",)) == {"a\tb.yaml": "1" * 40}
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text("#!/bin/sh\necho 'fatal: not today' >&2\nexit 128\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    assert listed(mirror, head) is None
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert listed(mirror, head) is None


def test_the_first_snapshot_listed_by_git_is_the_one_walked_then_one_more_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(6)
    remote = trees.Remote(tmp_path / "srv.git")
    files = plain(rng, 200)
    head = remote.commit(files)
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    assert mirror.fetch() == head
    assert mirror.checked == head  # the clone checked every object it brought

    started: list[str] = []
    real = gitlisting.start
    monkeypatch.setattr(gitlisting, "start", lambda d, c: started.append(c) or real(d, c))
    by_git_scanner, by_git = trees.snap(mirror, head, bulk=True, monkeypatch=monkeypatch)
    assert started == [head]
    walk_scanner, walk = trees.snap(mirror, head, bulk=False, monkeypatch=monkeypatch)
    trees.same(by_git, walk)
    assert by_git.stats.parsed == walk.stats.parsed > 0 and by_git.inventory.rollouts
    scoped = trees.snap(mirror, head, bulk=True, monkeypatch=monkeypatch, path="clusters/prod")[1]
    trees.same(scoped, trees.snap(mirror, head, bulk=False, monkeypatch=monkeypatch,
                                  path="clusters/prod")[1])
    assert started == [head, head]

    # Edits, removals, a new nested ignore file: both scanners follow alike; a later
    # fetch vouches for nothing (libgit2 received those objects unchecked).
    moved = remote.commit(trees.edited(rng, files))
    assert mirror.fetch() == moved and mirror.checked is None
    trees.same(
        trees.snap(mirror, moved, bulk=True, monkeypatch=monkeypatch, scanner=by_git_scanner)[1],
        trees.snap(mirror, moved, bulk=False, monkeypatch=monkeypatch, scanner=walk_scanner)[1])
    trees.same(trees.snap(mirror, moved, bulk=True, monkeypatch=monkeypatch)[1],
               trees.snap(mirror, moved, bulk=False, monkeypatch=monkeypatch)[1])
    assert started == [head, head]


@pytest.mark.parametrize("name", [b"b/c.yaml", b".GIT", b"..", b"."])
def test_a_tree_with_a_name_git_refuses_is_cloned_unchecked_and_reported(
        tmp_path: Path, name: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """git's check refuses the clone; it is cloned again without it, so the branch is
    not vouched for and the first snapshot walks the tree, reporting the name (which
    ``git ls-tree`` would print as an ordinary path)."""
    remote = trees.Remote(tmp_path / "srv.git")
    head = remote.commit(plain(random.Random(8), 30))
    repo = remote.repo
    blob = repo.create_blob(trees.contents("app1", 1)[0])
    odd = repo.odb.write(ObjectType.TREE, b"100644 " + name + b"\0" + blob.raw)
    top = repo[repo[head].tree_id]
    assert isinstance(top, pygit2.Tree)
    entries = sorted([(e.name.encode() if e.name else b"", e.filemode, e.id) for e in top]
                     + [(b"zz", FileMode.TREE, odd)],
                     key=lambda e: e[0] + (b"/" if e[1] == FileMode.TREE else b""))
    tree = repo.odb.write(ObjectType.TREE, b"".join(
        f"{mode:o} ".encode() + n + b"\0" + oid.raw for n, mode, oid in entries))
    sig = pygit2.Signature("t", "t@example.com", 1_700_000_000, 0)
    refused = str(repo.create_commit("refs/heads/main", sig, sig, "odd\n", tree,
                                     [pygit2.Oid(hex=head)]))
    answers: list[gitclone.Cloned | None] = []
    real = gitclone.fetch
    monkeypatch.setattr(gitclone, "fetch", lambda *a, **k: answers.append(real(*a, **k))
                        or answers[-1])
    mirror = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    assert mirror.fetch() == refused
    assert mirror.checked is None
    # git's clone all the same (not libgit2's fetch), without the check
    assert len(answers) == 1 and answers[0] is not None and not answers[0].checked
    assert answers[0].head == refused
    first = trees.snap(mirror, refused, bulk=True, monkeypatch=monkeypatch)[1]
    assert any("zz/" in p.file and "name" in p.message for p in first.inventory.problems), \
        [p.render() for p in first.inventory.problems]
    trees.same(first, trees.snap(mirror, refused, bulk=False, monkeypatch=monkeypatch)[1])


def test_the_bulk_threshold_reads_the_listing_of_a_checked_clone_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mirror that was already there (a restart) lists its tree by the walk, as
    before: nothing vouches for its objects."""
    remote = trees.Remote(tmp_path / "srv.git")
    head = remote.commit(plain(random.Random(9), 20))
    git.Mirror.open(remote.url, cache_dir=tmp_path / "cache").fetch()
    again = git.Mirror.open(remote.url, cache_dir=tmp_path / "cache")
    assert again.fetch() == head and again.checked is None
    assert scans.listed(again, head, scope.LISTED_SUFFIXES) is None
