"""The commands that write a commit: ``release`` and ``revert`` (DESIGN.md, CLI contract).

Where it fits: each picks the cluster that defines the rollout (``clusters``), has
the engine's ``Releaser`` compute and write the commit (pushed with ``--push``),
and prints the change set it returns; ``--dry-run`` shows the diff instead. With
``--write-mode pull-request`` the change is proposed as a pull request (``propose``);
``--signing-key`` signs the commit (``signingsetup``). ``cli`` imports this module
only when one of them is invoked.
"""

from __future__ import annotations

import difflib
from typing import Any

import click

from reconciler.core import manifests, planning, quarantine, versions
from reconciler.engine import stepper
from reconciler.engine.releaser import Releaser, Result
from reconciler.errors import InputError
from reconciler.interfaces import clusters, propose, settings, signingsetup
from reconciler.interfaces.exits import handle_errors
from reconciler.interfaces.repoaccess import (
    commit_options,
    open_releaser,
    policies,
    report_unparsable,
    warn,
)


@click.command()
@click.argument("rollout", metavar="NS/NAME")
@click.argument("tag")
@commit_options
@click.option("--push", is_flag=True, help="Push the commit to the remote branch.")
@click.option("--dry-run", is_flag=True, help="Show the change and the diff; write nothing.")
@click.option("--digest", metavar="SHA", help="The image digest of TAG, for $imagepolicy "
              "markers that pin one (docs/migrating.md).")
@settings.options(settings.WriteSettings, only=propose.FIELDS)
@handle_errors
def release(rollout: str, tag: str, push: bool, dry_run: bool, digest: str | None,
            **opts: Any) -> None:
    """Write TAG into every target of NS/NAME as one commit (with --write-mode
    pull-request: propose it as a pull request)."""
    versions.parse(tag)
    policies(opts)
    write = propose.pull_request_mode(opts)
    signer = signingsetup.from_flags(opts)  # a key that cannot sign: exit 2 now
    releaser = clusters.for_rollout(open_releaser(opts, signer=signer), rollout=rollout)
    snap = releaser.snapshot()
    report_unparsable(snap.inventory)
    if tag in quarantine.quarantined(snap.history, rollout):
        warn(f"warning: {tag} was reverted before on this branch; writing it anyway "
             f"because you asked for it explicitly")
    _warn_downgrade(snap.inventory, rollout, tag)
    if write is not None and not dry_run:
        propose.report(rollout, propose.propose(releaser, write, rollout=rollout, release=tag,
                                                digest=digest))
        return
    result = releaser.release(rollout, tag, push=push, dry_run=dry_run, digest=digest)
    _print_result(result, show_diff=dry_run, old=_old_files(releaser, result))


@click.command()
@click.argument("rollout", metavar="NS/NAME")
@commit_options
@click.option("--reason", default="reverted by hand", show_default=True,
              help="Why (goes into the Reason trailer).")
@click.option("--push", is_flag=True, help="Push the commit to the remote branch.")
@click.option("--dry-run", is_flag=True, help="Show the change; write nothing.")
@settings.options(settings.WriteSettings, only=propose.FIELDS)
@handle_errors
def revert(rollout: str, reason: str, push: bool, dry_run: bool, **opts: Any) -> None:
    """Revert NS/NAME's last release commit (git's revert shape, with trailers; with
    --write-mode pull-request: propose it as a pull request)."""
    policies(opts)
    write = propose.pull_request_mode(opts)
    signer = signingsetup.from_flags(opts)  # a key that cannot sign: exit 2 now
    releaser = clusters.for_rollout(open_releaser(opts, signer=signer), rollout=rollout)
    if write is not None and not dry_run:
        propose.report(rollout, propose.propose(releaser, write, rollout=rollout, reason=reason))
        return
    releaser.snapshot()  # fetched: is a canary in flight there?
    if stepper.in_flight(releaser, rollout):
        # Its revert ends the whole canary: every target back to before step 1.
        result = stepper.abort(releaser, rollout, reason=reason, push=push, dry_run=dry_run)
    else:
        result = releaser.revert(rollout, reason=reason, push=push, dry_run=dry_run)
    _print_result(result, show_diff=dry_run, old=_old_files(releaser, result))


def _print_result(result: Result, *, show_diff: bool, old: dict[str, bytes]) -> None:
    verb = {"pushed": "pushed", "committed": "committed (not pushed)",
            "unchanged": "nothing to do", "dry-run": "dry run, nothing written"}[result.outcome]
    sha = f" {result.commit[:12]}" if result.commit else ""
    click.echo(f"{result.rollout}: {result.action} {result.previous or '(none)'} -> "
               f"{result.release}: {verb}{sha}")
    if result.outcome == "unchanged":
        click.echo(f"    {result.message}")
    for c in result.changes.changes:
        click.echo(f"    ~ {c.file} (document {c.document + 1}) {c.pointer}: {c.old} -> {c.new}")
    if show_diff:
        for file, new in sorted(result.files.items()):
            before = old.get(file, b"").decode("utf-8", "replace").splitlines(keepends=True)
            after = new.decode("utf-8", "replace").splitlines(keepends=True)
            click.echo("".join(difflib.unified_diff(before, after, f"a/{file}", f"b/{file}")),
                       nl=False)


def _warn_downgrade(inv: manifests.Inventory, rollout: str, tag: str) -> None:
    """Say so when ``tag`` is lower than the release the targets hold: allowed (that
    is how a person rolls back by hand), but never by accident."""
    current, _ = planning.current_release(inv.targets.get(rollout, []))
    try:
        lower = current is not None and versions.parse(tag) < versions.parse(current)
    except InputError:
        return  # a current value that is no version: nothing to compare with
    if lower:
        warn(f"warning: {tag} is lower than the current release {current} of {rollout}: "
             f"this is a downgrade")


def _old_files(releaser: Releaser, result: Result) -> dict[str, bytes]:
    if not result.files:
        return {}
    snap = releaser.scanner.snapshot(releaser.mirror.head())
    return {f: releaser.mirror.read_blob(snap.blobs[f]) for f in result.files
            if f in snap.blobs}
