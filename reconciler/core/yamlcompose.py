"""Our YAML composer: parser events (libyaml's where ``yamlfast`` vouches for them,
else ruamel.yaml's) into a ``yamlnodes`` tree.

Core, pure: text in, one ``Composed`` per document out. We compose parser events
ourselves instead of using ruamel's composer and constructor, so that

- every document of the stream keeps its index, empty ones included;
- an alias stays a reference in the tree (``yamlnodes`` expands it under a budget),
  and each anchored node knows the aliases that reuse it;
- nesting is capped (``MAX_DEPTH``) without recursion in the parser, and so is the
  number of nodes in a file (``yamldoc.MAX_NODES``), so no file can cost unbounded time;
- duplicate keys are an error, as they are for Kubernetes.

Every problem is a ``ManifestError`` whose one-line message names the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scanner import Scanner

from reconciler.core import yamlfast, yamlnodes
from reconciler.core.yamlnodes import (
    MAX_DEPTH,
    AliasNode,
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
)
from reconciler.errors import ManifestError


@dataclass(frozen=True)
class Composed:
    """One document of the stream: where it starts, its node tree, its plain data."""

    line: int
    root: Node
    data: Any


def line_at(text: str, index: int) -> int:
    """1-based line number of ``text[index]`` (``\\n``, ``\\r\\n`` and a lone ``\\r`` end lines)."""
    return (text.count("\n", 0, index) + text.count("\r", 0, index)
            - text.count("\r\n", 0, index) + 1)


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


_HANDLED: tuple[type[Event], ...] = (
    DocumentStartEvent, DocumentEndEvent, ScalarEvent, AliasEvent, SequenceStartEvent,
    MappingStartEvent, SequenceEndEvent, MappingEndEvent)
# The ruamel event class each event's class stands for: ruamel's own, and libyaml's
# (PyYAML's classes, ``yamlfast``), whose events the composer reads alike.
_KINDS: dict[type, type[Event] | None] = {
    **{cls: cls for cls in _HANDLED},
    **{fast: cls for cls in _HANDLED
       if (fast := yamlfast.EVENT_CLASSES.get(cls.__name__)) is not None}}


def _kind(event: Any) -> type[Event] | None:
    """The ruamel event class ``event`` is, or stands for; None: one the composer
    passes over (the stream's start and end)."""
    cls = type(event)
    try:
        return _KINDS[cls]
    except KeyError:
        found = next((c for c in _HANDLED if isinstance(event, c)), None)
        _KINDS[cls] = found
        return found


class Composer:
    """Builds our node tree from parser events (ruamel's, or libyaml's standing for
    them: ``_kind``), one document at a time."""

    def __init__(self, text: str, file: str, *, max_nodes: int) -> None:
        self.text = text
        self.max_nodes = max_nodes
        self.file = file
        self._reset()

    def _reset(self) -> None:
        self.documents: list[Composed] = []
        self.version: tuple[int, int] = (1, 2)
        self.stack: list[SequenceNode | MappingNode] = []
        self.anchors: dict[str, Node] = {}
        self.open_anchors: set[str] = set()
        self.root: Node | None = None
        self.doc_line = 1
        self.nodes = 0
        self.total_nodes = 0
        self.alias_left = yamlnodes.MAX_ALIAS_NODES

    def run(self) -> list[Composed]:
        """The documents; from libyaml's events where ``yamlfast`` vouches for them,
        else (and on any error in them, so every message is ruamel's) from ruamel's."""
        fast = yamlfast.events(self.text)
        if fast is not None:
            try:
                for event in fast:
                    self.handle(event)
                return self.documents
            except Exception:  # any error: ruamel's reading decides, and words it
                self._reset()
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

    def handle(self, event: Any) -> None:
        """One event: ruamel's, or libyaml's standing for one (``_kind``)."""
        kind = _kind(event)
        if kind is ScalarEvent:
            self.attach(self.scalar(event), event)
        elif kind is MappingStartEvent or kind is SequenceStartEvent:
            self.open(event)
        elif kind is MappingEndEvent or kind is SequenceEndEvent:
            node = self.stack.pop()
            node.end = event.end_mark.index
            if isinstance(node, MappingNode) and node.pending_key is not None:
                raise self.fail("mapping key without a value", event)
            if node.anchor is not None:
                self.open_anchors.discard(node.anchor)
                self.anchors[node.anchor] = node
            self.attach(node, event)
        elif kind is DocumentStartEvent:
            self.doc_line = event.start_mark.line + 1
            version = tuple(event.version) if event.version else (1, 2)
            self.version = (1, 1) if version == (1, 1) else (1, 2)
            self.anchors = {}
            self.root = None
            self.nodes = 0
        elif kind is DocumentEndEvent:
            self.finish_document()
        elif kind is AliasEvent:
            self.attach(self.alias(event), event)

    def scalar(self, event: ScalarEvent) -> ScalarNode:
        tag = event.tag
        raw: str = event.value
        if tag is None:
            tag = (yamlnodes.plain_tag(raw, version=self.version) if event.implicit[0]
                   else yamlnodes.STR)
        elif tag == "!":
            tag = yamlnodes.STR
        try:
            value = yamlnodes.construct(tag, raw, self.version)
        except ValueError:
            raise self.fail(f"{raw!r} is not a valid {tag.rsplit(':', 1)[-1]}", event) from None
        node = ScalarNode(start=event.start_mark.index, end=event.end_mark.index,
                          line=event.start_mark.line + 1, anchor=event.anchor, raw=raw,
                          value=value, style=yamlnodes.STYLES.get(event.style, ""),
                          tagged=event.anchor is not None or event.tag is not None)
        if tag == yamlnodes.MERGE:
            node.value, node.merge = "<<", True
        if event.anchor is not None:
            self.anchors[event.anchor] = node
        return node

    def alias(self, event: AliasEvent) -> AliasNode:
        name: str = event.anchor
        target = self.anchors.get(name)
        if target is None:
            problem = ("refers to a node that contains it" if name in self.open_anchors
                       else "is not defined before it is used")
            raise self.fail(f"alias *{name} {problem}", event)
        node = AliasNode(start=event.start_mark.index, end=event.end_mark.index,
                         line=event.start_mark.line + 1, anchor=name, target=target)
        target.aliases.append(node)
        return node

    def open(self, event: SequenceStartEvent | MappingStartEvent) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise self.fail(f"nesting deeper than {MAX_DEPTH} levels is refused", event)
        common: dict[str, Any] = {
            "start": event.start_mark.index, "end": event.end_mark.index,
            "line": event.start_mark.line + 1, "anchor": event.anchor,
            "flow": bool(event.flow_style),
        }
        node: SequenceNode | MappingNode
        node = (SequenceNode(**common) if _kind(event) is SequenceStartEvent
                else MappingNode(**common))
        if event.anchor is not None:
            self.open_anchors.add(event.anchor)
        self.stack.append(node)

    def attach(self, node: Node, event: Event) -> None:
        self.nodes += 1
        self.total_nodes += 1
        if self.total_nodes > self.max_nodes:
            raise self.fail(f"more than {self.max_nodes} nodes in one file are refused (split "
                            f"it into smaller files)", event)
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        if isinstance(parent, SequenceNode):
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

    def key_string(self, node: Node, event: Event) -> str | None:
        """The key as Kubernetes' YAML-to-JSON conversion spells it; ``None`` for ``<<``."""
        target = node.target if isinstance(node, AliasNode) else node
        if not isinstance(target, ScalarNode):
            raise ManifestError(f"line {node.line}: a mapping key must be a scalar, found "
                                f"{yamlnodes.kind(target)}", file=self.file,
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
            if isinstance(outer, SequenceNode):
                parts.append(str(len(outer.items)))
            elif isinstance(outer.pending_key, ScalarNode):
                parts.append(str(outer.pending_key.value))
            else:
                parts.append("?")
        return parts

    def finish_document(self) -> None:
        if self.root is None:  # the parser always emits a root; be safe anyway
            self.root = ScalarNode(start=0, end=0, line=self.doc_line, anchor=None, raw="",
                                   value=None, style="", tagged=False)
        index = len(self.documents)
        budget = self.nodes + self.alias_left
        expander = yamlnodes.Expander(budget=budget, file=self.file, document=index)
        data = expander.plain(self.root, 0)
        # What aliases added (keys count in ``nodes`` but are not visited) is taken
        # from the file's budget, so many small expansions add up like one big one.
        self.alias_left -= max(0, budget - expander.left - self.nodes)
        self.documents.append(Composed(line=self.doc_line, root=self.root, data=data))

