"""Objects of the mirror read and written in memory: listings, diffs, blobs, history,
new commits and computed reverts.

Where it fits: a mixin of ``git.Mirror`` (which supplies the repository, the lock and
the remote), split out as ``gitrefs`` is so that each module stays one concept. No
checkout and no ref moves: the object-level work is ``gitobjects``'; what is here
holds the mirror's lock around it and turns a missing object into a ``GitError``
naming the remote.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import TypeVar

import pygit2

from reconciler.adapters import gitauth, gitobjects
from reconciler.adapters.gitobjects import Author, CommitInfo, Entry
from reconciler.adapters.signing import Signer
from reconciler.errors import GitError

_T = TypeVar("_T")
_LIST_CACHE_SIZE = 8  # listings of the last few trees kept


class Objects:
    """Reads and in-memory writes; ``git.Mirror`` provides what is declared here."""

    _repo: pygit2.Repository
    _lock: threading.RLock
    _author: Author
    _signer: Signer | None
    _remote: gitauth.RemoteURL
    _listing: OrderedDict[tuple[str, tuple[str, ...]], tuple[Entry, ...]]

    # -- objects (in memory: no checkout, no ref moves; see gitobjects) ------------------

    def list_files(self, commit: str, *,
                   suffixes: tuple[str, ...] = (".yaml", ".yml")) -> list[tuple[str, str]]:
        """``(path, blob_sha)`` of every regular file in ``commit`` ending in a suffix.

        Read from the tree objects; symlinks, submodules and paths git refuses
        (``..``, ``.git``) are skipped; git's tree order.
        """
        return [(e.path, e.blob) for e in self.list_entries(commit, suffixes=suffixes)
                if e.kind == "file" and e.blob is not None]

    def list_entries(self, commit: str, *,
                     suffixes: tuple[str, ...] = (".yaml", ".yml")) -> list[Entry]:
        """Like ``list_files``, plus what it skips (symlinks and submodules ending in a
        suffix, entries with invalid names), each an ``Entry`` saying why, so that a
        scan can report them. The listings of the last few trees are cached (trees
        never change)."""
        with self._lock:
            tree = self._commit(commit).tree
            key = (str(tree.id), tuple(suffixes))
            cached = self._listing.get(key)
            if cached is None:
                cached = tuple(gitobjects.list_entries(self._repo, tree, tuple(suffixes)))
                self._listing[key] = cached
                while len(self._listing) > _LIST_CACHE_SIZE:
                    self._listing.popitem(last=False)
            self._listing.move_to_end(key)
            return list(cached)

    def changed_files(self, old: str, new: str, *, suffixes: tuple[str, ...] = (".yaml", ".yml"),
                      ) -> list[tuple[str, str | None]]:
        """Files ending in a suffix that differ between two commits' trees:
        ``(path, blob_sha)`` when added or changed, ``(path, None)`` when gone (or no
        longer a regular file)."""
        with self._lock:
            return gitobjects.changed_files(self._repo, self._commit(old).tree,
                                            self._commit(new).tree, tuple(suffixes))

    def changed_entries(self, old: str, new: str, *,
                        suffixes: tuple[str, ...] = (".yaml", ".yml")) -> list[Entry]:
        """Like ``changed_files``, as ``Entry``s: what ``list_entries`` shows that
        differs between two commits' trees (``blob`` None: gone)."""
        with self._lock:
            return gitobjects.changed_entries(self._repo, self._commit(old).tree,
                                              self._commit(new).tree, tuple(suffixes))

    def read_blob(self, blob_sha: str) -> bytes:
        with self._lock:
            obj = self._object(blob_sha, "blob")
            if not isinstance(obj, pygit2.Blob):
                raise GitError(f"{blob_sha} is a {obj.type_str}, not a blob")
            return obj.data

    def log(self, head: str, *, limit: int | None = None,
            stop: str | None = None) -> Iterator[CommitInfo]:
        """History reachable from ``head`` (and not from ``stop``), all parents, newest
        first (topological, then commit time). ``head`` is checked now; the walk is lazy."""
        with self._lock:
            start = self._commit(head).id
            hidden = self._commit(stop).id if stop else None
        return self._locked(gitobjects.history(self._repo, start, limit, hidden))

    def _locked(self, items: Iterator[_T], lock: threading.RLock | None = None) -> Iterator[_T]:
        """``items``, each taken with the lock (the mirror's, or ``lock``) held and
        handed out without it."""
        held = self._lock if lock is None else lock
        while True:
            with held:
                item = next(items, None)
            if item is None:
                return
            yield item

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when ``ancestor`` is ``descendant`` or reachable from it."""
        with self._lock:
            a, d = self._commit(ancestor).id, self._commit(descendant).id
            try:
                return a == d or self._repo.descendant_of(d, a)
            except pygit2.GitError as exc:
                raise GitError(f"cannot compare {ancestor} and {descendant}: "
                               f"{gitobjects.line(exc)}") from exc

    def commit(self, *, parent: str, files: Mapping[str, bytes], message: str,
               allow_empty: bool = False, first_parent: str | None = None) -> str:
        """Create a commit on ``parent`` whose tree differs only in ``files``; return sha.

        Every path must already exist in ``parent`` as a regular file (its mode is
        kept); anything else, or a commit that would change nothing (unless
        ``allow_empty``: a record-only commit), is a ``GitError``.
        Author and committer: the configured ``Author``, now, UTC; signed when the
        mirror has a signer. No ref moves (libgit2 never garbage-collects, so the
        commit survives until pushed). ``first_parent``: the commit merges ``parent``
        into that one (a branch brought up to date).
        """
        with self._lock:
            return gitobjects.create_commit(
                self._repo, parent=self._commit(parent), files=files, message=message,
                author=self._author, allow_empty=allow_empty, signer=self._signer,
                first_parent=self._commit(first_parent) if first_parent else None)

    def revert(self, *, commit: str, onto: str) -> dict[str, bytes]:
        """What reverting ``commit`` on top of ``onto`` changes: ``{path: new bytes}``.

        A three-way revert computed in memory (``Repository.revert_commit``), so
        unrelated edits made since ``commit``, even in the same file, survive; as
        with ``git revert``, an edit on an adjacent line conflicts. Build the revert
        commit with ``commit(parent=onto, files=result, message='Revert "..."')``.
        ``RevertConflict`` names the conflicting paths; ``{}`` means ``onto`` already
        lacks the change. A revert that would add or delete a file is a ``GitError``.
        """
        with self._lock:
            return gitobjects.revert_changes(self._repo, target=self._commit(commit),
                                             onto=self._commit(onto))

    # -- helpers -----------------------------------------------------------------------

    def _object(self, sha: str, what: str) -> pygit2.Object:
        try:
            return self._repo[sha]
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise GitError(f"{what} {sha} is not in the mirror of {self._remote} "
                           "(fetch first?)") from exc

    def _commit(self, sha: str) -> pygit2.Commit:
        obj = self._object(sha, "commit")
        if not isinstance(obj, pygit2.Commit):
            raise GitError(f"{sha} is a {obj.type_str}, not a commit")
        return obj
