"""Migrating from kuberik's rollout-controller: the target fields it set in the cluster.

Core, pure: a file's bytes in, the missing fields (``find``) and the bytes with them
added (``add``) out. kuberik's rollout-controller writes a release into the cluster,
not into git: it lists the Flux Kustomizations in the Rollout's namespace whose
annotation ``rollout.kuberik.com/substitute.<VAR>.from`` names the Rollout and sets
``spec.postBuild.substitute.<VAR>`` on them by server-side apply (field owner
``rollout-controller``, creating ``postBuild.substitute`` when absent), and likewise
``spec.ref.tag`` on OCIRepositories annotated ``rollout.kuberik.com/rollout``
(kuberik/rollout-controller ``internal/controller/rollout_controller.go``,
``patchKustomizations`` and ``patchOCIRepositories``). So the manifests in git often
lack those fields, and the reconciler, which only ever rewrites a field that exists
(``docs/rewrite.md``), reports each as missing. ``reconciler migrate`` adds them,
holding the release deployed now, as one commit for review.

``add`` inserts whole lines, never re-serialising: the new key goes after the last
line of the mapping it joins (or, with the mappings it needs, under ``spec``), at the
indentation that mapping's keys use, with the file's own line ending; every other byte
stays. The result is parsed again and must read as the original plus exactly the added
strings, or ``ManifestError``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.core import manifests, rewrite, yamldoc
from reconciler.core.inventory import dotted
from reconciler.errors import ManifestError

_TAG = ("spec", "ref", "tag")


@dataclass(frozen=True)
class Missing:
    """A target field an annotation names but the manifest does not hold."""

    file: str
    document: int
    path: tuple[str, ...]
    rollout: str  # namespace/name
    kind: str
    object: str  # namespace/name
    line: int  # the annotation's

    @property
    def field_name(self) -> str:
        return dotted(self.path)


def find(path: str, data: bytes) -> list[Missing]:
    """Every annotated target field missing from the file, as kuberik would have set it
    in the cluster: ``spec.postBuild.substitute.<VAR>`` of a Flux Kustomization,
    ``spec.ref.tag`` of an OCIRepository. Pure; a file that does not parse, or an
    annotation ``validate`` reports as broken, gives nothing here."""
    if not manifests.screen(data):
        return []
    try:
        documents = yamldoc.parse(data, file=path)
    except ManifestError:
        return []
    out: list[Missing] = []
    for doc in documents:
        d: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
        meta: dict[str, Any] = d["metadata"] if isinstance(d.get("metadata"), dict) else {}
        notes: dict[str, Any] = meta["annotations"] \
            if isinstance(meta.get("annotations"), dict) else {}
        group = str(d.get("apiVersion", "")).split("/", 1)[0]
        namespace = str(meta["namespace"]) if isinstance(meta.get("namespace"), str) \
            else manifests.DEFAULT_NAMESPACE
        for key, ref in sorted(notes.items()):
            fpath = _field(str(key), kind=d.get("kind"), group=group)
            if fpath is None or not isinstance(ref, str) or not manifests.valid_ref(ref):
                continue
            try:
                if doc.find(fpath) is not None:
                    continue
            except ManifestError:
                continue  # not a mapping on the way, an alias...: validate says so
            out.append(Missing(
                file=path, document=doc.index, path=fpath,
                rollout=manifests.rollout_key(ref.strip(), namespace=namespace),
                kind=str(d.get("kind")), object=f"{namespace}/{meta.get('name')}",
                line=doc.line_of(("metadata", "annotations", str(key)))))
    return out


def add(data: bytes, *, file: str, fields: Sequence[tuple[int, tuple[str, ...], str]]) -> bytes:
    """Add ``(document, path, value)`` fields that do not exist yet, as whole lines.
    Pure; ``ManifestError`` when a mapping on the way is missing from ``spec`` up, is
    written in flow style (``{...}``) or holds something else than a mapping."""
    text = yamldoc.decode(data, file=file)
    documents = yamldoc.parse(data, file=file)
    inserts: dict[int, list[str]] = {}
    for index, group in _by_parent(documents, fields, file=file).items():
        doc, parent = documents[index[0]], index[1]
        at, column, step = _place(doc, parent, text, file=file)
        newline = "\r\n" if "\r\n" in text else "\n"
        lines = _lines(group, depth=0, column=column, step=step)
        block = "".join(line + newline for line in lines)
        if at > 0 and text[at - 1] not in "\r\n":
            block = newline + block
        inserts.setdefault(at, []).append(block)
    pieces, position = [], 0
    for at in sorted(inserts):
        pieces += [text[position:at], *inserts[at]]
        position = at
    result = "".join([*pieces, text[position:]]).encode("utf-8")
    _verify(result, documents, fields, file=file)
    return result


def _field(key: str, *, kind: object, group: str) -> tuple[str, ...] | None:
    m = manifests.SUBSTITUTE.match(key)
    if m and kind == "Kustomization" and group == manifests.FLUX_KUSTOMIZE_GROUP \
            and manifests.VAR.match(m.group("var")):
        return ("spec", "postBuild", "substitute", m.group("var"))
    if key == manifests.ROLLOUT_ANNOTATION and kind == "OCIRepository" \
            and group == manifests.FLUX_SOURCE_GROUP:
        return _TAG
    return None


def _by_parent(documents: list[yamldoc.Document],
               fields: Sequence[tuple[int, tuple[str, ...], str]], *,
               file: str) -> dict[tuple[int, tuple[str, ...]], dict[str, Any]]:
    """Group the new fields under the deepest mapping of their path that exists:
    ``(document, that mapping's path) -> nested dict of what goes under it``."""
    out: dict[tuple[int, tuple[str, ...]], dict[str, Any]] = {}
    for index, path, value in fields:
        doc = documents[index]
        node: Any = doc.data
        depth = 0
        while depth < len(path) - 1 and isinstance(node, dict) and \
                isinstance(node.get(path[depth]), dict):
            node = node[path[depth]]
            depth += 1
        if depth == 0 or not isinstance(node, dict) or path[depth] in node:
            where = dotted(path[:max(depth, 1)])
            raise ManifestError(f"cannot add {dotted(path)} under {where}: not a mapping "
                                f"there (an empty or flow value?); add it by hand",
                                file=file, document=index, field=dotted(path),
                                line=doc.line_of(path))
        tree = out.setdefault((index, path[:depth]), {})
        for key in path[depth:-1]:
            tree = tree.setdefault(key, {})
        tree[path[-1]] = value
    return out


def _place(doc: yamldoc.Document, parent: tuple[str, ...], text: str, *,
           file: str) -> tuple[int, int, int]:
    """Where lines join the block mapping at ``parent``: the offset after its last
    line, the column of its keys, and the document's indentation step."""
    values = list(doc.values())
    children = [v for v in values if v.path[:-1] == parent and v.key_start is not None]
    inside = [v for v in values if v.path[:len(parent)] == parent and len(v.path) > len(parent)]
    own = next((v for v in values if v.path == parent), None)
    if not children or (own is not None and own.kind != "mapping"):
        raise ManifestError(f"{dotted(parent)} is not a block mapping; add the fields by hand",
                            file=file, document=doc.index, field=dotted(parent),
                            line=doc.line_of(parent))
    column = _column(text, children[0].key_start or 0)
    outer = _column(text, own.key_start) if own is not None and own.key_start is not None \
        else None
    step = column - outer if outer is not None and column > outer else 2
    ends = [v.key_end for v in inside if v.key_end is not None]
    ends += [v.end for v in inside if v.kind in ("scalar", "alias", "flow")
             and not (v.kind == "scalar" and v.start == v.end)]
    at = max(ends)
    if text[at - 1:at] != "\n":
        eol = text.find("\n", at)
        at = len(text) if eol < 0 else eol + 1
    return at, column, step


def _column(text: str, offset: int) -> int:
    return offset - (max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1)


def _lines(tree: dict[str, Any], *, depth: int, column: int, step: int) -> list[str]:
    out = []
    for key, value in tree.items():
        pad = " " * (column + depth * step)
        name = rewrite.render(key, style="")
        if isinstance(value, dict):
            out.append(f"{pad}{name}:")
            out += _lines(value, depth=depth + 1, column=column, step=step)
        else:
            out.append(f"{pad}{name}: {rewrite.render(value, style=chr(34))}")
    return out


def _verify(result: bytes, before: list[yamldoc.Document],
            fields: Sequence[tuple[int, tuple[str, ...], str]], *, file: str) -> None:
    after = yamldoc.parse(result, file=file)
    expected = [copy.deepcopy(d.data) for d in before]
    for index, path, value in fields:
        node = expected[index]
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    if len(after) != len(expected) or any(
            a.data != e for a, e in zip(after, expected, strict=True)):
        raise ManifestError("adding the fields would change more than them; add them by "
                            "hand", file=file)
