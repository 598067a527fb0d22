"""Loopback stand-ins for the forges' REST APIs, for the forge adapters' tests.

``STAND_INS`` maps a forge kind to its stand-in class; each is started with
``StandIn.serving()`` and holds real bare repositories (``add_repo``). ``model`` is the
pull-request model they share (git-backed merges), ``server`` the HTTP plumbing and the
knobs; ``github``, ``gitlab`` and ``gitea`` the forge-specific routes and shapes, each
citing what it models; ``harness`` a stand-in plus its adapter for a test.
"""

from __future__ import annotations

from tests.support.forges.gitea import GiteaStandIn
from tests.support.forges.github import GitHubStandIn
from tests.support.forges.gitlab import GitLabStandIn
from tests.support.forges.server import StandIn

STAND_INS: dict[str, type[StandIn]] = {
    "github": GitHubStandIn,
    "gitlab": GitLabStandIn,
    "gitea": GiteaStandIn,
}
