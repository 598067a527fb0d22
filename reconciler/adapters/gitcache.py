"""Where the mirrors of config repositories live on disk, and making or removing one.

Where it fits: ``git.Mirror.open`` asks this module for the bare repository of a
remote under the cache directory (``--cache-dir``, default
``$XDG_CACHE_HOME/reconciler``): ``<cache_dir>/<sha256(url)[:16]>.git``, the URL
without any password, so one remote has one mirror across runs and processes.
A mirror this process just created and whose first fetch failed is removed again
(``discard``): a mistyped URL or an unreachable remote leaves nothing behind; a
mirror that was already there is never removed. A mirror's first fetch (``fill``)
is git's command line's where it is installed (``gitclone``: several times faster
on a large repository).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import GitError

if TYPE_CHECKING:
    import pygit2

    from reconciler.adapters import gitclone
    from reconciler.adapters.gitauth import Credentials, RemoteURL

log = logging.getLogger(__name__)

REMOTE = "origin"
NOTES_DIR = "reconciler-notes.git"
"""The notes' own repository, inside the mirror's directory (``gitnotesrepo``)."""


def path_for(cache_dir: Path, url: str) -> Path:
    """The mirror of ``url`` (password-free) under ``cache_dir``."""
    return Path(cache_dir) / f"{hashlib.sha256(url.encode()).hexdigest()[:16]}.git"


def open_or_create(path: Path, url: str) -> tuple[pygit2.Repository, bool]:
    """The bare mirror at ``path`` with ``origin`` pointing at ``url``, and whether
    this call created it. No network access."""
    import pygit2  # here: ``path_for`` serves callers that never load libgit2 (gitmemo)

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        created = not (path / "HEAD").exists()
        repo = (pygit2.init_repository(str(path), bare=True) if created
                else pygit2.Repository(str(path)))
        names = set(repo.remotes.names())
        if REMOTE not in names:
            repo.remotes.create(REMOTE, url, f"+refs/heads/*:refs/remotes/{REMOTE}/*")
        elif repo.remotes[REMOTE].url != url:
            repo.remotes.set_url(REMOTE, url)
    except (pygit2.GitError, OSError) as exc:
        raise GitError(f"cannot open mirror {path} of {url}: "
                       f"{' '.join(str(exc).split())}") from exc
    return repo, created


def discard(repo: pygit2.Repository, path: Path) -> None:
    """Remove a mirror this process created and never fetched into. Best effort: the
    fetch's own error is the one worth reporting, not a failure to clean up."""
    repo.free()
    shutil.rmtree(path, ignore_errors=True)
    log.debug("removed the mirror %s: its first fetch failed", path)


def reopen(repo: pygit2.Repository, path: Path) -> pygit2.Repository:
    """The mirror at ``path`` opened again once its packs were replaced (the old
    handle lets go of the replaced files), and the memory the old handle's object
    cache held (up to 32 MiB, ``gitobjects``) handed back to the system now: glibc
    kept it resident until the daemon's next trim, up to five minutes later, a
    sawtooth of ~11 MiB in the soak's resident memory (docs/performance.md "Soak").
    The notes' repository (``gitnotesrepo``) is reopened the same way."""
    import pygit2

    from reconciler.adapters import malloc

    repo.free()
    fresh = pygit2.Repository(str(path))
    malloc.trim()
    return fresh


def fill(repo: pygit2.Repository, *, remote: RemoteURL, credentials: Credentials,
         refspecs: list[str]) -> tuple[pygit2.Repository, gitclone.Cloned | None]:
    """The first fetch into the mirror ``repo`` (just created), by git's command line
    (``gitclone``). The handle to use from now on (a fresh one when git wrote a pack,
    so that libgit2 sees it) and what git brought, or None when git did not
    fetch (absent, or failed: libgit2 fetches as before). Raises what ``gitclone``
    raises (credentials or host key refused)."""
    import pygit2

    from reconciler.adapters import gitclone

    path = Path(repo.path)
    received = gitclone.fetch(path, remote=remote, credentials=credentials,
                              refspecs=refspecs)
    if received is None:
        return repo, None
    repo.free()
    return pygit2.Repository(str(path)), received
