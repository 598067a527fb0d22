"""The scope of one cluster in a fleet repository, as ``flux bootstrap --path`` sees it.

Core, pure: the repository's file list and a callable that reads a file's bytes
in; a ``Scope`` (plain data) out. No I/O of its own; the engine passes the
callables over one commit. DESIGN.md, "Fleet repositories".

One repository usually feeds several clusters (``clusters/staging``,
``clusters/production``) that share ``apps/base`` through overlays, so the same
object name exists once per cluster. A cluster's scope is exactly what Flux applies
there, starting from its root directory (the bootstrap ``flux-system``
Kustomization's ``spec.path``):

* a directory with a kustomization file (``kustomization.yaml``,
  ``kustomization.yml``, ``Kustomization``: kustomize's recognised names) is read
  through it: ``resources``, ``bases`` and ``components`` (files, or directories
  built the same way), and the files named by ``patches[].path``,
  ``patchesStrategicMerge`` and ``patchesJson6902[].path``; remote bases are not
  followed;
* a directory without one gets what kustomize-controller generates (``fluxcd/pkg``
  ``kustomize/kustomize_generator.go``, ``generateKustomization``): every ``.yaml``
  and ``.yml`` file under it, recursively, except that a subdirectory holding a
  kustomization file is taken as one resource and not descended into;
* then, again and again, the ``spec.path`` of every Flux ``Kustomization``
  (``kustomize.toolkit.fluxcd.io``) found in scope whose ``spec.sourceRef`` is the
  bootstrap ``GitRepository`` (its namespace defaults to the Kustomization's), or an
  ``ExternalArtifact`` that an ``ArtifactGenerator`` in scope builds from that
  GitRepository (``core/artifacts.py`` maps artifact paths back to repository
  paths). Kustomizations on any other source are listed but not followed;
* files that Flux's ignore rules leave out of the artifact (``core/sourceignore.py``)
  do not exist for any of this.

Only files that can hold a Flux ``Kustomization`` or ``ArtifactGenerator`` (a
top-level ``kind:`` line naming one) and kustomization files are parsed, with the
limits of ``core/yamldoc``; a file out of scope is never parsed, so a Helm chart's
``{{ }}`` templates elsewhere cannot break anything. ``roots`` looks for the
bootstrap Kustomizations of every cluster the same careful way (a candidate that
does not parse is passed over there, and reported by the scope holding it).

Read to get this right (public sources): ``fluxcd/pkg``
``kustomize/kustomize_generator.go`` (the generator, ``.yaml``/``.yml`` only,
subdirectories with a kustomization file kept whole) and
``sourceignore/sourceignore.go`` (default patterns, nested ``.sourceignore``);
``fluxcd/source-watcher`` ``api/v1beta1/artifactgenerator_types.go`` and
``internal/builder/builder.go`` (``ArtifactGenerator`` and its copy semantics);
``fluxcd/flux2-kustomize-helm-example`` (``clusters/<env>/flux-system/gotk-sync.yaml``,
``apps/base`` + overlays, ``clusters/<env>/artifacts.yaml`` for the Flux 2.7 layout).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.core import artifacts, manifests
from reconciler.core.fluxtree import (
    KUSTOMIZATION_FILES,
    FluxKustomization,
    Pending,
    Reader,
    SourceRef,
    Walk,
    group,
    maybe_flux,
    meta,
    normalize,
    source_ref,
    unignored,
)
from reconciler.errors import ManifestError

__all__ = ["KUSTOMIZATION_FILES", "LISTED_SUFFIXES", "FluxKustomization", "Reader", "Root",
           "Scope", "SourceRef", "environment", "normalize", "resolve", "roots", "shape",
           "unignored"]


LISTED_SUFFIXES = (".yaml", ".yml", ".json", "Kustomization", ".sourceignore")
"""The files the engine must list for a scope: manifests, kustomization files and ignore files."""

BOOTSTRAP = "flux-system"
DEFAULT_ENVIRONMENT = "default"
BOOTSTRAP_SOURCE = SourceRef("GitRepository", BOOTSTRAP, BOOTSTRAP)


@dataclass(frozen=True)
class Root:
    """A cluster root: the ``spec.path`` of a bootstrap Kustomization."""

    path: str
    file: str  # where the bootstrap Kustomization is defined
    source: SourceRef  # the GitRepository it applies from

    @property
    def environment(self) -> str:
        return environment(self.path)


@dataclass(frozen=True)
class Scope:
    """What Flux applies to one cluster: ``files`` are repository paths."""

    root: str
    environment: str
    files: frozenset[str]
    kustomizations: tuple[FluxKustomization, ...] = ()
    problems: tuple[manifests.Problem, ...] = ()

    def __contains__(self, path: object) -> bool:
        return path in self.files


def environment(root: str) -> str:
    """A cluster's environment name: the last element of its root, else ``default``."""
    return posixpath.basename(root.rstrip("/")) or DEFAULT_ENVIRONMENT


def roots(files: Iterable[str], read: Reader) -> list[Root]:
    """Every cluster root of the repository, sorted by path: the ``spec.path`` of each
    Flux Kustomization named ``flux-system`` in namespace ``flux-system``. Empty
    when there is none (the whole tree is one cluster). A candidate file that does
    not parse is passed over here; the scope that contains it reports it."""
    found: dict[str, Root] = {}
    for path in sorted(unignored(files, read)):
        if not path.endswith((".yaml", ".yml", ".json")):
            continue
        data = read(path)
        if BOOTSTRAP.encode() not in data or not maybe_flux(path, data):
            continue
        from reconciler.core import yamldoc  # only for a file not served by the scan cache

        try:
            documents = yamldoc.parse(data, file=path)
        except ManifestError:
            continue
        for doc in documents:
            d = doc.data
            if not (isinstance(d, dict) and d.get("kind") == "Kustomization"
                    and group(d) == manifests.FLUX_KUSTOMIZE_GROUP
                    and meta(d, "name") == BOOTSTRAP and meta(d, "namespace") == BOOTSTRAP):
                continue
            spec = d.get("spec")
            target = normalize(str(spec.get("path") or "")) if isinstance(spec, dict) else ""
            source = source_ref(d, BOOTSTRAP)
            if target is not None and source is not None:
                found.setdefault(target, Root(path=target, file=path, source=source))
    return [found[k] for k in sorted(found)]


def resolve(*, root: str, files: Iterable[str], read: Reader,
            source: SourceRef | None = None, kept: Iterable[str] | None = None) -> Scope:
    """The scope of the cluster whose root directory is ``root``. Pure apart from
    ``read`` (called for the files it needs, never for a file out of scope).

    ``source``: the GitRepository the cluster applies from; by default the one its
    bootstrap ``flux-system`` Kustomization (found under ``root``, with ``root`` as
    its path) names, else ``flux-system/flux-system``. ``kept``: the files left after
    the ignore rules when the caller already knows them (the engine keeps that set
    up to date incrementally), else computed from ``files``."""
    kept = unignored(files, read) if kept is None else frozenset(kept)
    top = normalize(root)
    walk = Walk(kept, read, source or BOOTSTRAP_SOURCE)
    if top is None or not walk.git.is_dir(top):
        walk.problem(root, "no such directory in the repository (after .sourceignore)",
                     field="--path")
        return Scope(root=root, environment=environment(root), files=frozenset(),
                     problems=tuple(walk.problems))
    walk.build(walk.git, top, None)
    if source is None:
        found = next((p.kustomization.source for p in walk.queue
                      if p.kustomization.name == BOOTSTRAP == p.kustomization.namespace
                      and p.kustomization.path == top
                      and p.kustomization.source.kind == "GitRepository"), BOOTSTRAP_SOURCE)
        if found != BOOTSTRAP_SOURCE:
            # Bootstrapped from another GitRepository: walk again knowing it (which
            # ArtifactGenerators and Kustomizations count depends on it).
            walk = Walk(kept, read, found)
            walk.build(walk.git, top, None)
        source = found
    done: list[FluxKustomization] = []
    waiting: list[Pending] = []
    progress = True
    while progress:
        progress = False
        while walk.queue:
            pending = walk.queue.pop(0)
            if pending.kustomization.source.kind not in ("GitRepository", "ExternalArtifact") \
                    or (pending.kustomization.source.kind == "GitRepository"
                        and pending.kustomization.source != source):
                done.append(pending.kustomization)
            elif walk.follow(pending):
                done.append(_followed(pending.kustomization))
                progress = True
            else:
                waiting.append(pending)
        # A generator found since may now explain a Kustomization that waited.
        retry = [p for p in waiting if p.kustomization.source in walk.generators]
        waiting = [p for p in waiting if p.kustomization.source not in walk.generators]
        walk.queue.extend(retry)
        progress = progress or bool(retry)
    done.extend(p.kustomization for p in waiting)
    done.sort(key=lambda k: (k.file, k.document))
    problems = sorted(set(walk.problems), key=lambda p: (p.file, p.document or 0, p.field or ""))
    return Scope(root=top, environment=environment(top), files=frozenset(walk.files),
                 kustomizations=tuple(done), problems=tuple(problems))


def _followed(k: FluxKustomization) -> FluxKustomization:
    return FluxKustomization(file=k.file, document=k.document, namespace=k.namespace,
                             name=k.name, path=k.path, source=k.source, followed=True)


def shape(path: str, data: bytes) -> object:
    """What of one file can move a cluster's scope, as a comparable value (pure).

    A kustomization file matters whole; a file that can define Flux Kustomizations
    or ArtifactGenerators matters through their identity, ``spec.path``,
    ``spec.sourceRef``, ``spec.targetNamespace`` (and a generator's whole spec);
    any other file only by being there. So a release commit, which changes a
    ``postBuild.substitute`` value, leaves the shape of every file as it was and the
    scope need not be resolved again (docs/performance.md, "A cluster's scope")."""
    if posixpath.basename(path) in KUSTOMIZATION_FILES:
        return ("kustomization", data)
    if not path.endswith((".yaml", ".yml", ".json")) or not maybe_flux(path, data):
        return None
    from reconciler.core import yamldoc  # only for a file not served by the scan cache

    try:
        docs = yamldoc.parse(data, file=path)
    except ManifestError:
        return ("unparsable", data)
    found: list[object] = []
    for doc in docs:
        d = doc.data
        if not isinstance(d, dict):
            continue
        spec = d.get("spec") if isinstance(d.get("spec"), dict) else {}
        assert isinstance(spec, dict)
        if d.get("kind") == "Kustomization" and group(d) == manifests.FLUX_KUSTOMIZE_GROUP:
            found.append((doc.index, "Kustomization", meta(d, "name"), meta(d, "namespace"),
                          repr(spec.get("path")), repr(spec.get("sourceRef")),
                          repr(spec.get("targetNamespace"))))
        elif d.get("kind") == artifacts.KIND and group(d) == artifacts.API_GROUP:
            found.append((doc.index, artifacts.KIND, meta(d, "name"), meta(d, "namespace"),
                          repr(spec)))
    return tuple(found)
