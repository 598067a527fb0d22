"""Which repository files Flux leaves out of a source artifact (``.sourceignore``).

Core, pure: a list of paths and their ignore files in, a predicate out. Flux's
source-controller packs a ``GitRepository`` into an artifact without the files its
ignore rules match, so those files never reach kustomize-controller and are never
part of any cluster's scope. The rules, as read in ``fluxcd/pkg``
``sourceignore/sourceignore.go`` (used by source-controller):

* default patterns first, at the lowest priority: ``ExcludeVCS`` (``.git/``,
  ``.gitignore``, ``.gitmodules``, ``.gitattributes``), ``ExcludeExt`` (images and
  archives), ``ExcludeCI`` (``.github/``, ``.circleci/`` and the CI files) and
  ``ExcludeExtra`` (``**/.goreleaser.yml``, ``**/.sops.yaml``, ``**/.flux.yaml``);
* then the repository root's ``.sourceignore``, then every nested ``.sourceignore``
  (``LoadIgnorePatterns`` walks every directory but ``.git``), each scoped to its
  own directory (go-git's "domain");
* gitignore syntax (lines starting with ``#`` and blank lines skipped); the last
  pattern that matches a path decides (go-git's matcher checks from the end), so a
  nested ``!keep.yaml`` can take back what the root ignored.

``GitRepository.spec.ignore`` (which replaces the root file's patterns) lives in
the cluster, not in the repository, and is not modelled here. Matching is the
``pathspec`` library's gitignore implementation. Its import is a tenth of a warm
``reconciler plan`` (docs/performance.md, "A fast CLI"), so the default patterns'
regular expressions are kept here as pathspec translates them (``DEFAULT_REGEXES``; a
test keeps them equal) and pathspec is imported only for a repository with ignore
files or a path that one of the defaults may match.
"""

from __future__ import annotations

import fnmatch
import functools
import operator
import posixpath
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pathspec

IGNORE_FILE = ".sourceignore"
_GROUP = re.compile(r"\(\?P<\w+>")  # pathspec's named groups, which cannot repeat in one regex

# Verbatim from fluxcd/pkg sourceignore/sourceignore.go (ExcludeVCS, ExcludeExt,
# ExcludeCI, ExcludeExtra), in that order.
DEFAULT_PATTERNS: tuple[str, ...] = (
    ".git/", ".gitignore", ".gitmodules", ".gitattributes",
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
    ".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml",
    "cloudbuild.yaml", "codeship-services.yml", "codeship-steps.yml",
    "**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml",
)
# pathspec's regular expression of each default pattern, in order (what ``_Rules.of``
# would compute from it; tests/unit/test_sourceignore.py keeps them equal).
DEFAULT_REGEXES: tuple[str, ...] = tuple(
    r"^(?:.+/)?" + tail for tail in (
        r"\.git(?:/)", r"\.gitignore(?:(?:/)|$)", r"\.gitmodules(?:(?:/)|$)",
        r"\.gitattributes(?:(?:/)|$)",
        *(rf"[^/]*\.{ext}(?:(?:/)|$)"
          for ext in ("jpg", "jpeg", "gif", "png", "wmv", "flv", r"tar\.gz", "zip")),
        r"\.github(?:/)", r"\.circleci(?:/)", r"\.travis\.yml(?:(?:/)|$)",
        r"\.gitlab\-ci\.yml(?:(?:/)|$)", r"appveyor\.yml(?:(?:/)|$)",
        r"\.drone\.yml(?:(?:/)|$)", r"cloudbuild\.yaml(?:(?:/)|$)",
        r"codeship\-services\.yml(?:(?:/)|$)", r"codeship\-steps\.yml(?:(?:/)|$)",
        r"\.goreleaser\.yml(?:(?:/)|$)", r"\.sops\.yaml(?:(?:/)|$)",
        r"\.flux\.yaml(?:(?:/)|$)"))


@dataclass(frozen=True)
class _Rules:
    domain: str  # the directory the patterns apply under ("" for the whole repository)
    lines: tuple[str, ...]
    # Every pattern in one regular expression: most paths match none, and one search
    # is ~20x cheaper than asking each pattern (the scan of a 10k-file tree).
    any: re.Pattern[str] | None
    # When every pattern is a bare name (Flux's defaults: ``*.jpg``, ``.github/``,
    # ``**/.sops.yaml``), a path is ignored exactly when one of its components
    # matches: per component, remembered (directory names repeat across thousands
    # of paths); ~10x cheaper again at 100,000 files. None: ask ``spec``.
    names: _Names | None = None

    @classmethod
    def of(cls, domain: str, lines: Iterable[str]) -> _Rules:
        lines = tuple(lines)
        parts = DEFAULT_REGEXES if lines == DEFAULT_PATTERNS else regexes(lines)
        return cls(domain, lines, re.compile("|".join(f"(?:{p})" for p in parts))
                   if parts else None, _Names.of(lines))

    @functools.cached_property
    def spec(self) -> pathspec.GitIgnoreSpec:
        """The patterns as pathspec matches them, built when a path first needs it."""
        import pathspec

        return pathspec.GitIgnoreSpec.from_lines(self.lines)


_NAME = re.compile(r"(?:\*\*/)?(?P<name>[^/!\\\s#][^/\\]*?)(?P<dir>/)?")
_GLOB = re.compile(r"\*\*")


class _Names:
    """Bare-name patterns, matched per path component (see ``_Rules.names``)."""

    def __init__(self, files: re.Pattern[str] | None, dirs: re.Pattern[str] | None) -> None:
        self._files, self._dirs = files, dirs
        self._seen: dict[str, tuple[bool, bool]] = {}
        self._dirs_seen: dict[str, bool] = {}

    @classmethod
    def of(cls, lines: Iterable[str]) -> _Names | None:
        files: list[str] = []
        dirs: list[str] = []
        for line in lines:
            if line.startswith("#") or not line.strip():
                continue
            found = _NAME.fullmatch(line)
            # Anything else (a slash inside, a negation, an escape, trailing
            # spaces, ``**`` inside a name, a character class) keeps the
            # general matcher.
            if found is None or _GLOB.search(found["name"]) or line != line.rstrip() \
                    or "[" in line or "]" in line:
                return None
            (dirs if found["dir"] else files).append(fnmatch.translate(found["name"]))
        def join(parts: list[str]) -> re.Pattern[str] | None:
            return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None
        return cls(join(files), join(dirs))

    def _component(self, name: str) -> tuple[bool, bool]:
        hit = self._seen.get(name)
        if hit is None:
            hit = (self._files is not None and self._files.match(name) is not None,
                   self._dirs is not None and self._dirs.match(name) is not None)
            if len(self._seen) < 1 << 18:
                self._seen[name] = hit
        return hit

    def match(self, rel: str) -> bool:
        head, _, base = rel.rpartition("/")
        return (bool(head) and self._directory(head)) or self._component(base)[0]

    def keep(self, paths: Iterable[str]) -> list[str]:
        """The paths no pattern matches, in the order given: ``match`` inlined over
        the remembered directories and names (70,000 paths in a first snapshot)."""
        dirs, names, kept = self._dirs_seen, self._seen, []
        for path in paths:
            head, _, base = path.rpartition("/")
            if head:
                hit = dirs.get(head)
                if hit if hit is not None else self._directory(head):
                    continue
            name = names.get(base)
            if not (name if name is not None else self._component(base))[0]:
                kept.append(path)
        return kept

    def _directory(self, path: str) -> bool:
        """Whether a pattern matches a component of the directory ``path``."""
        hit = self._dirs_seen.get(path)
        if hit is None:
            head, _, base = path.rpartition("/")
            hit = (bool(head) and self._directory(head)) or any(self._component(base))
            if len(self._dirs_seen) < 1 << 18:
                self._dirs_seen[path] = hit
        return hit


def regexes(lines: Iterable[str]) -> tuple[str, ...]:
    """pathspec's regular expression of each pattern in ``lines`` that matches
    anything (comments and blank lines give none), named groups made plain."""
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    return tuple(_GROUP.sub("(?:", p.regex.pattern) for p in spec.patterns
                 if isinstance(p, pathspec.RegexPattern) and p.regex is not None
                 and p.include is not None)


class Ignore:
    """The ignore rules of one source: ``ignore.matches(path)`` says whether Flux
    leaves ``path`` out. Pure; build it with :func:`load`."""

    def __init__(self, rules: Iterable[tuple[str, Iterable[str]]]) -> None:
        self._rules = tuple(_Rules.of(domain, lines) for domain, lines in rules)

    def matches(self, path: str) -> bool:
        ignored = False
        for rules in self._rules:
            if rules.domain:
                if not path.startswith(rules.domain + "/"):
                    continue
                rel = path[len(rules.domain) + 1:]
            else:
                rel = path
            if rules.names is not None:
                if rules.names.match(rel):
                    ignored = True
                continue
            if rules.any is None or not rules.any.search(rel):
                continue
            result = rules.spec.check_file(rel)
            if result.include is not None:
                ignored = result.include
        return ignored

    def keep(self, paths: Iterable[str]) -> list[str]:
        """The paths Flux keeps, in the order given."""
        if len(self._rules) == 1 and not self._rules[0].domain \
                and self._rules[0].names is not None:
            return self._rules[0].names.keep(paths)  # Flux's defaults alone: the common case
        return [p for p in paths if not self.matches(p)]


def defaults() -> Ignore:
    """Only Flux's default patterns (what an ``ArtifactGenerator`` applies to the
    artifact it builds: ``SourceIgnoreFilter(nil, nil)`` in source-watcher)."""
    return Ignore([("", DEFAULT_PATTERNS)])


def patterns(text: str) -> list[str]:
    """The patterns of one ignore file: comments and blank lines dropped, as
    ``ReadPatterns`` does (a line is a comment only when ``#`` is its first byte)."""
    return [line for line in text.splitlines()
            if not line.startswith("#") and line.strip()]


def load(paths: Iterable[str], read: Callable[[str], bytes]) -> Ignore:
    """The ignore rules of a repository whose files are ``paths``: the defaults, the
    root ``.sourceignore`` and each nested one, in the order source-controller's
    ``LoadIgnorePatterns`` walks (depth first, names sorted). ``read(path)`` returns
    a file's bytes; only ignore files are read. Pure apart from the callable."""
    files = sorted((p for p in filter(operator.methodcaller("endswith", IGNORE_FILE), paths)
                    if posixpath.basename(p) == IGNORE_FILE),
                   key=lambda p: tuple(p.split("/")[:-1]))
    rules: list[tuple[str, Iterable[str]]] = [("", DEFAULT_PATTERNS)]
    for path in files:
        domain = posixpath.dirname(path)
        if domain == ".git" or domain.startswith(".git/"):
            continue
        rules.append((domain, patterns(read(path).decode("utf-8", "replace"))))
    return Ignore(rules)
