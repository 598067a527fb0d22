"""``reconciler history``: the audit trail, newest first.

Where it fits: a command of ``cli`` (named in its ``COMMANDS``, imported when
invoked), reading the reconciler's
commits per cluster and merging in what the notes hold (``trail.entries``): bake
verdicts and people's decisions on pull requests.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from reconciler.engine import verdicts as verdict_notes
from reconciler.errors import InputError
from reconciler.interfaces import clusters, trail
from reconciler.interfaces.exits import handle_errors
from reconciler.interfaces.repoaccess import (
    OUTPUT_HELP,
    heading,
    open_releaser,
    policies,
    repo_options,
    tagged,
)


@click.command("history")
@click.argument("rollout", metavar="[NS/NAME]", required=False)
@repo_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help=OUTPUT_HELP)
@click.option("-n", "--limit", type=click.IntRange(min=1), help="Show at most N entries.")
@handle_errors
def command(rollout: str | None, output: str, limit: int | None, **opts: Any) -> None:
    """The audit trail, newest first: the reconciler's commits (trailers), the bake
    verdicts recorded on them and the releases declined in pull requests (git notes)."""
    policies(opts)
    if rollout and "/" not in rollout:
        raise InputError(f"{rollout!r}: expected NS/NAME")
    found = clusters.select(open_releaser(opts))
    if rollout:
        clusters.require_known(found, rollout)
    bakes, decided = verdict_notes.read_all(found[0].releaser.mirror) if found else ((), ())
    sections: list[tuple[clusters.Cluster, list[tuple[datetime, dict[str, Any]]]]] = []
    for cluster in found:
        if cluster.root is None:
            records = list(cluster.releaser.scanner.history(cluster.releaser.mirror.head()))
        else:
            # The cluster's commits by their Environment trailer; a commit written
            # before environments existed counts where its rollout is defined.
            snap = cluster.snapshot()
            records = [r for r in snap.fleet_history
                       if r.trailers.environment == cluster.environment
                       or (r.trailers.environment is None
                           and r.trailers.rollout in snap.inventory.rollouts)]
        if rollout:
            records = [r for r in records if r.trailers.rollout == rollout]
        merged = trail.entries(records, bakes, rollout=rollout, decided=decided,
                               environment=cluster.environment)
        sections.append((cluster, merged[:limit] if limit else merged))
    if output == "json":
        click.echo(json.dumps([tagged(entry, cluster) for cluster, merged in sections
                               for _, entry in merged], indent=2))
        return
    for cluster, merged in sections:
        heading(cluster, several=len(sections) > 1)
        if not merged:
            click.echo("no reconciler commits" + (f" for {rollout}" if rollout else ""))
        for when, entry in merged:
            click.echo(trail.line(when, entry))
