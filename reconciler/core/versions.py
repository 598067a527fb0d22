"""Release tags, their semver order, and version constraints.

Where it fits: the vocabulary ``selection`` decides with, and what ``validate`` and
the ``Rollout`` model use to check ``versionConstraint``. Pure: strings in, values
out, no I/O. The semantics follow Flux's ``ImagePolicy`` semver policy (Go
Masterminds/semver v3), parsed with the ``semantic_version`` library.

Tags. A release tag must be both a valid OCI tag (``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``)
and a full semantic version ``MAJOR.MINOR.PATCH[-PRERELEASE]``, optionally prefixed
with ``v``. ``Version.tag`` keeps the exact text, because that is what goes into git.
Refused, unlike Masterminds, which coerces them:

- partial versions (``1.2``, ``v1``): such tags usually move (``1.2`` is re-pushed with
  every patch), so deploying one would not pin anything;
- leading zeros (``01.2.3``): they would make two different tags equal in precedence.

Build metadata (``1.2.3+build``) is refused too, since ``+`` is not allowed in an OCI tag.

Order. By semver precedence; two tags of equal precedence (``1.2.3`` and ``v1.2.3``)
are ordered by their text, so every sort is deterministic.

Constraints. Masterminds/Flux syntax: spaces or commas mean AND, ``||`` means OR,
``^``, ``~`` (and ``~>``), ``x``/``X``/``*`` wildcards, hyphen ranges ``1.0.0 - 2.0.0``,
whitespace between operator and version, a ``v`` before any version, ``=>``/``=<``.
``!=`` is not supported. Stable versions follow the usual npm/Masterminds rules.

Prerelease rule. A prerelease version only ever matches an OR-branch of the
constraint in which some comparator itself names a prerelease (``>=1.0.0-0``,
``>=2.0.0-rc.1 <3.0.0``, ``^1.2.3-beta.1``); inside such a branch versions compare by
plain semver precedence. So ``>=1.0.0-0 <2.0.0`` admits ``1.5.0-rc.1`` and also
``2.0.0-rc.1`` (write ``<2.0.0-0`` to exclude the latter). The upper bounds that
``^``, ``~``, wildcards and partial versions imply do exclude the next version's
prereleases, as in Masterminds: ``^1.2.3-beta.1`` refuses ``2.0.0-rc.1`` and
``~1.2.3-rc.1`` refuses ``1.3.0-rc.1``. A constraint that names no
prerelease anywhere never admits one. This is Masterminds v3's per-branch rule, not
npm's (npm only admits prereleases of the very x.y.z a comparator names).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Literal

import semantic_version
from semantic_version.base import Range

from reconciler.errors import InvalidConstraint, InvalidTag

BumpKind = Literal["none", "patch", "minor", "major"]
MaxBump = Literal["patch", "minor", "major"]

OCI_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
OCI_TAG_MAX = 128
_OCI_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_OCI_REST = _OCI_FIRST | {".", "-"}
_PARTIAL = re.compile(r"^[0-9]+(\.[0-9]+)?(-[0-9A-Za-z.-]*)?$")
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
    is the parsed ``semantic_version.Version`` (without the ``v`` prefix).
    """

    tag: str
    semver: semantic_version.Version = field(repr=False)

    @property
    def key(self) -> tuple[Any, str]:
        """Sort key: semver precedence, then the tag text to break ties."""
        return (self.semver, self.tag)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return bool(self.key < other.key)

    @property
    def core(self) -> tuple[int, int, int]:
        return (int(self.semver.major), int(self.semver.minor), int(self.semver.patch))

    @property
    def is_prerelease(self) -> bool:
        return bool(self.semver.prerelease)

    def __str__(self) -> str:
        return self.tag


def parse(tag: str) -> Version:
    """Parse a release tag; raise ``InvalidTag`` with one line saying why not."""
    if not isinstance(tag, str):
        raise InvalidTag(f"{tag!r} is not a tag: expected text, got {type(tag).__name__}")
    problem = _oci_problem(tag)
    if problem is not None:
        raise InvalidTag(f"{_show(tag)} is not a valid OCI tag: {problem}")
    text = tag[1:] if tag.startswith("v") else tag
    try:
        parsed = semantic_version.Version(text)
    except ValueError as error:
        if _PARTIAL.fullmatch(text):
            raise InvalidTag(
                f"{_show(tag)} is a partial version; a release tag needs MAJOR.MINOR.PATCH "
                "(partial tags usually move)"
            ) from None
        why = "leading zero in a number" if "leading zero" in str(error) else (
            "empty prerelease identifier" if "empty identifier" in str(error) else
            "expected MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 1.2.3 or v1.2.3-rc.1")
        raise InvalidTag(f"{_show(tag)} is not a semantic version: {why}") from None
    return Version(tag=tag, semver=parsed)


def is_upgrade(current: Version, candidate: Version) -> bool:
    """Whether ``candidate`` is newer than ``current`` by semver precedence."""
    return bool(candidate.semver > current.semver)


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
    if a_patch != b_patch or current.semver != candidate.semver:
        return "patch"
    return "none"


def within(kind: BumpKind, max_bump: MaxBump) -> bool:
    """Whether a jump of ``kind`` is allowed under ``maxBump: max_bump``."""
    return _BUMP_RANK[kind] <= _BUMP_RANK[max_bump]


# --- constraints -----------------------------------------------------------------

_ALIASES = ((re.compile(r"=>"), ">="), (re.compile(r"=<"), "<="), (re.compile(r"~>"), "~"))
_OP_SPACE = re.compile(r"(<=|>=|<|>|=|\^|~)\s+")
_V_PREFIX = re.compile(r"(^|[\s<>=^~|])v(?=[0-9])")
_BLOCK = semantic_version.NpmSpec.Parser.NPM_SPEC_BLOCK
_HYPHEN = " - "
# An explicit comparator on a full version (``<2.0.0``, ``>=1.2.3-rc.1``, ``1.2.3``).
_FULL_COMPARATOR = re.compile(r"^(<=|>=|<|>|=)?[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$")


@dataclass(frozen=True)
class _Branch:
    """One ``||`` alternative: comparators that must all hold."""

    ranges: tuple[Any, ...]
    names_prerelease: bool

    def allows(self, version: Version) -> bool:
        if version.is_prerelease and not self.names_prerelease:
            return False
        return all(r.match(version.semver) for r in self.ranges)


def _normalise(text: str) -> str:
    """Masterminds spelling to the npm spelling ``NpmSpec`` reads."""
    out = text.strip().replace(",", " ")
    for pattern, replacement in _ALIASES:
        out = pattern.sub(replacement, out)
    out = _OP_SPACE.sub(r"\1", out)
    out = _V_PREFIX.sub(r"\1", out)
    return re.sub(r"\s+", " ", out)


def _comparators(branch: str) -> list[str]:
    """The comparator blocks of one branch, hyphen range expanded; ValueError if bad."""
    if _HYPHEN in branch:
        parts = branch.split(_HYPHEN)
        if len(parts) != 2:
            raise ValueError(f"{branch!r} has more than one hyphen range")
        for part in parts:
            match = _BLOCK.match(part)
            if match is None or match.group("op"):
                raise ValueError(f"{part!r} in a hyphen range must be a bare version")
        return [">=" + parts[0], "<=" + parts[1]]
    blocks = branch.split(" ")
    for block in blocks:
        if block.startswith("!="):
            raise ValueError(f"{block!r}: '!=' is not supported; quarantine the tag instead")
        if not _BLOCK.match(block):
            raise ValueError(
                f"{block!r} is not a comparator (expected e.g. >=1.2.0, ^1.2, ~1.2.3, 1.x)"
            )
    return blocks


def _branch(branch: str) -> _Branch:
    ranges: list[Any] = []
    names_prerelease = False
    for block in _comparators(branch):
        try:
            parsed = semantic_version.NpmSpec.Parser.parse_simple(block)
        except ValueError:
            raise ValueError(
                f"{block!r} is not a valid comparator (a wildcard takes no operator but >=, "
                "a partial version takes no prerelease)"
            ) from None
        # ``^``, ``~``, wildcards and partial versions stand for "this major/minor":
        # the upper bound they imply must not admit a prerelease of the next one
        # (Masterminds: ``^1.2.3-beta.1`` refuses ``2.0.0-rc.1``). An explicit ``<2.0.0``
        # keeps plain precedence, as documented above.
        implied_upper = not _FULL_COMPARATOR.match(block)
        for r in parsed:
            target = r.target
            names_prerelease = names_prerelease or bool(target.prerelease)
            if implied_upper and r.operator == "<" and not target.prerelease:
                target = semantic_version.Version(major=target.major, minor=target.minor,
                                                  patch=target.patch, prerelease=("0",))
            # NpmSpec's own clause tree applies npm's same-x.y.z prerelease rule and
            # truncates prerelease targets for stable versions (so ``<=1.0.0-rc.1``
            # would admit 1.0.0). Re-create every comparator to compare by plain
            # precedence; the per-branch prerelease gate lives in ``_Branch``.
            ranges.append(Range(r.operator, target, prerelease_policy=Range.PRERELEASE_ALWAYS))
    return _Branch(ranges=tuple(ranges), names_prerelease=names_prerelease)


@dataclass(frozen=True)
class Constraint:
    """A parsed ``versionConstraint``. Build with ``Constraint.parse``."""

    text: str
    branches: tuple[_Branch, ...] = field(repr=False, compare=False)

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """Parse Masterminds/Flux range syntax; raise ``InvalidConstraint`` (one line)."""
        if not isinstance(text, str):
            raise InvalidConstraint(f"version constraint {text!r} is not text")
        normalised = _normalise(text)
        if not normalised:
            raise InvalidConstraint(f"version constraint {_show(text)} is empty")
        try:
            parts = [b.strip() for b in normalised.split("||")]
            if not all(parts):
                raise ValueError("an alternative around '||' is empty")
            branches = tuple(_branch(part) for part in parts)
            # Our checks above give the clearer messages; the library still has the
            # last word on the syntax as a whole.
            semantic_version.NpmSpec(normalised)
        except ValueError as error:
            raise InvalidConstraint(
                f"invalid version constraint {_show(text)}: {_one_line(error)}"
            ) from None
        return cls(text=text, branches=branches)

    def allows(self, version: Version) -> bool:
        """Whether ``version`` satisfies the constraint (prerelease rule included)."""
        return any(branch.allows(version) for branch in self.branches)

    @property
    def names_prerelease(self) -> bool:
        """Whether any comparator names a prerelease, i.e. any prerelease could match."""
        return any(branch.names_prerelease for branch in self.branches)

    def __str__(self) -> str:
        return self.text


def _one_line(error: Exception) -> str:
    # Our own messages are one line already; the library's might not be.
    return " ".join(str(error).split())
