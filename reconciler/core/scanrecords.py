"""A file's scan, a commit's cluster roots and a branch's audit trail as plain JSON
data, for the scan cache kept on disk beside the mirror (docs/performance.md, "A
fast CLI").

Core, pure. ``record(scan)`` turns a ``FileScan`` into data that ``json`` writes and
reads back unchanged, and ``scan(data, path=...)`` turns it back into the same
``FileScan``; ``roots_record`` and ``roots`` do the same for ``scope.roots``. The
engine stores the records; this module only says what they look like. A Rollout is
kept as its full ``model_dump`` (every field, defaults too), which pydantic validated
when the file was scanned, and read back as ``core/plainmodels``' copy of the model:
a warm read-only command never imports pydantic (docs/performance.md, "A fast CLI").

``FORMAT`` is part of the cache's version: change it when a record's shape or a
scan's meaning changes (the engine adds the reconciler's version and a digest of
the core's code, so an edited checkout never reads scans another version made).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from reconciler.core import plainmodels, trailers
from reconciler.core.inventory import FileScan, Problem, RolloutEntry, Severity, Target
from reconciler.core.scope import Root, SourceRef

FORMAT = 3

SCREENED_OUT = 0
"""The record of a file the substring screen passed over (most files): just ``0``."""


class BadRecord(ValueError):
    """A record that is not one ``record`` wrote (a damaged or foreign cache)."""


def record(scan: FileScan) -> Any | None:
    """``scan`` as JSON data, or None when it would not come back unchanged (a value
    JSON cannot hold as it is: a NaN, a non-string key): such a scan is not cached."""
    if not scan.parsed and not scan.problems and not scan.rollouts and not scan.targets:
        return SCREENED_OUT
    data = {
        "parsed": scan.parsed,
        "rollouts": [_rollout(r) for r in scan.rollouts],
        "targets": [[t.rollout, t.document, t.kind, t.object, list(t.path), t.value, t.line,
                     t.role] for t in scan.targets],
        "problems": [[p.message, p.document, p.field, p.severity, p.line, p.rollout]
                     for p in scan.problems],
    }
    try:
        same = json.loads(json.dumps(data)) == data
    except (TypeError, ValueError):
        return None
    if not same or _scan(data, path=scan.file) != scan:
        return None
    return data


def scan(data: Any, *, path: str) -> FileScan:
    """The ``FileScan`` of the file at ``path`` that ``data`` records; ``BadRecord``
    when ``data`` is not a record."""
    if data == SCREENED_OUT and not isinstance(data, bool):
        return FileScan(file=path, parsed=False)
    try:
        return _scan(data, path=path)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise BadRecord(f"not a scan record: {exc}") from exc


def _rollout(entry: RolloutEntry) -> list[Any]:
    dumped = None if entry.rollout is None else entry.rollout.model_dump(by_alias=True)
    return [entry.key, entry.document, entry.line, entry.name_line, dumped]


def _scan(data: Any, *, path: str) -> FileScan:
    if not isinstance(data, dict) or not isinstance(data["parsed"], bool):
        raise BadRecord("not a scan record")
    rollouts = []
    for key, document, line, name_line, dumped in data["rollouts"]:
        rollout = None if dumped is None else plainmodels.as_model(dumped)
        rollouts.append(RolloutEntry(key=key, file=path, document=document, line=line,
                                     rollout=rollout, name_line=name_line))
    targets = [Target(rollout=rollout, file=path, document=document, kind=kind, object=obj,
                      path=tuple(fpath), value=value, line=line, role=str(role))
               for rollout, document, kind, obj, fpath, value, line, role in data["targets"]]
    problems = [Problem(file=path, message=message, document=document, field=field,
                        severity=_severity(severity), line=line, rollout=rollout)
                for message, document, field, severity, line, rollout in data["problems"]]
    return FileScan(file=path, parsed=data["parsed"], rollouts=tuple(rollouts),
                    targets=tuple(targets), problems=tuple(problems))


def _severity(value: Any) -> Severity:
    if value == "error" or value == "warning":
        return value  # type: ignore[no-any-return]
    raise BadRecord(f"not a severity: {value!r}")


def roots_record(found: list[Root]) -> list[list[str]]:
    """``scope.roots``' answer for one commit as JSON data."""
    return [[r.path, r.file, r.source.kind, r.source.namespace, r.source.name] for r in found]


def roots(data: Any) -> list[Root]:
    """The roots ``data`` records; ``BadRecord`` when it is not such a record."""
    try:
        found = [Root(path=path, file=file, source=SourceRef(kind, namespace, name))
                 for path, file, kind, namespace, name in data]
    except (TypeError, ValueError) as exc:
        raise BadRecord(f"not a roots record: {exc}") from exc
    if not all(isinstance(v, str) for r in data for v in r):
        raise BadRecord("not a roots record")
    return found


_TRAILER_FIELDS = ("rollout", "action", "release", "previous_release", "reverts", "reason",
                   "environment", "requested_by", "step", "weight")


def trail_record(records: list[trailers.Record]) -> list[list[Any]]:
    """Audit records (``trailers.Record``) as rows: commit, time, subject, trailers."""
    return [[r.commit, r.time.isoformat(), r.subject,
             *(getattr(r.trailers, f) for f in _TRAILER_FIELDS)] for r in records]


def trail(data: Any) -> list[trailers.Record]:
    """The records ``data`` holds; ``BadRecord`` when it is not such a record."""
    try:
        out = []
        for commit, when, subject, *fields in data:
            t = trailers.Trailers(**dict(zip(_TRAILER_FIELDS, fields, strict=True)))
            if not isinstance(commit, str) or t.action not in trailers.ACTIONS:
                raise BadRecord("not a trail record")
            out.append(trailers.Record(commit=commit, time=datetime.fromisoformat(when),
                                       subject=subject, trailers=t))
        return out
    except (TypeError, ValueError) as exc:
        raise BadRecord(f"not a trail record: {exc}") from exc
