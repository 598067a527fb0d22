"""libgit2's homedir shared by SSH operations (gittrust._Homes): operations that want
the same known_hosts file run side by side in one home; one that wants another file
waits until the home is free, then switches; libgit2's own home comes back for an
operation without a known_hosts file."""

from __future__ import annotations

import threading
from pathlib import Path

import pygit2

from reconciler.adapters import gittrust


def _known(path: Path) -> Path:
    path.write_text("# known hosts\n")
    return path


def _libgit2s_own() -> str:
    """libgit2's homedir as it was before any SSH operation of this process (an
    earlier test's may have left the shared home switched, as the daemon's do)."""
    with gittrust._homes.use(None):
        return pygit2.settings.homedir


def test_operations_on_one_file_overlap_and_another_file_waits(tmp_path: Path) -> None:
    original = _libgit2s_own()
    homes = gittrust._Homes()
    first, second = _known(tmp_path / "first"), _known(tmp_path / "second")
    inside = threading.Barrier(2, timeout=10)
    release = threading.Event()
    seen: dict[str, str] = {}

    def operation(name: str) -> None:
        with homes.use(first):
            seen[name] = pygit2.settings.homedir
            inside.wait()  # both are in at once, or this times out
            release.wait(10)

    threads = [threading.Thread(target=operation, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    while len(seen) < 2:
        threading.Event().wait(0.01)
    assert seen["a"] == seen["b"] != original
    assert (Path(seen["a"]) / ".ssh" / "known_hosts").resolve() == first.resolve()

    switched = threading.Event()

    def other() -> None:
        with homes.use(second):
            seen["other"] = pygit2.settings.homedir
            switched.set()

    waiting = threading.Thread(target=other)
    waiting.start()
    assert not switched.wait(0.3), "switched the home while two operations used it"
    release.set()
    for t in threads:
        t.join(10)
    assert switched.wait(10)
    waiting.join(10)
    assert (Path(seen["other"]) / ".ssh" / "known_hosts").resolve() == second.resolve()
    assert not Path(seen["a"]).exists()  # the first file's home, removed at the switch

    with homes.use(None):
        assert pygit2.settings.homedir == original
    assert pygit2.settings.homedir == original


def test_the_default_known_hosts_is_libgit2s_own_while_a_home_is_kept(
        tmp_path: Path) -> None:
    original = _libgit2s_own()
    default = gittrust.default_known_hosts()
    with gittrust._homes.use(_known(tmp_path / "known")):
        pass
    try:
        assert pygit2.settings.homedir != original  # kept for the next operation
        assert gittrust.default_known_hosts() == default
    finally:
        with gittrust._homes.use(None):
            pass
    assert pygit2.settings.homedir == original
