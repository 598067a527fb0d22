"""Label selectors: Kubernetes semantics for dicts and the string form, both ways."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core import selectors
from reconciler.errors import InvalidSelector

WEB = {"app": "podinfo", "tier": "web"}


@pytest.mark.parametrize(("selector", "labels", "expected"), [
    ({}, WEB, True),
    ({}, {}, True),
    ({"matchLabels": {"app": "podinfo"}}, WEB, True),
    ({"matchLabels": {"app": "podinfo", "tier": "db"}}, WEB, False),
    ({"matchLabels": {"app": "podinfo"}}, {}, False),
    ({"matchLabels": {"empty": ""}}, {"empty": ""}, True),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["web", "db"]}]},
     WEB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]}, WEB, False),
    ({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, WEB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]},
     WEB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]},
     WEB, False),
    # NotIn matches objects that lack the label altogether.
    ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, WEB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, WEB, True),
    ({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, WEB, False),
    ({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, WEB, True),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, WEB, False),
    # matchLabels and matchExpressions are ANDed.
    ({"matchLabels": {"app": "podinfo"},
      "matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]}, WEB, False),
    ({"matchLabels": {"app": "podinfo"},
      "matchExpressions": [{"key": "tier", "operator": "Exists"}]}, WEB, True),
])
def test_matches(selector: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    assert selectors.matches(selector, labels) is expected


def test_missing_labels_are_no_labels() -> None:
    assert selectors.matches({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]},
                             None)
    assert not selectors.matches({"matchLabels": {"a": "b"}}, None)


@pytest.mark.parametrize(("selector", "complaint"), [
    ({"matchExpressions": [{"key": "a", "operator": "Equals", "values": ["b"]}]}, "operator"),
    ({"matchExpressions": [{"key": "a", "operator": "In"}]}, "needs at least one value"),
    ({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]}, "at least one"),
    ({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["b"]}]}, "no values"),
    ({"matchExpressions": [{"operator": "Exists"}]}, "key"),
    ({"matchExpressions": {"key": "a"}}, "must be a list"),
    ({"matchLabels": ["a"]}, "must be an object"),
    ({"matchLabels": {"a": 1}}, "must be a string"),
    ({"matchLabel": {"a": "b"}}, "unknown label selector field"),
    ("app=podinfo", "must be an object"),
])
def test_malformed_selectors_are_refused(selector: Any, complaint: str) -> None:
    with pytest.raises(InvalidSelector, match=complaint):
        selectors.matches(selector, WEB)


@pytest.mark.parametrize(("text", "expected"), [
    ("", {}),
    ("  ", {}),
    ("app=podinfo", {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["podinfo"]}]}),
    ("app==podinfo", {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["podinfo"]}]}),
    ("app!=podinfo", {"matchExpressions": [
        {"key": "app", "operator": "NotIn", "values": ["podinfo"]}]}),
    ("tier in (web, db)", {"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["web", "db"]}]}),
    ("tier notin (db)", {"matchExpressions": [
        {"key": "tier", "operator": "NotIn", "values": ["db"]}]}),
    ("kuberik.com/rollout", {"matchExpressions": [
        {"key": "kuberik.com/rollout", "operator": "Exists"}]}),
    ("!canary", {"matchExpressions": [{"key": "canary", "operator": "DoesNotExist"}]}),
    ("app=podinfo, tier in (web),!canary,version", {"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["podinfo"]},
        {"key": "tier", "operator": "In", "values": ["web"]},
        {"key": "canary", "operator": "DoesNotExist"},
        {"key": "version", "operator": "Exists"}]}),
    ("empty=", {"matchExpressions": [{"key": "empty", "operator": "In", "values": [""]}]}),
    # Kubernetes accepts empty values inside a set too.
    ("a in (x,,y)", {"matchExpressions": [
        {"key": "a", "operator": "In", "values": ["x", "", "y"]}]}),
])
def test_parse(text: str, expected: dict[str, Any]) -> None:
    assert selectors.parse(text) == expected


@pytest.mark.parametrize("text", [
    "app=", "a=b,", "a in (x", "a notin x", "=b", "a=b c", "a=(b)", "a b", ",a",
    "a in (x;y)", "a=b=c",
])
def test_parse_refuses_garbage(text: str) -> None:
    if text == "app=":  # an empty value is legal: the control case for this table
        assert selectors.parse(text)
        return
    with pytest.raises(InvalidSelector):
        selectors.parse(text)


@pytest.mark.parametrize("text", [
    "app=podinfo", "app!=podinfo", "tier in (web,db)", "tier notin (db,cache)", "canary",
    "!canary", "app=podinfo,tier in (web,db),!canary",
])
def test_render_round_trips(text: str) -> None:
    assert selectors.render(selectors.parse(text)) == text


def test_render_match_labels() -> None:
    assert selectors.render({"matchLabels": {"app": "podinfo", "tier": "web"}}) == (
        "app=podinfo,tier=web")


@pytest.mark.parametrize(("text", "labels", "expected"), [
    ("app=podinfo,tier in (web,db)", WEB, True),
    ("app=podinfo,tier notin (web)", WEB, False),
    ("!tier", WEB, False),
    ("zone!=eu", WEB, True),
])
def test_parsed_selectors_evaluate_like_kubernetes(text: str, labels: dict[str, str],
                                                   expected: bool) -> None:
    assert selectors.matches(selectors.parse(text), labels) is expected
