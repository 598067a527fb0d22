"""Kubernetes label selectors: evaluate, parse and render them, without a cluster.

Where it fits: the informer stores (``engine.informers``) and the daemon filter
HealthChecks with a Rollout's ``healthCheckSelector`` locally, the cluster adapter
renders a selector into the ``labelSelector`` query parameter, and the API emulator
parses that parameter back. All three agree because they share this module.

A selector is the JSON form of ``metav1.LabelSelector``::

    {"matchLabels": {"app": "podinfo"},
     "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}

The string form is the one ``kubectl -l`` and the API accept: ``a=b``, ``a==b``,
``a!=b``, ``a in (x,y)``, ``a notin (x)``, ``a`` and ``!a``, joined by commas.

Semantics follow Kubernetes: every requirement must hold; ``{}`` matches every
object; ``NotIn`` and ``!=`` also match objects without the label. What a *missing*
selector means (Kubernetes: a null selector matches nothing) is the caller's call.

Pure: dicts and strings in, booleans, dicts and strings out. Malformed input
raises ``reconciler.errors.InvalidSelector``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

from reconciler.errors import InvalidSelector

__all__ = ["LabelSelector", "Requirement", "matches", "parse", "render", "requirements"]

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")

# A label key: an optional DNS-subdomain prefix and a name; values may be empty.
_KEY = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*", re.ASCII)
_EQUALITY = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*(?=,|$)", re.ASCII)
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*(?=,|$)", re.ASCII)
_VALUE_ONLY = re.compile(rf"^{_VALUE}$", re.ASCII)


class Requirement(TypedDict):
    """One ``matchExpressions`` entry."""

    key: str
    operator: str
    values: NotRequired[list[str]]


class LabelSelector(TypedDict, total=False):
    """``metav1.LabelSelector`` as JSON."""

    matchLabels: dict[str, str]
    matchExpressions: list[Requirement]


def requirements(selector: Mapping[str, Any]) -> list[Requirement]:
    """Every requirement of ``selector`` as an expression (``matchLabels`` become ``In``).

    Validates the shape: unknown operators, ``In``/``NotIn`` without values, or
    ``Exists``/``DoesNotExist`` with values raise ``InvalidSelector``.
    """
    if not isinstance(selector, Mapping):
        raise InvalidSelector(f"a label selector must be an object, not {_kind(selector)}")
    unknown = sorted(set(selector) - {"matchLabels", "matchExpressions"})
    if unknown:
        raise InvalidSelector(f"unknown label selector field(s): {', '.join(unknown)}")
    result: list[Requirement] = []
    labels = selector.get("matchLabels") or {}
    if not isinstance(labels, Mapping):
        raise InvalidSelector(f"matchLabels must be an object, not {_kind(labels)}")
    for key, value in labels.items():
        if not isinstance(value, str):
            raise InvalidSelector(f"matchLabels.{key} must be a string, not {_kind(value)}")
        result.append({"key": str(key), "operator": "In", "values": [value]})
    expressions = selector.get("matchExpressions") or []
    if not isinstance(expressions, list):
        raise InvalidSelector(f"matchExpressions must be a list, not {_kind(expressions)}")
    for i, expr in enumerate(expressions):
        result.append(_requirement(expr, f"matchExpressions[{i}]"))
    return result


def _requirement(expr: Any, where: str) -> Requirement:
    if not isinstance(expr, Mapping):
        raise InvalidSelector(f"{where} must be an object, not {_kind(expr)}")
    key, operator, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
    if not isinstance(key, str) or not key:
        raise InvalidSelector(f"{where}.key must be a non-empty string")
    if operator not in OPERATORS:
        raise InvalidSelector(f"{where}.operator must be one of {', '.join(OPERATORS)}, "
                              f"not {operator!r}")
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidSelector(f"{where}.values must be a list of strings")
    if operator in ("In", "NotIn") and not values:
        raise InvalidSelector(f"{where}: operator {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise InvalidSelector(f"{where}: operator {operator} takes no values")
    req: Requirement = {"key": key, "operator": operator}
    if values:
        req["values"] = list(values)
    return req


def matches(selector: Mapping[str, Any], labels: Mapping[str, str] | None) -> bool:
    """Does an object with ``labels`` satisfy ``selector``? ``{}`` matches everything."""
    have = labels or {}
    for req in requirements(selector):
        key, op = req["key"], req["operator"]
        values = req.get("values", [])
        if op == "In" and (key not in have or have[key] not in values):
            return False
        if op == "NotIn" and key in have and have[key] in values:
            return False
        if op == "Exists" and key not in have:
            return False
        if op == "DoesNotExist" and key in have:
            return False
    return True


def parse(text: str) -> LabelSelector:
    """The ``labelSelector`` string form as a ``LabelSelector`` (all as expressions).

    ``""`` is the empty selector. ``a=b`` and ``a==b`` become ``In [b]``, ``a!=b``
    becomes ``NotIn [b]``, ``a`` is ``Exists`` and ``!a`` is ``DoesNotExist``.
    """
    rest = text.strip()
    exprs: list[Requirement] = []
    while rest:
        req, rest = _parse_one(rest, text)
        exprs.append(req)
        rest = rest.lstrip()
        if rest.startswith(","):
            rest = rest[1:].lstrip()
            if not rest:
                raise InvalidSelector(f"label selector {text!r} ends with a comma")
        elif rest:
            raise InvalidSelector(f"label selector {text!r}: unexpected {rest!r}")
    return {"matchExpressions": exprs} if exprs else {}


def _parse_one(rest: str, text: str) -> tuple[Requirement, str]:
    m = _SET.match(rest)
    if m:
        values = [v.strip() for v in m.group(3).split(",")]
        if not all(_VALUE_ONLY.match(v) for v in values):  # "" is allowed, as in Kubernetes
            raise InvalidSelector(f"label selector {text!r}: bad value list ({m.group(3)})")
        op = "In" if m.group(2) == "in" else "NotIn"
        return {"key": m.group(1), "operator": op, "values": values}, rest[m.end():]
    m = _EQUALITY.match(rest)
    if m:
        op = "NotIn" if m.group(2) == "!=" else "In"
        return {"key": m.group(1), "operator": op, "values": [m.group(3)]}, rest[m.end():]
    m = _EXISTS.match(rest)
    if m:
        op = "DoesNotExist" if m.group(1) else "Exists"
        return {"key": m.group(2), "operator": op}, rest[m.end():]
    raise InvalidSelector(f"label selector {text!r}: cannot parse {rest!r}")


def render(selector: Mapping[str, Any]) -> str:
    """The string form of ``selector`` (for the ``labelSelector`` query parameter)."""
    parts = []
    for req in requirements(selector):
        key, op, values = req["key"], req["operator"], req.get("values", [])
        if op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        elif len(values) == 1:
            parts.append(f"{key}{'=' if op == 'In' else '!='}{values[0]}")
        else:
            parts.append(f"{key} {'in' if op == 'In' else 'notin'} ({','.join(values)})")
    return ",".join(parts)


def _kind(value: object) -> str:
    return type(value).__name__
