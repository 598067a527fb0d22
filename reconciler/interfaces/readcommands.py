"""The read-only commands: ``plan``, ``history`` and ``validate`` (DESIGN.md, CLI contract).

Where it fits: each reads the branch head through the mirror (``repoaccess``), per
cluster (``clusters``), and prints what the core computes from it; none writes a
commit. ``cli`` imports this module only when one of them is invoked, and this
module imports only what they need: no cluster client, no daemon, no HTTP server
(a test keeps it so; docs/performance.md, "A fast CLI").
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import click

from reconciler.core import lint, models, planning
from reconciler.engine import presets as preset_files
from reconciler.engine import verdicts as verdict_notes
from reconciler.errors import InputError, UnknownRollout
from reconciler.interfaces import clusters, trail
from reconciler.interfaces.exits import EXIT_PROBLEMS, handle_errors
from reconciler.interfaces.repoaccess import (
    OUTPUT_HELP,
    open_releaser,
    policies,
    repo_options,
    report_unparsable,
)


@click.command()
@repo_options
@click.option("--release", "releases", multiple=True, metavar="NS/NAME=TAG",
              help="A release candidate for a rollout (repeatable).")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help=OUTPUT_HELP)
@handle_errors
def plan(releases: Sequence[str], output: str, **opts: Any) -> None:
    """Read-only: what would happen next to every Rollout, and why."""
    candidates: dict[str, list[str]] = {}
    for item in releases:
        key, sep, tag = item.partition("=")
        if not sep or "/" not in key or not tag:
            raise click.BadParameter(f"{item!r}: expected NS/NAME=TAG", param_hint="--release")
        candidates.setdefault(key, []).append(tag)
    presets = preset_files.load(policies(opts))
    found = [(c, c.snapshot()) for c in clusters.select(open_releaser(opts))]
    known = sorted({k for _, snap in found for k in snap.inventory.rollouts})
    for key in candidates:
        if key not in known:
            raise UnknownRollout(f"--release names {key}, but no Rollout {key} is in the "
                                 f"repository (known: {', '.join(known)})")
    per_cluster: list[tuple[clusters.Cluster, list[planning.Plan]]] = []
    bakes = verdict_notes.read(found[0][0].releaser.mirror) if found else ()
    for cluster, snap in found:
        inv = snap.inventory
        report_unparsable(inv)
        per_cluster.append((cluster, [
            planning.plan(key, inventory=inv, candidates=candidates.get(key, []),
                          history=snap.history, presets=presets,
                          promotion=clusters.waiting(snap, key, candidates.get(key, []),
                                                     found=bakes))
            for key in sorted(inv.rollouts)
        ]))
    if output == "json":
        click.echo(json.dumps([_tagged(p.as_dict(), cluster) for cluster, plans in per_cluster
                               for p in plans], indent=2))
        return
    for cluster, plans in per_cluster:
        _heading(cluster, several=len(per_cluster) > 1)
        _print_plans(plans)


def _tagged(item: dict[str, Any], cluster: clusters.Cluster) -> dict[str, Any]:
    """A JSON element with its cluster's ``environment`` (none for the whole tree)."""
    return item if cluster.environment is None else {**item,
                                                     "environment": cluster.environment}


def _heading(cluster: clusters.Cluster, *, several: bool) -> None:
    if several:
        click.echo(f"== {cluster.label} ==")


def _print_plans(plans: list[planning.Plan]) -> None:
    for p in plans:
        head = {"release": f"release {p.current or '(none)'} -> {p.next}",
                "none": f"nothing to do (at {p.current or 'no release yet'})",
                "blocked": f"blocked (at {p.current or 'no release yet'})"}[p.action]
        click.echo(f"{p.rollout}: {head}")
        for reason in p.reasons:
            click.echo(f"    {reason}")
        for c in p.changes.changes:
            click.echo(f"    ~ {c.file} (document {c.document + 1}) {c.pointer}: "
                       f"{c.old} -> {c.new}")


@click.command()
@click.argument("rollout", metavar="[NS/NAME]", required=False)
@repo_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help=OUTPUT_HELP)
@click.option("-n", "--limit", type=click.IntRange(min=1), help="Show at most N entries.")
@handle_errors
def history(rollout: str | None, output: str, limit: int | None, **opts: Any) -> None:
    """The audit trail, newest first: the reconciler's commits (trailers) and the
    bake verdicts recorded on them (git notes)."""
    policies(opts)
    if rollout and "/" not in rollout:
        raise InputError(f"{rollout!r}: expected NS/NAME")
    found = clusters.select(open_releaser(opts))
    if rollout:
        clusters.require_known(found, rollout)
    bakes = verdict_notes.read(found[0].releaser.mirror) if found else ()
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
        merged = trail.entries(records, bakes, rollout=rollout)
        sections.append((cluster, merged[:limit] if limit else merged))
    if output == "json":
        click.echo(json.dumps([_tagged(entry, cluster) for cluster, merged in sections
                               for _, entry in merged], indent=2))
        return
    for cluster, merged in sections:
        _heading(cluster, several=len(sections) > 1)
        if not merged:
            click.echo("no reconciler commits" + (f" for {rollout}" if rollout else ""))
        for when, entry in merged:
            click.echo(trail.line(when, entry))


@click.command()
@repo_options
@handle_errors
def validate(**opts: Any) -> None:
    """Lint the repository's rollout set-up; exit 1 when anything is wrong."""
    presets = preset_files.load(policies(opts))
    found = clusters.select(open_releaser(opts))
    errors = 0
    for cluster in found:
        _heading(cluster, several=len(found) > 1)
        errors += _validate(cluster, presets, several=len(found) > 1)
    if errors:
        sys.exit(EXIT_PROBLEMS)


def _validate(cluster: clusters.Cluster, presets: Mapping[str, models.PolicyPreset], *,
              several: bool) -> int:
    """Print one cluster's problems and its summary line; the number of errors."""
    snap = cluster.snapshot()
    inv = snap.inventory
    problems = lint.problems(inv, presets)
    errors = 0
    for problem in problems:
        click.echo(problem.render())
        errors += problem.severity == "error"
    rollouts = len(inv.rollouts)
    targets = sum(len(v) for v in inv.targets.values())
    where = f"{cluster.environment}: " if several else ""
    click.echo(f"{where}{rollouts} rollouts, {targets} targets, {errors} errors, "
               f"{len(problems) - errors} warnings in {snap.stats.files} YAML files",
               err=True)
    return errors
