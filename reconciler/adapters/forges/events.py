"""Pull-request webhooks: which pull request a forge's delivery is about.

Where it fits: ``POST /hooks/git`` (``interfaces/http``) takes every delivery a config
repository's forge sends; once its signature is checked, ``pull_request`` reads a
pull-request event out of it, and the daemon reads that pull request again at once
instead of waiting for the writer's poll timer. Anything else (a push, GitHub's
``ping``) is not a pull-request event and keeps its old meaning: fetch now. Pure: the
headers and the decoded JSON in, an event or None out.

The shapes, from each forge's documentation:

* GitHub (``X-GitHub-Event: pull_request``): ``action`` (``opened``, ``closed``,
  ``reopened``, ``synchronize``, ``edited``, ...), ``number``, ``pull_request.head.ref``,
  ``pull_request.base.ref``, ``pull_request.merged`` (a merge is ``closed`` with
  ``merged: true``). docs.github.com "Webhook events and payloads", pull_request.
* Gitea and Forgejo (``X-Gitea-Event`` / ``X-Forgejo-Event: pull_request``; they send
  ``X-GitHub-Event`` too): GitHub's shape; a push to the branch is ``synchronized``.
  docs.gitea.com "Webhooks"; Gitea's ``services/webhook`` payloads (``api.PullRequestPayload``).
* GitLab (``X-Gitlab-Event: Merge Request Hook``, ``object_kind: merge_request``; a
  system hook sends ``X-Gitlab-Event: System Hook`` with the same body):
  ``object_attributes.iid``, ``.action`` (``open``, ``close``, ``reopen``, ``update``,
  ``merge``, ...), ``.source_branch``, ``.target_branch``, ``.state``. docs.gitlab.com
  "Webhook events", merge request events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PullRequestEvent:
    """A forge's word that a pull request changed."""

    forge: str  # github, gitlab or gitea
    action: str
    number: int
    head: str  # the branch it proposes
    base: str  # the branch it would merge into
    merged: bool = False


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value.strip()
    return ""


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def pull_request(headers: Mapping[str, str], body: Any) -> PullRequestEvent | None:
    """The pull-request event of a delivery, or None when it is none (or malformed:
    the caller then treats the delivery as it treats any other)."""
    data = _map(body)
    gitlab = _header(headers, "X-Gitlab-Event")
    if gitlab:
        if data.get("object_kind") != "merge_request":
            return None
        attrs = _map(data.get("object_attributes"))
        number = _int(attrs.get("iid"))
        head, base = _str(attrs.get("source_branch")), _str(attrs.get("target_branch"))
        if number is None or not head or not base:
            return None
        action = _str(attrs.get("action")) or _str(attrs.get("state"))
        return PullRequestEvent("gitlab", action, number, head, base,
                                merged=action == "merge" or attrs.get("state") == "merged")
    gitea = _header(headers, "X-Gitea-Event") or _header(headers, "X-Forgejo-Event")
    github = _header(headers, "X-GitHub-Event")
    if (gitea or github) != "pull_request":
        return None
    pr = _map(data.get("pull_request"))
    number = _int(data.get("number")) or _int(pr.get("number"))
    head, base = _str(_map(pr.get("head")).get("ref")), _str(_map(pr.get("base")).get("ref"))
    if number is None or not head or not base:
        return None
    return PullRequestEvent("gitea" if gitea else "github", _str(data.get("action")), number,
                            head, base, merged=pr.get("merged") is True)
