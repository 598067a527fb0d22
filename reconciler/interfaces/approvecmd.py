"""``reconciler approve NS/NAME TAG``: a person's approval of a release that waits for one.

Where it fits: a Rollout with ``spec.approval: manual`` holds every release
(``engine/checkpoints``, reason ``AwaitingApproval``) until an ``Approved`` decision
for it is in the git notes (``core/declines``). This command writes that decision as
a note on the branch head, under ``refs/notes/reconciler`` beside the bake verdicts,
and pushes the notes ref (fast-forward only; on a race it fetches and adds its note
on top). The daemon reads it after its next fetch. Who approved: ``--by``, else the
``Requested-By``-style identity of git's ``user.name`` / ``user.email``, else the
commit author settings. ``cli`` imports this module only when it is invoked.
"""

from __future__ import annotations

import functools
import getpass
import subprocess
from datetime import UTC, datetime
from typing import Any

import click

from reconciler.core import declines, verdicts, versions
from reconciler.engine import verdicts as verdict_notes
from reconciler.errors import NonFastForward, UnknownRollout
from reconciler.interfaces import clusters, signingsetup
from reconciler.interfaces.exits import handle_errors
from reconciler.interfaces.repoaccess import commit_options, open_releaser

ATTEMPTS = 5


@click.command("approve")
@click.argument("rollout", metavar="NS/NAME")
@click.argument("tag")
@commit_options
@click.option("--step", type=click.IntRange(min=1), default=None,
              help="Approve the promotion to this canary step (steps[].approval: manual).")
@click.option("--by", "by", metavar="NAME", default=None,
              help="Who approves (default: git config user.name <user.email>).")
@handle_errors
def command(rollout: str, tag: str, step: int | None, by: str | None, **opts: Any) -> None:
    """Approve TAG of NS/NAME (spec.approval: manual): record it in the git notes,
    pushed, where the daemon reads it."""
    versions.parse(tag)
    opts.pop("policies", None)
    signer = signingsetup.from_flags(opts)  # the notes commit is signed like a release's
    releaser = clusters.for_rollout(open_releaser(opts, signer=signer), rollout=rollout)
    snap = releaser.snapshot()
    if rollout not in snap.inventory.rollouts:
        raise UnknownRollout(f"no Rollout {rollout} in the repository (known: "
                             f"{', '.join(sorted(snap.inventory.rollouts)) or 'none'})")
    # The daemon's rule: --environment, else the last element of --path, else default.
    environment = releaser.environment or "default"
    who = by or _git_identity() or getpass.getuser()
    mirror = releaser.mirror
    approval = declines.Decline(commit=snap.commit, rollout=rollout, release=tag,
                                environment=environment, number=0, by=who,
                                at=datetime.now(UTC), decision="Approved", step=step)
    found = declines.approval(verdict_notes.read_all(mirror)[1], rollout=rollout,
                              release=tag, environment=environment, step=step)
    if found is not None:
        click.echo(f"{rollout}: {tag} is already approved in {environment}"
                   f"{f' by {found.by}' if found.by else ''} ({found.at.isoformat()})")
        return
    for attempt in range(1, ATTEMPTS + 1):
        try:
            mirror.update_note(snap.commit, functools.partial(declines.add, decline=approval),
                               verdicts.NOTES_REF)
            break
        except NonFastForward:
            if attempt == ATTEMPTS:
                raise
            mirror.fetch_notes()  # someone recorded a note meanwhile: ours goes on top
    what = f"step {step} of {tag}" if step is not None else tag
    click.echo(f"{rollout}: approved {what} in {environment} by {who} "
               f"(note on {snap.commit[:12]} in {verdicts.NOTES_REF}, pushed)")


def _git_identity() -> str | None:
    """``user.name <user.email>`` from git's configuration, or None."""
    def get(key: str) -> str:
        try:
            done = subprocess.run(["git", "config", "--get", key], capture_output=True,
                                  text=True, timeout=5, check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""
    name, email = get("user.name"), get("user.email")
    if not name:
        return None
    return f"{name} <{email}>" if email else name

