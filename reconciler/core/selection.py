"""Which release a rollout should run next, and why.

Where it fits: step 2 of the release loop (DESIGN.md). The engine gathers the
current tag (from the config repository), the candidate tags (from the ImagePolicy,
remembered across restarts), the quarantined tags and the versions the gates allow,
calls ``choose`` once, and acts on the ``Decision``; ``plan`` prints the same
``Decision``. Pure: plain data in, plain data out.

Rules, in order:

1. ``suspend`` blocks everything.
2. ``wantedVersion`` is a pin: that exact tag, even a downgrade, even quarantined,
   even if no candidate has it, as long as it is a valid semver OCI tag. It is
   compared with the current tag by text, because the text is what goes into git.
3. Otherwise every distinct candidate gets a ``Verdict``. A candidate is refused when
   it is not a valid semver OCI tag, not newer than the current version, quarantined,
   outside ``versionConstraint`` (or a prerelease the policy does not admit), beyond
   ``maxBump``, not among the versions the gates allow, or not yet promoted from the
   environments ``spec.promotion.from`` names (``core.promotion``); the first failing
   rule in that order is the verdict's reason. The highest accepted candidate, by semver
   precedence, is released.
4. Nothing accepted: ``none`` when no valid candidate is newer than the current
   version (up to date), ``blocked`` when newer ones exist but all were refused.

Without a known, parseable current version there is no maxBump rule and every valid
candidate counts as newer. Quarantine and gates match tags by exact text.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from reconciler.core import versions
from reconciler.errors import InvalidConstraint, InvalidTag

Action = Literal["release", "none", "blocked"]

# How many refused candidates a blocked decision spells out before summarising.
_MAX_LISTED = 5


@dataclass(frozen=True)
class Policy:
    """The parts of a Rollout spec (after presets) that decide selection."""

    constraint: str | None
    max_bump: versions.MaxBump = "major"
    wanted_version: str | None = None
    suspend: bool = False
    # Admit prereleases when no constraint is set; with a constraint, the
    # constraint's own prerelease rule decides (see versions).
    allow_prerelease: bool = False


@dataclass(frozen=True)
class Verdict:
    """What selection thought of one candidate tag.

    ``tag`` is the candidate's raw text; a refused one may hold anything (a newline),
    so print it with repr(). ``reason`` is always safe to print as is.
    """

    tag: str
    accepted: bool
    reason: str


@dataclass(frozen=True)
class Decision:
    """What to do next for one rollout, with reasons a person can read."""

    action: Action
    current: str | None
    next: str | None
    reasons: tuple[str, ...]
    verdicts: tuple[Verdict, ...] = ()


def choose(
    *,
    current: str | None,
    candidates: Iterable[str],
    policy: Policy,
    quarantined: Collection[str] = (),
    gates: Collection[str] | None = None,
    promotion: Mapping[str, str] | None = None,
    declined: Mapping[str, str] | None = None,
) -> Decision:
    """Decide the next release from plain data; see the module docstring for the rules.

    ``gates`` is the set of versions the rollout's gates allow, or ``None`` when no
    gate restricts versions. ``promotion`` maps the candidates that wait for an
    upstream environment to why ("waiting for staging"); ``declined`` the releases a
    person declined (a pull request closed unmerged) to why: like quarantined ones,
    never picked automatically. Output order is deterministic whatever the input order.
    """
    if policy.suspend:
        return Decision("blocked", current, None,
                        ("The rollout is suspended (spec.suspend); nothing is automatic.",))
    if policy.wanted_version is not None:
        return _pinned(current=current, wanted=policy.wanted_version, quarantined=quarantined)
    constraint: versions.Constraint | None = None
    if policy.constraint is not None:
        try:
            constraint = versions.Constraint.parse(policy.constraint)
        except InvalidConstraint as error:
            return Decision("blocked", current, None, (f"versionConstraint: {error}.",))
    return _automatic(current=current, candidates=candidates, policy=policy,
                      constraint=constraint, quarantined=quarantined, gates=gates,
                      promotion=promotion or {}, declined=declined or {})


def _pinned(*, current: str | None, wanted: str, quarantined: Collection[str]) -> Decision:
    try:
        pin = versions.parse(wanted)
    except InvalidTag as error:
        return Decision("blocked", current, None,
                        (f"wantedVersion cannot be deployed: {error}.",))
    if wanted == current:
        return Decision("none", current, None,
                        (f"wantedVersion pins {wanted}, which is already deployed.",),
                        (Verdict(wanted, True, f"{wanted}: pinned by wantedVersion"),))
    reasons = [f"wantedVersion pins {wanted}; automatic selection is off while it is set."]
    current_version = _parse_or_none(current)
    if current_version is not None and versions.is_upgrade(pin, current_version):
        reasons.append(f"{wanted} is a downgrade from {current}; deploying it anyway.")
    if wanted in quarantined:
        reasons.append(f"{wanted} is quarantined; deploying it anyway because it is pinned.")
    return Decision("release", current, wanted, tuple(reasons),
                    (Verdict(wanted, True, f"{wanted}: pinned by wantedVersion"),))


def _parse_or_none(tag: str | None) -> versions.Version | None:
    if tag is None:
        return None
    try:
        return versions.parse(tag)
    except InvalidTag:
        return None


def _automatic(
    *,
    current: str | None,
    candidates: Iterable[str],
    policy: Policy,
    constraint: versions.Constraint | None,
    quarantined: Collection[str],
    gates: Collection[str] | None,
    promotion: Mapping[str, str],
    declined: Mapping[str, str],
) -> Decision:
    notes: list[str] = []
    current_version: versions.Version | None = None
    if current is None:
        notes.append("No current version is known, so maxBump does not apply "
                     "and every candidate counts as newer.")
    else:
        try:
            current_version = versions.parse(current)
        except InvalidTag as error:
            notes.append(f"The current version cannot be compared ({error}), so maxBump "
                         "does not apply and every candidate counts as newer.")

    valid: list[versions.Version] = []
    invalid: list[Verdict] = []
    for tag in sorted(set(candidates)):
        try:
            valid.append(versions.parse(tag))
        except InvalidTag as error:
            invalid.append(Verdict(tag, False, str(error)))
    valid.sort(reverse=True)

    newer_refused: list[tuple[versions.Version, Verdict]] = []
    verdicts: list[Verdict] = []
    eligible: list[versions.Version] = []
    for version in valid:
        newer = current_version is None or versions.is_upgrade(current_version, version)
        why = _refusal(version, current_version, policy, constraint, quarantined, gates) \
            or declined.get(version.tag) or promotion.get(version.tag)
        if why is None:
            eligible.append(version)
            verdicts.append(Verdict(version.tag, True, f"{version.tag}: eligible"))
            continue
        verdict = Verdict(version.tag, False, f"{version.tag}: {why}")
        verdicts.append(verdict)
        if newer:
            newer_refused.append((version, verdict))
    verdicts.extend(invalid)

    if invalid:
        names = ", ".join(repr(v.tag[:64]) for v in invalid[:_MAX_LISTED])
        more = f" and {len(invalid) - _MAX_LISTED} more" if len(invalid) > _MAX_LISTED else ""
        notes.append(f"Ignored {names}{more}: not a valid semver OCI tag.")

    if eligible:
        chosen = eligible[0]  # valid is sorted highest first
        verdicts = [Verdict(v.tag, True, f"{v.tag}: selected, the highest eligible candidate")
                    if v.tag == chosen.tag else v for v in verdicts]
        skipped = [verdict.reason for version, verdict in newer_refused if version > chosen]
        headline = (f"Release {chosen.tag}, the highest of "
                    f"{_count(len(eligible), 'eligible candidate')}.")
        return Decision("release", current, chosen.tag,
                        (headline, *_listed(skipped, "Skipped"), *notes),
                        tuple(verdicts))

    if newer_refused:
        headline = (f"Blocked: {_count(len(newer_refused), 'newer candidate')} "
                    f"{'exists' if len(newer_refused) == 1 else 'exist'}, all refused.")
        return Decision("blocked", current, None,
                        (headline, *_listed([v.reason for _, v in newer_refused], "Refused"),
                         *notes), tuple(verdicts))

    if not valid and not invalid:
        headline = "No release candidates yet."
    elif current_version is not None:
        headline = f"Up to date: no candidate is newer than {current_version.tag}."
    else:
        headline = "No valid release candidate."
    return Decision("none", current, None, (headline, *notes), tuple(verdicts))


def _refusal(
    version: versions.Version,
    current: versions.Version | None,
    policy: Policy,
    constraint: versions.Constraint | None,
    quarantined: Collection[str],
    gates: Collection[str] | None,
) -> str | None:
    """Why ``version`` may not be released automatically, or None if it may."""
    if current is not None and not versions.is_upgrade(current, version):
        if version.tag == current.tag:
            return "the current version"
        return f"not newer than the current {current.tag}"
    if version.tag in quarantined:
        return "quarantined after a failed release"
    if constraint is not None:
        if version.is_prerelease and not constraint.names_prerelease:
            return f"prerelease, and versionConstraint {constraint.text!r} names no prerelease"
        if not constraint.allows(version):
            return f"outside versionConstraint {constraint.text!r}"
    elif version.is_prerelease and not policy.allow_prerelease:
        return "prerelease, and the policy does not allow prereleases"
    if current is not None:
        kind = versions.bump(current, version)
        if not versions.within(kind, policy.max_bump):
            return f"a {kind} bump from {current.tag}; maxBump is {policy.max_bump}"
    if gates is not None and version.tag not in gates:
        return "not among the versions the rollout gates allow"
    return None


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _listed(reasons: list[str], label: str) -> list[str]:
    """One reason per line, capped so a long tag list cannot flood the output."""
    shown = [f"{label} {reason}." for reason in reasons[:_MAX_LISTED]]
    if len(reasons) > _MAX_LISTED:
        shown.append(f"...and {len(reasons) - _MAX_LISTED} more (see the verdicts).")
    return shown
