"""Which repository files end up where in an ``ExternalArtifact`` (Flux 2.7).

Core, pure: an ``ArtifactGenerator``'s copy rules and the source's file list in, a
map ``artifact path -> repository path`` out. A Flux ``Kustomization`` whose
``sourceRef`` is an ``ExternalArtifact`` reads its ``spec.path`` inside that
artifact; this map takes it back to the repository files the artifact was copied
from, so the cluster's scope can follow it.

The API and the copy semantics are read from ``fluxcd/source-watcher``:
``api/v1beta1/artifactgenerator_types.go`` (``spec.sources[] {alias, kind, name,
namespace}``, ``spec.artifacts[] {name, copy[] {from: "@<alias>/<pattern>", to:
"@artifact/<path>", exclude[], strategy}}``) and ``internal/builder/builder.go``
(``applyCopyOperation``), cp-like:

* a ``from`` without glob characters (``*?[]``) names a file or a directory. A
  file goes to ``to``, or to ``to/<name>`` when ``to`` ends in ``/`` or is a
  directory already staged; a directory goes to ``to/<its name>/`` whole;
* a glob is matched with Go's ``fs.Glob``: one pattern element per path element,
  ``*`` never crosses a ``/`` (so ``**`` is ``*``). Each match (file or directory,
  copied whole) goes to ``to/<match>``, except under a pattern ending in ``/**``,
  whose directory prefix is stripped (``@repo/apps/base/** -> @artifact/base/``
  puts ``apps/base/x/y.yaml`` at ``base/x/y.yaml``);
* ``exclude`` globs (doublestar: ``**`` crosses ``/``) drop paths, matched against
  the path and, for patterns without ``/``, against the base name;
* later copies overwrite earlier ones; the artifact is then filtered by Flux's
  default ignore patterns only.

Copies from a source other than the repository (another alias), the ``Extract``
strategy (tarballs) and the YAML ``Merge`` strategy's merged content are not
followed; a merged file maps to the last repository file copied onto it.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from reconciler.core import sourceignore

API_GROUP = "source.extensions.fluxcd.io"
KIND = "ArtifactGenerator"
_GLOB = re.compile(r"[*?\[\]]")


@dataclass(frozen=True)
class Copy:
    source: str  # the alias after "@"
    pattern: str  # the rest of ``from``
    to: str  # the path after "@artifact/", "" for the root
    to_dir: bool  # ``to`` ends with "/" (or is the root)
    exclude: tuple[str, ...] = ()
    strategy: str = ""


def parse_copy(item: Mapping[str, object]) -> Copy | str:
    """A ``copy[]`` entry, or why it is not one (for a problem line)."""
    src, dst = item.get("from"), item.get("to")
    if not isinstance(src, str) or not src.startswith("@") or "/" not in src:
        return f"from: expected \"@<alias>/<pattern>\", found {src!r}"
    if not isinstance(dst, str) or not dst.startswith("@artifact/"):
        return f"to: expected \"@artifact/<path>\", found {dst!r}"
    alias, _, pattern = src[1:].partition("/")
    rel = dst[len("@artifact/"):]
    clean = posixpath.normpath(rel) if rel else ""
    if clean in (".", ""):
        clean = ""
    elif clean.startswith(("../", "/")) or clean == "..":
        return f"to: {dst!r} leaves the artifact"
    exclude = item.get("exclude")
    strategy = item.get("strategy")
    return Copy(source=alias, pattern=pattern, to=clean, to_dir=rel == "" or rel.endswith("/"),
                exclude=tuple(e for e in exclude if isinstance(e, str))
                if isinstance(exclude, list) else (),
                strategy=strategy if isinstance(strategy, str) else "")


def _dirs(files: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for f in files:
        d = posixpath.dirname(f)
        while d and d not in out:
            out.add(d)
            d = posixpath.dirname(d)
    return out


def _doublestar(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _excluded(path: str, base: str, patterns: tuple[re.Pattern[str], ...],
              names: tuple[bool, ...]) -> bool:
    rels = [path]
    if base not in ("", ".") and path.startswith(base + "/"):
        rels.append(path[len(base) + 1:])
    for rx, plain in zip(patterns, names, strict=True):
        if any(rx.match(r) for r in rels):
            return True
        if plain and rx.match(posixpath.basename(path)):
            return True
    return False


def _glob(pattern: str, files: set[str], dirs: set[str]) -> list[str]:
    parts = [p for p in pattern.split("/") if p]
    found = []
    for candidate in sorted(files | dirs):
        names = candidate.split("/")
        if len(names) == len(parts) and all(
                fnmatchcase(n, p.replace("**", "*")) for n, p in zip(names, parts, strict=True)):
            found.append(candidate)
    return found


def apply(copies: Iterable[Copy], *, alias: str, files: Iterable[str]) -> dict[str, str]:
    """The artifact built by ``copies`` from a source whose files are ``files`` (and
    which ``alias`` names): ``artifact path -> repository path``. Pure."""
    source = set(files)
    dirs = _dirs(source)
    staged: dict[str, str] = {}

    def under(d: str) -> list[str]:
        return sorted(f for f in source if f.startswith(d + "/"))

    def put(dest: str, src: str) -> None:
        staged[dest.lstrip("/")] = src

    for op in copies:
        if op.source != alias or op.strategy == "Extract":
            continue
        excl = tuple(_doublestar(e) for e in op.exclude)
        plain = tuple("/" not in e for e in op.exclude)
        if not _GLOB.search(op.pattern):
            src = posixpath.normpath(op.pattern)
            if src in source:
                if _excluded(src, ".", excl, plain):
                    continue
                staged_dirs = _dirs(staged)
                into = op.to_dir or op.to in staged_dirs
                put(posixpath.join(op.to, posixpath.basename(src)) if into else op.to, src)
            elif src in dirs:
                dest = posixpath.join(op.to, posixpath.basename(src))
                for f in under(src):
                    if not _excluded(f, src, excl, plain):
                        put(posixpath.join(dest, f[len(src) + 1:]), f)
            continue
        base = _selection_root(op.pattern)
        strip = op.pattern[:-3] if op.pattern.endswith("/**") else None
        for match in _glob(op.pattern, source, dirs):
            if _excluded(match, base, excl, plain):
                continue
            rel = match[len(strip) + 1:] if strip and match.startswith(strip + "/") else match
            dest = posixpath.join(op.to, rel)
            if match in source:
                put(dest, match)
                continue
            for f in under(match):
                if not _excluded(f, base, excl, plain):
                    put(posixpath.join(dest, f[len(match) + 1:]), f)
    defaults = sourceignore.defaults()
    return {k: v for k, v in staged.items() if not defaults.matches(k)}


def _selection_root(pattern: str) -> str:
    """The literal prefix of a pattern before its first glob element."""
    root = []
    for part in posixpath.normpath(pattern).split("/"):
        if _GLOB.search(part):
            break
        root.append(part)
    return "/".join(root) or "."
