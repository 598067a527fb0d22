"""The bake-verdict notes tree is fanned out as ``git notes`` fans it (``ab/cdef...``),
so a verdict rewrites a small subtree instead of a tree of every note; a flat tree
written by earlier versions (libgit2's ``git_note_create``) keeps every note readable
by libgit2 and by git while it is migrated prefix by prefix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from reconciler.adapters import gitnotes
from reconciler.adapters.gitobjects import Author

REF = "refs/notes/reconciler"
AUTHOR = Author(name="reconciler", email="reconciler@example.com")


@pytest.fixture
def repo(tmp_path: Path) -> pygit2.Repository:
    r = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    sig = pygit2.Signature("a", "a@example.com")
    parents: list[pygit2.Oid] = []
    tree = r.TreeBuilder().write()
    for i in range(60):  # 60 commits: some share a first byte of their sha
        parents = [r.create_commit("refs/heads/main", sig, sig, f"c{i}", tree, parents)]
    return r


def _commits(repo: pygit2.Repository) -> list[str]:
    head = repo.references["refs/heads/main"].peel(pygit2.Commit)
    return [str(c.id) for c in repo.walk(head.id)]


def _git_show(repo: pygit2.Repository, sha: str) -> str:
    return subprocess.run(["git", "--git-dir", repo.path, "notes", "--ref", REF, "show", sha],
                          check=True, capture_output=True, text=True).stdout


def _paths(repo: pygit2.Repository) -> list[str]:
    out = subprocess.run(["git", "--git-dir", repo.path, "ls-tree", "-r", "--name-only", REF],
                         check=True, capture_output=True, text=True).stdout
    return out.split()


def test_notes_are_written_fanned_out_and_read_by_git_and_libgit2(
        repo: pygit2.Repository) -> None:
    shas = _commits(repo)
    for sha in shas:
        gitnotes.write(repo, REF, commit=sha, text=f"verdict of {sha}\n", author=AUTHOR)
    assert sorted(_paths(repo)) == sorted(f"{s[:2]}/{s[2:]}" for s in shas)
    root = repo.references[REF].peel(pygit2.Tree)
    assert len(root) == len({s[:2] for s in shas})  # one entry per first byte
    for sha in shas[::7]:
        assert gitnotes.read(repo, REF, sha) == f"verdict of {sha}\n"
        assert _git_show(repo, sha) == f"verdict of {sha}\n"
    assert sorted(c for c, _ in gitnotes.each(repo, REF)) == sorted(shas)
    # one notes commit per write, each with the one before as parent
    assert sum(1 for _ in repo.walk(repo.references[REF].target)) == len(shas)


def test_a_flat_tree_from_before_is_migrated_and_nothing_is_lost(
        repo: pygit2.Repository) -> None:
    shas = _commits(repo)
    sig = pygit2.Signature("a", "a@example.com")
    old, new = shas[:40], shas[40:]
    for sha in old:  # what earlier versions wrote: libgit2's flat notes tree
        repo.create_note(f"old {sha}\n", sig, sig, sha, REF, True)
    assert all("/" not in p for p in _paths(repo))
    before = str(repo.references[REF].target)
    for sha in new + old[:3]:  # new notes, and three old ones replaced
        gitnotes.write(repo, REF, commit=sha, text=f"new {sha}\n", author=AUTHOR)
    expected = {s: f"old {s}\n" for s in old} | {s: f"new {s}\n" for s in new + old[:3]}
    assert dict(gitnotes.each(repo, REF)) == expected
    for sha, text in expected.items():  # libgit2's lookup descends into subtrees
        assert gitnotes.read(repo, REF, sha) == text
    for sha in old[:5] + new[:5]:
        assert _git_show(repo, sha) == expected[sha]
    # no flat note shares its first byte with a subtree (so every lookup finds it)
    paths = _paths(repo)
    fanned = {p[:2] for p in paths if "/" in p}
    assert not [p for p in paths if "/" not in p and p[:2] in fanned]
    # the notes diff sees only what changed, not the moves between levels
    changed = gitnotes.changed(repo, before, str(repo.references[REF].target))
    assert {sha for sha, _, _ in changed} == set(new + old[:3])


def _git(repo: pygit2.Repository, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                           "--git-dir", repo.path, *args],
                          check=True, capture_output=True, text=True).stdout


def test_a_level_with_many_notes_is_fanned_out_as_git_fans_it(tmp_path: Path) -> None:
    """Git fans a notes tree one level further when all 16 values of its next hex
    digit start two notes or more (``determine_fanout``, git's ``notes.c``). At each
    stage the tree written note by note is compared with the one git writes for the
    same notes: ``git notes prune`` reads every note (here, to drop one on a missing
    object) and writes the whole tree again by its own rule."""
    repo = pygit2.init_repository(str(tmp_path / "r.git"), bare=True)
    blobs = [str(repo.create_blob(b"object %d\n" % i)) for i in range(24_000)]
    crowded = max({b[:2] for b in blobs}, key=lambda p: sum(b[:2] == p for b in blobs))
    under = [b for b in blobs if b[:2] == crowded]  # ~94: past git's threshold
    others = [b for nibble in "0123456789abcdef"
              for b in [b for b in blobs if b[0] == nibble and b[:2] != crowded][:3]]
    missing = ("00" if crowded != "00" else "11") + "0" * 38
    stages = [others + under[:16], under[16:40], under[40:70], under[70:]]
    for stage in stages:
        for sha in stage:
            gitnotes.write(repo, REF, commit=sha, text=f"verdict of {sha}\n", author=AUTHOR)
        gitnotes.write(repo, REF, commit=missing, text="on nothing\n", author=AUTHOR)
        ours = [p for p in _paths(repo) if p.replace("/", "") != missing]
        ours_sub = repo.references[REF].peel(pygit2.Tree)[crowded].id
        _git(repo, "notes", "--ref", REF, "prune")
        assert _paths(repo) == ours
        assert repo.references[REF].peel(pygit2.Tree)[crowded].id == ours_sub
    fanned = [p for p in _paths(repo) if p.startswith(f"{crowded}/")]
    assert fanned and all(p.count("/") == 2 for p in fanned)  # ab/cd/ef...
    assert all(p.count("/") == 1 for p in _paths(repo) if p[:2] != crowded)
    noted = others + under
    assert sorted(c for c, _ in gitnotes.each(repo, REF)) == sorted(noted)
    for sha in under[::9] + others[::9]:
        assert gitnotes.read(repo, REF, sha) == f"verdict of {sha}\n"
        assert _git_show(repo, sha) == f"verdict of {sha}\n"


def _ids(prefix: str, n: int) -> list[str]:
    """``n`` ids starting with ``prefix``, the next hex digit cycling through all 16
    (so a tree of them is full after 32), the rest unique."""
    return [f"{prefix}{'0123456789abcdef'[i % 16]}{i:0{39 - len(prefix)}x}" for i in range(n)]


def test_every_level_is_fanned_out_in_turn_and_every_note_stays_readable(
        repo: pygit2.Repository) -> None:
    """Notes need not annotate objects of this repository: ids are made up here so
    that ``ab/`` fills (all 16 third digits twice) and so does ``ab/cd/``."""
    deep = _ids("abcd", 40)
    wide = _ids("ab", 40)
    before = None
    for i, sha in enumerate(wide + deep):
        if i == len(wide):
            before = str(repo.references[REF].target)
        gitnotes.write(repo, REF, commit=sha, text=f"t {sha}\n", author=AUTHOR)
    paths = _paths(repo)
    assert {p.count("/") for p in paths if p.startswith("ab/cd/")} == {3}  # ab/cd/ef/...
    assert all(p.count("/") == 2 for p in paths if not p.startswith("ab/cd/"))
    expected = {s: f"t {s}\n" for s in wide + deep}
    assert dict(gitnotes.each(repo, REF)) == expected
    assert all(gitnotes.read(repo, REF, s) == t for s, t in expected.items())
    listed = _git(repo, "notes", "--ref", REF, "list").split("\n")
    assert sorted(line.split()[1] for line in listed if line) == sorted(expected)
    assert before is not None  # the moves between levels are no change of a note
    changed = gitnotes.changed(repo, before, str(repo.references[REF].target))
    assert [sha for sha, _, _ in changed] == sorted(deep)
    # a note replaced at the deepest level is replaced, not added beside
    gitnotes.write(repo, REF, commit=deep[0], text="again\n", author=AUTHOR)
    assert gitnotes.read(repo, REF, deep[0]) == "again\n"
    assert len(dict(gitnotes.each(repo, REF))) == len(expected)


def test_a_flat_tree_from_before_fills_its_new_subtree_and_it_is_fanned_out(
        repo: pygit2.Repository) -> None:
    sig = pygit2.Signature("a", "a@example.com")
    head = repo.references["refs/heads/main"].target
    old = _ids("ab", 40)
    flat = repo.TreeBuilder()
    for sha in old:  # libgit2's flat notes tree, as earlier versions wrote it
        flat.insert(sha, repo.create_blob(f"old {sha}\n".encode()), pygit2.GIT_FILEMODE_BLOB)
    repo.create_commit(REF, sig, sig, "flat", flat.write(), [])
    new = "ab" + "f" * 38
    gitnotes.write(repo, REF, commit=new, text="new\n", author=AUTHOR)
    paths = _paths(repo)
    assert all(p.startswith("ab/") and p.count("/") == 2 for p in paths)
    expected = {s: f"old {s}\n" for s in old} | {new: "new\n"}
    assert dict(gitnotes.each(repo, REF)) == expected
    assert all(gitnotes.read(repo, REF, s) == t for s, t in expected.items())
    assert repo.references["refs/heads/main"].target == head


def test_a_full_subtree_an_earlier_version_wrote_is_fanned_out_at_its_next_note(
        repo: pygit2.Repository) -> None:
    """Until stop 31 the writer never fanned out below the root: an upgraded daemon
    meets ``ab/`` subtrees of any size, and fans one out when a verdict lands in it."""
    sig = pygit2.Signature("a", "a@example.com")
    old, elsewhere = _ids("ab", 40), _ids("cd", 40)
    root = repo.TreeBuilder()
    for prefix, shas in (("ab", old), ("cd", elsewhere)):
        sub = repo.TreeBuilder()
        for sha in shas:
            sub.insert(sha[2:], repo.create_blob(f"old {sha}\n".encode()),
                       pygit2.GIT_FILEMODE_BLOB)
        root.insert(prefix, sub.write(), pygit2.GIT_FILEMODE_TREE)
    repo.create_commit(REF, sig, sig, "one level", root.write(), [])
    new = "ab" + "f" * 38
    gitnotes.write(repo, REF, commit=new, text="new\n", author=AUTHOR)
    paths = _paths(repo)
    assert all(p.count("/") == 2 for p in paths if p.startswith("ab/"))
    assert all(p.count("/") == 1 for p in paths if p.startswith("cd/"))  # not touched
    expected = {s: f"old {s}\n" for s in old + elsewhere} | {new: "new\n"}
    assert dict(gitnotes.each(repo, REF)) == expected
    assert all(gitnotes.read(repo, REF, s) == t for s, t in expected.items())


def test_a_note_replaced_again_and_again_keeps_no_copy_of_its_name(
        repo: pygit2.Repository) -> None:
    """A commit's note is written again when another environment's verdict joins it.
    pygit2 keeps every name given to ``TreeBuilder.remove`` (``gitnames``); a note
    replaced in place is overwritten by ``insert``, which keeps nothing."""
    sha = _commits(repo)[0]
    gitnotes.write(repo, REF, commit=sha, text="first\n", author=AUTHOR)
    below = sys.intern(sha[2:])  # the name the note has in its ``ab/`` subtree
    before = sys.getrefcount(below)
    for n in range(20):
        gitnotes.write(repo, REF, commit=sha, text=f"verdict {n}\n", author=AUTHOR)
    assert sys.getrefcount(below) == before
    assert gitnotes.read(repo, REF, sha) == "verdict 19\n"
    assert len(dict(gitnotes.each(repo, REF))) == 1
