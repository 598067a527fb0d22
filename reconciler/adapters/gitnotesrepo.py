"""The notes' own repository: the bake verdicts kept apart from the mirrored branch.

Where it fits: ``git.Mirror`` keeps the branch in its bare mirror and every notes ref
(``refs/notes/*``: the bake verdicts, ``core/verdicts``) in a second bare repository
inside it, ``<mirror>/reconciler-notes.git``, with the same ``origin``. ``gitrefs``
reads, writes and pushes the notes there; ``git.Mirror.fetch`` fetches them there
when the remote's notes refs moved.

Why apart: libgit2's push marks the whole tree of every ref the remote advertises as
uninteresting, when the pushing repository holds that ref's commit
(``queue_objects`` -> ``git_revwalk_hide``, then ``mark_edges_uninteresting``; there
is no sparse walk), and skips a ref whose commit it lacks (``GIT_ENOTFOUND``). With
the notes in the mirror, every release's push walked every note ever written:
8-12 ms a push at 100,000 notes, 0.5-0.9 s at 1,000,000, and libgit2's object cache
kept ~70 bytes a note of the trees it parsed (docs/performance.md). Here the
branch's push never reads a note and the notes' push never reads the branch's tree.

The notes' push still walks every note, and libgit2's object cache keeps the notes
trees it parsed (~70 bytes a note) until the handle is reopened: after a pack, or at
the next write once it is older than the mirror's ``CACHE_MAX_AGE`` (``git``), as
the mirror's own. Reopening after every verdict instead kept the cache empty but
made each verdict's push parse every notes tree again (+66 ms at 100,000 notes), and
two soaks of that tree saw glibc's and pymalloc's footprint climb ~1.5 MiB/h with
nothing more held (docs/performance.md, "The notes in a repository of their own").

A mirror written by an earlier version holds its notes refs itself: the first open
copies them here (a local fetch, no network) and then deletes them from the mirror;
a crash between the two is finished at the next open. Their objects stay in the
mirror's packs until ``git gc`` prunes them as unreachable (``gitpack``), so the
branch's pushes still walk the notes until the remote's notes ref next moves (the
next verdict, from here) to a commit the mirror does not hold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path

import pygit2

from reconciler.adapters import gitcache, gitnames, gitnotes, gitpack, reffiles
from reconciler.errors import GitError

log = logging.getLogger(__name__)

PREFIX = "refs/notes/"


class NotesRepo:
    """The bare repository of the notes beside one mirror. Not thread-safe: the
    mirror calls it with its notes' lock held (``gitrefs``)."""

    def __init__(self, repo: pygit2.Repository, path: Path, *, max_age: float) -> None:
        self.repo = repo
        self.path = path
        self.max_age = max_age
        """Seconds after which the handle is reopened at the next write."""
        self._opened = time.monotonic()
        self.packer = gitpack.Packer(path)
        self.plain_refs = reffiles.git_dir(path) is not None
        """Whether its refs are files in git's plain layout (``reffiles`` reads them)."""

    @classmethod
    def open(cls, mirror: pygit2.Repository, url: str, *, max_age: float) -> NotesRepo:
        """The notes' repository of ``mirror`` (created when missing), with any notes
        refs the mirror itself still holds moved into it. No network access."""
        path = Path(mirror.path) / gitcache.NOTES_DIR
        repo, _ = gitcache.open_or_create(path, url)
        notes = cls(repo, path, max_age=max_age)
        notes._adopt(mirror)
        return notes

    def _adopt(self, mirror: pygit2.Repository) -> None:
        """Move the notes refs an earlier version kept in ``mirror`` into this
        repository: those it lacks fetched locally (one it holds already may be newer:
        never put back), then all deleted from the mirror. Best effort: the notes here
        only copy the remote's, and the next fetch brings whatever this left out; a
        failure (another process moving the same refs, a lock held) is logged and the
        mirror opens as always."""
        try:
            held = {name: sha for name in mirror.references
                    if name.startswith(PREFIX) and (sha := _target(mirror, name)) is not None}
            if not held:
                return
            wanted = [f"+{name}:{name}" for name in held if self.head(name) is None]
            if wanted:
                self.repo.remotes.create_anonymous(str(Path(mirror.path))).fetch(wanted)
            for name, sha in held.items():
                if _target(mirror, name) != sha:
                    continue  # moved or deleted meanwhile, by another process
                if self.head(name) is None:
                    raise GitError(f"{name} did not arrive")
                mirror.references.delete(gitnames.held(name))
        except (pygit2.GitError, KeyError, ValueError, OSError) as exc:
            log.warning("could not move the notes of the mirror %s into %s (%s); they "
                        "are fetched from the remote instead", mirror.path, self.path,
                        " ".join(str(exc).split()))
            return
        log.info("moved %d notes ref(s) of the mirror %s into %s", len(held),
                 mirror.path, self.path)

    # -- refs --------------------------------------------------------------------------

    def head(self, ref: str) -> str | None:
        """What the notes ref ``ref`` points at; None when there is none."""
        return _target(self.repo, ref)

    def heads(self) -> dict[str, str]:
        """Every notes ref here and the commit it points at."""
        return {name: sha for name in self.repo.references
                if name.startswith(PREFIX) and (sha := _target(self.repo, name)) is not None}

    def moved(self, advertised: Mapping[str | None, str]) -> bool:
        """Whether a notes ref of the remote (``advertised``: every ref a fetch's
        connection listed) is not here at the same commit: a fetch of the notes is
        due. A notes ref deleted on the remote is kept here, as before."""
        return any(self.head(name) != sha for name, sha in advertised.items()
                   if name is not None and name.startswith(PREFIX))

    def fetch(self, callbacks: pygit2.RemoteCallbacks) -> int:
        """Fetch every notes ref of ``origin`` (forced: nothing here is ever left
        unpushed); the objects received."""
        stats = self.repo.remotes[gitcache.REMOTE].fetch(
            [gitnotes.FETCH_REFSPEC], callbacks=callbacks,
            prune=pygit2.enums.FetchPrune.NO_PRUNE, proxy=True)
        if stats.received_objects:
            self.after_write()
        return int(stats.received_objects)

    def after_write(self) -> None:
        """After a note pushed or a fetch that brought objects: pack when due
        (``gitpack``); reopen after a pack (the replaced files let go) or once the
        handle is older than ``max_age`` (the notes trees its cache holds let go).
        The write is done either way: a handle that cannot be opened again (no file
        descriptor left) is logged and the old one kept."""
        replaced = self.packer.after_write()
        if not replaced and time.monotonic() - self._opened <= self.max_age:
            return
        try:
            self.repo = gitcache.reopen(self.repo, self.path)
            self._opened = time.monotonic()
        except (pygit2.GitError, OSError) as exc:
            log.warning("could not reopen the notes' repository %s: %s", self.path,
                        " ".join(str(exc).split()))

    def close(self) -> None:
        """Wait for a pack under way; release the file handles (the repository stays)."""
        self.packer.wait()
        self.repo.free()


def _target(repo: pygit2.Repository, name: str) -> str | None:
    """What ref ``name`` of ``repo`` points at; None when there is no such ref."""
    found = gitnames.reference(repo, name)
    return str(found.target) if found is not None else None
