"""YAML documents with source positions: the read half of the surgical rewrite.

Core, pure: bytes in, ``Document`` objects out, no I/O. The manifest scanner reads
``Document.data`` (plain Python data, ready for pydantic and jsonpatch) and asks
``Document.find`` where a field's scalar sits in the text, so that ``rewrite`` can
splice a new value into the original bytes. ruamel.yaml only tokenizes and parses
here; it never writes, because its round-trip dumper re-indents sequences, drops a
comment before the first ``---`` and ``...`` markers, and wraps long lines.

Three modules, one concept: this one is the public face (``parse``, ``Document``,
``Scalar``, ``decode``, ``plain_tag``, ``line_at``); ``yamlcompose`` turns parser
events into a node tree (document indexes, duplicate keys, the ``MAX_DEPTH`` and
``MAX_NODES`` caps); ``yamlnodes`` holds the node types, scalar resolution (YAML
1.2, or 1.1 under ``%YAML 1.1``) and the expansion of aliases into plain data under
a budget for the whole file (``MAX_ALIAS_NODES``).

Every problem is a ``ManifestError`` whose one-line message names the line.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.core import yamlcompose, yamlnodes
from reconciler.core.yamlcompose import line_at
from reconciler.core.yamlnodes import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    AliasNode,
    MappingNode,
    Node,
    ScalarNode,
    ScalarValue,
    SequenceNode,
    plain_tag,
)
from reconciler.errors import ManifestError

__all__ = [
    "MAX_ALIAS_NODES", "MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "Anchor", "Document", "Scalar",
    "ScalarValue", "Value", "decode", "line_at", "parse", "plain_tag",
]

MAX_FILE_BYTES = 10 * 1024 * 1024
"""Larger files are refused: no manifest is that big, and the parser is pure Python."""

MAX_NODES = 100_000
"""Most nodes (scalars, aliases and collections, keys included) accepted in one file.

The parser is pure Python (tens of microseconds and a few hundred bytes a node), so
this bounds the time and memory one file can cost: a 10 MiB flow sequence of
one-character items would otherwise hold five million nodes (minutes, gigabytes).
Ordinary manifests run at about 25 bytes a node, so the limit sits near 2.5 MB of
them, well above any file of Rollouts and Flux objects."""


@dataclass(frozen=True)
class Scalar:
    """Where one scalar value sits in the decoded text of a file, and what it reads as.

    ``start``/``end`` are offsets into the decoded text (a BOM counts as one
    character) covering the value token itself, quotes and block indicator
    included, anchors and tags excluded; ``text`` is that slice and ``line`` its
    1-based line. An empty value (``tag:`` with nothing after it) has
    ``start == end`` where a value would be written: after the ``:`` and the space
    following it. ``style`` is ``""`` (plain), ``'``, ``"``, ``|`` or ``>``.
    ``document`` and ``path`` say where it was found, so a rewrite can check its
    result; ``flow`` says it sits inside ``{...}`` or ``[...]``, where a plain
    scalar may not contain ``,[]{}``. ``shared`` lists the anchors on the way to
    it (its own, or a collection's around it) that aliases elsewhere reuse.
    """

    value: ScalarValue
    text: str
    start: int
    end: int
    style: str
    line: int
    document: int
    path: tuple[str, ...]
    flow: bool = False
    shared: tuple[Anchor, ...] = ()

    def sharing(self) -> str | None:
        """Why this value cannot be written in one place, naming the lines of the
        anchor and of its aliases; ``None`` when nothing else reuses it."""
        if not self.shared:
            return None
        parts = []
        for anchor in self.shared:
            inside = "" if anchor.path == self.path else \
                f"inside {'.'.join(anchor.path) or 'the document'}, "
            unique = [str(n) for n in dict.fromkeys(anchor.aliases)]
            lines = " and ".join(", ".join(unique).rsplit(", ", 1))
            plural = "s" if len(unique) > 1 else ""
            parts.append(f"{inside}anchored as &{anchor.name} at line {anchor.line} and "
                         f"reused through *{anchor.name} at line{plural} {lines}")
        return (f"the value is {'; and '.join(parts)}: writing a release here would change "
                f"those places too; give this field a value of its own")


@dataclass(frozen=True)
class Value:
    """Where a value node sits (offsets into the decoded text, as ``Scalar``'s) and
    what it is: ``scalar``, ``alias``, ``mapping``, ``sequence``, or ``flow`` for a
    ``{}``/``[]`` collection. ``key_start``/``key_end``: its key's, in a mapping."""

    path: tuple[str, ...]
    start: int
    end: int
    key_start: int | None
    key_end: int | None
    kind: str
    style: str = ""


@dataclass(frozen=True)
class Anchor:
    """An anchor on a scalar, or on a collection holding it, that aliases reuse."""

    name: str
    line: int
    path: tuple[str, ...]
    aliases: tuple[int, ...]
    """The 1-based lines of the aliases, in file order."""



@dataclass
class Document:
    """One document of a YAML stream.

    ``index`` is the 0-based position among all documents of the file (empty ones
    count), ``line`` the 1-based line where it starts (its ``---`` if it has one),
    ``data`` the document as plain Python data (``dict``/``list``/``str``/``int``/
    ``float``/``bool``/``None``; timestamps and other tagged scalars stay strings).
    """

    index: int
    line: int
    data: Any
    file: str = ""
    _root: Node | None = field(default=None, repr=False, compare=False)
    _text: str = field(default="", repr=False, compare=False)

    def find(self, path: Sequence[str], *, sequences: bool = False) -> Scalar | None:
        """Locate the scalar at ``path`` (mapping keys from the root; with
        ``sequences``, a decimal part indexes a sequence too, as a JSON Pointer does).

        Returns ``None`` when a key on the way is missing (or its value is null).
        Raises ``ManifestError`` naming the field when a node on the way is not a
        mapping, when the value is not a scalar, or when the value is reached through
        an alias or a merge key: writing there would change other places too.
        """
        if isinstance(path, str):
            raise TypeError("path must be a sequence of keys, not a string")
        node = self._root
        parent: MappingNode | None = None
        flow = False
        shared: list[Anchor] = []
        for depth, key in enumerate(path):
            if node is not None and node.aliases:
                shared.append(_anchor(node, path[:depth]))
            here = ".".join(path[:depth]) or None
            if isinstance(node, AliasNode):
                raise self._error(f"reached through the alias *{node.anchor}; edit the anchored "
                                  "node instead", path[:depth], node)
            if isinstance(node, ScalarNode) and node.value is None:
                return None
            if sequences and isinstance(node, SequenceNode) and key.isascii() and key.isdigit():
                if int(key) >= len(node.items):
                    return None
                flow, parent = flow or node.flow, None
                node = node.items[int(key)]
                continue
            if not isinstance(node, MappingNode):
                assert node is not None
                raise self._error(f"expected a mapping at {here or 'the document root'}, "
                                  f"found {yamlnodes.kind(node)}", path[:depth], node)
            flow = flow or node.flow
            pair = node.pairs.get(key)
            if pair is None:
                if node.merges:
                    raise self._error("not set here but possibly through a merge key (<<); "
                                      "edit it where it is defined", path[: depth + 1], node)
                return None
            parent = node
            node = pair[1]
        if isinstance(node, AliasNode):
            raise self._error(f"the value is the alias *{node.anchor}; edit the anchored node "
                              "instead", path, node)
        if not isinstance(node, ScalarNode):
            assert node is not None
            raise self._error(f"expected a scalar value, found {yamlnodes.kind(node)}", path, node)
        if node.aliases:
            shared.append(_anchor(node, path))
        start, end = self._token_span(node, parent, path)
        return Scalar(
            value=node.value,
            text=self._text[start:end],
            start=start,
            end=end,
            style=node.style,
            line=line_at(self._text, start),
            document=self.index,
            path=tuple(path),
            flow=flow,
            shared=tuple(shared),
        )

    def values(self) -> Iterator[Value]:
        """Every value in the document: mapping values and sequence items at any
        depth, parents before their children; keys, merge keys and what aliases
        repeat are left out."""
        stack: list[tuple[tuple[str, ...], Node]] = (
            [((), self._root)] if self._root is not None else [])
        while stack:
            path, node = stack.pop()
            children: list[tuple[tuple[str, ...], Node, Node | None]] = []
            if isinstance(node, MappingNode):
                children = [((*path, k), v, key) for k, (key, v) in node.pairs.items()]
            elif isinstance(node, SequenceNode):
                children = [((*path, str(i)), v, None) for i, v in enumerate(node.items)]
            for child_path, child, key in children:
                yield Value(path=child_path, start=child.start, end=child.end,
                            key_start=key.start if key is not None else None,
                            key_end=key.end if key is not None else None,
                            kind=_value_kind(child), style=getattr(child, "style", ""))
            stack.extend((p, c) for p, c, _ in reversed(children))

    def line_of(self, path: Sequence[str]) -> int:
        """The line a person should look at for ``path``: its value's line (the key's,
        when the value is a collection), or that of the deepest part of the path that
        exists, or the document's start. Never raises; for messages."""
        node = self._root
        line = node.line if node is not None else self.line
        for key in path:
            if isinstance(node, MappingNode) and key in node.pairs:
                key_node, node = node.pairs[key]
                line = key_node.line if isinstance(node, MappingNode | SequenceNode) \
                    else node.line
            elif isinstance(node, SequenceNode) and key.isdigit() and int(key) < len(node.items):
                node = node.items[int(key)]
                line = node.line
            else:
                break
        return line

    def _token_span(self, node: ScalarNode, parent: MappingNode | None,
                    path: Sequence[str]) -> tuple[int, int]:
        text = self._text
        if node.style == "" and node.raw == "":
            if node.tagged:
                return node.end, node.end
            # The parser places an empty value at the next token, not after its
            # key's ":", so look for the ":" ourselves.
            if parent is None:
                return node.start, node.start
            key_node = parent.pairs[path[-1]][0]
            i = key_node.end
            while i < len(text) and text[i] in " \t\r\n":
                i += 1
            if i >= len(text) or text[i] != ":":
                raise self._error("cannot locate the empty value to edit", path, node)
            i += 1
            # Write after the space that follows ":", unless a comment needs that space.
            if text[i:i + 1] == " " and text[i + 1:i + 2] != "#":
                i += 1
            return i, i
        start, end = node.start, node.end
        if node.tagged:
            start = _skip_properties(text, start, end)
        if node.style in ("|", ">"):
            # The block scalar token swallows trailing blank lines; keep them in the file.
            while end > start and text[end - 1] in " \t\r\n":
                end -= 1
            while end < node.end and text[end] in " \t":
                end += 1
        return start, end

    def _error(self, message: str, path: Sequence[str], node: Node) -> ManifestError:
        return ManifestError(f"line {node.line}: {message}", file=self.file,
                             document=self.index, field=".".join(path) or None)


def decode(data: bytes, *, file: str) -> str:
    """The text of a manifest file: UTF-8, a BOM kept as ``\\ufeff`` so offsets match bytes."""
    if len(data) > MAX_FILE_BYTES:
        raise ManifestError(f"file is {len(data)} bytes; manifests larger than "
                            f"{MAX_FILE_BYTES} bytes are refused", file=file)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ManifestError(f"line {line}: not valid UTF-8 (byte 0x{data[exc.start]:02x} "
                            f"at offset {exc.start})", file=file) from exc


def parse(data: bytes, *, file: str) -> list[Document]:
    """Split a YAML file into its documents, each with plain data and source positions.

    Pure. Raises ``ManifestError`` (one line, naming the line number) for invalid
    UTF-8, syntax errors, duplicate keys, alias bombs, deep nesting and oversized files.
    """
    text = decode(data, file=file)
    composer = yamlcompose.Composer(text, file, max_nodes=MAX_NODES)
    return [Document(index=index, line=composed.line, data=composed.data, file=file,
                     _root=composed.root, _text=text)
            for index, composed in enumerate(composer.run())]



def _value_kind(node: Node) -> str:
    if isinstance(node, ScalarNode):
        return "scalar"
    if isinstance(node, AliasNode):
        return "alias"
    assert isinstance(node, MappingNode | SequenceNode)
    if node.flow:
        return "flow"
    return "mapping" if isinstance(node, MappingNode) else "sequence"


def _anchor(node: Node, path: Sequence[str]) -> Anchor:
    return Anchor(name=node.anchor or "", line=node.line, path=tuple(path),
                  aliases=tuple(alias.line for alias in node.aliases))


def _skip_properties(text: str, i: int, end: int) -> int:
    """Index of the value token after its anchor and tag (``&a !!str "x"`` → ``"x"``)."""
    while i < end:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch == "#":
            eol = text.find("\n", i, end)
            i = end if eol < 0 else eol
        elif ch in "&!":
            if text.startswith("!<", i):
                close = text.find(">", i, end)
                i = end if close < 0 else close + 1
            else:
                while i < end and text[i] not in " \t\r\n":
                    i += 1
        else:
            break
    return i
