"""Walking what Flux applies from one source: kustomize directories and Flux objects.

Core, pure apart from the ``read`` callable it is given (no I/O of its own). The
machinery behind ``core/scope.py``, which holds the rules and the sources this
follows (read that module's docstring first): a ``View`` is the files a source
offers (the repository after its ignore rules, or an ``ExternalArtifact`` mapped
back to repository paths), and a ``Walk`` builds directories the way
kustomize and kustomize-controller do, collecting the repository files it reaches,
the Flux ``Kustomization``s and ``ArtifactGenerator``s among them, and problems.
"""

from __future__ import annotations

import posixpath
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reconciler.core import artifacts, manifests, sourceignore
from reconciler.errors import ManifestError

if TYPE_CHECKING:
    from reconciler.core import yamldoc

Reader = Callable[[str], bytes]
"""``read(path) -> bytes``: a file of the commit being scoped (the engine's blob read)."""

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
GENERATED_SUFFIXES = (".yaml", ".yml")  # what the generator takes (kustomize_generator.go)
_KIND = re.compile(rb"^kind:[ \t]*[\"']?(Kustomization|ArtifactGenerator)\b", re.M)
_JSON_KIND = re.compile(rb"\"kind\"\s*:\s*\"(Kustomization|ArtifactGenerator)\"")


@dataclass(frozen=True, order=True)
class SourceRef:
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class FluxKustomization:
    """A Flux Kustomization found in scope; ``followed`` when its path is in scope too."""

    file: str
    document: int
    namespace: str
    name: str
    path: str  # normalised, relative to its source's root ("" for the root)
    source: SourceRef
    followed: bool


def normalize(path: str) -> str | None:
    """A Flux ``spec.path`` or ``--path`` as a repository directory (``""`` the root),
    or None when it climbs out of the repository."""
    # Flux joins spec.path to the artifact root, so a leading "/" means that root.
    clean = posixpath.normpath(path.strip().lstrip("/") or ".")
    if clean == ".." or clean.startswith("../"):
        return None
    return "" if clean == "." else clean


def group(doc: dict[str, Any]) -> str:
    api = doc.get("apiVersion")
    return api.split("/", 1)[0] if isinstance(api, str) else ""


def meta(doc: dict[str, Any], key: str) -> str | None:
    """``metadata.<key>`` when it is a non-empty string."""
    metadata = doc.get("metadata")
    value = metadata.get(key) if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and value else None


def source_ref(doc: dict[str, Any], namespace: str) -> SourceRef | None:
    spec = doc.get("spec")
    ref = spec.get("sourceRef") if isinstance(spec, dict) else None
    if not isinstance(ref, dict) or not isinstance(ref.get("name"), str):
        return None
    ns = ref.get("namespace")
    return SourceRef(str(ref.get("kind") or "GitRepository"),
                     ns if isinstance(ns, str) and ns else namespace, ref["name"])


def maybe_flux(path: str, data: bytes) -> bool:
    """Cheap test before parsing: can this file define a Flux Kustomization or an
    ArtifactGenerator? (A CRD names the kinds too, but indented.)"""
    return bool(_KIND.search(data) or (path.endswith(".json") and _JSON_KIND.search(data)))


def unignored(files: Iterable[str], read: Reader) -> frozenset[str]:
    """The files Flux keeps from the repository (ignore rules applied). Pure apart from
    ``read``, which is called for ``.sourceignore`` files only."""
    listed = list(files)
    return frozenset(sourceignore.load(listed, read).keep(listed))


@dataclass
class View:
    """The files a source offers: its path -> the repository path it came from."""

    source: SourceRef
    files: dict[str, str]
    dirs: set[str] = field(default_factory=set)
    ordered: list[str] = field(default_factory=list)

    _kfiles: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        dirs = self.dirs
        for f in self.files:
            d = f.rpartition("/")[0]
            while d and d not in dirs:
                dirs.add(d)
                d = d.rpartition("/")[0]
        self.ordered = sorted(self.files)

    def under(self, d: str) -> list[str]:
        """The files below directory ``d``, sorted; a range of ``ordered`` found by
        bisection, since a walk builds many directories of one large tree."""
        if not d:
            return self.ordered
        # Every path below "d/" sorts at or after "d/" and before "d0" ("0" follows "/").
        return self.ordered[bisect_left(self.ordered, d + "/"):bisect_left(self.ordered, d + "0")]

    def is_dir(self, path: str) -> bool:
        return path == "" or path in self.dirs

    def kustomization(self, d: str) -> list[str]:
        """The kustomization files of directory ``d`` (normally none or one)."""
        found = self._kfiles.get(d)
        if found is None:
            found = self._kfiles[d] = [p for p in (posixpath.join(d, k)
                                                   for k in KUSTOMIZATION_FILES)
                                       if p in self.files]
        return found


@dataclass(frozen=True)
class _Generator:
    file: str
    document: int
    copies: tuple[artifacts.Copy, ...]
    alias: str  # the alias of the bootstrap GitRepository in its sources


@dataclass(frozen=True)
class Pending:
    kustomization: FluxKustomization
    # Its ``spec.targetNamespace``: the namespace of everything it applies (Flux
    # sets it as the generated kustomization's ``namespace``), child Kustomizations too.
    namespace: str | None


class Walk:
    def __init__(self, kept: Iterable[str], read: Reader, source: SourceRef) -> None:
        self.read = read
        self.source = source
        self.git = View(source, {p: p for p in kept})
        self.files: set[str] = set()
        self.problems: list[manifests.Problem] = []
        self.found: list[FluxKustomization] = []
        self.generators: dict[SourceRef, _Generator] = {}
        self.views: dict[SourceRef, View] = {source: self.git}
        self._built: set[tuple[SourceRef, str]] = set()
        self._parsed: dict[str, list[yamldoc.Document] | None] = {}
        self._queued: set[tuple[str, int]] = set()  # a file reached through two sources
        self.queue: list[Pending] = []

    def problem(self, file: str, message: str, *, document: int | None = None,
                field: str | None = None) -> None:
        self.problems.append(manifests.Problem(file=file, document=document, field=field,
                                               message=message))

    def parse(self, repo_path: str) -> list[yamldoc.Document] | None:
        if repo_path not in self._parsed:
            from reconciler.core import yamldoc  # the YAML stack, loaded by the first parse

            try:
                self._parsed[repo_path] = yamldoc.parse(self.read(repo_path), file=repo_path)
            except ManifestError as exc:
                self._parsed[repo_path] = None
                self.problems.append(manifests.Problem(
                    file=repo_path, document=exc.document, field=exc.field,
                    message=f"in this cluster's scope but unreadable: {exc.detail}"))
        return self._parsed[repo_path]

    # -- kustomize ---------------------------------------------------------------

    def build(self, view: View, d: str, namespace: str | None) -> None:
        if (view.source, d) in self._built:
            return  # a shared base, or a path that loops back: once is enough
        self._built.add((view.source, d))
        kfiles = view.kustomization(d)
        if len(kfiles) > 1:
            self.problem(view.files[kfiles[1]], f"kustomize refuses a directory with "
                         f"several kustomization files ({', '.join(kfiles)})")
        if kfiles:
            self.kustomize(view, d, kfiles[0], namespace)
            return
        prefix = d + "/" if d else ""
        for path in view.under(d):
            parts = path[len(prefix):].split("/")[:-1]
            sub = next((prefix + "/".join(parts[:i + 1]) for i in range(len(parts))
                        if view.kustomization(prefix + "/".join(parts[:i + 1]))), None)
            if sub is not None:
                self.build(view, sub, namespace)
            elif path.endswith(GENERATED_SUFFIXES):
                self.resource(view, path, namespace)

    def kustomize(self, view: View, d: str, kfile: str, namespace: str | None) -> None:
        repo_file = view.files[kfile]
        self.files.add(repo_file)
        docs = self.parse(repo_file)
        data = next((doc.data for doc in docs or () if isinstance(doc.data, dict)), None)
        if data is None:
            return
        own = data.get("namespace")
        # An outer overlay's namespace wins: kustomize applies it last.
        inner = namespace or (own if isinstance(own, str) and own else None)
        entries: list[tuple[str, Any, bool]] = []
        for key in ("resources", "bases", "components"):
            items = data.get(key)
            for i, item in enumerate(items if isinstance(items, list) else ()):
                entries.append((f"{key}[{i}]", item, True))
        for key in ("patches", "patchesJson6902"):
            items = data.get(key)
            for i, item in enumerate(items if isinstance(items, list) else ()):
                if isinstance(item, dict) and "path" in item:
                    entries.append((f"{key}[{i}].path", item["path"], False))
        for key in ("patchesStrategicMerge", "crds"):
            items = data.get(key)
            for i, item in enumerate(items if isinstance(items, list) else ()):
                if isinstance(item, str) and "\n" not in item.strip():
                    entries.append((f"{key}[{i}]", item, key == "crds"))
        for where, item, applied in entries:
            if not isinstance(item, str) or not item.strip():
                self.problem(repo_file, "expected a path", field=where)
                continue
            if "://" in item or item.startswith(("git@", "github.com/")):
                continue  # a remote base: not in this repository
            target = normalize(posixpath.join(d, item.strip()))
            if target is None:
                self.problem(repo_file, f"{item!r} is outside the repository", field=where)
            elif target in view.files:
                if applied:
                    self.resource(view, target, inner)
                else:
                    self.files.add(view.files[target])
            elif view.is_dir(target) and applied:
                if not view.kustomization(target):
                    self.problem(repo_file, f"{item!r} is a directory without a "
                                 f"kustomization file; kustomize cannot build it", field=where)
                    continue
                self.build(view, target, inner)
            else:
                self.problem(repo_file, f"{item!r}: no such file or directory"
                             + ("" if view is self.git else f" in {view.source}"), field=where)

    # -- Flux objects --------------------------------------------------------------

    def resource(self, view: View, path: str, namespace: str | None) -> None:
        repo_path = view.files[path]
        self.files.add(repo_path)
        if not repo_path.endswith((".yaml", ".yml", ".json")) \
                or not maybe_flux(repo_path, self.read(repo_path)):
            return
        for doc in self.parse(repo_path) or ():
            d = doc.data
            if not isinstance(d, dict):
                continue
            ns = namespace or meta(d, "namespace") or manifests.DEFAULT_NAMESPACE
            name = meta(d, "name") or ""
            kind, api = d.get("kind"), group(d)
            if (repo_path, doc.index) in self._queued:
                continue
            self._queued.add((repo_path, doc.index))
            if kind == artifacts.KIND and api == artifacts.API_GROUP:
                self.generator(repo_path, doc.index, d, ns)
            elif kind == "Kustomization" and api == manifests.FLUX_KUSTOMIZE_GROUP:
                ref = source_ref(d, ns)
                spec = d.get("spec")
                raw = spec.get("path") if isinstance(spec, dict) else None
                target = normalize(raw) if isinstance(raw, str) else ""
                if ref is None:
                    self.problem(repo_path, "missing or invalid", document=doc.index,
                                 field="spec.sourceRef")
                    continue
                if target is None:
                    self.problem(repo_path, f"{raw!r} is outside the source", field="spec.path",
                                 document=doc.index)
                    continue
                k = FluxKustomization(file=repo_path, document=doc.index, namespace=ns,
                                      name=name, path=target, source=ref, followed=False)
                target_ns = spec.get("targetNamespace") if isinstance(spec, dict) else None
                self.queue.append(Pending(k, target_ns if isinstance(target_ns, str)
                                          and target_ns else None))

    def generator(self, file: str, index: int, d: dict[str, Any], ns: str) -> None:
        raw = d.get("spec")
        spec: dict[str, Any] = raw if isinstance(raw, dict) else {}
        alias = None
        for src in spec.get("sources") or ():
            if isinstance(src, dict) and src.get("kind") == "GitRepository" and SourceRef(
                    "GitRepository", str(src.get("namespace") or ns), str(src.get("name"))
            ) == self.source:
                alias = src.get("alias")
        if not isinstance(alias, str):
            return  # built from other sources only: nothing of this repository
        for i, out in enumerate(spec.get("artifacts") or ()):
            if not isinstance(out, dict) or not isinstance(out.get("name"), str):
                continue
            copies: list[artifacts.Copy] = []
            for j, item in enumerate(out.get("copy") or ()):
                parsed = artifacts.parse_copy(item) if isinstance(item, dict) else "not a mapping"
                if isinstance(parsed, str):
                    self.problem(file, parsed, document=index,
                                 field=f"spec.artifacts[{i}].copy[{j}]")
                else:
                    copies.append(parsed)
            ref = SourceRef("ExternalArtifact", ns, out["name"])
            self.generators[ref] = _Generator(file, index, tuple(copies), alias)

    def follow(self, pending: Pending) -> bool:
        """Build a Kustomization's path when its source is known; False to wait."""
        k = pending.kustomization
        view = self.views.get(k.source)
        if view is None and k.source in self.generators:
            gen = self.generators[k.source]
            view = View(k.source, {
                a: r for a, r in artifacts.apply(gen.copies, alias=gen.alias,
                                                 files=self.git.files).items()})
            self.views[k.source] = view
        if view is None:
            return False
        if view.is_dir(k.path):
            self.build(view, k.path, pending.namespace)
        else:
            where = "the repository" if view is self.git else f"{k.source}"
            self.problem(k.file, f"{k.path or '.'!r}: no such directory in {where}",
                         document=k.document, field="spec.path")
        return True
