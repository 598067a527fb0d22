"""Which commit a hold names: the one that changed a target's value by hand.

The daemon's HeldByManualChange message says ``set by hand in commit <sha> by
<author>``. A person editing a line next to the targets after someone else set
them by hand (found by tests/reliability/test_races.py) must not be named
instead: the commit named is the newest one that changed a target value.
"""

from __future__ import annotations

from pathlib import Path

from reconciler.adapters import git
from reconciler.core import trailers
from reconciler.engine import holds
from reconciler.engine.releaser import Releaser
from tests.integration.conftest import APPS
from tests.support import gitrepo

RELEASE = """podinfo: 6.4.0 -> 6.5.0

Release 6.5.0 of apps/podinfo.

Rollout: apps/podinfo
Release: 6.5.0
Previous-Release: 6.4.0
Action: release
"""


def _manual_commit(fleet: gitrepo.BareRepo, tmp_path: Path) -> str | None:
    mirror = git.Mirror.open(fleet.url, cache_dir=tmp_path / "cache")
    # The cluster is never asked: the search reads git only.
    releaser = Releaser(mirror)
    try:
        snap = releaser.snapshot()
        return holds.manual_commit(mirror=mirror, scanner=releaser.scanner, snap=snap,
                                   newest=snap.records("apps/podinfo")[0],
                                   targets=snap.inventory.targets["apps/podinfo"])
    finally:
        mirror.close()


def _edit(fleet: gitrepo.BareRepo, old: bytes, new: bytes, message: str) -> str:
    text = fleet.show(fleet.head(), APPS)
    assert old in text
    return fleet.commit({APPS: text.replace(old, new)}, message)


def test_hold_names_the_commit_that_set_the_value_not_a_later_edit_beside_it(
        fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    _edit(fleet, b'"6.4.0"', b'"6.5.0"', RELEASE)
    pin = _edit(fleet, b'"6.5.0"', b'"6.4.0"', "Pin podinfo to 6.4.0 by hand")
    _edit(fleet, b'PODINFO_REPLICAS: "2"', b'PODINFO_REPLICAS: "3"',
          "Scale podinfo (the line right below the targets)")
    _edit(fleet, b"  timeout: 3m", b"  timeout: 4m", "Longer apply timeout")

    assert _manual_commit(fleet, tmp_path) == f"{pin[:12]} by {gitrepo.GIT_USER}"


def test_hold_names_the_newest_value_change(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    _edit(fleet, b'"6.4.0"', b'"6.5.0"', RELEASE)
    _edit(fleet, b'"6.5.0"', b'"6.4.0"', "Pin podinfo to 6.4.0 by hand")
    hotfix = _edit(fleet, b'"6.4.0"', b'"6.4.1"', "Hotfix 6.4.1 by hand")
    _edit(fleet, b'PODINFO_REPLICAS: "2"', b'PODINFO_REPLICAS: "3"', "Scale podinfo")

    assert _manual_commit(fleet, tmp_path) == f"{hotfix[:12]} by {gitrepo.GIT_USER}"


def test_hold_never_names_a_migrate_commit(fleet: gitrepo.BareRepo, tmp_path: Path) -> None:
    ui = b"    rollout.kuberik.com/substitute.PODINFO_UI_TAG.from: apps/podinfo\n"
    _edit(fleet, ui, ui + ui.replace(b"UI_TAG", b"EXTRA"), "Annotate a field kuberik set")
    _edit(fleet, b'"6.4.0"', b'"6.5.0"', RELEASE)
    pin = _edit(fleet, b'"6.5.0"', b'"6.4.0"', "Pin podinfo to 6.4.0 by hand")
    # migrate adds the field with the value the other targets hold: no one's edit.
    _edit(fleet, b'      PODINFO_REPLICAS: "2"\n',
          b'      PODINFO_REPLICAS: "2"\n      PODINFO_EXTRA: "6.4.0"\n',
          trailers.migrate_message([("x", "/spec/postBuild/substitute/PODINFO_EXTRA",
                                     "6.4.0")], releases={"apps/podinfo": "6.4.0"}))

    assert _manual_commit(fleet, tmp_path) == f"{pin[:12]} by {gitrepo.GIT_USER}"
