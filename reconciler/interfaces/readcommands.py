"""The read-only commands ``plan`` and ``validate`` (DESIGN.md, CLI contract).

Where it fits: each reads the branch head through the mirror (``repoaccess``), per
cluster (``clusters``), and prints what the core computes from it; none writes a
commit. ``cli`` imports this module only when one of them is invoked, and this
module imports only what they need: no cluster client, no daemon, no HTTP server
(a test keeps it so; docs/performance.md, "A fast CLI"). ``history`` and ``stats``,
read-only too, live in ``historycmd`` and ``statscmd``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from reconciler.core import declines, lint, planning, quarantine, steps
from reconciler.engine import presets as preset_files
from reconciler.engine import verdicts as verdict_notes
from reconciler.errors import UnknownRollout
from reconciler.interfaces import clusters
from reconciler.interfaces.exits import EXIT_PROBLEMS, handle_errors
from reconciler.interfaces.repoaccess import (
    OUTPUT_HELP,
    heading,
    open_releaser,
    policies,
    repo_options,
    report_unparsable,
    tagged,
)

if TYPE_CHECKING:
    from reconciler.core import models


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
    directory = policies(opts)
    releaser = open_releaser(opts, read_only=True)
    presets = preset_files.load(directory, store=releaser.scanner.store)
    found = [(c, c.snapshot()) for c in clusters.select(releaser)]
    known = sorted({k for _, snap in found for k in snap.inventory.rollouts})
    for key in candidates:
        if key not in known:
            raise UnknownRollout(f"--release names {key}, but no Rollout {key} is in the "
                                 f"repository (known: {', '.join(known)})")
    per_cluster: list[tuple[clusters.Cluster, list[planning.Plan]]] = []
    bakes, decided = (verdict_notes.read_all(found[0][0].releaser.mirror) if found
                      else ((), ()))
    for cluster, snap in found:
        inv = snap.inventory
        report_unparsable(inv)
        taken_out = quarantine.quarantines(snap.history)
        per_cluster.append((cluster, [
            steps.planned(planning.plan(
                key, inventory=inv, candidates=candidates.get(key, []),
                history=snap.history, presets=presets,
                promotion=clusters.waiting(snap, key, candidates.get(key, []), found=bakes),
                declined=declines.active(decided, rollout=key,
                                         environment=cluster.environment
                                         or cluster.releaser.environment or "default"),
                quarantined=taken_out.get(key, frozenset())),
                inventory=inv, history=snap.history)
            for key in sorted(inv.rollouts)
        ]))
    if output == "json":
        click.echo(json.dumps([tagged(p.as_dict(), cluster) for cluster, plans in per_cluster
                               for p in plans], indent=2))
        return
    for cluster, plans in per_cluster:
        heading(cluster, several=len(per_cluster) > 1)
        _print_plans(plans)


def _print_plans(plans: list[planning.Plan]) -> None:
    for p in plans:
        stage = f" (canary {p.step} at {p.weight}%)" if p.step and p.step != "promote" \
            else " (promote)" if p.step else ""
        head = {"release": f"release {p.current or '(none)'} -> {p.next}{stage}",
                "none": f"nothing to do (at {p.current or 'no release yet'})",
                "blocked": f"blocked (at {p.current or 'no release yet'})"}[p.action]
        click.echo(f"{p.rollout}: {head}")
        for reason in p.reasons:
            click.echo(f"    {reason}")
        for c in p.changes.changes:
            click.echo(f"    ~ {c.file} (document {c.document + 1}) {c.pointer}: "
                       f"{c.old} -> {c.new}")


@click.command()
@repo_options
@handle_errors
def validate(**opts: Any) -> None:
    """Lint the repository's rollout set-up; exit 1 when anything is wrong."""
    directory = policies(opts)
    releaser = open_releaser(opts, read_only=True)
    presets = preset_files.load(directory, store=releaser.scanner.store)
    found = clusters.select(releaser)
    errors = 0
    for cluster in found:
        heading(cluster, several=len(found) > 1)
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
    targets = sum(len(v) for v in inv.targets.values()) + sum(len(v) for v in inv.canary.values())
    where = f"{cluster.environment}: " if several else ""
    click.echo(f"{where}{rollouts} rollouts, {targets} targets, {errors} errors, "
               f"{len(problems) - errors} warnings in {snap.stats.files} YAML files",
               err=True)
    return errors
