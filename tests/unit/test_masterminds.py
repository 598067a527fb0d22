"""Agreement with Masterminds/semver's own test tables, row by row.

Flux's ImagePolicy evaluates ranges with Masterminds/semver v3, so its tests say
what a constraint means. ``data/masterminds_cases.json`` holds their rows (made by
``data/extract_masterminds.py``, which also records why a row does not apply to
Flux). Every applicable row must agree; for every other row the stated reason is
itself checked, so a row cannot be waved away with a reason that is not true.
"""

from __future__ import annotations

import json
import pathlib
from collections import Counter
from typing import Any

import pytest

from reconciler.core import ranges, versions
from reconciler.errors import InvalidConstraint, InvalidTag

DATA = pathlib.Path(__file__).parent / "data" / "masterminds_cases.json"
DOCUMENT: dict[str, Any] = json.loads(DATA.read_text(encoding="utf-8"))
ROWS: list[dict[str, Any]] = DOCUMENT["rows"]
DOCS = pathlib.Path(__file__).parents[2] / "docs" / "selection.md"


def _id(row: dict[str, Any]) -> str:
    location, function, _ = row["origin"].split(" ")
    subject = row.get("constraint", row.get("version"))
    return f"{function}:{location.split(':')[1]}:{subject!r}"


def _rows(applicable: bool) -> list[Any]:
    return [pytest.param(row, id=_id(row)) for row in ROWS
            if (row["not_applicable"] is None) is applicable]


def _tag_is_valid(tag: str) -> bool:
    try:
        versions.parse(tag)
    except InvalidTag:
        return False
    return True


@pytest.mark.parametrize("row", _rows(applicable=True))
def test_applicable_row_agrees(row: dict[str, Any]) -> None:
    kind = row["kind"]
    if kind == "check":
        constraint = versions.Constraint.parse(row["constraint"])
        assert constraint.allows(versions.parse(row["version"])) is row["expected"]
    elif kind == "constraint":
        if not row["valid"]:
            with pytest.raises(InvalidConstraint):
                versions.Constraint.parse(row["constraint"])
            return
        parsed = versions.Constraint.parse(row["constraint"]).parsed
        if "ors" in row:
            assert len(parsed.groups) == row["ors"]
            assert len(parsed.groups[0].comparators) == row["first_count"]
    elif kind == "comparator":
        if not row["valid"]:
            with pytest.raises(InvalidConstraint):
                versions.Constraint.parse(row["constraint"])
            return
        (group,) = versions.Constraint.parse(row["constraint"]).parsed.groups
        (comparator,) = group.comparators
        assert comparator.operator == row["operator"]
        assert comparator.at == versions.parse(row["version"]).semver
    elif kind == "tag":
        assert _tag_is_valid(row["version"]) is row["valid"]
    elif kind == "loose":
        # NewVersion in its default, coercing mode: how a version inside a
        # constraint is read (``=1.2``, ``>=v1``, ``<01.2.3``).
        try:
            ranges.loose(row["version"])
        except ranges.RangeSyntaxError:
            assert not row["valid"]
        else:
            assert row["valid"]
    elif kind == "compare":
        left, right = versions.parse(row["version"]), versions.parse(row["other"])
        assert left.semver.compare(right.semver) == row["expected"]
        assert right.semver.compare(left.semver) == -row["expected"]
    else:
        pytest.fail(f"unknown row kind {kind!r}")


@pytest.mark.parametrize("row", _rows(applicable=False))
def test_reason_for_not_applying_holds(row: dict[str, Any]) -> None:
    reason = row["not_applicable"]
    if reason == "tag":
        # Flux's StrictNewVersion refuses it: it never reaches a range in Flux.
        if row["kind"] == "compare":
            assert not (_tag_is_valid(row["version"]) and _tag_is_valid(row["other"]))
            left, right = ranges.loose(row["version"]), ranges.loose(row["other"])
            assert left.compare(right) == row["expected"]
            return
        assert not _tag_is_valid(row["version"])
        # Still, upstream coerces it with NewVersion; the ranges agree even there.
        parsed = ranges.parse(row["constraint"])
        assert parsed.allows(ranges.loose(row["version"])) is row["expected"]
    elif reason == "build-metadata":
        with pytest.raises(InvalidTag, match="build metadata"):
            versions.parse(row["version"])
    elif reason == "include-prerelease":
        version = versions.parse(row["version"])
        assert version.is_prerelease
        # IncludePrerelease only lifts the per-branch prerelease gate; with the gate
        # lifted by hand, the comparators agree with upstream here too.
        groups = versions.Constraint.parse(row["constraint"]).parsed.groups
        lifted = any(all(c.check(version.semver) for c in g.comparators) for g in groups)
        assert lifted is row["expected"]
    elif reason == "empty-constraint":
        assert row["constraint"] == ""
        with pytest.raises(InvalidConstraint):
            versions.Constraint.parse(row["constraint"])
    elif reason == "v-prefix":
        # Flux drops the v before parsing: the tag stands or falls with the rest.
        assert row["version"].startswith("v")
        assert _tag_is_valid(row["version"]) is _tag_is_valid(row["version"][1:])
    else:
        pytest.fail(f"unknown reason {reason!r}")


def test_figures_in_docs_are_current() -> None:
    applicable = sum(row["not_applicable"] is None for row in ROWS)
    text = DOCS.read_text(encoding="utf-8")
    assert f"{len(ROWS)} rows" in text
    assert f"{applicable} apply to Flux and all {applicable} agree" in text
    assert f"{len(ROWS) - applicable} do not apply" in text
    assert DOCUMENT["commit"] in text
    for reason, count in Counter(r["not_applicable"] for r in ROWS if r["not_applicable"]).items():
        assert f"| `{reason}` | {count} |" in text


def test_table_covers_what_the_issue_names() -> None:
    # The cases issue 10 lists as refused or misread before; a regenerated table
    # that lost them would no longer prove the fix.
    applicable = {row.get("constraint") for row in ROWS if row["not_applicable"] is None}
    for constraint in ["!=4.1", "!=4.x", ">=0-0", ">0.0-0", "<0-z", "~1.1-alpha",
                       "!=4.1-alpha", "*-0", "~0.0.0", "~*", "1.0.0 - 2.0.0 <=2.0.0",
                       "1.0.0 - 2.0.0, <=2.0.0"]:
        assert constraint in applicable, constraint
