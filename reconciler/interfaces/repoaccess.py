"""How a command reaches the config repository: its options, the mirror, the releaser.

Where it fits: every command that reads or writes the repository (``plan``,
``history``, ``stats``, ``validate``, ``check``, ``release``, ``revert``, ``migrate``,
``run``) shares these options and opens the repository the same way, through a
persistent local mirror (``--cache-dir``) so a second run only fetches what is new.
The commands live in ``readcommands``, ``writecommands``, ``historycmd``,
``statscmd``, ``check``, ``migrate`` and ``daemon_main``; ``cli`` loads each only when
it is invoked (docs/performance.md, "A fast CLI").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from reconciler.adapters import gitmemo
from reconciler.core import manifests, scope
from reconciler.engine import scanstore
from reconciler.engine.releaser import Releaser
from reconciler.interfaces import clusters, flags
from reconciler.interfaces.flags import DEFAULT_PASSWORD_ENV

if TYPE_CHECKING:  # a warm read-only command loads neither pygit2 nor the signing keys'
    # module (tempfile, subprocess...; docs/performance.md, "A fast CLI")
    from reconciler.adapters import git, signing
    from reconciler.interfaces import settings

F = TypeVar("F", bound=Callable[..., Any])

OUTPUT_HELP = "Output format: text, or json (one JSON array; docs/cli.md)."


def warn(message: str) -> None:
    click.echo(f"reconciler: {message}", err=True)


def repo_options(fn: F) -> F:
    """Options every command that reads the config repository shares (read-only
    commands write no commit, so they offer no ``--author-*``)."""
    return flags.options("GitSettings", "ReleaseSettings", commits=False)(fn)


def commit_options(fn: F) -> F:
    """:func:`repo_options`, the commit author and the signing key, for the commands
    that commit."""
    return flags.options("GitSettings", "ReleaseSettings", "SigningSettings")(fn)


def open_releaser(opts: dict[str, Any], *, signer: signing.Signer | None = None,
                  read_only: bool = False) -> Releaser:
    """Build the mirror and releaser from the git settings given as flags (consumed
    from ``opts``), the environment and the defaults. ``read_only``: the command
    only reads (``plan``, ``validate``, ``check``), so a warm mirror of a local
    remote may answer from its memo without libgit2 (``adapters/gitmemo``)."""
    config: settings.GitSettings = load("GitSettings", opts)
    for name in flags.names("GitSettings"):
        opts.pop(name, None)
    return releaser_for(config, signer=signer, read_only=read_only)


def load(group: str, given: dict[str, Any]) -> Any:
    """The settings group ``group`` (its class name) from ``given`` flags, the
    environment and the defaults: read plainly by ``flags.load`` when it can be sure,
    else validated by the model (pydantic imported then), whose error is the one a
    person sees (docs/performance.md, "A fast CLI")."""
    found = flags.load(group, given)
    if found is None:
        from reconciler.interfaces import settings

        found = settings.load(getattr(settings, group), given)
    return found


def releaser_for(config: settings.GitSettings, *, signer: signing.Signer | None = None,
                 scan_cache: bool = True, read_only: bool = False) -> Releaser:
    """The releaser of ``config``'s repository; ``scan_cache``: keep scans on disk
    beside the mirror between runs (``engine/scanstore``; the daemon keeps its own
    in memory); ``read_only``: see ``open_releaser``."""
    flags.check_git_files(config)
    mirror: git.Mirror | None = None
    # No secret to read (so none to refuse), nothing to sign: the memo may answer,
    # and ``_mirror`` opens the real mirror, as for any other command, only if it cannot.
    if read_only and signer is None and not (config.password_file or config.password_env
                                             or config.ssh_key_passphrase_file):
        mirror = gitmemo.open_local(config.repo, cache_dir=config.cache_dir,
                                    branch=config.branch,
                                    opener=lambda: _mirror(config, signer=None))
    # A cluster's commits carry its environment (DESIGN.md, commit contract).
    environment = config.environment or (
        None if config.path is None else scope.environment(config.path))
    if mirror is None:
        mirror = _mirror(config, signer=signer)
    return Releaser(mirror, path=config.path, environment=environment,
                    store=scanstore.beside(mirror) if scan_cache else None)


def _mirror(config: settings.GitSettings, *, signer: signing.Signer | None) -> git.Mirror:
    from reconciler.adapters import git

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
    return git.Mirror.open(
        config.repo,
        cache_dir=config.cache_dir,
        branch=config.branch,
        credentials=credentials,
        author=git.Author(name=config.author_name, email=config.author_email),
        signer=signer,
    )


def policies(opts: dict[str, Any]) -> Path | None:
    """``--policies`` (consumed from ``opts``): the preset directory, or None."""
    policies: Path | None = load("ReleaseSettings", {"policies": opts.pop("policies")}).policies
    return policies


def report_unparsable(inventory: manifests.Inventory) -> None:
    for problem in inventory.problems:
        if problem.file in inventory.unparsable:
            warn(f"warning: skipped, never rewritten: {problem.render()}")


def tagged(item: dict[str, Any], cluster: clusters.Cluster) -> dict[str, Any]:
    """A JSON element with its cluster's ``environment`` (none for the whole tree)."""
    return item if cluster.environment is None else {**item,
                                                     "environment": cluster.environment}


def heading(cluster: clusters.Cluster, *, several: bool) -> None:
    if several:
        click.echo(f"== {cluster.label} ==")
