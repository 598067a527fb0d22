"""Release tags, their order, and version constraints (reconciler.core.versions)."""

from __future__ import annotations

import pytest

from reconciler.core import versions
from reconciler.errors import InvalidConstraint, InvalidTag, PermanentError


def v(tag: str) -> versions.Version:
    return versions.parse(tag)


# --- tags -------------------------------------------------------------------------


@pytest.mark.parametrize("tag", ["1.2.3", "v1.2.3", "0.0.0", "1.0.0-rc.1", "1.0.0-0",
                                 "v2.0.0-beta-2.x.7", "10.20.30", "1.0.0-alpha.beta",
                                 "1.2.3-alpha.-1", "1.2.18446744073709551615"])
def test_parse_accepts_release_tags_and_keeps_the_text(tag: str) -> None:
    parsed = versions.parse(tag)
    assert parsed.tag == tag
    assert str(parsed) == tag
    assert versions.is_valid_oci_tag(tag)


@pytest.mark.parametrize(
    ("tag", "why"),
    [
        ("", "it is empty"),
        ("a" * 129, "129 characters long"),
        ("1.0.0+build", "'+' (build metadata)"),
        ("1.0.0+build.5", "'+' (build metadata)"),
        ("1.0 0", "' ' at position 4"),
        ("1.0.0\n", "'\\n' at position 6"),
        ("1.0.0\nEvil: x", "'\\n' at position 6"),
        ('"1.0.0"', "must start with a letter, digit or '_', not '\"'"),
        ("'1.0.0'", "must start with"),
        ("1.0.0#x", "'#' at position 6"),
        ("1.0.0;rm", "';' at position 6"),
        ("1.0.0$(id)", "'$' at position 6"),
        ("1.0.0`id`", "'`' at position 6"),
        ("1.0.0é", "'é' at position 6"),
        ("\u0661.\u0662.\u0663", "must start with"),  # Arabic-Indic digits
        ("1.0.0\u2028", "'\\u2028' at position 6"),
        ("-1.0.0", "not '-'"),
        (".1.0.0", "not '.'"),
        ("latest", "is not a semantic version"),
        ("1.2.3.4", "is not a semantic version"),
        ("v", "is not a semantic version"),
        ("V1.2.3", "is not a semantic version"),
        ("vv1.2.3", "is not a semantic version"),
        ("1.2.3-", "is not a semantic version"),
        ("01.2.3", "leading zero"),
        ("1.0.0-01", "leading zero"),
        ("1.0.0-rc..1", "empty prerelease identifier"),
        ("1.2", "partial version"),
        ("v1", "partial version"),
        ("1.2-rc.1", "partial version"),
        ("1_2_3", "is not a semantic version"),
        ("1.0.0-alpha_beta", "is not a semantic version"),
        ("1.2.18446744073709551616", "larger than 2^64-1"),  # Go keeps numbers in uint64
    ],
)
def test_parse_refuses_with_a_one_line_reason(tag: str, why: str) -> None:
    with pytest.raises(InvalidTag) as caught:
        versions.parse(tag)
    message = str(caught.value)
    assert why in message
    assert "\n" not in message and "\r" not in message and "\u2028" not in message
    # The tag is shown with repr(), shortened when huge.
    assert message.startswith(repr(tag[:60]))
    assert isinstance(caught.value, PermanentError)


def test_parse_refuses_non_text() -> None:
    with pytest.raises(InvalidTag, match="expected text"):
        versions.parse(1.2)  # type: ignore[arg-type]


def test_long_tags_are_shortened_in_messages() -> None:
    with pytest.raises(InvalidTag) as caught:
        versions.parse("1" * 5000)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("tag", "valid"),
    [("a", True), ("_x", True), ("A" * 128, True), ("A" * 129, False), ("", False),
     (".a", False), ("a+b", False), ("a\n", False), ("a b", False), ("1.0.0-rc_1", True)],
)
def test_is_valid_oci_tag(tag: str, valid: bool) -> None:
    assert versions.is_valid_oci_tag(tag) is valid


def test_oci_tag_regex_is_the_documented_one() -> None:
    assert versions.OCI_TAG.pattern == r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$"


# --- order ------------------------------------------------------------------------


def test_order_is_semver_precedence_not_text() -> None:
    tags = ["1.9.0", "1.10.0", "1.2.0", "1.10.0-rc.1", "1.10.0-rc.10", "1.10.0-rc.2",
            "1.10.0-alpha", "0.99.99", "10.0.0"]
    assert [x.tag for x in sorted(v(t) for t in tags)] == [
        "0.99.99", "1.2.0", "1.9.0", "1.10.0-alpha", "1.10.0-rc.1", "1.10.0-rc.2",
        "1.10.0-rc.10", "1.10.0", "10.0.0",
    ]


def test_prerelease_identifiers_compare_as_masterminds_does() -> None:
    # Numbers first, by value; beyond uint64 an identifier is text (Go's ParseUint
    # fails), so it sorts after every number and by bytes against other text.
    order = ["1.0.0-2", "1.0.0-10", "1.0.0-18446744073709551615",
             "1.0.0-18446744073709551616", "1.0.0-9999999999999999999999", "1.0.0-a",
             "1.0.0-a.1", "1.0.0-a.b", "1.0.0"]
    assert [x.tag for x in sorted(v(t) for t in reversed(order))] == order


def test_equal_precedence_is_broken_by_text() -> None:
    assert v("1.2.3") < v("v1.2.3")
    assert max([v("v1.2.3"), v("1.2.3")]).tag == "v1.2.3"
    assert max([v("1.2.3"), v("v1.2.3")]).tag == "v1.2.3"
    assert v("1.2.3") != v("v1.2.3")
    assert v("1.2.3") == v("1.2.3")
    assert v("1.2.3") <= v("1.2.3")
    assert len({v("1.2.3"), v("1.2.3"), v("v1.2.3")}) == 2


def test_comparison_with_other_types_is_refused() -> None:
    with pytest.raises(TypeError):
        _ = v("1.0.0") < "2.0.0"


@pytest.mark.parametrize(
    ("current", "candidate", "kind", "upgrade"),
    [
        ("1.2.3", "1.2.4", "patch", True),
        ("1.2.3", "1.3.0", "minor", True),
        ("1.2.3", "2.0.0", "major", True),
        ("1.2.3", "1.2.3", "none", False),
        ("1.2.3", "v1.2.3", "none", False),
        ("0.1.0", "0.2.0", "minor", True),  # no special case for 0.x
        ("0.1.0", "0.1.1", "patch", True),
        ("1.2.3-rc.1", "1.2.3", "patch", True),
        ("1.2.3-rc.1", "1.2.3-rc.2", "patch", True),
        ("1.2.3", "1.2.4-rc.1", "patch", True),
        ("1.2.3", "2.0.0-rc.1", "major", True),
        ("2.0.0", "1.9.9", "major", False),  # a distance, in either direction
        ("1.2.3", "1.2.2", "patch", False),
    ],
)
def test_bump_and_is_upgrade(current: str, candidate: str, kind: str, upgrade: bool) -> None:
    assert versions.bump(v(current), v(candidate)) == kind
    assert versions.is_upgrade(v(current), v(candidate)) is upgrade


@pytest.mark.parametrize(
    ("kind", "max_bump", "ok"),
    [("none", "patch", True), ("patch", "patch", True), ("minor", "patch", False),
     ("minor", "minor", True), ("major", "minor", False), ("major", "major", True)],
)
def test_within(kind: versions.BumpKind, max_bump: versions.MaxBump, ok: bool) -> None:
    assert versions.within(kind, max_bump) is ok


# --- constraints ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "allowed", "refused"),
    [
        (">=1.2.0 <2.0.0", ["1.2.0", "1.9.9"], ["1.1.9", "2.0.0"]),
        (">=1.2.0, <2.0.0", ["1.2.0", "1.9.9"], ["1.1.9", "2.0.0"]),
        (">=1.2.0,<2.0.0", ["1.2.0"], ["2.0.0"]),
        (">= 1.2", ["1.2.0", "5.0.0"], ["1.1.9"]),
        (">=  v1.2.0  <  v2", ["1.2.0"], ["2.0.0"]),
        ("=>1.2 =<1.4", ["1.2.0", "1.4.9"], ["1.5.0"]),
        ("^1.2", ["1.2.0", "1.99.0"], ["1.1.0", "2.0.0"]),
        ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0"]),
        ("^0.0.3", ["0.0.3"], ["0.0.4"]),
        ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
        ("~1.2", ["1.2.0", "1.2.9"], ["1.3.0"]),
        ("~>1.2", ["1.2.0"], ["1.3.0"]),
        ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
        ("1.x", ["1.0.0", "1.99.99"], ["0.9.0", "2.0.0"]),
        ("1.X", ["1.0.0"], ["2.0.0"]),
        ("1.2.*", ["1.2.0", "1.2.7"], ["1.3.0"]),
        ("v1.2.x", ["1.2.0"], ["1.3.0"]),
        ("*", ["0.0.1", "99.0.0"], []),
        ("x", ["1.0.0"], []),
        ("1.2", ["1.2.0", "1.2.9"], ["1.3.0"]),
        ("1.2.3", ["1.2.3", "v1.2.3"], ["1.2.4"]),
        ("=1.2.3", ["1.2.3"], ["1.2.4"]),
        (">1.2", ["1.3.0"], ["1.2.9"]),
        ("<=1.2", ["1.2.9"], ["1.3.0"]),
        ("1.0.0 - 2.0.0", ["1.0.0", "2.0.0"], ["0.9.9", "2.0.1"]),
        ("1.0 - 2.3", ["1.0.0", "2.3.9"], ["2.4.0"]),
        ("v1.0.0 - v2.0.0", ["2.0.0"], ["2.0.1"]),
        ("1.x || >=3.0.0", ["1.5.0", "3.0.0"], ["2.0.0"]),
        ("1.x||3.x", ["1.5.0", "3.1.0"], ["2.0.0"]),
        ("<1.0.0 || 1.0.0 - 1.2.0 || ^3", ["0.1.0", "1.1.0", "3.9.0"], ["1.3.0", "4.0.0"]),
        (">=1.0.0\n<2.0.0", ["1.0.0"], ["2.0.0"]),
        # != (Masterminds, so Flux): a full version excludes one, a partial one or a
        # wildcard the whole range it names.
        (">=1.0.0, !=1.3.4", ["1.3.3", "1.3.5"], ["1.3.4", "0.9.0"]),
        ("!=4.1", ["4.0.9", "4.2.0"], ["4.1.0", "4.1.7"]),
        ("!=4.x", ["3.9.0", "5.0.0"], ["4.0.0", "4.9.9"]),
        ("!=4.1.x", ["4.2.0"], ["4.1.3"]),
        # Masterminds' tilde on 0.0.0 (and on a bare wildcard) has no upper bound.
        ("~0.0.0", ["0.0.0", "0.5.0", "7.0.0"], []),
        ("~*", ["7.0.0"], []),
        ("~x", ["7.0.0"], []),
        # Wildcards after an operator, as Masterminds reads them.
        (">*", ["0.0.1", "3.0.0"], ["0.0.0"]),
        (">=*", ["0.0.0"], []),
        ("<*", [], ["0.0.0", "1.0.0"]),
        ("<=*", ["0.0.0", "0.0.9"], ["0.1.0"]),
        ("^*", ["0.0.0"], ["0.0.1", "1.0.0"]),  # not "any", whatever one would expect
        ("^x", ["0.0.0"], ["1.0.0"]),
        # A hyphen range beside other comparators of the same branch.
        ("1.0.0 - 2.0.0 <=1.5.0", ["1.5.0"], ["1.6.0"]),
        ("1.0.0 - 2.0.0, !=1.5.0", ["1.4.0"], ["1.5.0", "2.1.0"]),
        ("0.1 - 0.2 1.0 - 2.0", [], ["0.2.0", "1.5.0"]),
    ],
)
def test_constraint_syntax(text: str, allowed: list[str], refused: list[str]) -> None:
    constraint = versions.Constraint.parse(text)
    assert constraint.text == text
    for tag in allowed:
        assert constraint.allows(v(tag)), f"{text!r} should allow {tag}"
    for tag in refused:
        assert not constraint.allows(v(tag)), f"{text!r} should refuse {tag}"


@pytest.mark.parametrize(
    ("text", "allowed", "refused", "names"),
    [
        # No prerelease named anywhere: never a prerelease.
        (">=6.0.0", [], ["6.6.0-rc.1"], False),
        ("*", [], ["1.0.0-rc.1"], False),
        ("1.x", [], ["1.5.0-rc.1"], False),
        # Named: plain precedence inside that branch.
        (">=1.0.0-0 <2.0.0", ["1.0.0-0", "1.5.0-rc.1", "2.0.0-rc.1", "1.5.0"],
         ["0.9.0-rc.1", "2.0.0"], True),
        (">=1.0.0-0 <2.0.0-0", ["1.5.0-rc.1"], ["2.0.0-rc.1"], True),
        (">=2.0.0-rc.1 <3.0.0", ["2.0.0-rc.1", "2.0.0-rc.2", "2.1.0-beta"],
         ["2.0.0-beta", "1.0.0-rc.1"], True),
        ("^1.2.3-beta.1", ["1.2.3-beta.2", "1.9.0-rc.1", "1.2.3"], ["1.2.3-alpha"], True),
        # <=X-pre by precedence: the final X is newer than its prereleases.
        ("<=1.0.0-rc.1", ["1.0.0-rc.1", "1.0.0-beta", "0.9.0"], ["1.0.0", "1.0.0-rc.2"], True),
        # Only the branch that names a prerelease admits one.
        (">=2.0.0-rc.1 <3.0.0 || 1.x", ["2.1.0-rc.1", "1.5.0"], ["1.5.0-rc.1"], True),
        # A partial version or a wildcard may carry the prerelease that opens the gate.
        (">=0-0", ["0.0.0-alpha", "0.0.1-alpha", "1.0.0"], [], True),
        (">0.0-0", ["0.1.0-rc.1"], ["0.0.1-alpha"], True),
        ("<0-z", ["0.0.0-alpha"], ["0.0.0"], True),
        ("*-0", ["1.2.3-alpha.1", "1.2.3"], [], True),
        ("~1.1-alpha", ["1.1.1-beta", "1.1.0"], ["1.2.0-beta", "1.0.9"], True),
        ("!=4.1-alpha", ["4.1.0", "4.1.1-beta"], ["4.1.1-alpha", "4.1.0-alpha"], True),
    ],
)
def test_constraint_prerelease_rule(
    text: str, allowed: list[str], refused: list[str], names: bool
) -> None:
    constraint = versions.Constraint.parse(text)
    assert constraint.names_prerelease is names
    for tag in allowed:
        assert constraint.allows(v(tag)), f"{text!r} should allow {tag}"
    for tag in refused:
        assert not constraint.allows(v(tag)), f"{text!r} should refuse {tag}"


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        ("\n", "is empty"),
        (",", "',' is not a comparator"),
        ("||", "alternative around '||' is empty"),
        ("1.x ||", "alternative around '||' is empty"),
        ("latest", "'latest' is not a comparator"),
        (">=1.0.0 <2.0.0 banana", "'banana' is not a comparator"),
        (">=1.0.0\nbanana", "'banana' is not a comparator"),
        ("1.0.0 - 2.0.0 - 3.0.0", "'-' is not a comparator"),
        (">=1.0 - 2.0", "a hyphen range takes bare versions"),
        ("1.2.3.4", "unexpected '.4' after '1.2.3'"),
        (">=1.0.0<2.0.0", "unexpected '<2.0.0' after '>=1.0.0'"),
        (">=1.2.3-01", "leading zero"),
        (">=99999999999999999999", "larger than a version number can be"),
        ("1.x|2.x", "OR is written '||'"),
        ("!1.2.3", "'!1.2.3' is not a comparator"),
        ("1.0.0 -2.0.0", "'-2.0.0' is not a comparator"),
        # Masterminds' rewrite takes the space before a hyphen range with it, so the
        # range cannot follow another comparator after a space (after a comma it can).
        ("<=2.0.0 1.0.0 - 2.0.0", "goes first or after a comma"),
        (">>1.0.0", "is not a comparator"),
        ("1.0.0 && 2.0.0", "is not a comparator"),
    ],
)
def test_constraint_errors_are_one_line_and_name_the_text(text: str, why: str) -> None:
    with pytest.raises(InvalidConstraint) as caught:
        versions.Constraint.parse(text)
    message = str(caught.value)
    assert why in message
    assert repr(text) in message
    assert "\n" not in message


def test_constraint_messages_stay_short_on_huge_pieces() -> None:
    for text in ["x" * 1000, "1.2.3." + "4" * 1000, ">=1.0.0 " + "v" * 1000]:
        with pytest.raises(InvalidConstraint) as caught:
            versions.Constraint.parse(text)
        assert len(str(caught.value)) < 300


def test_constraint_length_is_capped() -> None:
    # Our one deviation from Masterminds: Python's regexes are quadratic on some
    # hostile inputs; 1024 characters keep the worst case in milliseconds.
    versions.Constraint.parse(">=1.0.0 " * 128)
    with pytest.raises(InvalidConstraint, match="1032 characters long; at most 1024"):
        versions.Constraint.parse(">=1.0.0 " * 129)


def test_hyphen_range_after_a_comma_is_read() -> None:
    constraint = versions.Constraint.parse("<=1.5.0, 1.0.0 - 2.0.0")
    assert constraint.allows(v("1.5.0")) and not constraint.allows(v("1.6.0"))


def test_constraint_equality_is_by_text() -> None:
    assert versions.Constraint.parse("1.x") == versions.Constraint.parse("1.x")
    assert str(versions.Constraint.parse(">= 1.2")) == ">= 1.2"


@pytest.mark.parametrize(
    ("text", "tag", "allowed"),
    [
        # The upper bound ^, ~ and wildcards imply excludes the next version's
        # prereleases (Masterminds); an explicit <X.Y.Z keeps plain precedence.
        ("^1.2.3-beta.1", "2.0.0-rc.1", False),
        ("^1.2.3-beta.1", "1.9.0-rc.1", True),
        ("~1.2.3-rc.1", "1.3.0-rc.1", False),
        ("~1.2.3-rc.1", "1.2.9-rc.1", True),
        (">=1.0.0-0 <2.0.0", "2.0.0-rc.1", True),
        (">=1.0.0-0 <2.0.0-0", "2.0.0-rc.1", False),
    ],
)
def test_implied_upper_bounds_exclude_next_prereleases(text: str, tag: str,
                                                       allowed: bool) -> None:
    assert versions.Constraint.parse(text).allows(versions.parse(tag)) is allowed
