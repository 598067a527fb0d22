"""The change record that drives everything a release writes.

A rewrite returns a ``ChangeSet``; the commit message, the ``plan`` output, the
RFC 6902 JSON Patch and (later) the Kubernetes Event are all rendered from it.
An empty change set means no commit.

Pure: plain data in, plain data out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


def pointer(path: Iterable[str]) -> str:
    """RFC 6901 JSON Pointer for a path of mapping keys (``~`` and ``/`` escaped)."""
    return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in path)


@dataclass(frozen=True)
class Change:
    """One scalar in one document of one file, from ``old`` to ``new``.

    ``kind`` and ``object`` name the Flux object the scalar belongs to
    (``Kustomization``, ``apps/podinfo``) so messages can say what changed.
    ``document`` is the index in the file, from 0, as the rewrite uses it; whatever
    people read (text, JSON, commit bodies) counts documents from 1, like every
    error message does (docs/cli.md).
    """

    file: str
    document: int
    path: tuple[str, ...]
    old: str | None
    new: str
    kind: str = ""
    object: str = ""

    @property
    def pointer(self) -> str:
        return pointer(self.path)

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "document": self.document + 1,
            "path": self.pointer,
            "old": self.old,
            "new": self.new,
            "kind": self.kind,
            "object": self.object,
        }


@dataclass(frozen=True)
class ChangeSet:
    """Everything one release (or rollback) changes, for one rollout."""

    rollout: str
    changes: tuple[Change, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.changes)

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(sorted({c.file for c in self.changes}))

    def json_patch(self) -> list[dict[str, Any]]:
        """One RFC 6902 patch document per (file, document), in file order.

        Each element is ``{"file", "document", "patch"}`` where ``patch`` is the
        list of operations ``jsonpatch`` would apply to that YAML document and
        ``document`` counts from 1, as everywhere people read it.
        """
        grouped: dict[tuple[str, int], list[Change]] = {}
        for change in self.changes:
            grouped.setdefault((change.file, change.document), []).append(change)
        out: list[dict[str, Any]] = []
        for (file, document), items in sorted(grouped.items()):
            ops = []
            # The field always exists (a missing one is reported, never created),
            # even when it holds null, so every operation is a replace.
            for c in items:
                ops.append({"op": "replace", "path": c.pointer, "value": c.new})
            import jsonpatch  # only for the JSON output's patches (difflib, jsonpointer)

            patch = jsonpatch.JsonPatch(ops)
            out.append({"file": file, "document": document + 1, "patch": list(patch)})
        return out
