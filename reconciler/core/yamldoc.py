"""YAML documents with source positions: the read half of the surgical rewrite.

Core, pure: bytes in, ``Document`` objects out, no I/O. The manifest scanner reads
``Document.data`` (plain Python data, ready for pydantic and jsonpatch) and asks
``Document.find`` where a field's scalar sits in the text, so that ``rewrite`` can
splice a new value into the original bytes. ruamel.yaml only tokenizes and parses
here; it never writes, because its round-trip dumper re-indents sequences, drops a
comment before the first ``---`` and ``...`` markers, and wraps long lines.

We compose parser events into our own small node tree instead of using ruamel's
composer and constructor, so that

- every document of the stream keeps its index, empty ones included
  (``Document.index`` is what a person counts, from 0);
- an alias stays a reference in the tree and is expanded only when converting to
  plain data, under a budget for the whole file (``MAX_ALIAS_NODES``), so an alias
  bomb is refused instead of eating memory;
- nesting is capped (``MAX_DEPTH``) without recursion in the parser, and so is the
  number of nodes in a file (``MAX_NODES``), so no file can cost unbounded time;
- duplicate keys are an error, as they are for Kubernetes;
- scalars resolve with YAML 1.2 rules (``%YAML 1.1`` documents with 1.1 rules),
  and mapping keys become strings the way Kubernetes turns YAML into JSON.

Every problem is a ``ManifestError`` whose one-line message names the line.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scanner import Scanner

from reconciler.errors import ManifestError

MAX_FILE_BYTES = 10 * 1024 * 1024
"""Larger files are refused: no manifest is that big, and the parser is pure Python."""

MAX_DEPTH = 100
"""Deepest nesting of collections accepted, counting through aliases."""

MAX_ALIAS_NODES = 100_000
"""How many nodes aliases may add to a file's plain data, all its documents together
(alias bombs stop here, also one spread over many documents)."""

MAX_NODES = 100_000
"""Most nodes (scalars, aliases and collections, keys included) accepted in one file.

The parser is pure Python (tens of microseconds and a few hundred bytes a node), so
this bounds the time and memory one file can cost: a 10 MiB flow sequence of
one-character items would otherwise hold five million nodes (minutes, gigabytes).
Ordinary manifests run at about 25 bytes a node, so the limit sits near 2.5 MB of
them, well above any file of Rollouts and Flux objects."""

ScalarValue = str | int | float | bool | None

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"

_RESOLVERS = {(1, 1): VersionedResolver(version=(1, 1)), (1, 2): VersionedResolver(version=(1, 2))}
for _resolver in _RESOLVERS.values():
    # ruamel builds its rule table on first use; do it now, before threads share it.
    _resolver.resolve(ScalarNode, "x", (True, False))
_TRUE = {"true", "yes", "on", "y"}
_FALSE = {"false", "no", "off", "n"}
_STYLES = {None: "", "'": "'", '"': '"', "|": "|", ">": ">"}


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
    scalar may not contain ``,[]{}``.
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


@dataclass(eq=False)
class _Node:
    start: int
    end: int
    line: int
    anchor: str | None


@dataclass(eq=False)
class _Scalar(_Node):
    raw: str
    value: ScalarValue
    style: str
    tagged: bool
    """Has explicit properties (a tag or an anchor) before the value token."""
    merge: bool = False
    """A plain ``<<`` key: a merge, unlike a quoted ``"<<"``."""


@dataclass(eq=False)
class _Sequence(_Node):
    flow: bool
    items: list[_Node] = field(default_factory=list)


@dataclass(eq=False)
class _Mapping(_Node):
    flow: bool
    pairs: dict[str, tuple[_Node, _Node]] = field(default_factory=dict)
    merges: list[_Node] = field(default_factory=list)
    pending_key: _Node | None = None


@dataclass(eq=False)
class _Alias(_Node):
    target: _Node


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
    _root: _Node | None = field(default=None, repr=False, compare=False)
    _text: str = field(default="", repr=False, compare=False)

    def find(self, path: Sequence[str]) -> Scalar | None:
        """Locate the scalar at ``path`` (mapping keys from the root).

        Returns ``None`` when a key on the way is missing (or its value is null).
        Raises ``ManifestError`` naming the field when a node on the way is not a
        mapping, when the value is not a scalar, or when the value is reached through
        an alias or a merge key: writing there would change other places too.
        """
        if isinstance(path, str):
            raise TypeError("path must be a sequence of keys, not a string")
        node = self._root
        parent: _Mapping | None = None
        flow = False
        for depth, key in enumerate(path):
            here = ".".join(path[:depth]) or None
            if isinstance(node, _Alias):
                raise self._error(f"reached through the alias *{node.anchor}; edit the anchored "
                                  "node instead", path[:depth], node)
            if isinstance(node, _Scalar) and node.value is None:
                return None
            if not isinstance(node, _Mapping):
                assert node is not None
                raise self._error(f"expected a mapping at {here or 'the document root'}, "
                                  f"found {_kind(node)}", path[:depth], node)
            flow = flow or node.flow
            pair = node.pairs.get(key)
            if pair is None:
                if node.merges:
                    raise self._error("not set here but possibly through a merge key (<<); "
                                      "edit it where it is defined", path[: depth + 1], node)
                return None
            parent = node
            node = pair[1]
        if isinstance(node, _Alias):
            raise self._error(f"the value is the alias *{node.anchor}; edit the anchored node "
                              "instead", path, node)
        if not isinstance(node, _Scalar):
            assert node is not None
            raise self._error(f"expected a scalar value, found {_kind(node)}", path, node)
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
        )

    def _token_span(self, node: _Scalar, parent: _Mapping | None,
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

    def _error(self, message: str, path: Sequence[str], node: _Node) -> ManifestError:
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
    return _Composer(text, file).run()


def plain_tag(value: str, *, version: tuple[int, int] = (1, 2)) -> str:
    """The tag a plain (unquoted) scalar with this text resolves to (``tag:yaml.org,2002:int``)."""
    return str(_RESOLVERS[version].resolve(ScalarNode, value, (True, False)))


def line_at(text: str, index: int) -> int:
    """1-based line number of ``text[index]`` (``\\n``, ``\\r\\n`` and a lone ``\\r`` end lines)."""
    return (text.count("\n", 0, index) + text.count("\r", 0, index)
            - text.count("\r\n", 0, index) + 1)


def _kind(node: _Node) -> str:
    if isinstance(node, _Mapping):
        return "a mapping"
    if isinstance(node, _Sequence):
        return "a sequence"
    if isinstance(node, _Alias):
        return f"the alias *{node.anchor}"
    assert isinstance(node, _Scalar)
    return "null" if node.value is None else f"the scalar {node.raw!r}"


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


class _Scanner(Scanner):
    """ruamel's scanner, but tabs before a comment or a line end are whitespace.

    ruamel 0.19 refuses every tab between tokens in block context, so a trailing
    tab or ``value\t# comment`` (valid YAML, accepted by go-yaml and PyYAML) would
    make a manifest unreadable. Tabs are still refused where they could act as
    indentation or separate a key from its value, as in other YAML 1.1 readers.
    """

    def scan_to_next_token(self) -> None:
        peek = self.reader.peek
        forward = self.reader.forward
        if self.reader.index == 0 and peek() == "\ufeff":
            forward()
        while True:
            while peek() == " " or (peek() == "\t" and self._tab_is_blank()):
                forward()
            if peek() == "#":
                while peek() not in "\0\r\n\x85\u2028\u2029":
                    forward()
            if not self.scan_line_break():
                return
            if not self.flow_level:
                self.allow_simple_key = True

    def _tab_is_blank(self) -> bool:
        if self.flow_level or not self.allow_simple_key:
            return True
        ahead = 0
        while self.reader.peek(ahead) in " \t":
            ahead += 1
        return bool(self.reader.peek(ahead) in "#\0\r\n\x85\u2028\u2029")


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


class _Composer:
    """Builds our node tree from ruamel parser events, one document at a time."""

    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.documents: list[Document] = []
        self.version: tuple[int, int] = (1, 2)
        self.stack: list[_Sequence | _Mapping] = []
        self.anchors: dict[str, _Node] = {}
        self.open_anchors: set[str] = set()
        self.root: _Node | None = None
        self.doc_line = 1
        self.nodes = 0
        self.total_nodes = 0
        self.alias_left = MAX_ALIAS_NODES

    def run(self) -> list[Document]:
        yaml = YAML(typ="safe", pure=True)
        yaml.Scanner = _Scanner
        events: Iterator[Event] = yaml.parse(self.text)
        try:
            for event in events:
                self.handle(event)
        except MarkedYAMLError as exc:
            raise ManifestError(self.describe(exc), file=self.file,
                                document=self.error_document()) from exc
        except ReaderError as exc:
            line = line_at(self.text, exc.position)
            raise ManifestError(f"line {line}: unacceptable character #x{exc.character:04x}: "
                                f"{exc.reason}", file=self.file) from exc
        except YAMLError as exc:
            raise ManifestError(_one_line(exc), file=self.file,
                                document=self.error_document()) from exc
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()
        return self.documents

    def error_document(self) -> int:
        # Between documents the parser is already reading the next one.
        return len(self.documents)

    @staticmethod
    def describe(exc: MarkedYAMLError) -> str:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        message = _one_line(exc.problem or exc.context or "invalid YAML")
        if exc.problem and exc.context:
            context = _one_line(exc.context)
            if exc.context_mark is not None:
                context += f" started at line {exc.context_mark.line + 1}"
            message += f" ({context})"
        return where + message

    def fail(self, message: str, event: Event) -> ManifestError:
        return ManifestError(f"line {event.start_mark.line + 1}: {message}", file=self.file,
                             document=self.error_document())

    def handle(self, event: Event) -> None:
        if isinstance(event, DocumentStartEvent):
            self.doc_line = event.start_mark.line + 1
            version = tuple(event.version) if event.version else (1, 2)
            self.version = (1, 1) if version == (1, 1) else (1, 2)
            self.anchors = {}
            self.root = None
            self.nodes = 0
        elif isinstance(event, DocumentEndEvent):
            self.finish_document()
        elif isinstance(event, ScalarEvent):
            self.attach(self.scalar(event), event)
        elif isinstance(event, AliasEvent):
            self.attach(self.alias(event), event)
        elif isinstance(event, (SequenceStartEvent, MappingStartEvent)):
            self.open(event)
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            node = self.stack.pop()
            node.end = event.end_mark.index
            if isinstance(node, _Mapping) and node.pending_key is not None:
                raise self.fail("mapping key without a value", event)
            if node.anchor is not None:
                self.open_anchors.discard(node.anchor)
                self.anchors[node.anchor] = node
            self.attach(node, event)

    def scalar(self, event: ScalarEvent) -> _Scalar:
        tag = event.tag
        raw: str = event.value
        if tag is None:
            tag = (plain_tag(raw, version=self.version) if event.implicit[0]
                   else _STR)
        elif tag == "!":
            tag = _STR
        try:
            value = _construct(tag, raw, self.version)
        except ValueError:
            raise self.fail(f"{raw!r} is not a valid {tag.rsplit(':', 1)[-1]}", event) from None
        node = _Scalar(start=event.start_mark.index, end=event.end_mark.index,
                       line=event.start_mark.line + 1, anchor=event.anchor, raw=raw,
                       value=value, style=_STYLES.get(event.style, ""),
                       tagged=event.anchor is not None or event.tag is not None)
        if tag == _MERGE:
            node.value, node.merge = "<<", True
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        return node

    def alias(self, event: AliasEvent) -> _Alias:
        name: str = event.anchor
        target = self.anchors.get(name)
        if target is None:
            problem = ("refers to a node that contains it" if name in self.open_anchors
                       else "is not defined before it is used")
            raise self.fail(f"alias *{name} {problem}", event)
        return _Alias(start=event.start_mark.index, end=event.end_mark.index,
                      line=event.start_mark.line + 1, anchor=name, target=target)

    def open(self, event: SequenceStartEvent | MappingStartEvent) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels is refused", event)
        common: dict[str, Any] = {
            "start": event.start_mark.index, "end": event.end_mark.index,
            "line": event.start_mark.line + 1, "anchor": event.anchor,
            "flow": bool(event.flow_style),
        }
        node: _Sequence | _Mapping
        node = _Sequence(**common) if isinstance(event, SequenceStartEvent) else _Mapping(**common)
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(node)

    def attach(self, node: _Node, event: Event) -> None:
        self.nodes += 1
        self.total_nodes += 1
        if self.total_nodes > MAX_NODES:
            raise self.fail(f"more than {MAX_NODES} nodes in one file are refused (split "
                            f"it into smaller files)", event)
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        if isinstance(parent, _Sequence):
            parent.items.append(node)
            return
        if parent.pending_key is None:
            parent.pending_key = node
            return
        key_node, parent.pending_key = parent.pending_key, None
        key = self.key_string(key_node, event)
        if key is None:
            parent.merges.append(node)
            return
        if key in parent.pairs:
            first = parent.pairs[key][0].line
            raise ManifestError(f"line {key_node.line}: duplicate key {key!r} (first at line "
                                f"{first})", file=self.file, document=self.error_document(),
                                field=".".join([*self.open_path(), key]))
        parent.pairs[key] = (key_node, node)

    def key_string(self, node: _Node, event: Event) -> str | None:
        """The key as Kubernetes' YAML-to-JSON conversion spells it; ``None`` for ``<<``."""
        target = node.target if isinstance(node, _Alias) else node
        if not isinstance(target, _Scalar):
            raise ManifestError(f"line {node.line}: a mapping key must be a scalar, found "
                                f"{_kind(target)}", file=self.file,
                                document=self.error_document())
        if target.merge:
            return None
        value = target.value
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if value is None:
            return "null"
        return str(value)

    def open_path(self) -> list[str]:
        """Path parts of the innermost open collection, for naming a duplicate key."""
        parts: list[str] = []
        for outer in self.stack[:-1]:
            if isinstance(outer, _Sequence):
                parts.append(str(len(outer.items)))
            elif isinstance(outer.pending_key, _Scalar):
                parts.append(str(outer.pending_key.value))
            else:
                parts.append("?")
        return parts

    def finish_document(self) -> None:
        if self.root is None:  # the parser always emits a root; be safe anyway
            self.root = _Scalar(start=0, end=0, line=self.doc_line, anchor=None, raw="",
                                value=None, style="", tagged=False)
        index = len(self.documents)
        budget = self.nodes + self.alias_left
        expander = _Expander(budget=budget, file=self.file, document=index)
        data = expander.plain(self.root, 0)
        # What aliases added (keys count in ``nodes`` but are not visited) is taken
        # from the file's budget, so many small expansions add up like one big one.
        self.alias_left -= max(0, budget - expander.left - self.nodes)
        self.documents.append(Document(index=index, line=self.doc_line, data=data,
                                       file=self.file, _root=self.root, _text=self.text))


class _Expander:
    """Converts a node tree to plain data, expanding aliases under a node budget."""

    def __init__(self, *, budget: int, file: str, document: int) -> None:
        self.left = budget
        self.file = file
        self.document = document
        self.via: _Alias | None = None

    def plain(self, node: _Node, depth: int) -> Any:
        self.left -= 1
        if self.left < 0:
            raise self.fail(self.via or node, f"aliases expand to more than {MAX_ALIAS_NODES} "
                                              "extra nodes in this file; refusing a possible "
                                              "alias bomb")
        if isinstance(node, _Alias):
            if self.via is not None:
                return self.plain(node.target, depth)
            # Errors inside an expansion point at the alias a person wrote, not the anchor.
            self.via = node
            try:
                return self.plain(node.target, depth)
            finally:
                self.via = None
        if isinstance(node, _Scalar):
            return node.value
        if depth >= MAX_DEPTH:
            raise self.fail(self.via or node, f"nesting deeper than {MAX_DEPTH} levels "
                                              "(through aliases) is refused")
        if isinstance(node, _Sequence):
            return [self.plain(item, depth + 1) for item in node.items]
        assert isinstance(node, _Mapping)
        out = {key: self.plain(value, depth + 1) for key, (_, value) in node.pairs.items()}
        # Merge keys: explicit keys win, then earlier merge sources over later ones.
        for merge in node.merges:
            source = merge.target if isinstance(merge, _Alias) else merge
            sources = source.items if isinstance(source, _Sequence) else [source]
            for item in sources:
                merged = self.plain(item, depth + 1)
                if not isinstance(merged, dict):
                    raise self.fail(item, "a merge key (<<) takes a mapping or a list of "
                                          "mappings")
                for key, value in merged.items():
                    out.setdefault(key, value)
        return out

    def fail(self, node: _Node, message: str) -> ManifestError:
        return ManifestError(f"line {node.line}: {message}", file=self.file,
                             document=self.document)


def _construct(tag: str, raw: str, version: tuple[int, int]) -> ScalarValue:
    """The Python value of a scalar; raises ``ValueError`` when the text does not fit the tag."""
    if tag == _NULL:
        return None
    if tag == _BOOL:
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(raw)
    if tag == _INT:
        return _to_int(raw, version)
    if tag == _FLOAT:
        return _to_float(raw)
    # str, timestamp, binary and unknown tags: the text as written.
    return raw


def _to_int(raw: str, version: tuple[int, int]) -> int:
    text = raw.replace("_", "")
    sign = -1 if text.startswith("-") else 1
    text = text.lstrip("+-")
    low = text.lower()
    if low.startswith("0b"):
        return sign * int(text[2:], 2)
    if low.startswith("0x"):
        return sign * int(text[2:], 16)
    if low.startswith("0o"):
        return sign * int(text[2:], 8)
    if ":" in text:
        total = 0
        for part in text.split(":"):
            total = total * 60 + int(part)
        return sign * total
    if version == (1, 1) and len(text) > 1 and text.startswith("0"):
        return sign * int(text, 8)
    return sign * int(text, 10)


def _to_float(raw: str) -> float:
    text = raw.replace("_", "").lower()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == ".inf":
        return sign * math.inf
    if text == ".nan":
        return math.nan
    if ":" in text:
        total = 0.0
        for part in text.split(":"):
            total = total * 60 + float(part)
        return sign * total
    return sign * float(text)
