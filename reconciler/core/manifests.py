"""Finding Rollouts and their targets in the files of a config repository.

Two steps, both pure:

* ``scan_file(path, data)`` looks at one file and returns a ``FileScan``: the
  Rollouts, the annotated targets and the problems found in it. It depends on
  nothing but the file's bytes, so the engine caches it by blob id and a second
  scan of a mostly unchanged tree parses only what changed.
* ``resolve(scans)`` joins the per-file results: it links targets to Rollouts and
  reports what can only be seen across files (an annotation naming a rollout that
  does not exist, two rollouts claiming one field, a Rollout defined twice).

Targets (DESIGN.md): a Flux ``Kustomization`` annotated
``rollout.kuberik.com/substitute.<VAR>.from: <rollout>`` owns
``spec.postBuild.substitute.<VAR>``; an ``OCIRepository`` annotated
``rollout.kuberik.com/rollout: <rollout>`` owns ``spec.ref.tag``. ``<rollout>`` is
``name`` (the annotated object's namespace) or ``namespace/name``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError

from reconciler.core import models, yamldoc
from reconciler.errors import ManifestError, printable

SUFFIXES = (".yaml", ".yml")
# Every file that can matter names the kuberik.com API group (Rollouts) or an
# annotation under rollout.kuberik.com; anything else is skipped unparsed.
SCREEN = b"kuberik.com"
ANNOTATION_PREFIX = "rollout.kuberik.com/"
ROLLOUT_ANNOTATION = "rollout.kuberik.com/rollout"
_SUBSTITUTE = re.compile(r"^rollout\.kuberik\.com/substitute\.(?P<var>.+)\.from$")
_VAR = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
DEFAULT_NAMESPACE = "default"

FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
FLUX_SOURCE_GROUP = "source.toolkit.fluxcd.io"

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """Something wrong (or doubtful) in the config repository, and where."""

    file: str
    message: str
    document: int | None = None
    field: str | None = None
    severity: Severity = "error"
    line: int | None = None
    # The rollout a broken target annotation names: an error here stops all of its
    # targets (writing only the others would leave the release half done).
    rollout: str | None = None

    def render(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
        if self.document is not None:
            where += f" (document {self.document + 1})"
        if self.field:
            where += f" {self.field}"
        # One line, whatever the file name, field or value holds (a newline, an escape).
        return printable(f"{self.severity}: {where}: {self.message}")


@dataclass(frozen=True)
class RolloutEntry:
    """A Rollout manifest; ``rollout`` is None when its spec did not validate."""

    key: str
    file: str
    document: int
    line: int
    rollout: models.Rollout | None


@dataclass(frozen=True)
class Target:
    """A field in the repository that holds the release of one rollout."""

    rollout: str
    file: str
    document: int
    kind: str
    object: str
    path: tuple[str, ...]
    value: str | None
    line: int | None = None

    @property
    def field_name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class FileScan:
    """What one file holds; depends only on the file's bytes (cacheable by blob)."""

    file: str
    parsed: bool
    rollouts: tuple[RolloutEntry, ...] = ()
    targets: tuple[Target, ...] = ()
    problems: tuple[Problem, ...] = ()


@dataclass
class Inventory:
    """Everything the repository says about rollouts, joined across files."""

    rollouts: dict[str, RolloutEntry] = field(default_factory=dict)
    targets: dict[str, list[Target]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Rollouts whose set-up has an error: never written to automatically.
    broken: dict[str, list[Problem]] = field(default_factory=dict)
    unparsable: set[str] = field(default_factory=set)

    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def no_target(self, key: str) -> str:
        """Why ``key`` has no target, naming a file that was skipped (it does not
        parse, or is a symlink): it may be where the targets are."""
        message = f"no annotated target for {key} in the repository, so nothing to write"
        if not self.unparsable:
            return message
        first = min((p for p in self.problems if p.file in self.unparsable),
                    key=lambda p: (p.severity != "error", p.file))
        more = len(self.unparsable) - 1
        others = f" and {more} other file{'s' if more > 1 else ''}" if more else ""
        return (f"{message}; it may be in a file that was skipped, which is never read or "
                f"rewritten: {first.render()}{others}")


def wants(path: str) -> bool:
    """Whether a repository path is a YAML file worth reading at all."""
    return path.endswith(SUFFIXES)


def screen(data: bytes) -> bool:
    """Cheap substring test: can this file hold a Rollout or an annotated target?"""
    return SCREEN in data


def rollout_key(ref: str, *, namespace: str) -> str:
    """``name`` or ``namespace/name`` from an annotation, as ``namespace/name``."""
    return ref if "/" in ref else f"{namespace}/{ref}"


def _group(api_version: Any) -> str:
    return api_version.split("/", 1)[0] if isinstance(api_version, str) else ""


def _dig(data: Any, path: Iterable[str]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


SKIPPED = {
    "symlink": "a symbolic link to {detail}; links are never followed, read or "
               "rewritten (the file it names is read where it is)",
    "symlink-outside": "a symbolic link to {detail}, outside the repository; it is never "
                       "followed, read or rewritten",
    "submodule": "a submodule (gitlink); never read or rewritten",
    "invalid-name": "a tree entry named {detail}, which git itself refuses as a path "
                    "(path traversal?); never read or rewritten",
}


def skipped(path: str, *, kind: str, detail: str = "") -> FileScan:
    """The scan of a repository entry that is not read at all: a symlink, a submodule
    or a path git refuses. Pure. A link inside the repository is a warning (the file
    it names is scanned on its own); the others are errors."""
    severity: Severity = "warning" if kind == "symlink" else "error"
    message = SKIPPED[kind].format(detail=detail)
    return FileScan(file=path, parsed=False, problems=(
        Problem(file=path, message=message, severity=severity),))


def scan_file(path: str, data: bytes) -> FileScan:
    """Scan one file's bytes. Pure; never raises for bad content, reports it."""
    if not screen(data):
        return FileScan(file=path, parsed=False)
    try:
        documents = yamldoc.parse(data, file=path)
    except ManifestError as exc:
        return FileScan(file=path, parsed=False, problems=(
            Problem(file=path, document=exc.document, field=exc.field, message=exc.detail),))
    rollouts: list[RolloutEntry] = []
    targets: list[Target] = []
    problems: list[Problem] = []
    for doc in documents:
        if not isinstance(doc.data, dict):
            continue
        kind = doc.data.get("kind")
        group = _group(doc.data.get("apiVersion"))
        if kind == "Rollout" and group == models.API_GROUP:
            entry, found = _rollout(path, doc)
            problems.extend(found)
            if entry is not None:
                rollouts.append(entry)
            continue
        found_targets, found = _targets(path, doc, kind=kind, group=group)
        targets.extend(found_targets)
        problems.extend(found)
    return FileScan(file=path, parsed=True, rollouts=tuple(rollouts), targets=tuple(targets),
                    problems=tuple(problems))


def _rollout(path: str, doc: yamldoc.Document) -> tuple[RolloutEntry | None, list[Problem]]:
    problems: list[Problem] = []
    meta = doc.data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        return None, [Problem(file=path, document=doc.index, line=doc.line,
                              field="metadata.name", message="a Rollout needs a name")]
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    if namespace is None:
        namespace = DEFAULT_NAMESPACE
        problems.append(Problem(
            file=path, document=doc.index, line=doc.line, field="metadata.namespace",
            severity="warning",
            message=f"not set; assuming {DEFAULT_NAMESPACE!r} (set it so targets resolve "
                    f"the same way Flux applies them)"))
    key = f"{namespace}/{name}"
    try:
        rollout = models.Rollout.model_validate(doc.data)
    except ValidationError as exc:
        for field_path, message in models.describe_error(exc):
            problems.append(Problem(file=path, document=doc.index, line=doc.line,
                                    field=field_path, message=message))
        return RolloutEntry(key=key, file=path, document=doc.index, line=doc.line,
                            rollout=None), problems
    for extra in rollout.spec.unknown_fields():
        problems.append(Problem(
            file=path, document=doc.index, line=doc.line, field=f"spec.{extra}",
            severity="warning", message="unknown field; it is kept but has no effect here"))
    return RolloutEntry(key=key, file=path, document=doc.index, line=doc.line,
                        rollout=rollout), problems


def _targets(path: str, doc: yamldoc.Document, *, kind: Any,
             group: str) -> tuple[list[Target], list[Problem]]:
    meta = doc.data.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    if not isinstance(annotations, dict):
        return [], []
    ours = {k: v for k, v in annotations.items()
            if isinstance(k, str) and k.startswith(ANNOTATION_PREFIX)}
    if not ours:
        return [], []
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    targets: list[Target] = []
    problems: list[Problem] = []
    if not isinstance(namespace, str):
        namespace = DEFAULT_NAMESPACE
        problems.append(Problem(
            file=path, document=doc.index, line=doc.line, field="metadata.namespace",
            severity="warning",
            message=f"not set; assuming {DEFAULT_NAMESPACE!r} when resolving rollout names"))
    name = meta.get("name") if isinstance(meta, dict) else None
    obj = f"{namespace}/{name}"

    def problem(message: str, *, fld: str, severity: Severity = "error",
                rollout: str | None = None) -> None:
        problems.append(Problem(file=path, document=doc.index, line=doc.line, field=fld,
                                message=message, severity=severity, rollout=rollout))

    for key, ref in sorted(ours.items()):
        afield = f"metadata.annotations[{key}]"
        fpath: tuple[str, ...]
        m = _SUBSTITUTE.match(key)
        if not m and key != ROLLOUT_ANNOTATION:
            problem("unknown rollout.kuberik.com annotation; it is ignored",
                    fld=afield, severity="warning")
            continue
        if not isinstance(ref, str) or not ref.strip():
            problem("must name a rollout as name or namespace/name", fld=afield)
            continue
        parts = ref.strip().split("/")
        if len(parts) > 2 or not all(_DNS_NAME.match(p) for p in parts):
            problem(f"{ref!r} is not a rollout name (name or namespace/name)", fld=afield)
            continue
        # From here on the rollout is known: a mistake stops it (see Problem.rollout).
        rollout = rollout_key(ref.strip(), namespace=namespace)
        if m:
            if kind != "Kustomization" or group != FLUX_KUSTOMIZE_GROUP:
                problem(f"substitute annotations only work on a Flux Kustomization "
                        f"({FLUX_KUSTOMIZE_GROUP}), not on {group}/{kind}", fld=afield,
                        rollout=rollout)
                continue
            var = m.group("var")
            if not _VAR.match(var):
                problem(f"{var!r} is not a valid substitution variable name", fld=afield,
                        rollout=rollout)
                continue
            fpath = ("spec", "postBuild", "substitute", var)
        else:
            if kind != "OCIRepository" or group != FLUX_SOURCE_GROUP:
                problem(f"{ROLLOUT_ANNOTATION} only works on a Flux OCIRepository "
                        f"({FLUX_SOURCE_GROUP}); on a Kustomization use "
                        f"rollout.kuberik.com/substitute.<VAR>.from", fld=afield,
                        rollout=rollout)
                continue
            fpath = ("spec", "ref", "tag")
        fname = ".".join(fpath)
        try:
            scalar = doc.find(fpath)
        except ManifestError as exc:
            problem(exc.detail, fld=fname, rollout=rollout)
            continue
        if scalar is None:
            problem(f"annotated for rollout {rollout} but the field is missing; add it "
                    f"with the current release", fld=fname, rollout=rollout)
            continue
        if scalar.value is not None and not isinstance(scalar.value, str):
            problem(f"must be a string, found {scalar.value!r}; quote it", fld=fname,
                    rollout=rollout)
            continue
        targets.append(Target(rollout=rollout, file=path, document=doc.index, kind=str(kind),
                              object=obj, path=fpath, value=scalar.value, line=scalar.line))
    return targets, problems


def resolve(scans: Iterable[FileScan]) -> Inventory:
    """Join per-file scans: link targets to rollouts and check what spans files. Pure."""
    inv = Inventory()
    all_targets: list[Target] = []
    seen: dict[str, list[RolloutEntry]] = {}
    first_error: dict[tuple[str, int | None], Problem] = {}
    scans_sorted = sorted(scans, key=lambda s: s.file)
    for scan in scans_sorted:
        inv.problems.extend(scan.problems)
        for p in scan.problems:
            if p.severity == "error":
                first_error.setdefault((p.file, p.document), p)
        if not scan.parsed and scan.problems:
            inv.unparsable.add(scan.file)
        for entry in scan.rollouts:
            seen.setdefault(entry.key, []).append(entry)
        all_targets.extend(scan.targets)

    for key, entries in sorted(seen.items()):
        inv.rollouts[key] = entries[0]
        if entries[0].rollout is None:
            # Name the field at fault: this is the one line `release` prints.
            cause = first_error.get((entries[0].file, entries[0].document))
            detail = f": {cause.message}" if cause else ""
            inv.broken.setdefault(key, []).append(Problem(
                file=entries[0].file, document=entries[0].document,
                line=entries[0].line, field=cause.field if cause else None,
                message=f"Rollout {key} has an invalid spec{detail}"))
        for dup in entries[1:]:
            p = Problem(file=dup.file, document=dup.document, line=dup.line,
                        field="metadata.name",
                        message=f"Rollout {key} is also defined in {entries[0].file} "
                                f"(document {entries[0].document + 1}); which one counts "
                                f"is ambiguous")
            inv.problems.append(p)
            inv.broken.setdefault(key, []).append(p)

    for scan in scans_sorted:
        for p in scan.problems:
            if p.rollout in inv.rollouts and p.severity == "error":
                inv.broken.setdefault(p.rollout, []).append(p)

    claims: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
    for t in all_targets:
        claims.setdefault((t.kind, t.object, t.path), set()).add(t.rollout)
    for t in all_targets:
        owners = claims[(t.kind, t.object, t.path)]
        if len(owners) > 1:
            p = Problem(file=t.file, document=t.document, line=t.line, field=t.field_name,
                        message=f"{t.kind} {t.object} {t.field_name} is claimed by several "
                                f"rollouts ({', '.join(sorted(owners))}); none of them "
                                f"will write it")
            inv.problems.append(p)
            for owner in owners:
                inv.broken.setdefault(owner, []).append(p)
            continue
        if t.rollout not in inv.rollouts:
            inv.problems.append(Problem(
                file=t.file, document=t.document, line=t.line, field=t.field_name,
                message=f"annotation names rollout {t.rollout}, but no Rollout manifest "
                        f"with that namespace/name exists"))
            continue
        inv.targets.setdefault(t.rollout, []).append(t)
    for key in inv.rollouts:
        if key not in inv.targets and key not in inv.broken:
            entry = inv.rollouts[key]
            inv.problems.append(Problem(
                file=entry.file, document=entry.document, line=entry.line, severity="warning",
                message=f"Rollout {key} has no annotated target; nothing would be written"))
    inv.problems.sort(key=lambda p: (p.file, p.document or 0, p.field or "", p.message))
    return inv
