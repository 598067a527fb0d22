"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902), as the API server applies them.

Pure functions over JSON values; the input is never modified. A JSON patch that
cannot be applied (a failed ``test``, a path that does not exist) raises
``PatchError``, which the server answers with 422 like kube-apiserver does.
Strategic merge patch is served as a merge patch: the reconciler only sends
patches whose lists are replaced wholesale, where the two agree.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["PatchError", "json_patch", "merge_patch"]


class PatchError(ValueError):
    """The patch is malformed or does not apply to the object."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(doc: Any, operations: Any) -> Any:
    """RFC 6902: apply ``operations`` in order to a copy of ``doc``."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    result = copy.deepcopy(doc)
    for i, op in enumerate(operations):
        if not isinstance(op, dict) or not isinstance(op.get("path"), str):
            raise PatchError(f"operation {i} needs an 'op' and a string 'path'")
        result = _apply(result, op, i)
    return result


def _apply(doc: Any, op: dict[str, Any], i: int) -> Any:
    kind, path = op.get("op"), op["path"]
    if kind in ("add", "replace", "test") and "value" not in op:
        raise PatchError(f"operation {i} ({kind}) needs a 'value'")
    if kind == "test":
        if _get(doc, path, i) != op["value"]:
            raise PatchError(f"operation {i}: test failed at {path}")
        return doc
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op["value"]), i)
    if kind == "remove":
        return _remove(doc, path, i)[0]
    if kind == "replace":
        doc, _ = _remove(doc, path, i)
        return _add(doc, path, copy.deepcopy(op["value"]), i)
    if kind in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise PatchError(f"operation {i} ({kind}) needs a string 'from'")
        if kind == "move" and (path + "/").startswith(source + "/") and path != source:
            raise PatchError(f"operation {i}: cannot move {source} into itself")
        value = copy.deepcopy(_get(doc, source, i))
        if kind == "move":
            doc, _ = _remove(doc, source, i)
        return _add(doc, path, value, i)
    raise PatchError(f"operation {i}: unknown op {kind!r}")


def _tokens(path: str, i: int) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"operation {i}: path {path!r} must start with '/'")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(container: list[Any], token: str, i: int, *, allow_end: bool) -> int:
    if token == "-" and allow_end:
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise PatchError(f"operation {i}: {token!r} is not an array index")
    index = int(token)
    if index > len(container) or (index == len(container) and not allow_end):
        raise PatchError(f"operation {i}: index {index} is out of range")
    return index


def _parent(doc: Any, tokens: list[str], i: int) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f"operation {i}: /{'/'.join(tokens)} does not exist")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, i, allow_end=False)]
        else:
            raise PatchError(f"operation {i}: /{'/'.join(tokens)} does not exist")
    return node


def _get(doc: Any, path: str, i: int) -> Any:
    tokens = _tokens(path, i)
    if not tokens:
        return doc
    parent, last = _parent(doc, tokens, i), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, i, allow_end=False)]
    raise PatchError(f"operation {i}: {path} does not exist")


def _add(doc: Any, path: str, value: Any, i: int) -> Any:
    tokens = _tokens(path, i)
    if not tokens:
        return value
    parent, last = _parent(doc, tokens, i), tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, i, allow_end=True), value)
    else:
        raise PatchError(f"operation {i}: cannot add below a scalar at {path}")
    return doc


def _remove(doc: Any, path: str, i: int) -> tuple[Any, Any]:
    tokens = _tokens(path, i)
    if not tokens:
        return None, doc
    parent, last = _parent(doc, tokens, i), tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, i, allow_end=False))
    raise PatchError(f"operation {i}: {path} does not exist")
