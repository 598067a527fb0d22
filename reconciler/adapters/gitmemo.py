"""A warm mirror read without libgit2: the answers of an earlier run, kept by object id.

Where it fits: ``plan``, ``validate`` and ``check`` read a mirror through a handful of
``git.Mirror`` calls (fetch or resolve, list a tree, walk the history, read the
notes, compare two trees). Every answer but the fetch is a function of object ids
alone, and objects never change, so ``ReadMirror`` keeps each answer in a file
beside the mirror (``reconciler-git-memo.json`` for the short ones,
``reconciler-git-listings.json`` for those as long as the repository; each a
``scancache.Store``: replaced whole, versioned, bounded) and gives it back in a
later run without loading pygit2 (about 40 % of a warm command;
docs/performance.md, "A fast CLI"). Anything it does not hold, it asks a real
``git.Mirror``, opened (and pygit2 imported) at that moment, and keeps the answer.

The fetch is where a run could go stale, so it is skipped only when it provably
changes nothing: the remote is local (``file://`` or a path: its refs are files,
read by ``reffiles``), and every ref the fetch would write in the mirror already
holds the remote's value (the branch's tracking ref, and each notes ref in the
notes' repository inside it, ``gitnotesrepo``; for
``resolve``, the whole ``gitrevs.NAMESPACE`` as a pruning fetch would leave it). Any
other remote, a moved ref, a layout ``reffiles`` does not read: the real fetch, as
before. A memo written by other adapter code (the digest of these modules) is
never read back.
"""

from __future__ import annotations

import functools
import hashlib
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, get_args
from urllib.parse import unquote, urlsplit

from reconciler.adapters import gitcache, gitrevs, reffiles, scancache
from reconciler.adapters.gitrecords import CommitInfo, Entry, EntryKind
from reconciler.adapters.remoteurl import RemoteURL

if TYPE_CHECKING:
    from reconciler.adapters.git import Mirror

    _Base = Mirror
else:
    _Base = object

_T = TypeVar("_T")
_KINDS = frozenset(get_args(EntryKind))

FILE_NAME = "reconciler-git-memo.json"
"""The short answers (revisions, ancestry); ``OLDER`` of other runs kept beside this
run's (``scancache.Store``'s ``older``)."""
OLDER = 64
LISTINGS_FILE = "reconciler-git-listings.json"
"""The answers as long as the repository (a tree listing: about 1 MB at 10,000 files;
the history; every note; a tree diff): every run reads the whole file, so it keeps
this run's and ``LISTINGS_OLDER`` others (about one run's more)."""
LISTINGS_OLDER = 4
NOTES = "refs/notes/"
_BRANCH = re.compile(r"(?!.*\.\.)(?!.*\.lock(/|$))[A-Za-z0-9_][A-Za-z0-9._/-]*")
_SUFFIXES_SEP = "|"
# Revisions whose answer depends on more than the namespace's refs: a short object id
# (more objects can make it ambiguous) and a reflog entry (``main@{1}``).
_UNSTABLE = re.compile(r"[0-9a-fA-F]{4,39}([~^@:].*)?|.*@\{.*")


@functools.cache
def version() -> str:
    """A digest of the git adapter's code: the answers are what that code gave."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for path in sorted([*here.glob("git*.py"), here / "reffiles.py"]):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def open_local(url: str, *, cache_dir: Path, branch: str,
               opener: Callable[[], Mirror]) -> ReadMirror | None:
    """A ``ReadMirror`` of ``branch`` of ``url`` when ``url`` is a local repository
    whose mirror names it or does not exist yet; None otherwise (open a ``git.Mirror``).
    ``opener`` opens the real mirror, as the caller would have; no network here."""
    if "://" in url and not url.startswith("file://"):
        return None
    remote, password = RemoteURL.parse(url)
    parts = urlsplit(remote.url)
    if remote.scheme != "file" or password is not None or parts.netloc not in ("", "localhost") \
            or parts.query or not _BRANCH.fullmatch(branch):
        return None
    source = reffiles.git_dir(Path(unquote(parts.path)))
    if source is None:
        return None
    path = gitcache.path_for(cache_dir, remote.url)
    # No mirror yet: ``opener`` creates it and fetches, and this run's answers are kept.
    if (path / "HEAD").exists() and (reffiles.git_dir(path) is None or reffiles.remote_url(
            path, gitcache.REMOTE) != remote.url):
        return None
    return ReadMirror(path=path, url=remote.url, branch=branch, source=source, opener=opener)


class ReadMirror(_Base):
    """The read side of a ``git.Mirror`` from the memo when it can, from the real
    mirror when it cannot (every attribute it does not define is the real one's)."""

    def __init__(self, *, path: Path, url: str, branch: str, source: Path,
                 opener: Callable[[], Mirror]) -> None:
        self._path = path
        self._url = url
        self._branch = branch
        self._source = source
        self._opener = opener
        self._mirror: Mirror | None = None
        self._lock = threading.RLock()
        self._head: str | None = None
        self.last_fetch_objects = 0
        """As ``git.Mirror``'s: 0 when the fetch was skipped (nothing to receive)."""
        self.memo = scancache.Store(path / FILE_NAME, version=version(), older=OLDER)
        self.listings = scancache.Store(path / LISTINGS_FILE, version=version(),
                                        older=LISTINGS_OLDER)

    @property
    def path(self) -> Path:
        return self._path

    @property
    def url(self) -> str:
        return self._url

    @property
    def branch(self) -> str:
        return self._branch

    @property
    def real(self) -> Mirror:
        """The ``git.Mirror``, opened (pygit2 imported) on first use."""
        with self._lock:
            if self._mirror is None:
                self._mirror = self._opener()
            return self._mirror

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.real, name)

    # -- refs ------------------------------------------------------------------------

    def fetch(self) -> str:
        with self._lock:
            sha = self._unchanged()
            if sha is None:
                sha = self.real.fetch()
                self.last_fetch_objects = self.real.last_fetch_objects
            self._head = sha
            return sha

    def _unchanged(self) -> str | None:
        """The branch head when a fetch would write nothing in the mirror, else None."""
        if self._mirror is not None:
            return None
        theirs, ours = reffiles.refs(self._source), reffiles.refs(self._path)
        if theirs is None or ours is None:
            return None
        head = theirs.get(f"refs/heads/{self._branch}")
        if head is None or ours.get(f"refs/remotes/{gitcache.REMOTE}/{self._branch}") != head:
            return None
        notes = self._notes_refs()
        if notes is None or any(notes.get(name) != sha
                                for name, sha in reffiles.under(theirs, NOTES).items()):
            return None
        return head

    def _notes_refs(self) -> dict[str, str] | None:
        """The refs of the notes' repository inside the mirror (``gitnotesrepo``);
        None when there is none yet (a mirror of an earlier version: the real mirror
        moves its notes there) or ``reffiles`` cannot read it."""
        return reffiles.refs(self._path / gitcache.NOTES_DIR)

    def head(self) -> str:
        with self._lock:
            if self._head is None and self._mirror is None:
                ours = reffiles.refs(self._path)
                self._head = None if ours is None else ours.get(
                    f"refs/remotes/{gitcache.REMOTE}/{self._branch}")
            if self._head is None:
                self._head = self.real.head()
            return self._head

    def resolve(self, rev: str) -> str:
        with self._lock:
            if _UNSTABLE.fullmatch(rev):
                return self.real.resolve(rev)
            namespace = self._namespace(rev)
            key = None if namespace is None else f"rev:{rev}:{namespace}"
            found = None if key is None else self._recall(key, _str)
            if found is not None:
                return found
            sha = self.real.resolve(rev)
            namespace = self._namespace(rev, fetched=True)
            if namespace is not None:
                self._keep(f"rev:{rev}:{namespace}", sha)
            return sha

    def _namespace(self, rev: str, *, fetched: bool = False) -> str | None:
        """A digest of the mirror's refs under ``gitrevs.NAMESPACE`` when fetching what
        ``rev`` may name would leave them as they are (``fetched``: just fetched, so
        only their digest); None when it would change them or cannot be told."""
        ours = reffiles.refs(self._path)
        if ours is None:
            return None
        mine = reffiles.under(ours, gitrevs.NAMESPACE + "/")
        if not fetched:
            theirs = reffiles.refs(self._source)
            if theirs is None or not _fetched_as(theirs, mine, gitrevs.refspecs(rev)):
                return None
        listing = "\n".join(f"{name} {sha}" for name, sha in sorted(mine.items()))
        return hashlib.sha256(listing.encode()).hexdigest()[:32]

    # -- objects (answers keyed by object ids) ----------------------------------------

    def list_entries(self, commit: str, *,
                     suffixes: tuple[str, ...] = (".yaml", ".yml")) -> list[Entry]:
        key = f"entries:{commit}:{_SUFFIXES_SEP.join(suffixes)}"
        found = self._recall(key, _entries, store=self.listings)
        if found is not None:
            return found
        entries = self.real.list_entries(commit, suffixes=suffixes)
        self._keep(key, _rows(entries), store=self.listings)
        return entries

    def changed_entries(self, old: str, new: str, *,
                        suffixes: tuple[str, ...] = (".yaml", ".yml")) -> list[Entry]:
        key = f"changed:{old}:{new}:{_SUFFIXES_SEP.join(suffixes)}"
        found = self._recall(key, _entries, store=self.listings)
        if found is not None:
            return found
        entries = self.real.changed_entries(old, new, suffixes=suffixes)
        self._keep(key, _rows(entries), store=self.listings)
        return entries

    def log(self, head: str, *, limit: int | None = None,
            stop: str | None = None) -> Iterator[CommitInfo]:
        key = f"log:{head}:{stop}:{limit}"
        found = self._recall(key, lambda rows: [_commit(row) for row in rows],
                             store=self.listings)
        if found is not None:
            return iter(found)
        commits = list(self.real.log(head, limit=limit, stop=stop))
        self._keep(key, [[c.sha, c.message, list(c.parents), int(c.time.timestamp()),
                          c.author_name, c.author_email] for c in commits], store=self.listings)
        return iter(commits)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        key = f"ancestor:{ancestor}:{descendant}"
        found = self._recall(key, _bool)
        if found is not None:
            return found
        answer = self.real.is_ancestor(ancestor, descendant)
        self._keep(key, answer)
        return answer

    def notes(self, ref: str) -> list[tuple[str, str]]:
        ours = self._notes_refs()  # as the last fetch left them
        if ours is None:
            return list(self.real.notes(ref))
        if ref not in ours:
            return []  # as libgit2's read: no notes ref, no notes
        key = f"notes:{ref}:{ours[ref]}"
        found = self._recall(key, lambda rows: [(_str(c), _str(t)) for c, t in rows],
                             store=self.listings)
        if found is not None:
            return found
        notes = list(self.real.notes(ref))
        self._keep(key, [list(n) for n in notes], store=self.listings)
        return notes

    def _recall(self, key: str, decode: Callable[[Any], _T], *,
                store: scancache.Store | None = None) -> _T | None:
        """The answer kept under ``key`` (in ``store``, the memo by default), or None;
        one that does not decode (a damaged or foreign file) is forgotten and counts as
        a miss, never as an error."""
        store = store or self.memo
        found = store.get(key)
        if found is None:
            return None
        try:
            return decode(found)
        except (TypeError, ValueError, OverflowError):
            store.forget(key)
            return None

    def _keep(self, key: str, value: Any, *, store: scancache.Store | None = None) -> None:
        store = store or self.memo
        store.put(key, value)
        store.save()

    def close(self) -> None:
        with self._lock:
            if self._mirror is not None:
                self._mirror.close()

    def __enter__(self) -> ReadMirror:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ReadMirror(url={self._url!r}, branch={self._branch!r}, path={self._path!r})"


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, found {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"expected a bool, found {value!r}")
    return value


def _rows(entries: list[Entry]) -> list[list[str | None]]:
    """Entries as JSON rows: a plain file as ``[path, blob]``, anything else whole."""
    return [[e.path, e.blob] if e.kind == "file" and not e.detail else list(e)
            for e in entries]


def _entries(rows: list[Any]) -> list[Entry]:
    found = []
    for row in rows:
        path, blob, kind, detail = row if len(row) == 4 else (*row, "file", "")
        if blob is not None:
            _str(blob)
        if kind not in _KINDS:
            raise ValueError(f"not an entry kind: {kind!r}")
        found.append(Entry(_str(path), blob, _str(kind), _str(detail)))  # type: ignore[arg-type]
    return found


def _commit(row: list[Any]) -> CommitInfo:
    sha, message, parents, time, author_name, author_email = row
    if not isinstance(time, int):
        raise TypeError(f"expected a time, found {time!r}")
    return CommitInfo(sha=_str(sha), message=_str(message),
                      parents=tuple(_str(p) for p in parents),
                      time=datetime.fromtimestamp(time, UTC), author_name=_str(author_name),
                      author_email=_str(author_email))


def _fetched_as(theirs: dict[str, str], mine: dict[str, str], refspecs: list[str]) -> bool:
    """Whether ``mine`` (the mirror's refs under the namespace) is exactly what a
    pruning fetch of ``refspecs`` (``+src:dst``, ``*`` at the end of both or neither)
    from ``theirs`` leaves there: each destination holding its source's value, no
    source missing, no destination under a pattern left without a source."""
    for spec in refspecs:
        src, _, dst = spec.removeprefix("+").partition(":")
        if src.endswith("*"):
            pattern, into = src[:-1], dst[:-1]
            wanted = {into + name[len(pattern):]: sha for name, sha in theirs.items()
                      if name.startswith(pattern)}
            present = {name for name in mine if name.startswith(into)}
        else:
            if src not in theirs:
                return False
            wanted, present = {dst: theirs[src]}, {dst} & set(mine)
        if present != set(wanted) or any(mine.get(name) != sha for name, sha in wanted.items()):
            return False
    return True
