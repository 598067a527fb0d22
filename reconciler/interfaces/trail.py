"""The audit trail as ``reconciler history`` shows it: commits, bake verdicts and
declined pull requests.

Where it fits: ``history`` reads the reconciler's commits (trailers) and the bake
verdicts recorded as git notes on them (``core/verdicts``), and merges them into
one list, newest first; this module does the merging and the text rendering, for
plain text and ``-o json`` alike (DESIGN.md, CLI contract: verdicts are elements
with ``action: "bake"`` and ``result``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from reconciler.core import declines, trailers, verdicts


def entries(records: Sequence[trailers.Record], found: Sequence[verdicts.Verdict], *,
            rollout: str | None = None, decided: Sequence[declines.Decline] = (),
            environment: str | None = None) -> list[tuple[datetime, dict[str, Any]]]:
    """Every record, every verdict on one of their commits and every decision people
    made on a release's pull request (in ``environment``, when given), newest first,
    as ``(time, history -o json element)``."""
    commits = {r.commit for r in records}
    out: list[tuple[datetime, dict[str, Any]]] = [(r.time, r.as_dict()) for r in records]
    out += [(v.ended, v.as_dict()) for v in found
            if v.commit in commits and (rollout is None or v.rollout == rollout)]
    out += [(d.at, d.as_dict()) for d in decided
            if (rollout is None or d.rollout == rollout)
            and (environment is None or d.environment == environment)]
    out.sort(key=lambda item: (item[0], item[1]["action"] == "bake"), reverse=True)
    return out


def line(when: datetime, entry: dict[str, Any]) -> str:
    """One line of ``history``'s text output."""
    stamp = when.strftime("%Y-%m-%d %H:%M:%S%z")
    head = f"{stamp}  {entry['commit'][:12]}  {entry['rollout']:<24} {entry['action']:<8} "
    if entry["action"] == "bake":
        text = f"{head}{entry['release']} {entry['result']} in {entry['environment']}"
    elif entry["action"] in ("declined", "resumed"):
        text = f"{head}{entry['release']} in {entry['environment']}"
    else:
        text = f"{head}{entry['previous_release'] or '(none)'} -> {entry['release']}"
    if entry.get("step"):
        text += f"  step {entry['step']} at {entry.get('weight')}%"
    elif entry["action"] == "promote":
        text += f"  weight {entry.get('weight')}%"
    if entry.get("reason"):
        text += f"  ({entry['reason']})"
    return text
