"""``reconciler migrate``: move from kuberik's rollout-controller by adding to git the
target fields it kept in the cluster (docs/migrating.md).

Where it fits: a command of ``cli`` (named in its ``COMMANDS``, imported when
invoked), with the shared options of ``repoaccess``, ending the way every command
ends (``interfaces/exits.py``); ``engine.migrator`` finds and writes the
fields. Without ``--push`` the command shows the change table and the diff and writes
nothing; with it, one commit, pushed. A second run finds nothing to do (exit 0). A
field whose value is unknown (its rollout's release is nowhere in git and
``--release`` does not give it) is a problem: exit 1, nothing written. The commit is
signed like every other (``--signing-key``, docs/signing.md).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Sequence
from typing import Any

import click

from reconciler.engine import migrator
from reconciler.errors import InputError
from reconciler.interfaces import clusters, exits, signingsetup
from reconciler.interfaces.repoaccess import commit_options, open_releaser, policies


@click.command("migrate")
@commit_options
@click.option("--release", "releases", multiple=True, metavar="NS/NAME=TAG",
              help="The release a rollout runs now, when git does not say (repeatable).")
@click.option("--push", is_flag=True, help="Write the change as one commit and push it.")
@exits.handle_errors
def command(releases: Sequence[str], push: bool, **opts: Any) -> None:
    """Add the postBuild.substitute (and spec.ref.tag) fields kuberik's
    rollout-controller set in the cluster to git, with the release running now; show
    them, or with --push write them as one commit for review."""
    given: dict[str, str] = {}
    for item in releases:
        key, sep, tag = item.partition("=")
        if not sep or "/" not in key or not tag:
            raise click.BadParameter(f"{item!r}: expected NS/NAME=TAG", param_hint="--release")
        given[key] = tag
    policies(opts)
    signer = signingsetup.from_flags(opts)  # a key that cannot sign: exit 2 now
    found = clusters.select(open_releaser(opts, signer=signer))
    if len(found) > 1:
        raise InputError(f"the repository holds {len(found)} clusters; migrate one at a time "
                         f"with --path ({', '.join(c.root or '.' for c in found)})")
    result = migrator.run(found[0].releaser, given=given, push=push)
    for problem in result.problems:
        click.echo(problem.render())
    if result.problems:
        count = len(result.problems)
        click.echo(f"{count} field{'s' if count != 1 else ''} without a known value; nothing "
                   f"written", err=True)
        sys.exit(exits.EXIT_PROBLEMS)
    if not result.additions:
        click.echo("nothing to do: every annotated target field is in git")
        return
    for rollout, value in sorted(result.releases.items()):
        source = next(a.source for a in result.additions if a.missing.rollout == rollout)
        click.echo(f"{rollout}: {value} (from {source})")
        for a in result.additions:
            if a.missing.rollout == rollout:
                m = a.missing
                click.echo(f"    + {m.file} (document {m.document + 1}) "
                           f"{m.kind} {m.object} {m.field_name}: {a.value}")
    if result.commit:
        click.echo(f"pushed {result.commit[:12]}: one commit, Action: migrate")
        return
    for file, new in sorted(result.files.items()):
        old = result.before[file].decode("utf-8", "replace").splitlines(keepends=True)
        lines = new.decode("utf-8", "replace").splitlines(keepends=True)
        click.echo("".join(difflib.unified_diff(old, lines, f"a/{file}", f"b/{file}")),
                   nl=False)
    click.echo("dry run, nothing written; --push writes this as one commit")
