"""Revisions of the remote repository (``HEAD``, ``origin/main``, ``v1.2~1``, a sha),
resolved in the mirror.

Where it fits: ``reconciler check`` compares two commits that a CI job names the way
git does in its own checkout: a pull request's checkout is a detached ``HEAD``, the
target branch is ``origin/main`` (a remote-tracking ref of the *clone*, present after
``fetch-depth: 0``), and a local ``main`` branch often does not exist. The mirror
tracks one branch only, so ``Mirror.resolve`` first fetches the remote's ``HEAD``,
branches, tags and remote-tracking refs under ``NAMESPACE`` (nothing else in the
mirror moves), then names the revision there with git's own lookup order.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from reconciler.errors import InputError

if TYPE_CHECKING:  # imported where used: ``refspecs`` serves gitmemo without libgit2
    import pygit2

NAMESPACE = "refs/reconciler/source"
# Every ref of the remote a revision can start with; refs/pull/* and the like only
# when named in full (a forge can hold thousands).
FETCHED = ("heads", "tags", "remotes")
# Where git's name ends and its navigation (HEAD~2, main^{commit}, @{u}) begins.
_SUFFIX = re.compile(r"[~^@:]")


def resolve(repo: pygit2.Repository, remote: pygit2.Remote, rev: str,
            callbacks: pygit2.RemoteCallbacks) -> str:
    """Fetch what ``rev`` may name (``refspecs``), then ``lookup`` it; ``InputError``
    when it names no commit. Call with the mirror's lock held."""
    from pygit2.enums import FetchPrune

    remote.fetch(refspecs(rev), callbacks=callbacks, prune=FetchPrune.PRUNE, proxy=True)
    found = lookup(repo, rev)
    if found is None:
        raise InputError(f"{rev!r} names no commit in {remote.url}")
    return found


def refspecs(rev: str) -> list[str]:
    """The refspecs that bring every object ``rev`` may name into ``NAMESPACE``."""
    specs = [f"+HEAD:{NAMESPACE}/HEAD"]
    specs += [f"+refs/{kind}/*:{NAMESPACE}/{kind}/*" for kind in FETCHED]
    name = _name(rev)
    if name.startswith("refs/") and name.split("/")[1] not in FETCHED and "*" not in name:
        specs.append(f"+{name}:{NAMESPACE}/{name.removeprefix('refs/')}")
    return specs


def _name(rev: str) -> str:
    match = _SUFFIX.search(rev)
    return rev[:match.start()] if match else rev


def lookup(repo: pygit2.Repository, rev: str) -> str | None:
    """The commit ``rev`` names among the fetched refs (git's order: the name as
    given, then under refs/, tags, heads, remotes), or as an object id; None when
    it names no commit."""
    name, rest = _name(rev), rev[len(_name(rev)):]
    short = name.removeprefix("refs/")
    candidates = [] if not name else [f"{NAMESPACE}/{short}"] \
        if name == "HEAD" or name.startswith("refs/") \
        else [f"{NAMESPACE}/{short}", f"{NAMESPACE}/tags/{short}",
              f"{NAMESPACE}/heads/{short}", f"{NAMESPACE}/remotes/{short}",
              f"{NAMESPACE}/remotes/{short}/HEAD"]
    for ref in candidates:
        if ref in repo.references:
            found = _commit(repo, ref + rest)
            if found is not None:
                return found
    if re.fullmatch(r"[0-9a-fA-F]{4,40}", name):
        return _commit(repo, rev)
    return None


def _commit(repo: pygit2.Repository, spec: str) -> str | None:
    import pygit2

    try:
        obj = repo.revparse_single(spec)
        return str(obj.peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return None
