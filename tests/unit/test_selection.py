"""Choosing the next release (reconciler.core.selection), as a table of vectors."""

from __future__ import annotations

import itertools
from collections.abc import Collection
from dataclasses import dataclass, field

import pytest

from reconciler.core import selection


@dataclass(frozen=True)
class Case:
    id: str
    current: str | None
    candidates: tuple[str, ...]
    action: selection.Action
    next: str | None = None
    constraint: str | None = None
    max_bump: str = "major"
    wanted: str | None = None
    suspend: bool = False
    allow_prerelease: bool = False
    quarantined: Collection[str] = ()
    gates: Collection[str] | None = None
    # Substrings that must appear in the decision's reasons, each somewhere.
    says: tuple[str, ...] = field(default_factory=tuple)


C = Case
CASES = [
    # --- order: semver precedence, never first-seen or text order -------------------
    C("semver-not-text-order", "1.9.0", ("1.10.0", "1.9.1", "1.2.0"), "release", "1.10.0"),
    C("semver-not-first-seen", "1.0.0", ("1.2.0", "1.10.0", "1.3.0"), "release", "1.10.0"),
    C("release-beats-its-rc", "1.0.0", ("2.0.0-rc.1", "2.0.0"), "release", "2.0.0",
      allow_prerelease=True),
    C("rc10-beats-rc2", "1.0.0", ("2.0.0-rc.2", "2.0.0-rc.10"), "release", "2.0.0-rc.10",
      allow_prerelease=True),
    C("duplicates-collapse", "1.0.0", ("1.1.0", "1.1.0", "1.1.0"), "release", "1.1.0",
      says=("1 eligible candidate",)),
    # --- v prefix: accepted, tag text kept -------------------------------------------
    C("v-prefix-candidate", "1.0.0", ("v1.1.0",), "release", "v1.1.0"),
    C("v-prefix-current", "v1.0.0", ("1.1.0", "v0.9.0"), "release", "1.1.0"),
    C("v-twin-is-not-newer", "1.0.0", ("v1.0.0",), "none", says=("Up to date",)),
    C("v-prefix-in-constraint", "1.0.0", ("1.5.0", "2.0.0"), "release", "1.5.0",
      constraint=">=v1.0.0 <v2.0.0"),
    # --- constraint syntax -----------------------------------------------------------
    C("constraint-spaces", "1.0.0", ("1.5.0", "2.0.0"), "release", "1.5.0",
      constraint=">=1.2.0 <2.0.0"),
    C("constraint-commas", "1.0.0", ("1.5.0", "2.0.0"), "release", "1.5.0",
      constraint=">=1.2.0, <2.0.0"),
    C("constraint-or", "1.0.0", ("1.5.0", "2.5.0", "3.1.0"), "release", "3.1.0",
      constraint="1.x || >=3.0.0"),
    C("constraint-or-excludes-gap", "1.9.0", ("2.5.0",), "blocked",
      constraint="1.x || >=3.0.0", says=("outside versionConstraint '1.x || >=3.0.0'",)),
    C("constraint-caret", "1.2.0", ("1.9.0", "2.0.0"), "release", "1.9.0", constraint="^1.2"),
    C("constraint-caret-zero", "0.2.3", ("0.2.9", "0.3.0"), "release", "0.2.9",
      constraint="^0.2.3"),
    C("constraint-tilde", "1.2.3", ("1.2.9", "1.3.0"), "release", "1.2.9", constraint="~1.2.3"),
    C("constraint-x", "1.0.0", ("1.9.0", "2.0.0"), "release", "1.9.0", constraint="1.x"),
    C("constraint-star", "1.2.0", ("1.2.7", "1.3.0"), "release", "1.2.7", constraint="1.2.*"),
    C("constraint-hyphen", "1.0.0", ("1.5.0", "2.0.0", "2.0.1"), "release", "2.0.0",
      constraint="1.0.0 - 2.0.0"),
    C("constraint-space-after-op", "1.0.0", ("1.1.0", "1.2.0"), "release", "1.2.0",
      constraint=">= 1.2"),
    C("constraint-space-after-op-refuses", "1.0.0", ("1.1.0",), "blocked",
      constraint=">= 1.2", says=("1.1.0: outside versionConstraint '>= 1.2'",)),
    C("constraint-invalid", "1.0.0", ("1.1.0",), "blocked", constraint=">=1.0 banana",
      says=("versionConstraint", "'banana' is not a comparator")),
    C("constraint-empty", "1.0.0", ("1.1.0",), "blocked", constraint=" ",
      says=("is empty",)),
    # --- prerelease rule --------------------------------------------------------------
    C("pre-refused-without-constraint", "1.0.0", ("1.1.0-rc.1",), "blocked",
      says=("1.1.0-rc.1: prerelease, and the policy does not allow prereleases",)),
    C("pre-allowed-by-policy", "1.0.0", ("1.1.0-rc.1", "1.0.1"), "release", "1.1.0-rc.1",
      allow_prerelease=True),
    C("pre-refused-constraint-names-none", "6.5.0", ("6.6.0-rc.1", "6.5.1"), "release", "6.5.1",
      constraint=">=6.0.0",
      says=("6.6.0-rc.1: prerelease, and versionConstraint '>=6.0.0' names no prerelease",)),
    C("pre-constraint-wins-over-policy", "6.5.0", ("6.6.0-rc.1",), "blocked",
      constraint=">=6.0.0", allow_prerelease=True, says=("names no prerelease",)),
    C("pre-admitted-when-named", "1.0.0", ("1.5.0-rc.1", "1.4.0"), "release", "1.5.0-rc.1",
      constraint=">=1.0.0-0 <2.0.0"),
    C("pre-next-major-rc-by-precedence", "1.9.0", ("2.0.0-rc.1",), "release", "2.0.0-rc.1",
      constraint=">=1.0.0-0 <2.0.0"),
    C("pre-next-major-rc-excluded", "1.9.0", ("2.0.0-rc.1", "1.9.1"), "release", "1.9.1",
      constraint=">=1.0.0-0 <2.0.0-0"),
    C("pre-only-in-naming-branch", "1.0.0", ("1.5.0-rc.1", "2.1.0-rc.1"), "release",
      "2.1.0-rc.1", constraint=">=2.0.0-rc.1 <3.0.0 || 1.x"),
    C("pre-current-to-final", "2.0.0-rc.2", ("2.0.0", "2.0.0-rc.3"), "release", "2.0.0"),
    # --- maxBump ----------------------------------------------------------------------
    C("maxbump-patch", "1.2.3", ("1.2.9", "1.3.0", "2.0.0"), "release", "1.2.9",
      max_bump="patch", says=("Skipped 2.0.0: a major bump from 1.2.3; maxBump is patch",
                              "Skipped 1.3.0: a minor bump")),
    C("maxbump-patch-allows-rc-of-same", "1.2.3-rc.1", ("1.2.3",), "release", "1.2.3",
      max_bump="patch"),
    C("maxbump-minor", "1.2.3", ("1.9.0", "2.0.0"), "release", "1.9.0", max_bump="minor"),
    C("maxbump-minor-zero-x", "0.1.0", ("0.2.0", "1.0.0"), "release", "0.2.0",
      max_bump="minor"),
    C("maxbump-major", "1.2.3", ("1.9.0", "3.0.0"), "release", "3.0.0", max_bump="major"),
    C("maxbump-all-refused", "6.5.0", ("7.0.0",), "blocked", max_bump="minor",
      says=("7.0.0: a major bump from 6.5.0; maxBump is minor", "all refused")),
    # --- quarantine -------------------------------------------------------------------
    C("quarantine-skips-to-next", "1.0.0", ("1.2.0", "1.1.0"), "release", "1.1.0",
      quarantined={"1.2.0"}, says=("Skipped 1.2.0: quarantined",)),
    C("quarantine-all", "1.0.0", ("1.1.0",), "blocked", quarantined={"1.1.0"},
      says=("1.1.0: quarantined",)),
    C("quarantine-is-by-text", "1.0.0", ("v1.1.0",), "release", "v1.1.0",
      quarantined={"1.1.0"}),
    # --- gates ------------------------------------------------------------------------
    C("gates-allow-one", "1.0.0", ("1.1.0", "1.2.0"), "release", "1.1.0", gates={"1.1.0"},
      says=("Skipped 1.2.0: not among the versions the rollout gates allow",)),
    C("gates-empty-blocks", "1.0.0", ("1.1.0",), "blocked", gates=set(),
      says=("gates allow",)),
    C("gates-none-means-no-gate", "1.0.0", ("1.1.0",), "release", "1.1.0", gates=None),
    C("gates-older-allowed-is-not-newer", "1.1.0", ("1.0.0",), "none", gates={"1.0.0"}),
    # --- wantedVersion ----------------------------------------------------------------
    C("wanted-up", "1.0.0", ("1.1.0",), "release", "1.5.0", wanted="1.5.0",
      says=("wantedVersion pins 1.5.0",)),
    C("wanted-down", "2.0.0", ("2.1.0",), "release", "1.0.0", wanted="1.0.0",
      says=("1.0.0 is a downgrade from 2.0.0",)),
    C("wanted-quarantined", "1.0.0", (), "release", "1.1.0", wanted="1.1.0",
      quarantined={"1.1.0"}, says=("quarantined; deploying it anyway",)),
    C("wanted-ignores-constraint-bump-gates", "1.0.0", (), "release", "3.0.0-rc.1",
      wanted="3.0.0-rc.1", constraint="1.x", max_bump="patch", gates=set()),
    C("wanted-equals-current", "1.5.0", ("2.0.0",), "none", wanted="1.5.0",
      says=("already deployed",)),
    C("wanted-v-twin-is-rewritten", "1.5.0", (), "release", "v1.5.0", wanted="v1.5.0"),
    C("wanted-not-semver", "1.0.0", ("1.1.0",), "blocked", wanted="latest",
      says=("wantedVersion cannot be deployed", "'latest' is not a semantic version")),
    C("wanted-partial", "1.0.0", (), "blocked", wanted="1.2", says=("partial version",)),
    C("wanted-build-metadata", "1.0.0", (), "blocked", wanted="1.2.0+b", says=("'+'",)),
    C("wanted-newline", "1.0.0", (), "blocked", wanted="1.2.0\nx", says=("'\\n'",)),
    C("wanted-with-bad-constraint", "1.0.0", (), "release", "1.1.0", wanted="1.1.0",
      constraint="banana"),
    # --- suspend ----------------------------------------------------------------------
    C("suspend", "1.0.0", ("1.1.0",), "blocked", suspend=True, says=("suspended",)),
    C("suspend-beats-wanted", "1.0.0", (), "blocked", wanted="1.1.0", suspend=True,
      says=("suspended",)),
    # --- invalid tags are never chosen ------------------------------------------------
    C("oci-build-metadata", "1.0.0", ("1.0.1+build", "1.0.1"), "release", "1.0.1",
      says=("Ignored '1.0.1+build'",)),
    C("oci-space", "1.0.0", ("1.0.2 ", "1.0.1"), "release", "1.0.1"),
    C("oci-newline", "1.0.0", ("1.0.2\n", "1.0.1"), "release", "1.0.1",
      says=("'1.0.2\\n'",)),
    C("oci-too-long", "1.0.0", ("1.0.2-" + "a" * 123, "1.0.1"), "release", "1.0.1"),
    C("oci-max-length-ok", "1.0.0", ("1.0.2-" + "a" * 122,), "release", "1.0.2-" + "a" * 122,
      allow_prerelease=True),
    C("oci-quote-and-shell", "1.0.0", ('"1.0.2"', "1.0.2;rm", "$(1.0.2)"), "none",
      says=("not a valid semver OCI tag",)),
    C("semver-latest", "1.0.0", ("latest", "1.0.1"), "release", "1.0.1"),
    C("semver-four-parts", "1.0.0", ("1.2.3.4",), "none", says=("Ignored '1.2.3.4'",)),
    C("semver-only-invalid-no-current", None, ("latest", "main"), "none",
      says=("No valid release candidate",)),
    # --- up to date / all refused / unknown current -------------------------------------
    C("up-to-date", "2.0.0", ("1.0.0", "2.0.0"), "none", says=("Up to date",)),
    C("no-candidates", "2.0.0", (), "none", says=("No release candidates",)),
    C("all-refused-mixed", "1.0.0", ("2.0.0", "1.1.0-rc.1", "1.0.1"), "blocked",
      max_bump="minor", quarantined={"1.0.1"},
      says=("3 newer candidates exist, all refused", "2.0.0: a major bump",
            "1.1.0-rc.1: prerelease", "1.0.1: quarantined")),
    C("current-none", None, ("1.0.0", "3.0.0"), "release", "3.0.0", max_bump="patch",
      says=("No current version is known, so maxBump does not apply",)),
    C("current-unparseable", "latest", ("1.0.0", "3.0.0"), "release", "3.0.0",
      max_bump="patch", says=("current version cannot be compared", "'latest'")),
    C("current-none-still-filters", None, ("3.0.0", "2.0.0-rc.1"), "release", "3.0.0",
      constraint="<3.0.0 || >=3.0.0", quarantined=set()),
    C("current-none-quarantine", None, ("3.0.0", "2.0.0"), "release", "2.0.0",
      quarantined={"3.0.0"}),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_choose(case: Case) -> None:
    policy = selection.Policy(
        constraint=case.constraint,
        max_bump=case.max_bump,  # type: ignore[arg-type]
        wanted_version=case.wanted,
        suspend=case.suspend,
        allow_prerelease=case.allow_prerelease,
    )
    decision = selection.choose(current=case.current, candidates=case.candidates,
                                policy=policy, quarantined=case.quarantined, gates=case.gates)
    assert (decision.action, decision.next) == (case.action, case.next), decision.reasons
    assert decision.current == case.current
    assert decision.reasons, "every decision says why"
    text = "\n".join(decision.reasons)
    for phrase in case.says:
        assert phrase in text, f"{phrase!r} not in reasons:\n{text}"
    for reason in decision.reasons:
        assert "\n" not in reason, f"multi-line reason {reason!r}"
    for verdict in decision.verdicts:
        assert "\n" not in verdict.reason, f"multi-line verdict {verdict.reason!r}"
    accepted_next = [v.tag for v in decision.verdicts if "selected" in v.reason]
    if decision.action == "release" and case.wanted is None:
        assert accepted_next == [decision.next]


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


def test_suspend_gives_no_verdicts() -> None:
    decision = selection.choose(current="1.0.0", candidates=["1.1.0"],
                                policy=selection.Policy(None, suspend=True))
    assert decision.verdicts == ()


def test_output_does_not_depend_on_input_order() -> None:
    tags = ["1.10.0", "1.9.0", "2.0.0", "latest", "1.9.1-rc.1", "v1.9.0", "1.0.0 "]
    policy = selection.Policy(">=1.0.0", max_bump="minor")
    decisions = {
        selection.choose(current="1.9.0", candidates=order, policy=policy,
                         quarantined={"2.0.0"})
        for order in itertools.permutations(tags)
    }
    assert len(decisions) == 1
    (decision,) = decisions
    assert decision.next == "1.10.0"
    # Verdicts: valid tags highest first, then invalid tags in text order.
    assert [v.tag for v in decision.verdicts] == [
        "2.0.0", "1.10.0", "1.9.1-rc.1", "v1.9.0", "1.9.0", "1.0.0 ", "latest",
    ]


def test_every_candidate_gets_one_verdict() -> None:
    decision = selection.choose(current="1.0.0", candidates=["1.1.0", "1.1.0", "x", "0.9.0"],
                                policy=selection.Policy(None))
    assert sorted(v.tag for v in decision.verdicts) == ["0.9.0", "1.1.0", "x"]
    assert {v.tag: v.accepted for v in decision.verdicts} == {
        "1.1.0": True, "0.9.0": False, "x": False,
    }


def test_long_refusal_lists_are_capped() -> None:
    tags = [f"2.{i}.0" for i in range(20)]
    decision = selection.choose(current="1.0.0", candidates=tags,
                                policy=selection.Policy(None, max_bump="minor"))
    assert decision.action == "blocked"
    assert len(decision.reasons) <= 8
    assert any("more" in r for r in decision.reasons)
    assert len(decision.verdicts) == 20
