"""``reconciler stats``: delivery metrics from the audit trail (docs/stats.md).

Where it fits: a command of ``cli`` (named in its ``COMMANDS``, imported when
invoked). It reads what ``history``
reads, per cluster (the reconciler's commits by their ``Environment`` trailer, the
bake verdicts and the decisions on pull requests in the notes), resolves each commit's
environment, and hands everything to ``core/stats`` in one go, so the figures per
rollout, per environment and overall agree with each other.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from reconciler.core import declines, durations, stats, trailers
from reconciler.engine import delivery
from reconciler.engine import verdicts as verdict_notes
from reconciler.errors import InputError
from reconciler.interfaces import clusters, settings
from reconciler.interfaces.exits import handle_errors
from reconciler.interfaces.repoaccess import heading, policies, releaser_for, repo_options

OUTPUT_HELP = "Output format: text (a table per cluster), or json (one object; docs/stats.md)."
COLUMNS = ("ROLLOUT", "ENVIRONMENT", "RELEASES", "PER WEEK", "FAILED", "CFR",
           "RESTORE P50", "RESTORE P90", "LEAD P50", "LEAD P90")


@click.command("stats")
@click.argument("rollout", metavar="[NS/NAME]", required=False)
@repo_options
@click.option("--since", default="30d", show_default=True, metavar="DURATION",
              help="The window, back from now: 12h, 30d, 2w (Go durations, plus d and w).")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help=OUTPUT_HELP)
@handle_errors
def command(rollout: str | None, since: str, output: str, **opts: Any) -> None:
    """Delivery metrics from git alone: deployment frequency, change failure rate,
    time to restore and lead time, per rollout and environment (docs/stats.md)."""
    _run(rollout, since, output, opts)


def window(text: str) -> timedelta:
    """``--since``: a Go duration with days and weeks, longer than nothing."""
    try:
        span = durations.parse(text, days=True)
    except ValueError as exc:
        raise InputError(f"--since: {exc}") from None
    if span <= timedelta(0):
        raise InputError(f"--since {text!r}: the window must be longer than 0s")
    return span


def _run(rollout: str | None, since: str, output: str, opts: dict[str, Any]) -> None:
    policies(opts)
    if rollout and "/" not in rollout:
        raise InputError(f"{rollout!r}: expected NS/NAME")
    span = window(since)
    config = settings.load(settings.GitSettings, opts)
    for name in settings.GitSettings.model_fields:
        opts.pop(name, None)
    found = clusters.select(releaser_for(config))
    if rollout:
        clusters.require_known(found, rollout)
    bakes, decided = verdict_notes.read_all(found[0].releaser.mirror) if found else ((), ())
    records: list[trailers.Record] = []
    chosen: list[declines.Decline] = []
    envs: list[str] = []
    for cluster in found:
        env, mine, theirs = _cluster(cluster, decided, explicit=config.environment)
        envs.append(env)
        records += [r for r in mine if rollout is None or r.trailers.rollout == rollout]
        chosen += [d for d in theirs if rollout is None or d.rollout == rollout]
    now = datetime.now(UTC)
    records.sort(key=lambda r: r.time, reverse=True)
    report = stats.compute(records, bakes, since=now - span, now=now, decided=chosen)
    if output == "json":
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    click.echo(f"{now - span:%Y-%m-%d %H:%M} to {now:%Y-%m-%d %H:%M} UTC ({since}): "
               f"release commits, bake verdicts and declines in git")
    for cluster, env in zip(found, envs, strict=True):
        several = len(found) > 1
        heading(cluster, several=several)
        _table(report, env if several else None, rollout)


def _cluster(cluster: clusters.Cluster, decided: Sequence[declines.Decline], *,
             explicit: str | None) -> tuple[str, list[trailers.Record], list[declines.Decline]]:
    """The cluster's environment, its records (each with its environment set) and the
    decisions on its pull requests. A commit without an ``Environment`` trailer counts
    in the cluster (where it defines the rollout, when the repository has several)."""
    env = cluster.releaser.environment or "default"
    snap = cluster.snapshot()
    if cluster.root is None:
        records = list(cluster.releaser.scanner.history(snap.commit))
        only = explicit  # the whole tree holds every environment's, unless one is named
    else:
        records = [r for r in snap.fleet_history if r.trailers.environment == env
                   or (r.trailers.environment is None
                       and r.trailers.rollout in snap.inventory.rollouts)]
        only = env
    theirs = [d for d in decided if only is None or d.environment == only]
    records = delivery.releases(mirror=cluster.releaser.mirror, snap=snap, records=records,
                                decided=theirs, environments=lambda e: only in (None, e))
    resolved = [r if r.trailers.environment else dataclasses.replace(
        r, trailers=dataclasses.replace(r.trailers, environment=env)) for r in records]
    return env, [r for r in resolved if only in (None, r.trailers.environment)], theirs


def _table(report: stats.Report, env: str | None, rollout: str | None) -> None:
    """The rows of environment ``env`` (None: every one), and their totals."""
    rows = [(r, e, f) for (r, e), f in report.groups if env in (None, e)]
    if not rows:
        click.echo("no reconciler commits" + (f" for {rollout}" if rollout else ""))
        return
    lines = [COLUMNS, *(_row(r, e, f) for r, e, f in rows)]
    envs = sorted({e for _, e, _ in rows})
    totals = dict(report.environments)
    if rollout is None:
        lines += [_row("(all)", e, totals[e]) for e in envs]
    widths = [max(len(line[i]) for line in lines) for i in range(len(COLUMNS))]
    for line in lines:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
                   .rstrip())
    for r, e, f in rows:
        if f.unrestored_since is not None:
            click.echo(f"{r} in {e}: failed {f.unrestored_since:%Y-%m-%d %H:%M} UTC, "
                       f"no verified release since")


def _row(rollout: str, env: str, f: stats.Figures) -> tuple[str, ...]:
    cfr = f.change_failure_rate
    return (rollout, env, str(f.releases), f"{f.per_week:.2f}", str(f.failed),
            "-" if cfr is None else f"{cfr:.0%}",
            _human(f.time_to_restore.median), _human(f.time_to_restore.p90),
            _human(f.lead_time.median), _human(f.lead_time.p90))


def _human(seconds: float | None) -> str:
    """``1d4h``, ``3h20m``, ``12m30s``, ``45s``: the two largest units, rounded down."""
    if seconds is None:
        return "-"
    total = int(seconds)
    parts = [(total // 86400, "d"), (total % 86400 // 3600, "h"), (total % 3600 // 60, "m"),
             (total % 60, "s")]
    first = next((i for i, (n, _) in enumerate(parts) if n), len(parts) - 1)
    return "".join(f"{n}{unit}" for n, unit in parts[first:first + 2] if n) or "0s"
