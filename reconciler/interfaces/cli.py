"""The ``reconciler`` command line (DESIGN.md, CLI contract).

Every command reads the config repository through a persistent local mirror
(``--cache-dir``), so a second run only fetches what is new. Every command ends
the same way (interfaces/exits.py): exit 0, 1 (ran and found problems) or 2
(what it was given is wrong), errors in one stderr line without credentials.
Every option can also be set through the environment variable its help names
(reconciler/interfaces/settings.py defines them all, e.g. ``RECONCILER_REPO``).
``--path`` scopes a command to one cluster of a fleet repository; without it, a
repository with several clusters is reported per cluster (interfaces/clusters.py).
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import __version__
from reconciler.adapters import git, signing
from reconciler.core import declines, lint, manifests, models, planning, scope, trailers, versions
from reconciler.engine import presets as preset_files
from reconciler.engine import verdicts as verdict_notes
from reconciler.engine.releaser import Releaser, Result
from reconciler.errors import InputError, UnknownRollout
from reconciler.interfaces import (
    check,
    clusters,
    exits,
    historycmd,
    migrate,
    propose,
    settings,
    signingsetup,
    statscmd,
)

# Re-exported: commands defined in other modules end the same way.
from reconciler.interfaces.exits import EXIT_PROBLEMS as EXIT_PROBLEMS
from reconciler.interfaces.exits import EXIT_USAGE as EXIT_USAGE
from reconciler.interfaces.exits import handle_errors as handle_errors
from reconciler.interfaces.settings import DEFAULT_PASSWORD_ENV

F = TypeVar("F", bound=Callable[..., Any])
_fail = exits.fail  # how every command ends: interfaces/exits.py


def _warn(message: str) -> None:
    click.echo(f"reconciler: {message}", err=True)


def repo_options(fn: F) -> F:
    """Options every command that reads the config repository shares (read-only
    commands write no commit, so they offer no ``--author-*``)."""
    return settings.options(settings.GitSettings, settings.ReleaseSettings,
                            commits=False)(fn)


def commit_options(fn: F) -> F:
    """:func:`repo_options`, the commit author and the signing key, for the commands
    that commit."""
    return settings.options(settings.GitSettings, settings.ReleaseSettings,
                            settings.SigningSettings)(fn)


OUTPUT_HELP = "Output format: text, or json (one JSON array; docs/cli.md)."


def open_releaser(opts: dict[str, Any], *, signer: signing.Signer | None = None) -> Releaser:
    """Build the mirror and releaser from the git settings given as flags (consumed
    from ``opts``), the environment and the defaults."""
    config = settings.load(settings.GitSettings, opts)
    for name in settings.GitSettings.model_fields:
        opts.pop(name, None)
    return releaser_for(config, signer=signer)


def releaser_for(config: settings.GitSettings, *,
                 signer: signing.Signer | None = None) -> Releaser:
    config.check_files()
    password_env, password_file = config.password_env, config.password_file
    if not password_env and not password_file and os.environ.get(DEFAULT_PASSWORD_ENV):
        password_env = DEFAULT_PASSWORD_ENV
    credentials = git.Credentials.from_sources(
        username=config.username,
        password_file=password_file,
        password_env=password_env,
        ssh_key=config.ssh_key,
        ssh_passphrase_file=config.ssh_key_passphrase_file,
        known_hosts=config.known_hosts,
        insecure_skip_host_key_check=config.insecure_skip_host_key_check,
        ca_bundle=config.ca_bundle,
    )
    mirror = git.Mirror.open(
        config.repo,
        cache_dir=config.cache_dir,
        branch=config.branch,
        credentials=credentials,
        author=git.Author(name=config.author_name, email=config.author_email),
        signer=signer,
    )
    # A cluster's commits carry its environment (DESIGN.md, commit contract).
    environment = config.environment or (
        None if config.path is None else scope.environment(config.path))
    return Releaser(mirror, path=config.path, environment=environment)


def _policies(opts: dict[str, Any]) -> Path | None:
    return settings.load(settings.ReleaseSettings, {"policies": opts.pop("policies")}).policies


def _report_unparsable(inventory: manifests.Inventory) -> None:
    for problem in inventory.problems:
        if problem.file in inventory.unparsable:
            _warn(f"warning: skipped, never rewritten: {problem.render()}")


@click.group(cls=exits.Group, context_settings={"help_option_names": ["-h", "--help"],
                               "max_content_width": 100})
@click.version_option(__version__, prog_name="reconciler")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """GitOps release reconciler for Flux: choose, write and revert releases in git."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
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
    policies = preset_files.load(_policies(opts))
    found = [(c, c.snapshot()) for c in clusters.select(open_releaser(opts))]
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
        _report_unparsable(inv)
        per_cluster.append((cluster, [
            planning.plan(key, inventory=inv, candidates=candidates.get(key, []),
                          history=snap.history, presets=policies,
                          promotion=clusters.waiting(snap, key, candidates.get(key, []),
                                                     found=bakes),
                          declined=declines.active(decided, rollout=key,
                                                   environment=cluster.environment
                                                   or cluster.releaser.environment
                                                   or "default"))
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


@cli.command()
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
    _policies(opts)
    write = propose.pull_request_mode(opts)
    signer = signingsetup.from_flags(opts)  # a key that cannot sign: exit 2 now
    releaser = clusters.for_rollout(open_releaser(opts, signer=signer), rollout=rollout)
    snap = releaser.snapshot()
    _report_unparsable(snap.inventory)
    if tag in trailers.quarantined(snap.history, rollout):
        _warn(f"warning: {tag} was reverted before on this branch; writing it anyway "
              f"because you asked for it explicitly")
    _warn_downgrade(snap.inventory, rollout, tag)
    if write is not None and not dry_run:
        propose.report(rollout, propose.propose(releaser, write, rollout=rollout, release=tag,
                                                digest=digest))
        return
    result = releaser.release(rollout, tag, push=push, dry_run=dry_run, digest=digest)
    _print_result(result, show_diff=dry_run, old=_old_files(releaser, result))


@cli.command()
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
    _policies(opts)
    write = propose.pull_request_mode(opts)
    signer = signingsetup.from_flags(opts)  # a key that cannot sign: exit 2 now
    releaser = clusters.for_rollout(open_releaser(opts, signer=signer), rollout=rollout)
    if write is not None and not dry_run:
        propose.report(rollout, propose.propose(releaser, write, rollout=rollout, reason=reason))
        return
    result = releaser.revert(rollout, reason=reason, push=push, dry_run=dry_run)
    _print_result(result, show_diff=dry_run, old=_old_files(releaser, result))


def _warn_downgrade(inv: manifests.Inventory, rollout: str, tag: str) -> None:
    """Say so when ``tag`` is lower than the release the targets hold: allowed (that
    is how a person rolls back by hand), but never by accident."""
    current, _ = planning.current_release(inv.targets.get(rollout, []))
    try:
        lower = current is not None and versions.parse(tag) < versions.parse(current)
    except InputError:
        return  # a current value that is no version: nothing to compare with
    if lower:
        _warn(f"warning: {tag} is lower than the current release {current} of {rollout}: "
              f"this is a downgrade")


def _old_files(releaser: Releaser, result: Result) -> dict[str, bytes]:
    if not result.files:
        return {}
    snap = releaser.scanner.snapshot(releaser.mirror.head())
    return {f: releaser.mirror.read_blob(snap.blobs[f]) for f in result.files
            if f in snap.blobs}


@cli.command()
@repo_options
@handle_errors
def validate(**opts: Any) -> None:
    """Lint the repository's rollout set-up; exit 1 when anything is wrong."""
    policies = preset_files.load(_policies(opts))
    found = clusters.select(open_releaser(opts))
    errors = 0
    for cluster in found:
        _heading(cluster, several=len(found) > 1)
        errors += _validate(cluster, policies, several=len(found) > 1)
    if errors:
        sys.exit(EXIT_PROBLEMS)


def _validate(cluster: clusters.Cluster, policies: Mapping[str, models.PolicyPreset], *,
              several: bool) -> int:
    """Print one cluster's problems and its summary line; the number of errors."""
    snap = cluster.snapshot()
    inv = snap.inventory
    problems = lint.problems(inv, policies)
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


@cli.command()
@settings.options(*settings.RUN_GROUPS)
@handle_errors
def run(**given: Any) -> None:
    """The daemon: release, bake and revert every Rollout, beside Flux.

    Every option can also be set with the environment variable named in its help
    (a flag wins over the variable)."""
    from reconciler.interfaces import daemon_main, notifysetup

    config = settings.RunSettings.load(given)
    config.git.check_files()  # --repo first, as every other command does
    config.cluster.check_files()
    config.dashboard.check_files()
    notifysetup.check(config.notify)  # a bad notifications config: exit 2 now
    signer = signingsetup.connect(config.signing)  # a key that cannot sign: exit 2 now
    releaser = releaser_for(config.git, signer=signer)
    if config.git.path is not None:
        clusters.select(releaser)  # a --path that is not in the repository: exit 2 now
    daemon_main.run(config, mirror=releaser.mirror, signer=signer)


@cli.command()
def demo() -> None:
    """The whole release loop on this machine, no cluster needed (about 9 s)."""
    from reconciler.interfaces import demo as demo_story

    sys.exit(demo_story.main())


cli.add_command(check.command)
cli.add_command(migrate.command)
cli.add_command(historycmd.command)
cli.add_command(statscmd.command)


def main() -> None:
    cli(prog_name="reconciler")
