"""What a release's pull request says: its title and body, rendered from the change record.

Where it fits: the pull-request writer (``engine/writers/pullrequest.py``) proposes each
release (or revert) on branch ``reconciler/<environment>/<namespace>/<name>``; this module
renders the title (the commit's subject) and the body (rollout, from -> to, the reasons,
the table of changes, the releases it superseded), and reads back from a body which
release it proposes, so a closed pull request can be recognised as a declined release
without touching git. Pure: plain data in, text out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.core.changes import ChangeSet

_MARKER = re.compile(r"<!-- reconciler: rollout=(?P<rollout>\S+) release=(?P<release>\S+) "
                     r"action=(?P<action>\S+) -->")


@dataclass(frozen=True)
class Proposal:
    """One proposed release, as a pull request shows it."""

    rollout: str
    action: str  # "release", "revert" or "rollback"
    release: str
    previous: str | None
    environment: str
    changes: ChangeSet
    reasons: str = ""
    superseded: tuple[str, ...] = ()  # earlier releases this pull request proposed
    urgent: bool = False


def branch(*, environment: str, rollout: str) -> str:
    """The one branch of a rollout's proposals in an environment."""
    namespace, name = rollout.split("/", 1)
    return f"reconciler/{environment}/{namespace}/{name}"


def rollout_of(ref: str, *, environment: str) -> str | None:
    """The rollout (``namespace/name``) whose proposals branch ``ref`` is in
    ``environment`` (``refs/heads/`` allowed), or None for any other branch."""
    parts = ref.removeprefix("refs/heads/").split("/")
    if len(parts) != 4 or parts[0] != "reconciler" or parts[1] != environment:
        return None
    if not all(parts[2:]):
        return None
    return f"{parts[2]}/{parts[3]}"


def title(message: str) -> str:
    """The pull request's title: the commit's subject."""
    return message.split("\n", 1)[0]


def body(p: Proposal) -> str:
    """The pull request's body (Markdown), ending with a marker the writer reads back."""
    verb = {"release": "Release", "revert": "Revert", "rollback": "Roll back"}.get(
        p.action, p.action)
    lines = [f"{verb} of **{p.rollout}** in environment **{p.environment}**: "
             f"`{p.previous or '(none)'}` → `{p.release}`.", ""]
    if p.urgent:
        lines += ["**Urgent**: the release failed and the direct push of its revert was "
                  "refused; this pull request is merged as soon as the forge allows.", ""]
    if p.reasons:
        lines += [f"Why: {_cell(p.reasons)}", ""]
    if p.changes.changes:
        lines += ["| file | document | path | old | new |", "|---|---|---|---|---|"]
        lines += [f"| `{c.file}` | {c.document} | `{c.pointer}` | `{c.old}` | `{c.new}` |"
                  for c in p.changes.changes]
        lines.append("")
    if p.superseded:
        lines.append("Superseded in this pull request: "
                     + ", ".join(f"~~{tag}~~" for tag in p.superseded) + ".")
        lines.append("")
    lines += ["Opened by reconciler. Closing this pull request without merging declines "
              f"{p.release}: it is not proposed again automatically (a newer release is); "
              "reopening it resumes. Pushing to its branch stops reconciler from updating it.",
              "", f"<!-- reconciler: rollout={p.rollout} release={p.release} "
                  f"action={p.action} -->", ""]
    return "\n".join(lines)


def proposed(text: str) -> tuple[str, str, str] | None:
    """``(rollout, release, action)`` a body written by ``body`` proposes, or None."""
    found = _MARKER.search(text or "")
    if found is None:
        return None
    return found["rollout"], found["release"], found["action"]


def superseded_in(text: str) -> tuple[str, ...]:
    """The releases an earlier body listed, and the one it proposed: what a newer
    release on the same pull request supersedes."""
    found = re.search(r"Superseded in this pull request: (.*)\.", text or "")
    earlier = tuple(re.findall(r"~~([^~]+)~~", found[1])) if found else ()
    mine = proposed(text)
    return (*earlier, mine[1]) if mine else earlier


def _cell(text: str) -> str:
    return " ".join(text.split())
