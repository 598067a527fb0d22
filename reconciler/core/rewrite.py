"""Surgical rewrite: new string values spliced into a YAML file, every other byte kept.

Core, pure: bytes in, bytes out. ``yamldoc`` locates the value token of each field;
``apply`` replaces exactly that token with the new value rendered in the token's own
quoting style, so comments, indentation, ``---``/``...``, CRLF, a BOM, long lines and
trailing whitespace all survive. This is the write half of a release: the manifest
scanner decides *what* changes, the engine writes the bytes this module returns.

The value written always reads back as a **string** in YAML 1.1 and 1.2 readers
(Kubernetes, Flux and kustomize use both): ``1.10`` or ``yes`` in a plain scalar
would turn into a number or a boolean, so such values get quotes. After splicing,
the result is parsed again and compared with the original document data; any
difference besides the edited fields (an anchor shared with another field, a
merge key) is refused with a ``ManifestError`` instead of being written. A value
that ``yamldoc`` already knows to be shared (an anchor that aliases reuse) is
refused before splicing, naming the anchor's line and each alias's.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import MappingStartEvent, ScalarEvent, SequenceStartEvent

from reconciler.core import yamldoc
from reconciler.errors import ManifestError

STYLES = ("", "'", '"', "|", ">")
"""Scalar styles as ``yamldoc.Scalar.style`` spells them: plain, single, double, literal, folded."""

_STR = "tag:yaml.org,2002:str"

# Characters a YAML reader does not accept literally (outside c-printable), plus the
# line breaks of YAML 1.1 (NEL, LS, PS) and the BOM, which confuse readers mid-text.
_NEEDS_ESCAPE = re.compile(
    "[^\t\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_JSON_ESCAPES = {"\\": "\\\\", '"': '\\"', "\b": "\\b", "\f": "\\f", "\n": "\\n",
                 "\r": "\\r", "\t": "\\t"}

# Readers other than ruamel that look at plain scalars: go-yaml parses numbers with
# strconv (accepting "Inf", "NaN", "infinity") and dates such as "2024-1-2".
_GO_NUMBER = re.compile(r"(?i)^[-+]?\.?(?:inf|infinity|nan)$")
_GO_DATE = re.compile(r"^\d{4}-\d{1,2}-\d{1,2}")


def render(value: str, *, style: str, flow: bool = False) -> str:
    """The YAML source text of the string ``value`` in (about) the given style.

    Pure. ``'`` and ``"`` keep their quotes (single falls back to double when the
    value needs escapes); plain stays plain only when a YAML 1.1 and a YAML 1.2
    reader both read the text back as this same string, in block and, with
    ``flow``, flow context; block scalars (``|``, ``>``) become double-quoted.
    """
    if not isinstance(value, str):
        raise TypeError(f"value must be a string, not {type(value).__name__}")
    if style not in STYLES:
        raise ValueError(f"unknown scalar style {style!r}; expected one of {STYLES}")
    if style == "" and plain_ok(value, flow=flow):
        return value
    if style == "'" and not _NEEDS_ESCAPE.search(value) and "\t" not in value:
        return "'" + value.replace("'", "''") + "'"
    return _double_quoted(value)


def plain_ok(value: str, *, flow: bool = False) -> bool:
    """Whether ``value`` can be written as a plain scalar and still read as this string."""
    if not value or value != value.strip() or not value.isprintable():
        return False
    # YAML 1.2 allows these, but YAML 1.1 readers (PyYAML, go-yaml v2) may not.
    if value.startswith(("---", "...", "?", ":")):
        return False
    if flow and any(ch in ",[]{}:" for ch in value):
        return False
    for version in ((1, 1), (1, 2)):
        if yamldoc.plain_tag(value, version=version) != _STR:
            return False
    if _GO_NUMBER.match(value) or _GO_DATE.match(value) or _is_number(value):
        return False
    return _reads_back(value, flow=flow)


def apply(data: bytes, edits: Sequence[tuple[yamldoc.Scalar, str]], *,
          file: str = "<yaml>") -> bytes:
    """Replace each located scalar with its new string value; nothing else changes.

    Pure. ``edits`` pairs a ``Scalar`` found in ``data`` (by ``yamldoc.parse`` and
    ``Document.find``) with the new value. The result is parsed again and must hold
    exactly the original data with the edited fields set to their new strings;
    otherwise (or when a scalar does not belong to ``data``) ``ManifestError``.
    """
    return _apply(data, edits, file=file, before=yamldoc.parse(data, file=file))


def set_values(data: bytes, *, file: str,
               edits: Sequence[tuple[int, Sequence[str], str]]) -> bytes:
    """Set ``(document index, path of keys, new value)`` fields of one YAML file.

    Pure. A missing field is reported as a ``ManifestError``, never created.
    """
    documents = yamldoc.parse(data, file=file)
    located: list[tuple[yamldoc.Scalar, str]] = []
    for index, path, value in edits:
        if not 0 <= index < len(documents):
            raise ManifestError(f"there is no document {index + 1}; the file has "
                                f"{len(documents)}", file=file)
        scalar = documents[index].find(path, sequences=True)
        if scalar is None:
            raise ManifestError("field not found (a missing field is not created)",
                                file=file, document=index, field=".".join(path),
                                line=documents[index].line_of(path))
        located.append((scalar, value))
    return _apply(data, located, file=file, before=documents)


def _apply(data: bytes, edits: Sequence[tuple[yamldoc.Scalar, str]], *, file: str,
           before: list[yamldoc.Document]) -> bytes:
    text = yamldoc.decode(data, file=file)
    splices: dict[tuple[int, int], tuple[str, yamldoc.Scalar, str]] = {}
    for scalar, value in edits:
        _check_belongs(scalar, text, before, file)
        sharing = scalar.sharing()
        if sharing is not None:
            # Refused before splicing, so the message names the anchor and every alias
            # (``_verify`` would only find the first place that changed).
            raise ManifestError(sharing, file=file, document=scalar.document,
                                field=".".join(scalar.path), line=scalar.line)
        replacement = render(value, style=scalar.style, flow=scalar.flow)
        if scalar.start == scalar.end and text[scalar.start - 1:scalar.start] not in (" ", "\t"):
            replacement = " " + replacement  # an empty value right after its ":"
        span = (scalar.start, scalar.end)
        if span in splices and splices[span][2] != value:
            raise ManifestError(f"two different values for one field: {splices[span][2]!r} "
                                f"and {value!r}", file=file, document=scalar.document,
                                field=".".join(scalar.path), line=scalar.line)
        splices[span] = (replacement, scalar, value)

    pieces: list[str] = []
    position = 0
    for (start, end), (replacement, scalar, _) in sorted(splices.items()):
        if start < position:
            raise ManifestError("overlapping edits", file=file, document=scalar.document,
                                field=".".join(scalar.path), line=scalar.line)
        pieces += [text[position:start], replacement]
        position = end
    pieces.append(text[position:])
    result = "".join(pieces).encode("utf-8")
    _verify(result, before, [(s, v) for _, s, v in splices.values()], file=file)
    return result


def _check_belongs(scalar: yamldoc.Scalar, text: str, before: list[yamldoc.Document],
                   file: str) -> None:
    """Refuse a scalar located in some other version of the file."""
    where = ".".join(scalar.path)
    if not 0 <= scalar.start <= scalar.end <= len(text) or \
            text[scalar.start:scalar.end] != scalar.text:
        raise ManifestError("the file changed since this field was located", file=file,
                            document=scalar.document, field=where, line=scalar.line)
    found = (before[scalar.document].find(scalar.path, sequences=True)
             if 0 <= scalar.document < len(before) else None)
    if found is None or (found.start, found.end) != (scalar.start, scalar.end):
        raise ManifestError("the field is not at the recorded place in this file", file=file,
                            document=scalar.document, field=where, line=scalar.line)


def _verify(result: bytes, before: list[yamldoc.Document],
            edits: Sequence[tuple[yamldoc.Scalar, str]], *, file: str) -> None:
    """Defence in depth: the new file must read as the old one plus the edits, nothing more."""
    try:
        after = yamldoc.parse(result, file=file)
    except ManifestError as exc:
        raise ManifestError(f"the rewritten file would not parse: {exc.detail}", file=file,
                            document=exc.document, field=exc.field) from exc
    if len(after) != len(before):
        raise ManifestError(f"the rewrite would turn {len(before)} documents into "
                            f"{len(after)}", file=file)
    expected = [copy.deepcopy(document.data) for document in before]
    for scalar, value in edits:
        if scalar.path:
            container = expected[scalar.document]
            for key in scalar.path[:-1]:
                container = container[int(key) if isinstance(container, list) else key]
            last = scalar.path[-1]
            container[int(last) if isinstance(container, list) else last] = value
        else:
            expected[scalar.document] = value
    for index, (want, got) in enumerate(zip(expected, after, strict=True)):
        difference = _difference(want, got.data, ())
        if difference is not None:
            raise ManifestError("the rewrite would change more than the edited fields (an "
                                "anchor, alias or merge key shares this value?)", file=file,
                                document=index, field=".".join(difference) or None,
                                line=got.line_of(difference))


def _difference(want: Any, got: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """Path of the first place ``got`` differs from ``want`` (types compared strictly)."""
    if type(want) is not type(got):
        return path
    if isinstance(want, dict):
        if set(want) != set(got):
            return (*path, str(next(iter(set(want) ^ set(got)))))
        for key in want:
            found = _difference(want[key], got[key], (*path, key))
            if found is not None:
                return found
        return None
    if isinstance(want, list):
        if len(want) != len(got):
            return path
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            found = _difference(a, b, (*path, str(i)))
            if found is not None:
                return found
        return None
    if isinstance(want, float) and math.isnan(want) and math.isnan(got):
        return None
    return None if want == got else path


def _double_quoted(value: str) -> str:
    out = []
    for ch in value:
        if ch in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[ch])
        elif _NEEDS_ESCAPE.match(ch):
            code = ord(ch)
            out.append(f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _is_number(value: str) -> bool:
    """Whether any common number parser (Python's, hence Go-like) accepts the text."""
    for parse in (float, lambda s: int(s, 0)):
        try:
            parse(value.replace("_", ""))
        except ValueError:
            continue
        return True
    return False


def _reads_back(value: str, *, flow: bool) -> bool:
    """Parse the plain scalar in each context it may be written in; all must agree."""
    contexts = [(f"k: {value}\n", 2), (f"- {value}\n", 1)]
    if flow:
        contexts += [(f"{{k: {value}}}\n", 2), (f"[{value}]\n", 1)]
    for source, scalar_count in contexts:
        try:
            events = list(YAML(typ="safe", pure=True).parse(source))
        except YAMLError:
            return False
        starts = [e for e in events if isinstance(e, MappingStartEvent | SequenceStartEvent)]
        scalars = [e for e in events if isinstance(e, ScalarEvent)]
        if len(starts) != 1 or len(scalars) != scalar_count:
            return False
        if scalars[-1].style is not None or scalars[-1].value != value:
            return False
    return True
