"""The git adapter: a persistent bare mirror of one branch of the config repository.

Where it fits: the engine asks this module for the branch head, the manifests in a
commit and their bytes; hands the core's rewritten bytes back to ``Mirror.commit``;
pushes with ``Mirror.push`` (never forced) and computes reverts in memory. Nothing
here checks out files: every read and write goes straight through git objects, so
the mirror stays a bare repository under the cache directory, reused across runs and
processes and updated by incremental fetches. Credentials, URLs and trust decisions
live in ``gitauth``, object-level work (trees, commits, reverts, history) in
``gitobjects`` and ``gittrees`` (held under the mirror's lock by the ``gitreads``
mixin), the notes (kept in a repository of their own, ``gitnotesrepo``) and the
pull-request branches beside the branch in ``gitrefs``, commit creation and its
optional signature in ``gitsign`` (keys in ``signing``); these are the only modules
importing pygit2.

Library errors become project errors (``reconciler.errors``), raised ``from`` the
original, with a one-line message naming the remote (never a password); the
table is in ``giterrors``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pygit2
from pygit2.enums import FetchPrune

from reconciler.adapters import gitauth, gitcache, giterrors, gitobjects, gitpack, gitrevs
from reconciler.adapters.gitauth import Credentials, RemoteURL
from reconciler.adapters.gitlocal import path_of, push_local
from reconciler.adapters.gitnotejobs import Jobs as NoteJobs
from reconciler.adapters.gitnotesrepo import PREFIX as NOTES_PREFIX
from reconciler.adapters.gitnotesrepo import NotesRepo
from reconciler.adapters.gitobjects import DEFAULT_AUTHOR, Author, CommitInfo, Entry
from reconciler.adapters.gitreads import Objects
from reconciler.adapters.gitrefs import Refs
from reconciler.adapters.signing import Signer
from reconciler.errors import GitError, InputError, NonFastForward, PushRejected, ReconcilerError

__all__ = ["Author", "CommitInfo", "Credentials", "Entry", "Mirror"]

log = logging.getLogger(__name__)

_REMOTE = gitcache.REMOTE
# libgit2's object cache keeps every object read (trees parsed, ~2x their size) until
# its bound (32 MiB counted, ~70 MiB resident, ``gitobjects``); a pack's reopen hands
# it back. A daemon releasing a few times an hour packs rarely, and its cache grew ~2 MiB
# an hour towards that bound (docs/performance.md, "Soak"): a handle older than this
# is reopened at the next write too. The current trees are read again once after.
CACHE_MAX_AGE = 600.0  # seconds
# How long a fetch, holding the mirror's lock, waits for the notes' lock (held by a
# reader for a note at a time, or by a verdict's push for as long as it walks the
# notes) before it leaves the notes to later (``Mirror._fetch_notes_if_moved``).
NOTES_WAIT = 0.05  # seconds
# libgit2's process-wide cache sizes and network timeouts are set in gitobjects.


class Mirror(Refs, Objects):
    """A bare mirror of one remote branch at ``<cache_dir>/<sha256(url)[:16]>.git``.

    The remote branch is tracked as ``refs/remotes/origin/<branch>``; besides it only
    ``resolve``'s own namespace moves (commits made with ``commit`` are unreferenced
    until pushed; libgit2 never garbage-collects). The notes live in a repository of
    their own inside it (``gitnotesrepo``). Methods are thread-safe: one lock for
    the mirror and one for its notes' repository (taken after the mirror's where both
    are held, ``gitrefs``), so that a release's push does not wait for a verdict's.
    Open with ``Mirror.open``.
    """

    def __init__(self, repo: pygit2.Repository, *, remote: RemoteURL, branch: str,
                 credentials: Credentials, author: Author, fresh: bool = False,
                 signer: Signer | None = None) -> None:
        self._repo = repo
        self._path = Path(repo.path)
        self._remote = remote
        self._branch = branch
        self._credentials = credentials
        self._author = author
        self._signer = signer
        self._lock = threading.RLock()
        self._notes_lock = threading.RLock()
        self._note_jobs = NoteJobs(self._notes_lock)  # ``update_note``
        self.on_notes_push: Callable[[str, float, int], None] = _ignore
        self._arrivals: Counter[str] = Counter()  # ``notes_arrivals``
        self._head: str | None = None
        self._listing: OrderedDict[tuple[str, tuple[str, ...]], tuple[Entry, ...]]
        self._listing = OrderedDict()
        self.last_fetch_objects = 0
        """Objects received by the last ``fetch`` (0 when already up to date)."""
        self._fresh = fresh  # created by ``open``, never fetched into: see ``fetch``
        self.checked: str | None = None  # the head git's first clone checked (gitlisting)
        self._refspecs = [f"+refs/heads/{branch}:{self._tracking_ref}"]
        self.cache_max_age = CACHE_MAX_AGE
        # Notes (bake verdicts) live in a repository of their own inside the mirror,
        # fetched when the remote's moved: the branch's push never walks them.
        self._notes = NotesRepo.open(repo, remote.url, max_age=self.cache_max_age)
        self.packer = gitpack.Packer(self._path)  # loose objects packed on a schedule
        self._opened = time.monotonic()  # when ``_repo`` was opened (``_housekeep``)

    @classmethod
    def open(cls, url: str, *, cache_dir: Path, branch: str = "main",
             credentials: Credentials | None = None,
             author: Author = DEFAULT_AUTHOR, signer: Signer | None = None) -> Mirror:
        """Open (or create) the mirror of ``branch`` of ``url``; no network access.

        A password in ``url`` (``https://user:token@host/repo``) is used when
        ``credentials`` has none, and is never stored or shown. With ``signer``, every
        commit the mirror creates (``commit``, ``add_note``) is signed (``gitsign``).
        """
        remote, url_password = RemoteURL.parse(url)
        creds = credentials or Credentials()
        if url_password and not creds.password:
            creds = dataclasses.replace(creds, password=url_password)
        if not pygit2.reference_is_valid_name(f"refs/heads/{branch}"):
            raise InputError(f"invalid branch name {branch!r}")
        repo, created = gitcache.open_or_create(gitcache.path_for(cache_dir, remote.url),
                                                remote.url)
        return cls(repo, remote=remote, branch=branch, credentials=creds, author=author,
                   fresh=created, signer=signer)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def url(self) -> str:
        """The remote URL as stored: without any password."""
        return self._remote.url

    @property
    def branch(self) -> str:
        return self._branch

    @property
    def _tracking_ref(self) -> str:
        return f"refs/remotes/{_REMOTE}/{self._branch}"

    # -- network -------------------------------------------------------------------

    def fetch(self) -> str:
        """Fetch the branch (only missing objects) and return its head sha. When the first
        fetch into a mirror ``open`` created fails, the mirror is removed again."""
        with self._lock:
            if self._fresh and not self._path.exists():
                self._repo, _ = gitcache.open_or_create(self._path, self._remote.url)
                with self._notes_lock:
                    self._notes = NotesRepo.open(self._repo, self._remote.url,
                                                 max_age=self.cache_max_age)
            try:
                # The first one by git's command line where installed (gitcache.fill),
                # then libgit2's as always: nothing left to receive, it checks the result.
                cloned = None
                if self._fresh:
                    self._repo, cloned = gitcache.fill(
                        self._repo, remote=self._remote, refspecs=self._refspecs,
                        credentials=self._credentials.refreshed())
                sha = self._fetch()
                self.last_fetch_objects = (cloned and cloned.objects) or self.last_fetch_objects
                self.checked = sha if cloned and cloned.checked and cloned.head == sha else None
            except ReconcilerError:
                if self._fresh:
                    with self._notes_lock:
                        self._notes.repo.free()
                    gitcache.discard(self._repo, self._path)
                raise
            self._fresh = False
            return sha

    def _fetch(self) -> str:
        ref = f"refs/heads/{self._branch}"
        with self._lock:
            with self._network("fetch") as callbacks:
                remote = self._repo.remotes[_REMOTE]
                stats = remote.fetch(self._refspecs, callbacks=callbacks,
                                     prune=FetchPrune.NO_PRUNE, proxy=True)
                heads = {h.name: str(h.oid) for h in remote.list_heads(connect=False)}
            if ref not in heads:
                raise GitError(f"branch {self._branch!r} does not exist on {self._remote}")
            self.last_fetch_objects = stats.received_objects
            if stats.received_objects:
                self._housekeep()
            sha = self._target(self._tracking_ref) or ""
            if sha != heads[ref]:
                raise GitError(f"fetch from {self._remote} left {self._tracking_ref} at "
                               f"{sha}, remote has {heads[ref]}")
            self._head = sha
            self._fresh = False  # the branch is here: a failure below keeps the mirror
            # The notes, by a second fetch only when the remote's moved (another
            # writer's verdict): the daemon's own were pushed from where they are. A
            # failure is raised; the next fetch tries again.
            self._fetch_notes_if_moved(heads)
        log.debug("fetched %s %s at %s (%d objects)", self._remote, self._branch, sha,
                  stats.received_objects)
        return sha

    def _fetch_notes_if_moved(self, heads: dict[str | None, str]) -> None:
        """Fetch the notes when a notes ref ``heads`` lists (the remote's) is not here.
        Called with the mirror's lock held, so it never waits for a verdict's push
        (``gitrefs``), which holds the notes' lock for as long as the push walks
        every note: that would keep every release waiting on the mirror's lock. It
        asks first without the notes' lock (``notes_head``), then waits for that lock
        ``NOTES_WAIT`` seconds at most (a reader's hold); when a push holds it, the
        notes are left for now: that push is refused if another writer's notes came
        first, and its retry fetches them (``fetch_notes``); otherwise the next fetch
        finds them."""
        advertised = {name: target for name, target in heads.items()
                      if name is not None and name.startswith(NOTES_PREFIX)}
        if all(self.notes_head(name) == target for name, target in advertised.items()):
            return
        if not self._notes_lock.acquire(timeout=NOTES_WAIT):
            log.debug("the notes moved on %s; left to a verdict's push under way",
                      self._remote)
            return
        try:
            if self._notes.moved(heads):
                self._fetch_notes()
        finally:
            self._notes_lock.release()

    def _fetch_notes(self) -> int:
        """Fetch every notes ref of the remote into the notes' repository, counting
        each ref it moved (``notes_arrivals``); the objects received. Call with the
        notes' lock held. Compared before and after, not against what the remote
        listed: a list taken before this daemon's own verdict landed is no arrival."""
        before = self._notes.heads()
        with self._network("fetch notes from") as callbacks:
            received = self._notes.fetch(callbacks)
        self.last_fetch_objects += received
        after = self._notes.heads()
        self._arrivals.update(name for name, sha in after.items() if before.get(name) != sha)
        return received

    def notes_arrivals(self, ref: str) -> int:
        """How many fetches moved the notes ref ``ref`` here (another writer's notes,
        never this mirror's own): the engine's periodic fetch compares it to tell a
        new verdict from elsewhere. Read without a lock: a periodic fetch asks with
        the engine's lock held, and a verdict's push may hold the notes' lock."""
        return self._arrivals[ref]

    def resolve(self, rev: str) -> str:
        """The commit ``rev`` names in the remote (``HEAD``, ``origin/main``, ``main~1``, a
        sha), its refs fetched first (``gitrevs``); ``InputError`` when it names none."""
        with self._lock, self._network("fetch") as callbacks:
            return gitrevs.resolve(self._repo, self._repo.remotes[_REMOTE], rev, callbacks)

    def head(self) -> str:
        """The branch head as last fetched (or pushed), from disk; fetch if never fetched."""
        with self._lock:
            if self._head is None:
                found = self._target(self._tracking_ref)
                if found is None:
                    return self.fetch()
                self._head = found
            return self._head

    def push(self, commit: str) -> None:
        """Push ``commit`` to the remote branch, fast-forward only (never forced).

        ``NonFastForward`` when the branch moved since the last fetch (fetch, recompute,
        retry); ``PushRejected`` with the server's reason when a hook or a branch
        protection refuses. On success the mirror's branch ref moves to ``commit``.
        """
        ref = f"refs/heads/{self._branch}"
        with self._lock:
            sha = str(self._commit(commit).id)
            self._push_ref(sha, ref, tracking=self._tracking_ref)
            self._head = sha
        log.info("pushed %s to %s %s", sha, self._remote, self._branch)

    def _push_ref(self, sha: str, ref: str, *, tracking: str) -> None:
        """Push ``sha`` to ``ref`` on the remote (fast-forward only) from the mirror;
        record it in the local ``tracking`` ref. Call with the lock held."""
        self._send(self._repo, sha, ref, tracking=tracking)
        self._housekeep()

    def _send(self, repo: pygit2.Repository, sha: str, ref: str, *, tracking: str) -> None:
        """Push ``sha`` to ``ref`` from ``repo`` (the mirror, or the notes'
        repository) and record it in ``tracking`` there. Call with the lock held."""
        with self._network("push to", ref=ref) as callbacks:
            if self._remote.scheme == "file":  # compare-and-swap, as a server does
                push_local(repo, path_of(self._remote.url), sha, ref, callbacks)
            else:
                repo.remotes[_REMOTE].push([f"{sha}:{ref}"], callbacks=callbacks,
                                           proxy=True)
        if callbacks.rejections:
            raise self._rejection(ref, callbacks)
        try:
            repo.references.create(tracking, sha, force=True)
        except pygit2.GitError as exc:
            raise GitError(f"pushed {sha} to {self._remote} but could not record it in "
                           f"{repo.path}: {_line(exc)}") from exc

    def _housekeep(self) -> None:
        """Pack when due (``gitpack``); after a pack, reopen: the replaced files let go
        (and the memory of the old object cache, ``gitcache.reopen``). Reopened too
        when the handle is older than ``cache_max_age`` (see ``CACHE_MAX_AGE``)."""
        if self.packer.after_write() or time.monotonic() - self._opened > self.cache_max_age:
            self._repo = gitcache.reopen(self._repo, self._path)
            self._opened = time.monotonic()

    def _rejection(self, ref: str, callbacks: gitauth.Callbacks) -> PushRejected:
        status = "; ".join(message for _, message in callbacks.rejections)
        server = callbacks.server_messages
        reason = f"{status}: {server}" if server else status
        if giterrors.non_fast_forward(f"{status} {server}"):
            return self._non_fast_forward(ref, reason)
        return PushRejected(f"push to {self._remote} {self._branch} refused by the server: "
                            f"{reason}", ref=ref, reason=reason)

    def _non_fast_forward(self, ref: str, reason: str) -> NonFastForward:
        return NonFastForward(
            f"push to {self._remote} refused: {self._branch} moved since the last fetch "
            f"({reason}); fetch and retry", ref=ref, reason=reason)

    @contextmanager
    def _network(self, doing: str, *, ref: str | None = None) -> Iterator[gitauth.Callbacks]:
        """Run one libgit2 network call; translate what it raises (``ref``: a push)."""
        self._credentials = self._credentials.refreshed()  # a rotated password file
        callbacks = gitauth.Callbacks(self._credentials, self._remote)
        try:
            with gitauth.network_settings(self._credentials, self._remote):
                yield callbacks
        except ReconcilerError:
            raise
        except (pygit2.GitError, KeyError, ValueError, OSError) as exc:
            raise self._translate(exc, f"{doing} {self._remote}", push_ref=ref) from exc

    def _translate(self, exc: BaseException, context: str, *,
                   push_ref: str | None = None) -> GitError:
        detail = gitauth.mask(_line(exc), self._credentials.secrets())
        if push_ref is not None and giterrors.non_fast_forward(detail):
            # libgit2 checks fast-forward itself before sending anything.
            return self._non_fast_forward(push_ref, detail)
        return giterrors.translate(exc, context=context, detail=detail)

    # -- helpers -----------------------------------------------------------------------

    def close(self) -> None:
        """Release the repository's file handles; the mirror stays on disk for reuse."""
        with self._lock, self._notes_lock:
            self.packer.wait()  # a pack under way in the background, finished
            self._notes.close()
            self._repo.free()

    def __enter__(self) -> Mirror:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Mirror(url={self._remote.url!r}, branch={self._branch!r}, path={self.path!r})"


_line = gitobjects.line


def _ignore(result: str, seconds: float, notes: int) -> None:
    """``on_notes_push`` where nobody counts (the CLI)."""

