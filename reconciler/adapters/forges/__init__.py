"""Forge adapters: pull requests on GitHub, GitLab and Gitea/Forgejo behind one interface.

The pull-request writer (``reconciler/engine/writers/pullrequest.py``) holds a
``base.Forge`` made by ``connect`` from the forge settings (``--forge``,
``--forge-api-url``, ``--forge-repo``, ``--forge-token-file``) and never imports a
forge module itself. ``base`` has the interface and its values, ``transport`` the HTTP
rules every adapter shares (token file, errors, rate limits, pagination), and
``github``, ``gitlab``, ``gitea`` one forge each. Set-up and token scopes:
docs/pull-requests.md.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.adapters.forges import base, gitea, github, gitlab
from reconciler.errors import InputError

KINDS = ("github", "gitlab", "gitea")

DEFAULT_API_URLS = {
    "github": github.DEFAULT_API_URL,
    "gitlab": gitlab.DEFAULT_API_URL,
    "gitea": gitea.DEFAULT_API_URL,
}


def connect(kind: str, *, repo: str, token_file: Path | str, api_url: str | None = None,
            timeout: float = 30.0, ca_bundle: Path | None = None) -> base.Forge:
    """The adapter for ``kind`` (``github``, ``gitlab`` or ``gitea``; Forgejo is ``gitea``)
    on ``repo`` (``owner/name``; a GitLab path may have subgroups). ``ca_bundle`` adds a
    PEM file of CAs to the system's trust store (a self-hosted forge on a private CA)."""
    if kind not in DEFAULT_API_URLS:
        raise InputError(f"unknown forge {kind!r}: expected one of {', '.join(KINDS)}")
    if "/" not in repo.strip("/"):
        raise InputError(f"forge repository {repo!r} is not OWNER/NAME")
    url = api_url or DEFAULT_API_URLS[kind]
    if kind == "github":
        return github.GitHub(repo=repo, token_file=token_file, api_url=url, timeout=timeout,
                             ca_bundle=ca_bundle)
    if kind == "gitlab":
        return gitlab.GitLab(repo=repo, token_file=token_file, api_url=url, timeout=timeout,
                             ca_bundle=ca_bundle)
    return gitea.Gitea(repo=repo, token_file=token_file, api_url=url, timeout=timeout,
                             ca_bundle=ca_bundle)
