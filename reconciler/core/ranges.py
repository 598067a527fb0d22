"""Semver precedence and version ranges, evaluated the way Flux evaluates them.

Where it fits: the engine behind ``versions.Constraint`` and the order of
``versions.Version``. Flux's ``ImagePolicy`` semver policy calls Go's
Masterminds/semver v3 (``NewConstraint`` then ``Constraints.Check``); this module
is a small re-implementation of that library's grammar and comparator semantics,
checked row by row against its own test tables
(``tests/unit/data/masterminds_cases.json``, see docs/selection.md). Pure: text
in, values out, no I/O.

The grammar, as Masterminds reads a constraint:

- every ``A - B`` (spaces around the dash required) is first rewritten to
  ``>= A, <= B``, anywhere in the text, so it may sit beside other comparators;
- ``||`` separates alternatives (OR); inside one, comparators are separated by
  whitespace or a comma (AND);
- a comparator is an operator (none, ``=``, ``!=``, ``>``, ``<``, ``>=``, ``=>``,
  ``<=``, ``=<``, ``~``, ``~>``, ``^``), optional whitespace, and a version that
  may be partial (``1``, ``1.2``), use ``x``/``X``/``*`` wildcards, carry a ``v``,
  a prerelease (``1.2-rc.1``) and build metadata (ignored, as in precedence).

A partial or wildcard version is "dirty": the missing parts become 0 and the
operator then reads it as the range it names (``>1.2`` means "newer than every
1.2.x", ``!=4.x`` excludes all of 4.x, ``<=1.1`` admits 1.1.9).

Prerelease rule (Masterminds v3): a version with a prerelease can only satisfy
an OR-alternative in which some comparator's version carries a prerelease; inside
that alternative, comparisons use plain semver precedence.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass

# Masterminds keeps version numbers in uint64; a larger one is a parse error there,
# and a larger numeric prerelease identifier compares as text.
UINT64_MAX = 2**64 - 1
# Far above any real range (the longest in Flux's docs is under 40 characters).
MAX_LENGTH = 1024

# Go's regexp ``\s``: ASCII only, and no vertical tab (unlike Python's ``\s``).
_WS = " \t\n\f\r"
_WS_CLASS = r"[ \t\n\f\r]"
_IDENT = r"[0-9A-Za-z-]+"
# A version as a constraint may spell it. The ``|`` inside the classes is
# deliberate: Masterminds' pattern admits it (a slip in its character class), so a
# stray ``|`` reaches the version parser and fails there, or is dropped after a
# wildcard exactly as upstream drops it. Mirroring the pattern keeps both outcomes.
_CONSTRAINT_VERSION = (
    rf"v?([0-9|xX*]+)(\.[0-9|xX*]+)?(\.[0-9|xX*]+)?"
    rf"(?:-({_IDENT}(?:\.{_IDENT})*))?(?:\+({_IDENT}(?:\.{_IDENT})*))?"
)
_CONSTRAINT_VERSION_RE = re.compile(_CONSTRAINT_VERSION)
_BARE = re.sub(r"\((?!\?)", "(?:", _CONSTRAINT_VERSION)
_HYPHEN_RANGE = re.compile(rf"{_WS_CLASS}*({_BARE}){_WS_CLASS}+-{_WS_CLASS}+({_BARE}){_WS_CLASS}*")
_SPACED_DASH = re.compile(rf"{_WS_CLASS}-{_WS_CLASS}")
_LOOSE = re.compile(
    rf"v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?"
    rf"(?:-({_IDENT}(?:\.{_IDENT})*))?(?:\+({_IDENT}(?:\.{_IDENT})*))?"
)
_OPERATOR_CHARS = frozenset("=!<>~^")
# Spellings to the one meaning each has.
_OPERATORS = {"": "=", "=": "=", "!=": "!=", ">": ">", "<": "<", ">=": ">=", "=>": ">=",
              "<=": "<=", "=<": "<=", "~": "~", "~>": "~", "^": "^"}
_WILDCARDS = frozenset({"x", "X", "*"})


def _quote(text: str) -> str:
    """repr() of a piece of the constraint, shortened so messages stay one short line."""
    return repr(text) if len(text) <= 40 else repr(text[:36]) + "..."


class RangeSyntaxError(ValueError):
    """A constraint Masterminds' ``NewConstraint`` would refuse; the message is one line."""


@dataclass(frozen=True)
class Semver:
    """A parsed version: numbers and prerelease (``""`` when none), no build metadata."""

    major: int
    minor: int
    patch: int
    prerelease: str = ""

    @functools.cached_property  # sorting compares each version many times
    def key(self) -> tuple[int, int, int, tuple[tuple[int, int, str], ...]]:
        """Sort key equal to Masterminds' precedence (``Version.Compare``).

        Prerelease identifiers compare numerically when they are uint64 numbers, as
        text otherwise, numbers first; a shorter list of equal identifiers first; a
        release after all of its prereleases.
        """
        if not self.prerelease:
            return (self.major, self.minor, self.patch, (_RELEASE,))
        return (self.major, self.minor, self.patch,
                tuple(_identifier_key(part) for part in self.prerelease.split(".")))

    def compare(self, other: Semver) -> int:
        """-1, 0 or 1, as Masterminds' ``Compare``."""
        mine, theirs = self.key, other.key
        return (mine > theirs) - (mine < theirs)


# Sorts after every identifier key below, so a release follows its prereleases.
_RELEASE = (2, 0, "")


def _identifier_key(part: str) -> tuple[int, int, str]:
    if part.isascii() and part.isdigit() and int(part) <= UINT64_MAX:
        return (0, int(part), "")
    return (1, 0, part)


def _number(text: str) -> int:
    value = int(text)
    if value > UINT64_MAX:
        raise RangeSyntaxError(f"{_quote(text)} is larger than a version number can be (2^64-1)")
    return value


def prerelease_problem(prerelease: str) -> str | None:
    """Why a prerelease is invalid in Masterminds (empty or zero-led numeric part), if it is."""
    for part in prerelease.split("."):
        if not part:
            return "empty prerelease identifier"
        if part.isdigit() and len(part) > 1 and part[0] == "0":
            return "leading zero in a number"
    return None


def loose(text: str) -> Semver:
    """A version as ``NewVersion`` coerces it (``1``, ``v1.2``, ``01.2.3``, ``1.2.3+m``)."""
    match = _LOOSE.fullmatch(text)
    if match is None:
        raise RangeSyntaxError(f"{_quote(text)} is not a version")
    major, minor, patch, prerelease = match.group(1, 2, 3, 4)
    if prerelease and (problem := prerelease_problem(prerelease)):
        raise RangeSyntaxError(f"{_quote(text)}: {problem}")
    return Semver(_number(major), _number(minor or "0"), _number(patch or "0"), prerelease or "")


# --- comparators --------------------------------------------------------------------


@dataclass(frozen=True)
class Comparator:
    """One operator and version; ``dirty`` flags say which parts were wildcards or absent."""

    text: str
    operator: str
    at: Semver
    dirty: bool = False
    minor_dirty: bool = False
    patch_dirty: bool = False

    def check(self, version: Semver) -> bool:
        """Whether ``version`` passes, prerelease gate aside (``Group`` applies it)."""
        return _CHECKS[self.operator](version, self)


def _equal(v: Semver, c: Comparator) -> bool:
    # A wildcard or partial version without operator stands for its whole range.
    return _tilde(v, c) if c.dirty else v.compare(c.at) == 0


def _not_equal(v: Semver, c: Comparator) -> bool:
    if c.dirty:
        if v.major != c.at.major:
            return True
        if c.minor_dirty:
            return False
        if v.minor != c.at.minor:
            return True
        if c.patch_dirty:
            # ``!=4.1-alpha`` excludes the 4.1.x versions with exactly that prerelease.
            return v.prerelease != c.at.prerelease
        if v.patch != c.at.patch:
            return True
    return v.compare(c.at) != 0


def _greater(v: Semver, c: Comparator) -> bool:
    if c.dirty:
        if v.major != c.at.major:
            return v.major > c.at.major
        if c.minor_dirty:
            return False  # ``>1`` needs 2.0.0 or more
        if c.patch_dirty:
            return v.minor > c.at.minor  # ``>1.1`` needs 1.2.0 or more
    return v.compare(c.at) > 0


def _less(v: Semver, c: Comparator) -> bool:
    return v.compare(c.at) < 0


def _greater_equal(v: Semver, c: Comparator) -> bool:
    return v.compare(c.at) >= 0


def _less_equal(v: Semver, c: Comparator) -> bool:
    if not c.dirty:
        return v.compare(c.at) <= 0
    # ``<=1.1`` admits every 1.1.x; ``<=1`` every 1.x.y. Prereleases play no part.
    if v.major != c.at.major:
        return v.major < c.at.major
    return c.minor_dirty or v.minor <= c.at.minor


def _tilde(v: Semver, c: Comparator) -> bool:
    if v.compare(c.at) < 0:
        return False
    # Masterminds reads ``~0.0.0`` (and ``~*``, ``*``) as ``>=0.0.0``, not npm's ``<0.1.0``.
    if (c.at.major, c.at.minor, c.at.patch) == (0, 0, 0) and not (c.minor_dirty or c.patch_dirty):
        return True
    if v.major != c.at.major:
        return False
    return c.minor_dirty or v.minor == c.at.minor


def _caret(v: Semver, c: Comparator) -> bool:
    if v.compare(c.at) < 0:
        return False
    if c.at.major > 0 or c.minor_dirty:
        return v.major == c.at.major
    if v.major > 0:
        return False
    if c.at.minor > 0 or c.patch_dirty:
        return v.minor == c.at.minor
    if v.minor > 0:
        return False
    # ``^0.0.3`` is 0.0.3 only; ``^*`` lands here too and so admits 0.0.0 only
    # (Masterminds' comment says "any", its code says otherwise; Flux runs the code).
    return v.patch == c.at.patch


_CHECKS: dict[str, Callable[[Semver, Comparator], bool]] = {
    "=": _equal, "!=": _not_equal, ">": _greater, "<": _less, ">=": _greater_equal,
    "<=": _less_equal, "~": _tilde, "^": _caret,
}


def _comparator(operator: str, match: re.Match[str]) -> Comparator:
    major, minor, patch, prerelease = match.group(1, 2, 3, 4)
    suffix = f"-{prerelease}" if prerelease else ""
    text = f"{operator}{match.group(0)}"
    # The first wildcard or missing part decides; whatever follows it is dropped.
    if major in _WILDCARDS:
        spelled, flags = f"0.0.0{suffix}", (True, False, False)
    elif minor is None or minor[1:] in _WILDCARDS:
        spelled, flags = f"{major}.0.0{suffix}", (True, True, False)
    elif patch is None or patch[1:] in _WILDCARDS:
        spelled, flags = f"{major}{minor}.0{suffix}", (True, False, True)
    else:
        spelled, flags = match.group(0), (False, False, False)
    try:
        at = loose(spelled)
    except RangeSyntaxError as error:
        hint = "; OR is written '||'" if "|" in text else ""
        raise RangeSyntaxError(
            f"{_quote(text)} does not hold a valid version ({error}{hint})"
        ) from None
    return Comparator(text=text, operator=_OPERATORS[operator], at=at,
                      dirty=flags[0], minor_dirty=flags[1], patch_dirty=flags[2])


# --- groups and the whole constraint ----------------------------------------------------


@dataclass(frozen=True)
class Group:
    """One ``||`` alternative: comparators that must all hold."""

    comparators: tuple[Comparator, ...]

    @property
    def names_prerelease(self) -> bool:
        return any(c.at.prerelease for c in self.comparators)

    def allows(self, version: Semver) -> bool:
        if version.prerelease and not self.names_prerelease:
            return False
        return all(c.check(version) for c in self.comparators)


@dataclass(frozen=True)
class Ranges:
    """A parsed constraint: OR of ``Group``s. Build with ``parse``."""

    groups: tuple[Group, ...]

    def allows(self, version: Semver) -> bool:
        return any(group.allows(version) for group in self.groups)

    @property
    def names_prerelease(self) -> bool:
        return any(group.names_prerelease for group in self.groups)


def _skip_space(text: str, at: int) -> int:
    while at < len(text) and text[at] in _WS:
        at += 1
    return at


def _word(text: str, at: int) -> str:
    """The piece of ``text`` starting at ``at``, up to whitespace or a comma, for messages."""
    end = at
    while end < len(text) and text[end] not in _WS and text[end] != ",":
        end += 1
    return text[at:end] or text[at:at + 1]


def _group(segment: str) -> Group:
    """Comparators of one alternative, with the separators Masterminds allows between them."""
    comparators: list[Comparator] = []
    at = _skip_space(segment, 0)
    if at == len(segment):
        raise RangeSyntaxError("an alternative around '||' is empty")
    while True:
        start = at
        while at < len(segment) and segment[at] in _OPERATOR_CHARS:
            at += 1
        operator = segment[start:at]
        version = _CONSTRAINT_VERSION_RE.match(segment, _skip_space(segment, at))
        if operator not in _OPERATORS or version is None:
            raise RangeSyntaxError(
                f"{_quote(_word(segment, start))} is not a comparator "
                "(expected e.g. >=1.2.0, !=1.3.4, ^1.2, ~1.2.3, 1.x)"
            )
        comparators.append(_comparator(operator, version))
        at = _skip_space(segment, version.end())
        if at == len(segment):
            return Group(tuple(comparators))
        if segment[at] == ",":
            at = _skip_space(segment, at + 1)
        elif at == version.end():
            raise RangeSyntaxError(
                f"unexpected {_quote(_word(segment, at))} after "
                f"{_quote(segment[start:at].strip())} "
                "(separate comparators with a space or a comma)"
            )


def _expand_hyphens(text: str) -> str:
    # Masterminds rewrites on the whole text before splitting on '||', replacing the
    # first occurrence of each match's text in turn; doing the same keeps its odd cases.
    if _SPACED_DASH.search(text) is None:
        return text  # no range; spares the quadratic scan below (Go's RE2 has none)
    out = text
    for match in _HYPHEN_RANGE.finditer(text):
        out = out.replace(match.group(0), f">= {match.group(1)}, <= {match.group(2)} ", 1)
    return out


def parse(text: str) -> Ranges:
    """Parse a constraint as ``NewConstraint`` does; raise ``RangeSyntaxError`` (one line).

    One deviation: text longer than ``MAX_LENGTH`` is refused. Python's backtracking
    regexes take quadratic time on some hostile inputs where Go's take linear, and a
    ``versionConstraint`` is read on every reconcile.
    """
    if len(text) > MAX_LENGTH:
        raise RangeSyntaxError(f"it is {len(text)} characters long; at most {MAX_LENGTH}")
    expanded = _expand_hyphens(text)
    try:
        return Ranges(tuple(_group(segment) for segment in expanded.split("||")))
    except RangeSyntaxError as error:
        if expanded == text:
            raise
        # The piece quoted may come from the rewrite; say so, or it looks invented.
        raise RangeSyntaxError(
            f"{error}, after reading each 'A - B' as '>= A, <= B' the way Flux does "
            "(a hyphen range takes bare versions and goes first or after a comma)"
        ) from None
