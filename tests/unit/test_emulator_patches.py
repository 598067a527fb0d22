"""The emulator's patches (reconciler.emulator.patches): the RFC edges, and the errors."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.emulator import patches

DOC = {"spec": {"n": 1, "gates": ["a"]}}


@pytest.mark.parametrize(("ops", "says"), [
    ([{"op": "test", "path": "/spec/n", "value": True}], "operation 0"),  # 1 is not true
    ([{"op": "add", "path": "/spec/~2", "value": 1}], "invalid escape"),
    ([{"op": "remove", "path": ""}], "whole document"),
    ([{"op": "add", "path": "/spec/gates/01", "value": "b"}], "not a valid sequence index"),
    ([{"op": "add", "path": "/spec/x", "value": 1}, {"op": "bogus", "path": "/spec"}],
     "operation 1: Unknown operation"),
    ("[]", "must be a list"),
])
def test_json_patch_refusals(ops: Any, says: str) -> None:
    with pytest.raises(patches.PatchError, match=says):
        patches.json_patch(DOC, ops)
    assert DOC == {"spec": {"n": 1, "gates": ["a"]}}  # never modified


def test_merge_patch_follows_rfc_7386() -> None:
    # The examples of RFC 7386 appendix A, a few of them.
    assert patches.merge_patch({"a": "b"}, {"a": "c"}) == {"a": "c"}
    assert patches.merge_patch({"a": "b"}, {"a": None}) == {}
    assert patches.merge_patch({"a": [{"b": "c"}]}, {"a": [1]}) == {"a": [1]}
    assert patches.merge_patch(["a", "b"], {"a": "b"}) == {"a": "b"}
    assert patches.merge_patch({"e": None}, {"a": 1}) == {"e": None, "a": 1}
    assert patches.merge_patch({}, {"a": {"bb": {"ccc": None}}}) == {"a": {"bb": {}}}
