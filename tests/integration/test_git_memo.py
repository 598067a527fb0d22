"""``adapters/gitmemo.ReadMirror``: a warm mirror of a local remote answers without
libgit2 exactly what ``git.Mirror`` answers, and never skips a fetch that would
change something (the remote's branch, its notes, the refs a revision may name).
The truth for every answer is a real ``git.Mirror`` of the same remote."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from reconciler.adapters import git, gitcache, gitmemo
from reconciler.errors import InputError
from tests.integration.conftest import sample_files
from tests.support import gitrepo

SUFFIXES = (".yaml", ".yml", ".json", "Kustomization", ".sourceignore")


@pytest.fixture
def remote(tmp_path: Path, git_home: Path) -> gitrepo.BareRepo:
    repo = gitrepo.make_bare_repo(tmp_path / "srv" / "fleet.git", sample_files(),
                                  home=git_home, message="Initial fleet configuration")
    repo.commit({"clusters/extra.yaml": "a: 1\n"},
                "apps: 1.0 -> 1.1\n\nRollout: apps/podinfo\nRelease: 1.1.0\n"
                "Previous-Release: 1.0.0\nAction: release\n",
                symlinks={"clusters/link.yaml": "extra.yaml", "clusters/out.yaml": "/etc/x"})
    repo.git("notes", "--ref=reconciler", "add", "-m", "verdict", repo.head())
    return repo


def memo_of(remote: gitrepo.BareRepo, cache: Path,
            opened: list[git.Mirror]) -> gitmemo.ReadMirror:
    def opener() -> git.Mirror:
        opened.append(git.Mirror.open(remote.url, cache_dir=cache))
        return opened[-1]

    found = gitmemo.open_local(remote.url, cache_dir=cache, branch="main", opener=opener)
    assert found is not None
    return found


def answers(mirror: git.Mirror, head: str, base: str) -> list[object]:
    return [mirror.list_entries(head, suffixes=SUFFIXES), list(mirror.log(head)),
            list(mirror.log(head, stop=base)), list(mirror.notes("refs/notes/reconciler")),
            list(mirror.notes("refs/notes/absent")), mirror.changed_entries(base, head),
            mirror.is_ancestor(base, head), mirror.is_ancestor(head, base),
            mirror.resolve("main~1"), mirror.resolve("HEAD")]


def test_a_warm_memo_answers_as_libgit2_does_without_opening_the_mirror(
        remote: gitrepo.BareRepo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    truth = git.Mirror.open(remote.url, cache_dir=cache)
    head = truth.fetch()
    base = remote.git("rev-parse", "main~1").decode().strip()
    expected = answers(truth, head, base)
    # Entries of every kind travel through the memo, not only plain files.
    assert {"symlink", "symlink-outside", "file"} <= {e.kind for e in truth.list_entries(
        head, suffixes=SUFFIXES)}

    opened: list[git.Mirror] = []
    cold = memo_of(remote, cache, opened)
    assert cold.fetch() == head
    assert answers(cold, head, base) == expected
    assert len(opened) == 1  # each answer asked libgit2 once, and was kept

    opened.clear()
    warm = memo_of(remote, cache, opened)
    assert warm.fetch() == head and warm.head() == head
    assert answers(warm, head, base) == expected
    assert opened == []  # every answer from the memo: no libgit2

    # A damaged memo (every answer the wrong shape) costs libgit2 again, never an error.
    for name in (gitmemo.FILE_NAME, gitmemo.LISTINGS_FILE):
        file = cache / warm.path.name / name
        data = json.loads(file.read_text())
        data["entries"] = {key: [[1, 2]] for key in data["entries"]}
        file.write_text(json.dumps(data))
    damaged = memo_of(remote, cache, opened)
    assert answers(damaged, head, base) == expected and len(opened) == 1


def test_a_fetch_is_skipped_only_when_it_would_change_nothing(
        remote: gitrepo.BareRepo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    git.Mirror.open(remote.url, cache_dir=cache).fetch()
    opened: list[git.Mirror] = []
    assert memo_of(remote, cache, opened).fetch() == remote.head() and opened == []

    # The branch moved: fetched, and the new head is the answer.
    moved = remote.commit({"clusters/extra.yaml": "a: 2\n"}, "a human edit")
    assert memo_of(remote, cache, opened).fetch() == moved and len(opened) == 1
    opened.clear()
    assert memo_of(remote, cache, opened).fetch() == moved and opened == []

    # Only the notes changed (a verdict recorded elsewhere): fetched too.
    remote.git("notes", "--ref=reconciler", "add", "-m", "another", moved)
    opened.clear()
    memo = memo_of(remote, cache, opened)
    assert memo.fetch() == moved and len(opened) == 1
    assert {text for _, text in memo.notes("refs/notes/reconciler")} == {"verdict\n",
                                                                         "another\n"}


def test_a_revision_is_resolved_again_when_the_refs_it_may_name_moved(
        remote: gitrepo.BareRepo, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    git.Mirror.open(remote.url, cache_dir=cache).fetch()
    parent = remote.git("rev-parse", "main~1").decode().strip()
    opened: list[git.Mirror] = []
    with pytest.raises(InputError, match="names no commit"):
        memo_of(remote, cache, opened).resolve("feature")
    remote.git("branch", "feature", parent)
    remote.git("branch", "gone", parent)
    assert memo_of(remote, cache, opened).resolve("feature") == parent
    opened.clear()
    assert memo_of(remote, cache, opened).resolve("feature") == parent and opened == []

    # The branch moved on the remote: resolved again, to where it is now.
    remote.git("update-ref", "refs/heads/feature", remote.head())
    assert memo_of(remote, cache, opened).resolve("feature") == remote.head()
    assert len(opened) == 1
    # Another branch deleted: a pruning fetch would change the namespace, so no memo.
    remote.git("branch", "-D", "gone")
    opened.clear()
    assert memo_of(remote, cache, opened).resolve("feature") == remote.head()
    assert len(opened) == 1
    # A short id or a reflog entry depends on more than the refs: never from the memo.
    for rev in (parent[:8], "feature@{0}"):
        opened.clear()
        for _ in range(2):
            assert memo_of(remote, cache, opened).resolve(rev) in (parent, remote.head())
        assert len(opened) == 2


def test_only_a_local_remote_with_its_mirror_gets_a_memo(remote: gitrepo.BareRepo,
                                                        tmp_path: Path) -> None:
    cache = tmp_path / "cache"

    def never() -> git.Mirror:
        raise AssertionError("opened")

    def memo(url: str, branch: str = "main") -> gitmemo.ReadMirror | None:
        return gitmemo.open_local(url, cache_dir=cache, branch=branch, opener=never)

    fresh = memo(remote.url)  # no mirror yet: the real one creates it when asked
    assert fresh is not None and not fresh.path.exists()
    git.Mirror.open(remote.url, cache_dir=cache).fetch()
    assert memo(remote.url) is not None
    # A mirror whose origin is another URL (edited by hand): libgit2's path sets it.
    config = fresh.path / "config"
    config.write_text(config.read_text().replace(remote.url, remote.url + "-elsewhere"))
    assert memo(remote.url) is None
    config.write_text(config.read_text().replace(remote.url + "-elsewhere", remote.url))
    assert memo(str(remote.path)) is not None  # a path is the same remote
    for url in ("https://example.com/fleet.git", "ssh://git@example.com/fleet.git",
                "git@example.com:fleet.git", "http://example.com/fleet.git"):
        assert memo(url) is None
    assert memo(remote.url, branch="../main") is None


def test_a_mirror_of_an_earlier_version_is_read_through_the_real_mirror_once(
        remote: gitrepo.BareRepo, tmp_path: Path, git_home: Path) -> None:
    """The notes in the mirror itself, no notes' repository yet (an earlier version's
    layout): the memo cannot vouch for them, so the real mirror opens, hands the
    notes over, and the next run answers without it."""
    cache = tmp_path / "cache"
    with git.Mirror.open(remote.url, cache_dir=cache) as mirror:
        head = mirror.fetch()
        path = mirror.path
    gitrepo.run_git("fetch", "-q", str(remote.path), "+refs/notes/*:refs/notes/*",
                    cwd=path, home=git_home)
    shutil.rmtree(path / gitcache.NOTES_DIR)
    opened: list[git.Mirror] = []
    memo = memo_of(remote, cache, opened)
    assert memo.fetch() == head and len(opened) == 1
    assert [text for _, text in memo.notes("refs/notes/reconciler")] == ["verdict\n"]
    opened[0].close()
    opened.clear()
    memo = memo_of(remote, cache, opened)
    assert memo.fetch() == head and opened == []
    assert [text for _, text in memo.notes("refs/notes/reconciler")] == ["verdict\n"]
