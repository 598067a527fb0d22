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

from ruamel.yaml import events as ruamel_events

try:  # PyYAML is installed with the kubernetes client; libyaml may be absent
    import yaml as _pyyaml  # type: ignore[import-untyped]

    _CParser: Any = _pyyaml.CSafeLoader if _pyyaml.__with_libyaml__ else None
except ImportError:  # pragma: no cover - a build without PyYAML
    _CParser = None

AVAILABLE = _CParser is not None
"""Whether libyaml is there at all (without it every file goes through ruamel)."""

_REFUSED_CHARACTERS = ("\t", "\r")


def eligible(text: str) -> bool:
    """The text-level conditions (see the module docstring)."""
    return (AVAILABLE and text.isascii()
            and not any(c in text for c in _REFUSED_CHARACTERS))


class Unsure(Exception):
    """Raised by the events of ``events`` where ruamel must read the text instead."""


def events(text: str) -> Iterator[ruamel_events.Event] | None:
    """The stream's events as ruamel's event objects, or None when the text is not
    ``eligible``. Streamed, as ruamel's are (a 10 MB file of tiny nodes is refused by
    the composer's node budget, not held whole); raises ``Unsure`` at the first
    event it cannot vouch for (a construct listed above, or a libyaml error)."""
    if not eligible(text):
        return None
    return _stream(text)


def _stream(text: str) -> Iterator[ruamel_events.Event]:
    parser = _CParser(text)
    flow = 0
    try:
        while True:
            try:
                event = parser.get_event()
            except _pyyaml.YAMLError as exc:
                raise Unsure(str(exc)) from exc
            converted = _convert(event, text, flow)
            if converted is None:
                raise Unsure(type(event).__name__)
            yield converted
            name = type(event).__name__
            if name in ("MappingStartEvent", "SequenceStartEvent") and (
                    flow or event.flow_style):
                flow += 1
            elif name in ("MappingEndEvent", "SequenceEndEvent") and flow:
                flow -= 1
            elif name == "StreamEndEvent":
                return
    finally:
        parser.dispose()


def _convert(event: Any, text: str, flow: int) -> ruamel_events.Event | None:
    name = type(event).__name__
    start, end = event.start_mark, event.end_mark
    if name == "ScalarEvent":
        if event.anchor is not None or event.tag is not None:
            return None
        if event.style == '"' and "\\" in text[start.index:end.index]:
            return None
        if not event.style and (not event.value or (flow and ":" in event.value)):
            return None  # an empty plain scalar: ruamel places it elsewhere
        if event.style in ("|", ">") and (start.column == 0 or not event.value
                                          or _unsure_block(text, start.index)):
            return None
        return ruamel_events.ScalarEvent(None, None, event.implicit, event.value,
                                         start_mark=start, end_mark=end,
                                         style=event.style or None)
    if name in ("MappingStartEvent", "SequenceStartEvent"):
        if event.anchor is not None or event.tag is not None:
            return None
        cls = (ruamel_events.MappingStartEvent if name == "MappingStartEvent"
               else ruamel_events.SequenceStartEvent)
        return cls(None, None, event.implicit, start_mark=start, end_mark=end,
                   flow_style=event.flow_style)
    if name == "DocumentStartEvent":
        if event.version is not None or event.tags:
            return None
        return ruamel_events.DocumentStartEvent(start_mark=start, end_mark=end,
                                                explicit=event.explicit)
    simple: dict[str, Any] = {
        "DocumentEndEvent": ruamel_events.DocumentEndEvent,
        "MappingEndEvent": ruamel_events.MappingEndEvent,
        "SequenceEndEvent": ruamel_events.SequenceEndEvent,
        "StreamStartEvent": ruamel_events.StreamStartEvent,
        "StreamEndEvent": ruamel_events.StreamEndEvent,
    }
    plain = simple.get(name)
    if plain is None:  # an alias, or anything this module does not know
        return None
    made: ruamel_events.Event = plain(start_mark=start, end_mark=end)
    return made


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
