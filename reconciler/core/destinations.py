"""Chat destinations: the ``--notifications-config`` file, and who is told what.

Where it fits: ``reconciler run`` reads the file once at start-up
(``interfaces/notifysetup.py``), this module parses and checks it, and the notifier
(``engine/notices.py``) asks ``Destination.wants`` for every notice. The webhook
URL itself is never in this file: ``urlFile`` names a file (a mounted Secret) that
holds it, since a Slack or Teams webhook URL is a credential.

Pure: text in, ``Destination`` objects out; a mistake is a ``ManifestError`` whose
one line names ``file:line field`` (exit 2 at start-up).

    destinations:
      - name: payments-slack
        type: slack                 # slack | teams | generic
        urlFile: /etc/reconciler/notify/payments-slack
        namespaces: [payments]      # any rollout in these namespaces ...
        rollouts: [apps/podinfo]    # ... or these rollouts; neither: every rollout
        events: [released, reverted, failed]   # default: all but proposed, declined
        minInterval: 1s             # at most one message per interval (default 1s)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from reconciler.core import durations, models, notices, yamldoc
from reconciler.errors import ManifestError

Kind = Literal["slack", "teams", "generic"]
DEFAULT_EVENTS = ("released", "baked", "failed", "reverted", "held")
DEFAULT_MIN_INTERVAL = "1s"  # Slack: one message a second per webhook, short bursts
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, pattern=_NAME)
    type: Kind
    urlFile: str = Field(min_length=1)
    namespaces: tuple[str, ...] = ()
    rollouts: tuple[str, ...] = ()
    events: tuple[str, ...] = DEFAULT_EVENTS
    minInterval: models.Duration = DEFAULT_MIN_INTERVAL

    @field_validator("namespaces")
    @classmethod
    def _namespaces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ns in value:
            if not _DNS_LABEL.match(ns):
                raise ValueError(f"{ns!r} is not a namespace name")
        return value

    @field_validator("rollouts")
    @classmethod
    def _rollouts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for key in value:
            ns, sep, name = key.partition("/")
            if not sep or not _DNS_LABEL.match(ns) or not _DNS_NAME.match(name):
                raise ValueError(f"{key!r} is not NAMESPACE/NAME")
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for event in value:
            if event not in notices.CHANGES:
                raise ValueError(f"unknown event {event!r} (known: "
                                 f"{', '.join(notices.CHANGES)})")
        return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    destinations: tuple[_Entry, ...] = Field(min_length=1)


@dataclass(frozen=True)
class Destination:
    """One chat webhook and the notices it receives."""

    name: str
    kind: Kind
    url_file: str
    namespaces: frozenset[str]
    rollouts: frozenset[str]
    events: frozenset[str]
    min_interval: timedelta
    line: int  # where it is declared, for messages about it

    def wants(self, notice: notices.Notice) -> bool:
        """Whether ``notice`` goes to this destination. Pure."""
        if notice.change not in self.events:
            return False
        if not self.namespaces and not self.rollouts:
            return True
        return notice.namespace in self.namespaces or notice.rollout in self.rollouts


def parse(data: bytes, *, file: str) -> tuple[Destination, ...]:
    """The destinations ``data`` declares; ``ManifestError`` naming file, line and
    field for the first thing wrong (names must be unique). Pure."""
    documents = [d for d in yamldoc.parse(data, file=file) if d.data is not None]
    if len(documents) != 1:
        raise ManifestError(f"expected one YAML document, found {len(documents)}",
                            file=file)
    doc = documents[0]
    if not isinstance(doc.data, dict):
        raise ManifestError("expected a mapping with 'destinations'", file=file,
                            line=doc.line)
    try:
        parsed = _File.model_validate(doc.data)
    except ValidationError as exc:
        error = exc.errors()[0]
        path = [str(p) for p in error["loc"] if not str(p).startswith("function-")]
        field = _dotted(path)
        message = models.describe_error(exc)[0][1]
        raise ManifestError(message, file=file, line=doc.line_of(path),
                            field=field) from None
    out: list[Destination] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(parsed.destinations):
        line = doc.line_of(["destinations", str(i)])
        name = entry.name or f"{entry.type}-{i + 1}"
        if name in seen:
            raise ManifestError(f"name {name!r} is used twice (first at line {seen[name]})",
                                file=file, line=doc.line_of(["destinations", str(i), "name"]),
                                field=f"destinations[{i}].name")
        seen[name] = line
        out.append(Destination(
            name=name, kind=entry.type, url_file=entry.urlFile,
            namespaces=frozenset(entry.namespaces), rollouts=frozenset(entry.rollouts),
            events=frozenset(entry.events),
            min_interval=durations.parse(entry.minInterval), line=line))
    return tuple(out)


def _dotted(path: list[str]) -> str:
    """``destinations[0].urlFile`` from ``["destinations", "0", "urlFile"]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out

