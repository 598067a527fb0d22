"""The node tree of a YAML file, what its scalars read as, and its plain data.

Core, pure. ``yamlcompose`` builds these nodes from parser events; ``yamldoc``
walks them to locate a field's text. This module holds what both share: the node
types, scalar resolution and construction (YAML 1.2 rules, YAML 1.1 for a
``%YAML 1.1`` document; keys become strings the way Kubernetes turns YAML into
JSON), and the expansion of a tree into plain data under an alias budget
(``MAX_ALIAS_NODES``) so that an alias bomb is refused instead of eating memory.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.nodes import ScalarNode as RuamelScalarNode
from ruamel.yaml.resolver import VersionedResolver

from reconciler.errors import ManifestError

MAX_DEPTH = 100
"""Deepest nesting of collections accepted, counting through aliases."""

MAX_ALIAS_NODES = 100_000
"""How many nodes aliases may add to a file's plain data, all its documents together
(alias bombs stop here, also one spread over many documents)."""

ScalarValue = str | int | float | bool | None

STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
MERGE = "tag:yaml.org,2002:merge"

RESOLVERS = {(1, 1): VersionedResolver(version=(1, 1)), (1, 2): VersionedResolver(version=(1, 2))}
for _resolver in RESOLVERS.values():
    # ruamel builds its rule table on first use; do it now, before threads share it.
    _resolver.resolve(RuamelScalarNode, "x", (True, False))
_TRUE = {"true", "yes", "on", "y"}
_FALSE = {"false", "no", "off", "n"}
STYLES = {None: "", "": "", "'": "'", '"': '"', "|": "|", ">": ">"}
"""A scalar event's style as ours: a plain one is None in ruamel's events, '' in
libyaml's (``yamlfast``)."""


def plain_tag(value: str, *, version: tuple[int, int] = (1, 2)) -> str:
    """The tag a plain (unquoted) scalar with this text resolves to (``tag:yaml.org,2002:int``)."""
    if len(value) <= _CACHED_LENGTH:  # keys and short values repeat across every manifest
        return _resolved(value, version)
    return _resolve(value, version)


_CACHED_LENGTH = 64


def _resolve(value: str, version: tuple[int, int]) -> str:
    return str(RESOLVERS[version].resolve(RuamelScalarNode, value, (True, False)))


# ruamel's resolver costs ~40 us a scalar (half of a manifest's parse once libyaml
# scans it, core/yamlfast); remembering the short ones makes it a dict lookup.
_resolved = functools.lru_cache(maxsize=8192)(_resolve)

@dataclass(eq=False)
class Node:
    """A node of the tree: its span in the decoded text, its 1-based line, its anchor,
    and the aliases that reuse it (a value shared so cannot be edited in one place)."""

    start: int
    end: int
    line: int
    anchor: str | None
    aliases: list[AliasNode] = field(default_factory=list, kw_only=True)


@dataclass(eq=False)
class ScalarNode(Node):
    raw: str
    value: ScalarValue
    style: str
    tagged: bool
    """Has explicit properties (a tag or an anchor) before the value token."""
    merge: bool = False
    """A plain ``<<`` key: a merge, unlike a quoted ``"<<"``."""


@dataclass(eq=False)
class SequenceNode(Node):
    flow: bool
    items: list[Node] = field(default_factory=list)


@dataclass(eq=False)
class MappingNode(Node):
    flow: bool
    pairs: dict[str, tuple[Node, Node]] = field(default_factory=dict)
    merges: list[Node] = field(default_factory=list)
    pending_key: Node | None = None


@dataclass(eq=False)
class AliasNode(Node):
    target: Node


def kind(node: Node) -> str:
    """What a node is, for a message (``a mapping``, ``the scalar 'x'``)."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a sequence"
    if isinstance(node, AliasNode):
        return f"the alias *{node.anchor}"
    assert isinstance(node, ScalarNode)
    return "null" if node.value is None else f"the scalar {node.raw!r}"


class Expander:
    """Converts a node tree to plain data, expanding aliases under a node budget."""

    def __init__(self, *, budget: int, file: str, document: int) -> None:
        self.left = budget
        self.file = file
        self.document = document
        self.via: AliasNode | None = None

    def plain(self, node: Node, depth: int) -> Any:
        self.left -= 1
        if self.left < 0:
            raise self.fail(self.via or node, f"aliases expand to more than {MAX_ALIAS_NODES} "
                                              "extra nodes in this file; refusing a possible "
                                              "alias bomb")
        if isinstance(node, AliasNode):
            if self.via is not None:
                return self.plain(node.target, depth)
            # Errors inside an expansion point at the alias a person wrote, not the anchor.
            self.via = node
            try:
                return self.plain(node.target, depth)
            finally:
                self.via = None
        if isinstance(node, ScalarNode):
            return node.value
        if depth >= MAX_DEPTH:
            raise self.fail(self.via or node, f"nesting deeper than {MAX_DEPTH} levels "
                                              "(through aliases) is refused")
        if isinstance(node, SequenceNode):
            return [self.plain(item, depth + 1) for item in node.items]
        assert isinstance(node, MappingNode)
        out = {key: self.plain(value, depth + 1) for key, (_, value) in node.pairs.items()}
        # Merge keys: explicit keys win, then earlier merge sources over later ones.
        for merge in node.merges:
            source = merge.target if isinstance(merge, AliasNode) else merge
            sources = source.items if isinstance(source, SequenceNode) else [source]
            for item in sources:
                merged = self.plain(item, depth + 1)
                if not isinstance(merged, dict):
                    raise self.fail(item, "a merge key (<<) takes a mapping or a list of "
                                          "mappings")
                for key, value in merged.items():
                    out.setdefault(key, value)
        return out

    def fail(self, node: Node, message: str) -> ManifestError:
        return ManifestError(f"line {node.line}: {message}", file=self.file,
                             document=self.document)


def construct(tag: str, raw: str, version: tuple[int, int]) -> ScalarValue:
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
