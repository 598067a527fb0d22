"""Finding Rollouts and their targets in the files of a config repository.

Two steps, both pure:

* ``scan_file(path, data)`` looks at one file and returns a ``FileScan``: the
  Rollouts, the annotated targets and the problems found in it. It depends on
  nothing but the file's bytes, so the engine caches it by blob id and a second
  scan of a mostly unchanged tree parses only what changed.
* ``resolve(scans)`` joins the per-file results: it links targets to Rollouts and
  reports what can only be seen across files (an annotation naming a rollout that
  does not exist, two rollouts claiming one field, a Rollout defined twice). It and
  the records it joins live in ``core/inventory.py`` and are re-exported here.

Targets (DESIGN.md): a Flux ``Kustomization`` annotated
``rollout.kuberik.com/substitute.<VAR>.from: <rollout>`` owns
``spec.postBuild.substitute.<VAR>``; an ``OCIRepository`` annotated
``rollout.kuberik.com/rollout: <rollout>`` owns ``spec.ref.tag``. ``<rollout>`` is
``name`` (the annotated object's namespace) or ``namespace/name``. Beside them, the
canary targets of a Rollout with ``spec.steps`` (``core/steps.py``), ``Target.role``
other than ``stable``: ``rollout.kuberik.com/canary-substitute.<VAR>.from`` (the
canary's version), ``canary-weight.<VAR>.from`` and ``stable-weight.<VAR>.from``
(traffic percent, ``"0"``-``"100"``) on a Kustomization, and
``rollout.kuberik.com/canary-rollout`` on an OCIRepository (its ``spec.ref.tag``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from reconciler.core import plainmodels
from reconciler.core.inventory import (
    FileScan,
    Inventory,
    Marker,
    Problem,
    RolloutEntry,
    Severity,
    Target,
    resolve,
    skipped,
)
from reconciler.errors import ManifestError

if TYPE_CHECKING:
    from reconciler.core import yamldoc

__all__ = [
    "ANNOTATION_PREFIX", "CANARY_ROLLOUT", "CANARY_SUBSTITUTE", "DEFAULT_NAMESPACE",
    "FLUX_KUSTOMIZE_GROUP", "FLUX_SOURCE_GROUP", "ROLLOUT_ANNOTATION", "SCREEN", "SCREENS",
    "SUBSTITUTE", "SUFFIXES", "VAR", "FileScan", "Inventory", "Marker", "Problem",
    "RolloutEntry", "Severity", "Target", "resolve", "rollout_key", "scan_file", "screen",
    "skipped", "valid_ref", "wants",
]

SUFFIXES = (".yaml", ".yml")
# Every file that can matter names the kuberik.com API group (Rollouts) or an
# annotation under rollout.kuberik.com; anything else is skipped unparsed.
SCREEN = b"kuberik.com"
MARKER_SCREEN = b"$imagepolicy"
"""What every Flux image-policy marker holds (``markers.SCREEN``; a test keeps them equal)."""
SCREENS = (SCREEN, MARKER_SCREEN)
"""What ``screen`` looks for: a file holding none of these is never parsed (git's grep
looks for the same strings over a whole tree, ``adapters/gitscreen``)."""
ANNOTATION_PREFIX = "rollout.kuberik.com/"
ROLLOUT_ANNOTATION = "rollout.kuberik.com/rollout"
SUBSTITUTE = re.compile(r"^rollout\.kuberik\.com/substitute\.(?P<var>.+)\.from$")
# Canary targets (core/steps.py): the canary's version, and the two traffic weights.
CANARY_SUBSTITUTE = re.compile(
    r"^rollout\.kuberik\.com/(?P<kind>canary-substitute|canary-weight|stable-weight)"
    r"\.(?P<var>.+)\.from$")
CANARY_ROLLOUT = "rollout.kuberik.com/canary-rollout"
_ROLES = {"canary-substitute": "canary", "canary-weight": "canary-weight",
          "stable-weight": "stable-weight"}
VAR = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
DEFAULT_NAMESPACE = "default"
_LINE = re.compile(r"^line (\d+): ")
_TYPE_NAMES: dict[type, str] = {bool: "the boolean", int: "the integer", float: "the number"}

FLUX_KUSTOMIZE_GROUP = "kustomize.toolkit.fluxcd.io"
FLUX_SOURCE_GROUP = "source.toolkit.fluxcd.io"


def wants(path: str) -> bool:
    """Whether a repository path is a YAML file worth reading at all."""
    return path.endswith(SUFFIXES)


def wanted(paths: Iterable[str]) -> set[str]:
    """The paths ``wants``, at once (70,000 of them in a first snapshot)."""
    return set(filter(operator.methodcaller("endswith", SUFFIXES), paths))


def screen(data: bytes) -> bool:
    """Cheap substring test: can this file hold a Rollout, an annotated target or a
    Flux ``$imagepolicy`` marker?"""
    return SCREEN in data or MARKER_SCREEN in data


def valid_ref(ref: str) -> bool:
    """Whether an annotation's value names a rollout: ``name`` or ``namespace/name``."""
    parts = ref.strip().split("/")
    return len(parts) <= 2 and all(_DNS_NAME.match(p) for p in parts)


def rollout_key(ref: str, *, namespace: str) -> str:
    """``name`` or ``namespace/name`` from an annotation, as ``namespace/name``."""
    return ref if "/" in ref else f"{namespace}/{ref}"


def _group(api_version: Any) -> str:
    return api_version.split("/", 1)[0] if isinstance(api_version, str) else ""


def scan_file(path: str, data: bytes) -> FileScan:
    """Scan one file's bytes. Pure; never raises for bad content, reports it."""
    if not screen(data):
        return FileScan(file=path, parsed=False)
    # The YAML stack (ruamel.yaml and our parser over it) is imported by the first
    # file that needs parsing: a run served by the scan cache never loads it.
    from reconciler.core import markers, schedulemodels, yamldoc
    try:
        documents = yamldoc.parse(data, file=path)
    except ManifestError as exc:
        return FileScan(file=path, parsed=False, problems=(
            Problem(file=path, document=exc.document, field=exc.field, message=exc.detail),))
    rollouts: list[RolloutEntry] = []
    targets: list[Target] = []
    problems: list[Problem] = []
    marked: list[Marker] = []
    text = yamldoc.decode(data, file=path) if MARKER_SCREEN in data else ""
    for doc in documents:
        if not isinstance(doc.data, dict):
            continue
        if text:
            found_markers, found = markers.scan(path, doc, text)
            marked.extend(found_markers)
            problems.extend(found)
        kind = doc.data.get("kind")
        group = _group(doc.data.get("apiVersion"))
        if kind == "Rollout" and group == plainmodels.API_GROUP:
            entry, found = _rollout(path, doc)
            problems.extend(found)
            if entry is not None:
                rollouts.append(entry)
            continue
        if kind in schedulemodels.MODELS and group == plainmodels.API_GROUP:
            problems.extend(_schedule(path, doc))
            continue
        found_targets, found = _targets(path, doc, kind=kind, group=group)
        targets.extend(found_targets)
        problems.extend(found)
    if text:
        problems.extend(markers.stray(path, text, documents, marked, problems))
    return FileScan(file=path, parsed=True, rollouts=tuple(rollouts), targets=tuple(targets),
                    problems=tuple(problems), markers=tuple(marked))


def _rollout(path: str, doc: yamldoc.Document) -> tuple[RolloutEntry | None, list[Problem]]:
    problems: list[Problem] = []
    meta = doc.data.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        return None, [Problem(file=path, document=doc.index,
                              line=doc.line_of(("metadata", "name")),
                              field="metadata.name", message="a Rollout needs a name")]
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    if namespace is None:
        namespace = DEFAULT_NAMESPACE
        problems.append(Problem(
            file=path, document=doc.index, line=doc.line_of(("metadata",)),
            field="metadata.namespace", severity="warning",
            message=f"not set; assuming {DEFAULT_NAMESPACE!r} (set it so targets resolve "
                    f"the same way Flux applies them)"))
    key = f"{namespace}/{name}"
    name_line = doc.line_of(("metadata", "name"))
    # pydantic is imported by the first Rollout to validate, not with this module: a
    # warm read-only command reads every Rollout from the scan cache (core/scanrecords).
    from pydantic import ValidationError

    from reconciler.core import models

    try:
        rollout = models.Rollout.model_validate(doc.data)
    except ValidationError as exc:
        for field_path, message in models.describe_error(
                exc, as_written=lambda dotted: _non_string_text(doc, dotted)):
            problems.append(Problem(file=path, document=doc.index,
                                    line=doc.line_of(field_path.split(".") if field_path else ()),
                                    field=field_path, message=message))
        return RolloutEntry(key=key, file=path, document=doc.index, line=doc.line,
                            rollout=None, name_line=name_line), problems
    for extra in rollout.spec.unknown_fields():
        problems.append(Problem(
            file=path, document=doc.index, line=doc.line_of(("spec", extra)),
            field=f"spec.{extra}", severity="warning",
            message="unknown field; it is kept but has no effect here"))
    return RolloutEntry(key=key, file=path, document=doc.index, line=doc.line,
                        rollout=rollout, name_line=name_line), problems


def _schedule(path: str, doc: yamldoc.Document) -> list[Problem]:
    from reconciler.core import schedulemodels

    """A RolloutSchedule or ClusterRolloutSchedule: only the cluster can tell whether
    it is open (``plan`` cannot), but its fields can be checked here."""
    return [Problem(file=path, document=doc.index, field=field, message=message,
                    line=doc.line_of(field.split(".") if field else ()))
            for field, message in schedulemodels.problems(doc.data)]


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
    own_namespace = namespace if isinstance(namespace, str) else None
    name = meta.get("name") if isinstance(meta, dict) else None
    obj = f"{own_namespace or DEFAULT_NAMESPACE}/{name}"
    targets: list[Target] = []
    problems: list[Problem] = []
    assumed = False  # the default-namespace warning, once per object

    def problem(message: str, *, fld: str, line: int, severity: Severity = "error",
                rollout: str | None = None) -> None:
        problems.append(Problem(file=path, document=doc.index, line=line, field=fld,
                                message=message, severity=severity, rollout=rollout))

    for key, ref in sorted(ours.items()):
        afield = f"metadata.annotations[{key}]"
        aline = doc.line_of(("metadata", "annotations", key))
        fpath: tuple[str, ...]
        m = SUBSTITUTE.match(key) or CANARY_SUBSTITUTE.match(key)
        role = _ROLES[m.group("kind")] if m and "kind" in m.groupdict() else \
            "canary" if key == CANARY_ROLLOUT else "stable"
        if not m and key not in (ROLLOUT_ANNOTATION, CANARY_ROLLOUT):
            problem("unknown rollout.kuberik.com annotation; it is ignored",
                    fld=afield, line=aline, severity="warning")
            continue
        if not isinstance(ref, str) or not ref.strip():
            found = "" if ref is None or ref == "" else \
                f", found {_as_written(doc, ('metadata', 'annotations', key))}"
            problem(f"must name a rollout as name or namespace/name{found}", fld=afield,
                    line=aline)
            continue
        parts = ref.strip().split("/")
        if not valid_ref(ref):
            problem(f"{ref!r} is not a rollout name (name or namespace/name)", fld=afield,
                    line=aline)
            continue
        if len(parts) == 1 and own_namespace is None and not assumed:
            # Only a rollout named without its namespace depends on the object's own.
            assumed = True
            problem(f"{'not set' if namespace is None else 'not a string'}; assuming "
                    f"{DEFAULT_NAMESPACE!r} to resolve rollout {ref.strip()!r} of {afield} "
                    f"(set it, or name the rollout as namespace/name)",
                    fld="metadata.namespace", line=aline, severity="warning")
        # From here on the rollout is known: a mistake stops it (see Problem.rollout).
        rollout = rollout_key(ref.strip(), namespace=own_namespace or DEFAULT_NAMESPACE)
        if m:
            if kind != "Kustomization" or group != FLUX_KUSTOMIZE_GROUP:
                problem(f"substitute annotations only work on a Flux Kustomization "
                        f"({FLUX_KUSTOMIZE_GROUP}), not on {group}/{kind}", fld=afield,
                        line=aline, rollout=rollout)
                continue
            var = m.group("var")
            if not VAR.match(var):
                problem(f"{var!r} is not a valid substitution variable name", fld=afield,
                        line=aline, rollout=rollout)
                continue
            fpath = ("spec", "postBuild", "substitute", var)
        else:
            if kind != "OCIRepository" or group != FLUX_SOURCE_GROUP:
                problem(f"{key} only works on a Flux OCIRepository "
                        f"({FLUX_SOURCE_GROUP}); on a Kustomization use "
                        f"rollout.kuberik.com/substitute.<VAR>.from", fld=afield,
                        line=aline, rollout=rollout)
                continue
            fpath = ("spec", "ref", "tag")
            overriding = _overriding_refs(doc, rollout=rollout)
            for fld, line, message in overriding:
                problem(message, fld=fld, line=line, rollout=rollout)
            if overriding:
                continue
        target, refused = _target(path, doc, rollout=rollout, kind=str(kind), obj=obj,
                                  fpath=fpath, role=role)
        if refused is not None:
            problems.append(refused)
        if target is not None:
            targets.append(target)
    return targets, problems


def _target(path: str, doc: yamldoc.Document, *, rollout: str, kind: str, obj: str,
            fpath: tuple[str, ...], role: str) -> tuple[Target | None, Problem | None]:
    """The target at ``fpath``, or the error that keeps the field from being written."""
    fname = ".".join(fpath)

    def refuse(message: str, line: int) -> tuple[None, Problem]:
        return None, Problem(file=path, document=doc.index, line=line, field=fname,
                             message=message, rollout=rollout)

    try:
        scalar = doc.find(fpath)
    except ManifestError as exc:
        # yamldoc puts the line first in its message; the Problem carries it instead.
        located = _LINE.match(exc.detail)
        if located:
            return refuse(exc.detail[located.end():], int(located.group(1)))
        return refuse(exc.detail, doc.line_of(fpath))
    if scalar is None:
        return refuse(f"annotated for rollout {rollout} but the field is missing; add it "
                      f"with the current release (`reconciler migrate` adds those kuberik's "
                      f"rollout-controller set in the cluster)", doc.line_of(fpath))
    if scalar.value is not None and not isinstance(scalar.value, str):
        # Quote the text as written: ``1.10`` reads as the float 1.1, which is not
        # what the person sees in the file.
        return refuse(f"must be a string, found {scalar.text}, which YAML reads as "
                      f"{_TYPE_NAMES.get(type(scalar.value), 'a non-string')} "
                      f"{scalar.value!r}; quote it", scalar.line)
    sharing = scalar.sharing()
    if sharing is not None:
        # The rewrite would refuse it anyway; saying so now keeps validate, plan and
        # release in agreement, and names every line involved.
        return refuse(sharing, scalar.line)
    if role.endswith("-weight") and not _percent(scalar.value):
        return refuse(f"a traffic weight of rollout {rollout} must be an integer from 0 to "
                      f"100 written as a string (\"10\"), found {scalar.text}", scalar.line)
    return Target(rollout=rollout, file=path, document=doc.index, kind=kind, object=obj,
                  path=fpath, value=scalar.value, line=scalar.line, role=role), None


def _percent(value: str | None) -> bool:
    return value is not None and value.isascii() and value.isdigit() and int(value) <= 100


def _overriding_refs(doc: yamldoc.Document, *, rollout: str) -> list[tuple[str, int, str]]:
    """``(field, line, message)`` for each OCIRepository ref field that wins over the tag.

    Flux's source-controller picks the artifact by ``spec.ref.digest``, else
    ``spec.ref.semver``, else ``spec.ref.tag`` (``getArtifactRef`` in
    fluxcd/source-controller, internal/controller/ocirepository_controller.go): beside
    either of the first two, the tag is never read, so a release written there would
    change nothing in the cluster while the reconciler waited for it.
    """
    spec = doc.data.get("spec")
    ref = spec.get("ref") if isinstance(spec, dict) else None
    if not isinstance(ref, dict):
        return []
    out = []
    for name in ("digest", "semver"):
        # Flux tests for the empty string; YAML null reaches Go as "" as well.
        if ref.get(name) in (None, ""):
            continue
        fpath = ("spec", "ref", name)
        out.append((".".join(fpath), doc.line_of(fpath),
                    f"is set beside spec.ref.tag, so Flux ignores the tag (it uses digest, "
                    f"then semver, then tag) and a release written there would change "
                    f"nothing in the cluster; remove spec.ref.{name} to let rollout "
                    f"{rollout} set this OCIRepository"))
    return out


def _non_string_text(doc: yamldoc.Document, dotted: str) -> str | None:
    """The source text of a scalar that YAML does not read as a string (``1.10``), so
    a message shows what the person wrote; ``None`` for strings and anything else."""
    try:
        scalar = doc.find(dotted.split(".")) if dotted else None
    except ManifestError:
        return None
    if scalar is None or isinstance(scalar.value, str) or scalar.value is None:
        return None
    return scalar.text


def _as_written(doc: yamldoc.Document, path: tuple[str, ...]) -> str:
    """The source text of a scalar, for a message; its plain value when it cannot be
    located (it comes through an alias, say)."""
    try:
        scalar = doc.find(path)
    except ManifestError:
        scalar = None
    if scalar is not None:
        return scalar.text
    node: Any = doc.data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return repr(node)
