"""libyaml's parser events, for the files where they are the same as ruamel's.

Core, pure. ``yamlcompose`` builds our node tree from parser events; ruamel.yaml's
pure-Python scanner produces them at ~1 ms a manifest, which made parsing the
files that name ``kuberik.com`` the largest part of a 100,000-file repository's
first snapshot (docs/performance.md). libyaml (PyYAML's C binding, ``CParser``)
produces the same events ~40 times faster, but it reads YAML 1.1 and ruamel reads
YAML 1.2 (plus our tab rule, ``yamlcompose._Scanner``), so it is only used where
the two cannot disagree, and ``events`` answers None (use ruamel) everywhere else:

* the text is ASCII (mark indexes count characters in both; no BOM, no ``\\x85``
  or ``\\u2028`` line breaks, which YAML 1.1 has and YAML 1.2 does not), with no
  tab (ruamel refuses some that libyaml takes) and no carriage return;
* no directive (``%YAML``, ``%TAG``: the version decides how scalars resolve),
  no anchor, alias or explicit tag anywhere;
* no double-quoted scalar with a backslash (YAML 1.2 added escapes such as ``\\/``);
* no plain scalar holding ``:`` inside a flow collection (``{a: b:c}``, where the
  two versions split differently), no empty plain scalar (``key:`` with no value:
  the two place its mark differently), no comment on a block scalar's header line and no
  blank line first in its content, no empty block scalar and none at the root
  (YAML 1.2 lets a root block scalar's text start in column 0: ``#c`` is text);
* libyaml raised nothing: every malformed file is read by ruamel, so each error
  message is exactly what it was.

The events are streamed; the first one that fails a condition raises ``Unsure``
and the composer starts again from ruamel's (``yamlcompose.Composer.run``).

Scalar resolution (``yes`` is a string in 1.2, ``010`` an int...) is not the
parser's: ``yamlnodes`` resolves the raw text, so it is the same either way. The
composer itself falls back to ruamel on any error it finds in libyaml's events
(``yamlcompose.Composer.run``). A test composes every YAML file of the repository
and thousands of generated ones both ways and compares the trees
(tests/unit/test_yamlfast.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

try:  # PyYAML is installed with the kubernetes client; libyaml may be absent
    import yaml as _pyyaml  # type: ignore[import-untyped]

    _CParser: Any = _pyyaml.CSafeLoader if _pyyaml.__with_libyaml__ else None
except ImportError:  # pragma: no cover - a build without PyYAML
    _CParser = None

AVAILABLE = _CParser is not None
"""Whether libyaml is there at all (without it every file goes through ruamel)."""

_REFUSED_CHARACTERS = ("\t", "\r")

# libyaml's event classes (PyYAML's), matched by identity: a name compared per event
# was a tenth of parsing a manifest.
if _CParser is not None:
    _pe = _pyyaml.events
    _SCALAR: Any = _pe.ScalarEvent
    _DOCUMENT_START: Any = _pe.DocumentStartEvent
    _STREAM_END: Any = _pe.StreamEndEvent
    _STARTS: frozenset[Any] = frozenset((_pe.MappingStartEvent, _pe.SequenceStartEvent))
    _ENDS: frozenset[Any] = frozenset((_pe.MappingEndEvent, _pe.SequenceEndEvent))
    _SIMPLE: frozenset[Any] = frozenset((_pe.DocumentEndEvent, _pe.MappingEndEvent,
                                         _pe.SequenceEndEvent, _pe.StreamStartEvent,
                                         _pe.StreamEndEvent))
    EVENT_CLASSES: dict[str, Any] = {name: getattr(_pe, name) for name in (
        "DocumentStartEvent", "DocumentEndEvent", "ScalarEvent", "AliasEvent",
        "SequenceStartEvent", "MappingStartEvent", "SequenceEndEvent", "MappingEndEvent")}
    """PyYAML's event class of each ruamel event class name the composer handles."""
else:  # pragma: no cover - a build without libyaml
    EVENT_CLASSES = {}


def eligible(text: str) -> bool:
    """The text-level conditions (see the module docstring)."""
    return (AVAILABLE and text.isascii()
            and not any(c in text for c in _REFUSED_CHARACTERS))


class Unsure(Exception):
    """Raised by the events of ``events`` where ruamel must read the text instead."""


def events(text: str) -> Iterator[Any] | None:
    """The stream's events, or None when the text is not ``eligible``: libyaml's own
    event objects (PyYAML's classes), which carry what the composer reads of ruamel's
    under the same names (``value``, ``style``, ``implicit``, ``anchor``, ``tag``,
    ``flow_style``, ``start_mark.index``...). Streamed, as ruamel's are (a 10 MB file
    of tiny nodes is refused by the composer's node budget, not held whole); raises
    ``Unsure`` at the first event it cannot vouch for (a construct listed above, or a
    libyaml error). Until 2026-12-04 each was copied into a ruamel event object; that
    copy was a fifth of parsing a manifest (docs/performance.md)."""
    if not eligible(text):
        return None
    return _stream(text)


def _stream(text: str) -> Iterator[Any]:
    parser = _CParser(text)
    flow = 0
    try:
        while True:
            try:
                event = parser.get_event()
            except _pyyaml.YAMLError as exc:
                raise Unsure(str(exc)) from exc
            kind = type(event)
            if not _vouched(event, kind, text, flow):
                raise Unsure(kind.__name__)
            yield event
            if kind in _STARTS:
                if flow or event.flow_style:
                    flow += 1
            elif kind in _ENDS:
                if flow:
                    flow -= 1
            elif kind is _STREAM_END:
                return
    finally:
        parser.dispose()


def _vouched(event: Any, kind: type, text: str, flow: int) -> bool:
    """Whether ruamel would give the same event (the module docstring's conditions)."""
    if kind is _SCALAR:
        start = event.start_mark
        if event.anchor is not None or event.tag is not None:
            return False
        if event.style == '"' and "\\" in text[start.index:event.end_mark.index]:
            return False
        if not event.style and (not event.value or (flow and ":" in event.value)):
            return False  # an empty plain scalar: ruamel places it elsewhere
        return not (event.style in ("|", ">") and (
            start.column == 0 or not event.value or _unsure_block(text, start.index)))
    if kind in _STARTS:
        return event.anchor is None and event.tag is None
    if kind is _DOCUMENT_START:
        return event.version is None and not event.tags
    return kind in _SIMPLE  # else an alias, or anything this module does not know


def _unsure_block(text: str, index: int) -> bool:
    """A block scalar whose header holds a comment (libyaml takes ``|-#c``, ruamel
    wants a space before it) or whose first content line is blank (ruamel refuses
    leading blank lines indented deeper than the text, libyaml does not)."""
    end = text.find("\n", index)
    if end < 0:
        return "#" in text[index:]
    after = text.find("\n", end + 1)
    first = text[end + 1:] if after < 0 else text[end + 1:after]
    return "#" in text[index:end] or not first.strip()
