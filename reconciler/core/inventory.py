"""What the config repository says about rollouts: the records a scan produces,
and how they join across files.

Core, pure. ``manifests.scan_file`` turns one file into a ``FileScan`` of
``RolloutEntry``, ``Target``, ``Marker`` and ``Problem`` records; ``resolve(scans)``
joins them into an ``Inventory``: it links targets to Rollouts, and each Flux
``$imagepolicy`` marker (``core/markers.py``) to the Rollout whose
``releasesImagePolicy`` is the ImagePolicy it names, and reports what can only be
seen across files (an annotation naming a rollout that does not exist, a marker
naming a policy no Rollout reads, two rollouts claiming one field, a Rollout defined
twice). ``manifests`` re-exports all of it, so callers keep saying
``manifests.resolve`` and ``manifests.Target``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from reconciler.core import imageref
from reconciler.errors import location, printable

if TYPE_CHECKING:
    from reconciler.core import models

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
        where = location(self.file, line=self.line, document=self.document, field=self.field)
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
    name_line: int | None = None
    """The line of ``metadata.name`` (``line`` is where the document starts)."""


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
    setter: str | None = None
    """A ``$imagepolicy`` marker's format (``image``, ``tag``, ``name`` or
    ``digest``, ``core/markers.py``); None for a target found by its annotation."""
    policy: str | None = None  # the ImagePolicy a marker names, ``namespace/name``
    group: str = ""  # the API group of the object a marker sits in
    role: str = "stable"
    """What the field holds (``core/steps.py``): ``stable`` (the release), ``canary``
    (the canary's version), ``canary-weight`` or ``stable-weight`` (traffic percent)."""

    @property
    def field_name(self) -> str:
        return dotted(self.path)

    @property
    def carries_release(self) -> bool:
        """Whether the value says which release is deployed (a ``:name`` or
        ``:digest`` marker does not)."""
        return self.setter in (None, "tag", "image")

    @property
    def release(self) -> str | None:
        """The tag the value holds: the value itself, or the tag of a full image
        reference; None when it holds none."""
        if self.setter != "image":
            return self.value if self.carries_release else None
        ref = imageref.parse(self.value or "")
        return ref.tag if ref is not None else None

    @property
    def pins_digest(self) -> bool:
        """Whether writing a release here needs the image's digest: a ``:digest``
        marker, or a full reference that holds one (``name:tag@sha256:...``)."""
        if self.setter == "digest":
            return True
        ref = imageref.parse(self.value or "") if self.setter == "image" else None
        return ref is not None and ref.digest is not None


@dataclass(frozen=True)
class Marker:
    """A ``# {"$imagepolicy": "<ns>:<name>[:tag|:name|:digest]"}`` comment on a value.

    Found by ``core/markers.py`` without knowing the rollouts; ``resolve`` turns it
    into a ``Target`` of the Rollout whose ``releasesImagePolicy`` names ``policy``.
    ``problem`` says why the value cannot be written (it stops that rollout)."""

    file: str
    document: int
    path: tuple[str, ...]
    line: int
    policy: str  # namespace/name
    setter: str
    value: str | None
    kind: str = ""
    object: str = ""
    group: str = ""
    problem: Problem | None = None

    def target(self, rollout: str) -> Target:
        return Target(rollout=rollout, file=self.file, document=self.document,
                      kind=self.kind, object=self.object, path=self.path, value=self.value,
                      line=self.line, setter=self.setter, policy=self.policy, group=self.group)


def dotted(path: tuple[str, ...]) -> str:
    """A field path for people: ``spec.containers[0].image`` (a sequence index in
    brackets, as Kubernetes and every other message here write it)."""
    out = ""
    for part in path:
        out += f"[{part}]" if part.isascii() and part.isdigit() else f".{part}"
    return out.lstrip(".")


@dataclass(frozen=True)
class FileScan:
    """What one file holds; depends only on the file's bytes (cacheable by blob)."""

    file: str
    parsed: bool
    rollouts: tuple[RolloutEntry, ...] = ()
    targets: tuple[Target, ...] = ()
    problems: tuple[Problem, ...] = ()
    markers: tuple[Marker, ...] = ()


@dataclass
class Inventory:
    """Everything the repository says about rollouts, joined across files."""

    rollouts: dict[str, RolloutEntry] = field(default_factory=dict)
    targets: dict[str, list[Target]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Rollouts whose set-up has an error: never written to automatically.
    broken: dict[str, list[Problem]] = field(default_factory=dict)
    unparsable: set[str] = field(default_factory=set)
    # Targets whose annotation names a Rollout that does not exist (an error each).
    orphans: list[Target] = field(default_factory=list)
    # Canary targets (``Target.role`` other than stable): the canary's version and the
    # two traffic weights a rollout with ``spec.steps`` writes (core/steps.py).
    canary: dict[str, list[Target]] = field(default_factory=dict)

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



def order(p: Problem) -> tuple[object, ...]:
    """How problems are listed: by file, document, field and message (and the rest of
    their fields, so that two different problems never tie)."""
    return (p.file, p.document or 0, p.field or "", p.message, p.document is None,
            p.line or 0, p.line is None, p.severity, p.rollout or "", p.rollout is None)


def invalid_spec(entry: RolloutEntry, cause: Problem | None) -> Problem:
    """What stops a Rollout whose spec did not validate; ``cause`` is the first error
    in its document, which names the field at fault (the one line ``release`` prints)."""
    detail = f": {cause.message}" if cause else ""
    return Problem(file=entry.file, document=entry.document,
                   line=cause.line if cause else entry.line,
                   field=cause.field if cause else None,
                   message=f"Rollout {entry.key} has an invalid spec{detail}")


def duplicate(dup: RolloutEntry, first: RolloutEntry) -> Problem:
    return Problem(file=dup.file, document=dup.document, line=dup.name_line or dup.line,
                   field="metadata.name",
                   message=f"Rollout {first.key} is also defined in {first.file} "
                           f"(document {first.document + 1}); which one counts "
                           f"is ambiguous")


def contested(t: Target, owners: Iterable[str]) -> Problem:
    return Problem(file=t.file, document=t.document, line=t.line, field=t.field_name,
                   message=f"{t.kind} {t.object} {t.field_name} is claimed by several "
                           f"rollouts ({', '.join(sorted(owners))}); none of them "
                           f"will write it")


def orphan(t: Target) -> Problem:
    return Problem(file=t.file, document=t.document, line=t.line, field=t.field_name,
                   message=f"annotation names rollout {t.rollout}, but no Rollout manifest "
                           f"with that namespace/name exists")


def no_target(entry: RolloutEntry) -> Problem:
    return Problem(file=entry.file, document=entry.document, line=entry.line,
                   severity="warning",
                   message=f"Rollout {entry.key} has no annotated target; nothing would be "
                           f"written")


def unread(marker: Marker) -> str:
    return (f"marks ImagePolicy {marker.policy}, which no Rollout reads "
            f"(spec.releasesImagePolicy), so nothing here writes it; Flux's "
            f"image automation would, if it still ran")


def read_by_several(marker: Marker, owners: list[str]) -> str:
    return (f"ImagePolicy {marker.policy} is read by several rollouts "
            f"({', '.join(owners)}); none of them writes this marked value")


ANNOTATED_TOO = ("carries a $imagepolicy marker and is an annotated target too; the "
                 "annotation writes it, so remove the marker")


def resolve(scans: Iterable[FileScan]) -> Inventory:
    """Join per-file scans: link targets to rollouts and check what spans files. Pure.

    The specification of the join: ``core/joiner.py`` keeps the same result up to date
    one change set at a time (the daemon's path), and is tested against this."""
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
            cause = first_error.get((entries[0].file, entries[0].document))
            inv.broken.setdefault(key, []).append(invalid_spec(entries[0], cause))
        for dup in entries[1:]:
            p = duplicate(dup, entries[0])
            inv.problems.append(p)
            inv.broken.setdefault(key, []).append(p)

    for scan in scans_sorted:
        for p in scan.problems:
            if p.rollout in inv.rollouts and p.severity == "error":
                inv.broken.setdefault(p.rollout, []).append(p)
    all_targets.extend(_marked(inv, scans_sorted, all_targets))

    claims: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
    for t in all_targets:
        claims.setdefault((t.kind, t.object, t.path), set()).add(t.rollout)
    for t in all_targets:
        owners = claims[(t.kind, t.object, t.path)]
        if len(owners) > 1:
            p = contested(t, owners)
            inv.problems.append(p)
            for owner in owners:
                inv.broken.setdefault(owner, []).append(p)
            continue
        if t.rollout not in inv.rollouts:
            inv.orphans.append(t)
            inv.problems.append(orphan(t))
            continue
        (inv.targets if t.role == "stable" else inv.canary).setdefault(
            t.rollout, []).append(t)
    for key in inv.rollouts:
        if key not in inv.targets and key not in inv.broken:
            inv.problems.append(no_target(inv.rollouts[key]))
    inv.problems.sort(key=order)
    return inv


def readers(rollouts: dict[str, RolloutEntry]) -> dict[str, list[str]]:
    """ImagePolicy (``namespace/name``) -> the Rollouts whose ``releasesImagePolicy``
    names it (its namespace defaults to the Rollout's). Pure."""
    out: dict[str, list[str]] = {}
    for key, entry in sorted(rollouts.items()):
        ref = entry.rollout.spec.releasesImagePolicy if entry.rollout else None
        if ref is not None:
            namespace = ref.namespace or key.split("/", 1)[0]
            out.setdefault(f"{namespace}/{ref.name}", []).append(key)
    return out


def _marked(inv: Inventory, scans: list[FileScan], annotated: list[Target]) -> list[Target]:
    """The targets the ``$imagepolicy`` markers give, each to the one Rollout that
    reads its ImagePolicy; the problems of the rest go into ``inv``."""
    by_policy = readers(inv.rollouts)
    fields = {(t.file, t.document, t.path) for t in annotated}
    out: list[Target] = []
    for marker in (m for scan in scans for m in scan.markers):
        owners = by_policy.get(marker.policy, [])

        def problem(message: str, severity: Severity = "error", *,
                    m: Marker = marker) -> Problem:
            found = Problem(file=m.file, document=m.document, line=m.line,
                            field=dotted(m.path), message=message, severity=severity)
            inv.problems.append(found)
            return found

        if marker.problem is not None:
            # Reported by the scan already; it stops the rollout that would write it.
            for owner in owners:
                inv.broken.setdefault(owner, []).append(marker.problem)
        elif not owners:
            problem(unread(marker), "warning")
        elif len(owners) > 1:
            found = problem(read_by_several(marker, owners))
            for owner in owners:
                inv.broken.setdefault(owner, []).append(found)
        elif (marker.file, marker.document, marker.path) in fields:
            problem(ANNOTATED_TOO)
        else:
            out.append(marker.target(owners[0]))
    return out


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
