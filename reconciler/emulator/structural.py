"""A CRD's structural schema, enforced on writes the way kube-apiserver does.

Where it fits: ``Emulator.enforce(crd)`` installs a ``Schema`` for one kind; the
store passes every create, update, patch and status write of that kind through
``Schema.admit`` before committing it. As the API server does for a structural
``openAPIV3Schema``, fields the schema does not know are pruned (silently; unless
``x-kubernetes-preserve-unknown-fields``), a null where the schema does not say
``nullable`` is dropped, and anything of the wrong type, missing where ``required``,
outside an ``enum``, a ``pattern``, a bound or the ``date-time`` format makes the
write fail with 422 ``Invalid`` and one ``details.causes[]`` entry per field, with
kube-apiserver's field paths (``status.history[0].version``) and wording.

Without it the emulator accepts any JSON, which is how a status shape that a real
cluster with kuberik's CRD rejects went unnoticed. Written here rather than with
``jsonschema`` because pruning needs the walk anyway and the demo, which runs the
emulator, must not need a test dependency. Only what CRD schemas use is covered:
no ``$ref``, ``anyOf`` or CEL rules (``x-kubernetes-validations``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.emulator.resources import Resource
from reconciler.emulator.status import ApiError, Obj

__all__ = ["Cause", "Schema", "from_crd"]

# The envelope: the API server validates metadata itself and owns apiVersion/kind.
_ENVELOPE = ("apiVersion", "kind", "metadata")


@dataclass(frozen=True)
class Cause:
    """One ``details.causes[]`` entry of a 422."""

    field: str
    reason: str  # FieldValueTypeInvalid, FieldValueRequired, FieldValueNotSupported, ...
    message: str

    def render(self) -> Obj:
        return {"reason": self.reason, "message": self.message, "field": self.field}


def _shown(value: Any) -> str:
    """A value the way kube-apiserver quotes it in a message."""
    if isinstance(value, dict):
        return "\"object\""
    if isinstance(value, list):
        return "\"array\""
    return json.dumps(value)


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _is(value: Any, kind: str) -> bool:
    found = _type_of(value)
    return found == kind or (kind == "number" and found == "integer")


def _date_time(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return False
    return "T" in value.upper()


class Schema:
    """One kind's ``openAPIV3Schema``. ``admit`` returns the object as it would be
    stored (pruned) or raises the 422 the API server would answer."""

    def __init__(self, schema: Obj) -> None:
        self.schema = schema

    def admit(self, res: Resource, obj: Obj) -> Obj:
        pruned, causes = self.check(obj)
        if causes:
            raise invalid(res, str((obj.get("metadata") or {}).get("name", "")), causes)
        return pruned

    def check(self, obj: Obj) -> tuple[Obj, list[Cause]]:
        """The pruned object and what is wrong with it. Pure."""
        causes: list[Cause] = []
        body = {k: v for k, v in obj.items() if k not in _ENVELOPE}
        pruned = self._walk(body, self.schema, "", causes)
        out = {k: obj[k] for k in _ENVELOPE if k in obj}
        out.update(pruned if isinstance(pruned, dict) else {})
        return out, causes

    def _walk(self, value: Any, node: Obj, path: str, causes: list[Cause]) -> Any:
        kind = node.get("type")
        if node.get("x-kubernetes-int-or-string"):
            if not isinstance(value, (int, str)) or isinstance(value, bool):
                causes.append(_wrong_type(path, value, "integer or string"))
            return value
        if kind and not _is(value, kind):
            causes.append(_wrong_type(path, value, kind))
            return value
        if kind == "object" or (kind is None and isinstance(value, dict)):
            return self._object(value, node, path, causes)
        if kind == "array":
            items = node.get("items") or {}
            out = [self._walk(v, items, f"{path}[{i}]", causes) for i, v in enumerate(value)]
            _unique_keys(out, node, path, causes)
            for bound, broken, why in (("minItems", len(out) < node.get("minItems", 0),
                                        "should have at least"),
                                       ("maxItems", len(out) > node.get("maxItems", len(out)),
                                        "must have at most")):
                if broken:
                    causes.append(Cause(path, "FieldValueInvalid", f"Invalid value: {len(out)}: "
                                        f"{path} in body {why} {node[bound]} items"))
            return out
        self._scalar(value, node, path, causes)
        return value

    def _object(self, value: Obj, node: Obj, path: str, causes: list[Cause]) -> Obj:
        props: Obj = node.get("properties") or {}
        extra = node.get("additionalProperties")
        keep = bool(node.get("x-kubernetes-preserve-unknown-fields"))
        out: Obj = {}
        for key, sub in value.items():
            where = f"{path}.{key}" if path else key
            schema = props.get(key, extra if isinstance(extra, dict) else None)
            if schema is None:
                if keep:
                    out[key] = sub
                continue  # pruned, as the API server does: no error
            if sub is None and not schema.get("nullable"):
                continue  # a null where none is allowed is dropped, not refused
            out[key] = self._walk(sub, schema, where, causes)
        for key in node.get("required") or ():
            if key not in out:
                causes.append(Cause(f"{path}.{key}" if path else key, "FieldValueRequired",
                                    "Required value"))
        return out

    def _scalar(self, value: Any, node: Obj, path: str, causes: list[Cause]) -> None:
        enum = node.get("enum")
        if enum is not None and value not in enum:
            causes.append(Cause(path, "FieldValueNotSupported",
                                f"Unsupported value: {_shown(value)}: supported values: "
                                + ", ".join(_shown(e) for e in enum)))
            return
        rules: list[tuple[bool, str]] = []
        if isinstance(value, str):
            pattern = node.get("pattern")
            rules += [
                (pattern is not None and re.search(pattern, value) is None,
                 f"should match '{pattern}'"),
                ("maxLength" in node and len(value) > node["maxLength"],
                 f"may not be more than {node.get('maxLength')} bytes"),
                ("minLength" in node and len(value) < node["minLength"],
                 f"should be at least {node.get('minLength')} chars long"),
                (node.get("format") == "date-time" and not _date_time(value),
                 "must be of type date-time")]
        elif isinstance(value, (int, float)):
            rules += [
                ("minimum" in node and value < node["minimum"],
                 f"should be greater than or equal to {node.get('minimum')}"),
                ("maximum" in node and value > node["maximum"],
                 f"should be less than or equal to {node.get('maximum')}")]
        for broken, why in rules:
            if broken:
                causes.append(Cause(path, "FieldValueInvalid",
                                    f"Invalid value: {_shown(value)}: {path} in body {why}"))
                return


def _unique_keys(items: list[Any], node: Obj, path: str, causes: list[Cause]) -> None:
    """``x-kubernetes-list-type: map``: no two items with the same key fields (two
    ``Ready`` conditions are refused)."""
    if node.get("x-kubernetes-list-type") != "map":
        return
    fields = node.get("x-kubernetes-list-map-keys") or ()
    seen = set()
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        key = json.dumps({f: item.get(f) for f in fields}, sort_keys=True)
        if key in seen:
            causes.append(Cause(f"{path}[{i}]", "FieldValueDuplicate",
                                f"Duplicate value: {key}"))
        seen.add(key)


def _wrong_type(path: str, value: Any, kind: str) -> Cause:
    return Cause(path, "FieldValueTypeInvalid",
                 f"Invalid value: {_shown(value)}: {path} in body must be of type {kind}: "
                 f"\"{_type_of(value)}\"")


def invalid(res: Resource, name: str, causes: list[Cause]) -> ApiError:
    """kube-apiserver's 422 for a schema violation: the causes, in one message too."""
    lines = [f"{c.field}: {c.message}" for c in causes]
    why = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
    qualified = f"{res.kind}.{res.group}" if res.group else res.kind
    error = ApiError(422, f'{qualified} "{name}" is invalid: {why}', reason="Invalid",
                     res=res, name=name)
    error.body["details"]["kind"] = res.kind
    error.body["details"]["causes"] = [c.render() for c in causes]
    return error


def from_crd(crd: Obj) -> tuple[str, str, str, Schema]:
    """``(apiVersion, kind, plural, schema)`` of a CustomResourceDefinition's storage
    version. Raises ``ValueError`` for anything that is not one."""
    if crd.get("kind") != "CustomResourceDefinition":
        raise ValueError(f"not a CustomResourceDefinition: kind {crd.get('kind')!r}")
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    versions = [v for v in spec.get("versions") or () if v.get("storage")]
    if not versions or not names.get("kind") or not names.get("plural"):
        raise ValueError("a CRD needs names.kind, names.plural and a storage version")
    version = versions[0]
    schema = ((version.get("schema") or {}).get("openAPIV3Schema"))
    if not isinstance(schema, dict):
        raise ValueError(f"{names['kind']}: no openAPIV3Schema")
    return (f"{spec['group']}/{version['name']}", names["kind"], names["plural"],
            Schema(schema))
