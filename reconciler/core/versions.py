"""Release tags, their semver order, and version constraints.

Where it fits: the vocabulary ``selection`` decides with, and what ``validate`` and
the ``Rollout`` model use to check ``versionConstraint``. Pure: strings in, values
out, no I/O. The semantics are Flux's ``ImagePolicy`` semver policy, which uses Go's
Masterminds/semver v3; ``ranges`` re-implements that library's constraint grammar,
comparators and precedence, and is checked against its own test tables.

Tags. Flux parses a tag with ``StrictNewVersion`` after dropping one leading ``v``:
a full ``MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]``, numbers without leading zeros
and within uint64. We parse the same way, and also require a valid OCI tag
(``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``), which rules out build metadata (``+``).
``Version.tag`` keeps the exact text, because that is what goes into git. Partial
versions (``1.2``, ``v1``) are refused, as Flux refuses them: such tags usually move.

Order. By semver precedence (Masterminds' ``Compare``); two tags of equal
precedence (``1.2.3`` and ``v1.2.3``) are ordered by their text, so every sort is
deterministic.

Constraints. Masterminds syntax, read as ``NewConstraint`` reads it (see
``ranges``): spaces or commas mean AND, ``||`` means OR; operators ``=``, ``!=``,
``>``, ``<``, ``>=``, ``<=`` (and ``=>``, ``=<``), ``~`` (``~>``), ``^``; partial
versions and ``x``/``X``/``*`` wildcards name ranges (``!=4.x`` excludes all of
4.x, ``>1.2`` means 1.3.0 or newer); hyphen ranges ``1.0.0 - 2.0.0`` anywhere;
``~0.0.0`` and ``~*`` admit everything, as in Masterminds (not npm's ``<0.1.0``).

Prerelease rule. A prerelease version only ever matches an OR-branch in which some
comparator names a prerelease (``>=1.0.0-0``, ``>=2.0.0-rc.1 <3.0.0``,
``^1.2.3-beta.1``, ``>=0-0``); inside such a branch versions compare by plain
semver precedence, so ``>=1.0.0-0 <2.0.0`` admits ``2.0.0-rc.1`` (write
``<2.0.0-0`` to exclude it), while ``^1.2.3-beta.1`` refuses ``2.0.0-rc.1``
because ``^`` demands the same major. A constraint that names no prerelease never
admits one.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Literal

from reconciler.core import ranges
from reconciler.errors import InvalidConstraint, InvalidTag

BumpKind = Literal["none", "patch", "minor", "major"]
MaxBump = Literal["patch", "minor", "major"]

OCI_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
OCI_TAG_MAX = 128
_OCI_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_OCI_REST = _OCI_FIRST | {".", "-"}
_PARTIAL = re.compile(r"[0-9]+(\.[0-9]+)?(-[0-9A-Za-z.-]*)?")
_ALNUM = re.compile(r"[0-9A-Za-z-]+")
_NOT_SEMVER = "expected MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 1.2.3 or v1.2.3-rc.1"
_BUMP_RANK: dict[BumpKind, int] = {"none": 0, "patch": 1, "minor": 2, "major": 3}


def is_valid_oci_tag(tag: str) -> bool:
    """Whether ``tag`` may be written as an OCI image tag."""
    # fullmatch: ``$`` alone would accept a trailing newline.
    return isinstance(tag, str) and OCI_TAG.fullmatch(tag) is not None


def _show(text: str) -> str:
    """repr() of ``text``, shortened so a pathological input keeps messages short."""
    return repr(text) if len(text) <= 64 else repr(text[:60]) + "..."


def _oci_problem(tag: str) -> str | None:
    if not tag:
        return "it is empty"
    if len(tag) > OCI_TAG_MAX:
        return f"it is {len(tag)} characters long; an OCI tag has at most {OCI_TAG_MAX}"
    for position, char in enumerate(tag):
        allowed = _OCI_FIRST if position == 0 else _OCI_REST
        if char in allowed:
            continue
        if char == "+":
            return "'+' (build metadata) is not allowed in an OCI tag"
        if position == 0:
            return f"an OCI tag must start with a letter, digit or '_', not {char!r}"
        return (f"{char!r} at position {position + 1} is not allowed in an OCI tag "
                "(only letters, digits, '_', '.', '-')")
    return None


@functools.total_ordering
@dataclass(frozen=True)
class Version:
    """A release tag that is valid semver and a valid OCI tag. Build with ``parse``.

    ``tag`` is the original text, exactly as it must be written to git; ``semver``
    is the parsed version (without the ``v`` prefix).
    """

    tag: str
    semver: ranges.Semver = field(repr=False)

    @functools.cached_property
    def key(self) -> tuple[tuple[int, int, int, tuple[tuple[int, int, str], ...]], str]:
        """Sort key: semver precedence, then the tag text to break ties."""
        return (self.semver.key, self.tag)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self.key < other.key

    @property
    def core(self) -> tuple[int, int, int]:
        return (self.semver.major, self.semver.minor, self.semver.patch)

    @property
    def is_prerelease(self) -> bool:
        return bool(self.semver.prerelease)

    def __str__(self) -> str:
        return self.tag


def _strict(text: str) -> ranges.Semver | str:
    """``text`` parsed as Masterminds' ``StrictNewVersion`` does, or why it is refused."""
    parts = text.split(".", 2)
    if len(parts) != 3:
        return _NOT_SEMVER
    numbers, plus, build = parts[2].partition("+")
    if plus and not all(piece and _ALNUM.fullmatch(piece) for piece in build.split(".")):
        return "invalid build metadata"
    patch, dash, prerelease = numbers.partition("-")
    if dash:
        if any(piece and not _ALNUM.fullmatch(piece) for piece in prerelease.split(".")):
            return _NOT_SEMVER
        if (problem := ranges.prerelease_problem(prerelease)) is not None:
            return problem
    fields = (parts[0], parts[1], patch)
    if not all(f.isascii() and f.isdigit() for f in fields):
        return _NOT_SEMVER
    if any(len(f) > 1 and f[0] == "0" for f in fields):
        return "leading zero in a number"
    major, minor, patch_number = (int(f) for f in fields)
    if max(major, minor, patch_number) > ranges.UINT64_MAX:
        return "a number larger than 2^64-1"  # Go keeps them in uint64
    return ranges.Semver(major, minor, patch_number, prerelease)


def parse(tag: str) -> Version:
    """Parse a release tag; raise ``InvalidTag`` with one line saying why not."""
    if not isinstance(tag, str):
        raise InvalidTag(f"{tag!r} is not a tag: expected text, got {type(tag).__name__}")
    problem = _oci_problem(tag)
    if problem is not None:
        raise InvalidTag(f"{_show(tag)} is not a valid OCI tag: {problem}")
    text = tag[1:] if tag.startswith("v") else tag  # Flux drops one leading v, no more
    parsed = _strict(text)
    if isinstance(parsed, ranges.Semver):
        return Version(tag=tag, semver=parsed)
    if _PARTIAL.fullmatch(text):
        raise InvalidTag(
            f"{_show(tag)} is a partial version; a release tag needs MAJOR.MINOR.PATCH "
            "(partial tags usually move)"
        )
    raise InvalidTag(f"{_show(tag)} is not a semantic version: {parsed}")


def is_upgrade(current: Version, candidate: Version) -> bool:
    """Whether ``candidate`` is newer than ``current`` by semver precedence."""
    return candidate.semver.compare(current.semver) > 0


def bump(current: Version, candidate: Version) -> BumpKind:
    """How far ``candidate`` is from ``current``, in either direction.

    The highest semver field that differs: ``major``, ``minor``, ``patch``; a
    different prerelease of the same x.y.z counts as ``patch``; ``none`` when the
    two have equal precedence. 0.x versions get no special treatment (0.1 -> 0.2
    is ``minor``). Direction is ``is_upgrade``'s business, not this function's.
    """
    (a_major, a_minor, a_patch), (b_major, b_minor, b_patch) = current.core, candidate.core
    if a_major != b_major:
        return "major"
    if a_minor != b_minor:
        return "minor"
    if a_patch != b_patch or current.semver.compare(candidate.semver) != 0:
        return "patch"
    return "none"


def within(kind: BumpKind, max_bump: MaxBump) -> bool:
    """Whether a jump of ``kind`` is allowed under ``maxBump: max_bump``."""
    return _BUMP_RANK[kind] <= _BUMP_RANK[max_bump]


# --- constraints -----------------------------------------------------------------


@dataclass(frozen=True)
class Constraint:
    """A parsed ``versionConstraint``. Build with ``Constraint.parse``."""

    text: str
    parsed: ranges.Ranges = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """Parse Masterminds/Flux range syntax; raise ``InvalidConstraint`` (one line)."""
        if not isinstance(text, str):
            raise InvalidConstraint(f"version constraint {text!r} is not text")
        if not text.strip():
            raise InvalidConstraint(f"version constraint {_show(text)} is empty")
        try:
            parsed = ranges.parse(text)
        except ranges.RangeSyntaxError as error:
            raise InvalidConstraint(
                f"invalid version constraint {_show(text)}: {_one_line(error)}"
            ) from None
        return cls(text=text, parsed=parsed)

    def allows(self, version: Version) -> bool:
        """Whether ``version`` satisfies the constraint (prerelease rule included)."""
        return self.parsed.allows(version.semver)

    @property
    def names_prerelease(self) -> bool:
        """Whether any comparator names a prerelease, i.e. any prerelease could match."""
        return self.parsed.names_prerelease

    def __str__(self) -> str:
        return self.text


def _one_line(error: Exception) -> str:
    # A quoted piece of the constraint may hold a newline or a tab.
    return " ".join(str(error).split())
