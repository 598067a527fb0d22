"""JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch, as the
API server applies them.

Pure functions over JSON values; the input is never modified. A patch that cannot be
applied (a failed ``test``, a path that does not exist, a malformed operation) raises
``PatchError``, which the server answers with 422 like kube-apiserver does.

- RFC 6902 is the ``jsonpatch`` library's (a dependency already). Where it is stricter
  than the hand-written version it replaced, it agrees with the RFC: ``test`` tells
  ``1`` from ``true``, ``~2`` is not an escape, the whole document cannot be removed.
- RFC 7386 is ours: no kept library implements it (``jsonpatch`` has no merge patch),
  and ``merge_patch`` is the RFC's own pseudo-code (section 2), a dozen lines.
- Strategic merge patch is Kubernetes-specific (list merge keys, ``$patch``
  directives, from the Go struct tags of built-in types); no Python library carries
  it. It is served as a merge patch: the reconciler only sends patches whose lists
  are replaced wholesale, where the two agree. (kube-apiserver refuses it for custom
  resources with 415; the emulator is more lenient there.)
"""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch

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
    if not isinstance(operations, list):  # jsonpatch would parse a string as JSON
        raise PatchError("a JSON patch must be a list of operations")
    result = copy.deepcopy(doc)
    # One operation at a time, so that an error can name the operation at fault.
    for i, op in enumerate(operations):
        try:
            result = jsonpatch.JsonPatch([op]).apply(result, in_place=True)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise PatchError(f"operation {i}: {str(exc)[:200]}") from exc
    return result
