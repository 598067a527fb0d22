"""The refs of a local git repository, read from its files without libgit2.

Where it fits: a read-only command on a warm mirror of a local remote (``file://``
or a path) asks ``gitmemo`` whether a fetch would change anything; that takes the
refs of the remote and of the mirror, which this module reads as git documents
them (gitrepository-layout(5): ``HEAD``, loose refs under ``refs/``, and
git-pack-refs(1)'s ``packed-refs``, where a loose ref wins over a packed one).

Only the plain layout is read: a repository whose ``.git`` is a file (a worktree or
a submodule's), one with a ``commondir`` (a linked worktree), ``reftable`` refs,
SHA-256 object ids, hidden refs, or a ref file this module does not understand, is
"unusual" and answers None, so the caller takes the ordinary libgit2 path. Nothing
here writes.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_SHA = re.compile(r"[0-9a-f]{40}")
_SYMBOLIC = "ref: "
_DEPTH = 5  # git's own limit on symbolic refs pointing at symbolic refs


def git_dir(path: Path) -> Path | None:
    """The git directory of the repository at ``path`` (bare, or a working tree
    with a ``.git`` directory); None when it is anything this module does not read."""
    for candidate in (path, path / ".git"):
        if (candidate / "HEAD").is_file() and (candidate / "refs").is_dir() \
                and (candidate / "objects").is_dir():
            return candidate if _plain(candidate) else None
    return None


def _plain(directory: Path) -> bool:
    if (directory / "commondir").exists() or (directory / "reftable").exists():
        return False
    try:
        config = (directory / "config").read_text(encoding="utf-8").lower()
    except FileNotFoundError:
        config = ""
    except (OSError, ValueError):
        return False
    # Another ref or object format, refs an upload-pack would hide, another namespace.
    return not any(word in config for word in ("refstorage", "objectformat", "hiderefs")) \
        and "GIT_NAMESPACE" not in os.environ


def refs(directory: Path) -> dict[str, str] | None:
    """Every ref under ``refs/`` and ``HEAD``: name -> commit or tag id, symbolic
    refs resolved (one whose target does not exist is left out, as git advertises
    none); None when a file cannot be read as git writes it."""
    raw = _packed(directory)
    if raw is None:
        return None
    loose = _loose(directory)
    if loose is None:
        return None
    raw.update(loose)
    head = _read_ref(directory / "HEAD")
    if head is None:
        return None
    raw["HEAD"] = head
    resolved: dict[str, str] = {}
    for name in raw:
        value = raw[name]
        for _ in range(_DEPTH):
            if not value.startswith(_SYMBOLIC):
                resolved[name] = value
                break
            # A dangling one (an unborn branch) is not advertised: left out.
            value = raw.get(value[len(_SYMBOLIC):], "")
            if not value:
                break
        else:
            return None  # a loop, or deeper than git follows
    return resolved


def one(directory: Path, name: str) -> str | None:
    """The id the ref ``name`` (a full name under ``refs/``, not symbolic) points at,
    None when there is no such ref; raises ``ValueError`` when its file, or
    ``packed-refs``, is not as git writes it. The loose file is read first and
    ``packed-refs`` only when there is none, the order git reads them in: a ref
    moved into ``packed-refs`` by ``git pack-refs`` (which writes it there before it
    removes the loose file) is found on one side or the other, never missed; a
    libgit2 update renames a whole new file into place. So this may be read without
    the writer's lock, and answers what the ref was just before or just after."""
    path = directory / name
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        packed = _packed(directory)
        if packed is None:
            raise ValueError(f"{directory / 'packed-refs'} is not as git writes it") from None
        return packed.get(name)
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    if not _SHA.fullmatch(text):
        raise ValueError(f"{path} does not hold an object id")
    return text


def _packed(directory: Path) -> dict[str, str] | None:
    try:
        text = (directory / "packed-refs").read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return None
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line or line.startswith("#") or line.startswith("^"):
            continue  # the header, and the peeled id of the tag above
        sha, _, name = line.partition(" ")
        if not _SHA.fullmatch(sha) or not name.startswith("refs/"):
            return None
        found[name] = sha
    return found


def _loose(directory: Path) -> dict[str, str] | None:
    found: dict[str, str] = {}
    top = directory / "refs"
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for file in files:
            if file.endswith(".lock"):
                continue  # an update in progress: the ref is still what it was
            path = Path(root, file)
            value = _read_ref(path)
            if value is None:
                return None
            found[path.relative_to(directory).as_posix()] = value
    return found


def _read_ref(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return None
    if _SHA.fullmatch(text) or (text.startswith(_SYMBOLIC)
                                and text[len(_SYMBOLIC):].startswith("refs/")):
        return text
    return None


def under(found: dict[str, str], prefix: str) -> dict[str, str]:
    """The refs of ``found`` whose names start with ``prefix``."""
    return {name: sha for name, sha in found.items() if name.startswith(prefix)}


def remote_url(directory: Path, name: str) -> str | None:
    """The ``url`` of ``[remote "<name>"]`` in the repository's ``config``, when it is
    written plainly (as libgit2 and git write it); None otherwise."""
    try:
        lines = (directory / "config").read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError):
        return None
    section, found = f'[remote "{name}"]', None
    inside = False
    for line in lines:
        text = line.strip()
        if text.startswith("["):
            inside = text == section
        elif inside and text.replace(" ", "").startswith("url="):
            value = text.split("=", 1)[1].strip()
            if found is not None or any(c in value for c in '"\\;#'):
                return None  # two urls, or quoting this reader does not undo
            found = value
    return found
