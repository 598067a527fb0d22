"""``reconciler check``: a pull request's effect on releases, for the config
repository's own CI (docs/check.md).

Where it fits: the command resolves ``--base`` and ``--head`` in the repository
``--repo`` names (``Mirror.resolve``: a CI checkout's detached ``HEAD`` and its
``origin/main``), scans both commits per cluster with the same scanner the daemon
uses (the second scan only re-reads what the change touched), and hands the two
views to ``core.impact`` for the findings and to ``core.lint`` for the problems
``validate`` would report on each. ``checkreport`` renders the ``Report``. Exit 1
when the head introduces an error-severity problem; findings and problems already on
the base never fail the check.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from reconciler.core import impact, lint, manifests, scope
from reconciler.engine import presets as preset_files
from reconciler.engine import snapshot
from reconciler.errors import InputError
from reconciler.interfaces import checkreport, flags, repoaccess
from reconciler.interfaces.exits import EXIT_PROBLEMS, handle_errors

if TYPE_CHECKING:
    from reconciler.adapters import git, scancache
    from reconciler.core import models


@dataclass(frozen=True)
class Section:
    """One cluster's findings and problems; ``root`` None: the whole tree."""

    root: str | None
    findings: list[impact.Finding] = field(default_factory=list)
    introduced: list[manifests.Problem] = field(default_factory=list)
    existing: list[manifests.Problem] = field(default_factory=list)

    @property
    def environment(self) -> str | None:
        return None if self.root is None else scope.environment(self.root)

    @property
    def label(self) -> str:
        return f"{self.environment} ({self.root})" if self.root else "repository"


@dataclass(frozen=True)
class Report:
    """The whole check: the two revisions as given and resolved, and each cluster."""

    base_ref: str
    base: str
    head_ref: str
    head: str
    sections: list[Section]

    @property
    def errors(self) -> int:
        """Error-severity problems the head introduces: what fails the check."""
        return sum(p.severity == "error" for s in self.sections for p in s.introduced)


@click.command("check")
@flags.options("GitSettings", "ReleaseSettings")
@click.option("--base", "base_ref", required=True, metavar="REV",
              help="The revision the change is compared with (e.g. origin/main).")
@click.option("--head", "head_ref", default="HEAD", show_default=True, metavar="REV",
              help="The revision holding the change.")
@click.option("-o", "--output", type=click.Choice(list(checkreport.FORMATS)), default="text",
              show_default=True, help="text, a markdown comment body, JSON, or GitHub "
                                      "Actions annotations.")
@handle_errors
def command(base_ref: str, head_ref: str, output: str, **opts: Any) -> None:
    """A pull request's effect on releases, and the problems it introduces; exit 1
    when the head introduces an error. For the config repository's own CI."""
    directory = repoaccess.policies(opts)
    releaser = repoaccess.open_releaser(opts, read_only=True)
    presets = preset_files.load(directory, store=releaser.scanner.store)
    report = build(releaser.mirror, base_ref=base_ref, head_ref=head_ref,
                   path=releaser.scanner.path, environment=releaser.environment,
                   presets=presets, store=releaser.scanner.store)
    click.echo(checkreport.render(report, output), nl=False)
    if report.errors:
        sys.exit(EXIT_PROBLEMS)


def build(mirror: git.Mirror, *, base_ref: str, head_ref: str, path: str | None,
          environment: str | None = None,
          presets: dict[str, models.PolicyPreset],
          store: scancache.Store | None = None) -> Report:
    """Resolve both revisions, scan each cluster at both, compare. ``environment``:
    ``--path``'s, when given (``--environment``); ``store``: the on-disk scan cache."""
    base, head = _resolve(mirror, "--base", base_ref), _resolve(mirror, "--head", head_ref)
    sections = []
    for root in _roots(mirror, path=path, commits=(base, head), store=store):
        env = None if root is None else (path is not None and environment) \
            or scope.environment(root)
        scanner = snapshot.Scanner(mirror, environment=env, path=root, store=store)
        old, new = scanner.snapshot(base), scanner.snapshot(head)
        if root is not None and path is not None and not _has_files(old, new):
            raise InputError(f"--path {path!r}: no such directory at either revision (or "
                             f"all of it is left out by .sourceignore)")
        introduced, existing = impact.split(base=lint.problems(old.inventory, presets),
                                            head=lint.problems(new.inventory, presets))
        findings = impact.compare(base=impact.Side(old.inventory, old.history),
                                  head=impact.Side(new.inventory, new.history),
                                  presets=presets)
        sections.append(Section(root, findings, introduced, existing))
    return Report(base_ref, base, head_ref, head, sections)


def _resolve(mirror: git.Mirror, flag: str, rev: str) -> str:
    try:
        return mirror.resolve(rev)
    except InputError as exc:
        raise InputError(f"{flag} {exc}") from exc


def _roots(mirror: git.Mirror, *, path: str | None, commits: tuple[str, str],
           store: scancache.Store | None) -> list[str | None]:
    """``--path``'s cluster; else every cluster root of either commit (a pull request
    may add or remove a cluster) when there are several; else the whole tree."""
    if path is not None:
        root = scope.normalize(path)
        if root is None:
            raise InputError(f"--path {path!r}: must be a directory inside the repository")
        return [root]
    found = sorted({r.path for commit in commits
                    for r in snapshot.roots(mirror, commit, store=store)})
    return list(found) if len(found) > 1 else [None]


def _has_files(*snaps: snapshot.Snapshot) -> bool:
    return any(s.scope is None or s.scope.files for s in snaps)
