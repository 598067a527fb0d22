"""``reconciler release`` / ``revert`` with ``--write-mode pull-request``: one pull request.

Where it fits: the CLI commands that write call ``pull_request_mode`` with their flags;
when it answers with settings, they hand the release (or revert) to ``propose`` instead
of pushing. ``propose`` drives the daemon's own pull-request writer
(``engine/writers/pullrequest.py``) once: the same branch
(``reconciler/<environment>/<namespace>/<name>``), the same commit and trailers, the
same rules (a newer release updates the open pull request; a person's push on the
branch is left alone). A person asking on the command line is explicit, so a release
declined in an earlier pull request is proposed again. The command does not wait for
a merge: it prints the pull request and exits 0, and the daemon (or the person)
carries on from there.
"""

from __future__ import annotations

from typing import Any

import click

from reconciler.adapters.forges import base as forges
from reconciler.core import progress, reasons
from reconciler.engine.releaser import Releaser
from reconciler.engine.repository import Repository
from reconciler.engine.verdicts import Verdicts
from reconciler.engine.writers.prstate import Proposed
from reconciler.engine.writers.pullrequest import PullRequestWriter
from reconciler.errors import ForgeConflict
from reconciler.interfaces import forgesetup, settings

# The writing settings a CLI command takes. The rest are the daemon's: a command opens
# the pull request and ends; merging it is a person's or the daemon's job.
FIELDS = ("write_mode", "forge", "forge_api_url", "forge_repo", "forge_token_file")


def report(rollout: str, proposed: Proposed) -> None:
    """What the pull-request writer did, on stdout; exit 1 (``ForgeConflict``) when it
    could not propose (a person's commit is on the branch, or another write got there
    first)."""
    click.echo(f"{rollout}: {proposed.message}")
    if proposed.outcome in ("left-alone", "stale"):
        raise ForgeConflict(f"{rollout}: not proposed: {proposed.message}")


def pull_request_mode(opts: dict[str, Any]) -> settings.WriteSettings | None:
    """The writing settings (consumed from ``opts``) when they ask for a pull request;
    None for a direct push. A pull request without a forge stops with exit code 2."""
    write = settings.load(settings.WriteSettings,
                          {k: opts.pop(k, None) for k in FIELDS})
    if write.write_mode != "pull-request":
        return None
    return write


def propose(releaser: Releaser, write: settings.WriteSettings, *, rollout: str,
            release: str | None = None, digest: str | None = None,
            reason: str = "") -> Proposed:
    """Propose ``release`` of ``rollout`` (or, with ``release`` None, the revert of its
    last release) as a pull request; what the writer did. ``digest``: the release's
    image digest (``release --digest``), for the fields that pin one."""
    forge = forgesetup.connect(write, repo_url=releaser.mirror.url)
    assert forge is not None  # connect refuses pull-request mode without a forge
    environment = releaser.environment or "default"
    repository = Repository(mirror=releaser.mirror, releaser=releaser)
    writer = PullRequestWriter(
        repository=repository, forge=forge, environment=environment,
        base=releaser.mirror.branch, auto_merge=False, is_leader=lambda: True,
        path=releaser.scanner.path, method=forges.MergeMethod(write.merge_method),
        decisions=Verdicts(repository=repository, environment=environment))
    repository.load()
    if release is not None:
        step = progress.Step(action="release", reason=reasons.RELEASE_WRITTEN,
                             message="asked for on the command line", release=release,
                             digest=digest)
    else:
        step = progress.Step(action="revert", reason=reasons.RELEASE_REVERTED,
                             message=reason or "reverted by hand")
    return writer.write(rollout, step, None, explicit=True)
