"""What kustomize-controller builds from a source artifact, for the Flux stand-in.

Where it fits: ``emulator.flux`` reads a commit's tree (``emulator.gittree``), asks
``build`` for the objects a Kustomization would apply, and writes them into the
emulator with ``merge``. Nothing here does I/O: a tree is a mapping of paths to a
reader, objects are plain dicts.

What is modelled, and from where:

- the build (fluxcd/pkg ``kustomize/kustomize_generator.go``): a ``spec.path``
  holding a ``kustomization.yaml`` is built from its ``resources`` (files, and
  directories that hold a ``kustomization.yaml`` themselves, recursively), with its
  ``namespace`` set on every namespaced object; a path without one gets a generated
  one listing every ``.yaml``/``.yml`` file below it, a subdirectory that has its own
  ``kustomization.yaml`` entering as that directory; ``spec.targetNamespace``
  overrides the namespace;
- post-build substitution (fluxcd/pkg ``kustomize/kustomize_varsub.go`` with
  drone/envsubst, its test table ``eval_test.go``): run on each object's YAML only
  when at least one variable is set (here on the document's text before the
  namespace is set, which differs only for a namespace written as a variable);
  ``${VAR}``, ``${VAR=default}``, ``${VAR:=default}``, ``${VAR-default}``,
  ``${VAR:-default}`` (defaults may nest); a variable that is not set becomes the
  empty string (Flux's default, non-strict mode); ``$${VAR}`` is the escape for a
  literal ``${VAR}``; ``$VAR`` without braces is left alone; objects labelled or
  annotated ``kustomize.toolkit.fluxcd.io/substitute: disabled`` are skipped.

Not modelled: patches, components, generators, images, remote resources,
``substituteFrom`` and the bash string functions of envsubst (``${VAR^^}``...); a
kustomization.yaml that uses them builds without them.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

__all__ = ["BuildError", "build", "clean_path", "envsubst", "merge"]

Obj = dict[str, Any]
Tree = Mapping[str, Callable[[], bytes]]  # path in the artifact -> its content

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
_VAR_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
_DOCUMENT_START = re.compile(r"^---[ \t]*(?:#.*)?$", re.MULTILINE)
# Bounds a hostile file cannot get past (alias bombs expand when walked).
MAX_FILE_BYTES = 4 << 20
MAX_NODES = 200_000


class BuildError(Exception):
    """The build failed; kustomize-controller reports ``BuildFailed`` with this text."""


def build(tree: Tree, path: str, *, substitute: Mapping[str, str] | None = None,
          target_namespace: str | None = None,
          namespaced: Callable[[str, str], bool] = lambda api_version, kind: True,
          ) -> list[Obj]:
    """The objects a Kustomization with ``spec.path = path`` applies from ``tree``
    (pure). ``namespaced(apiVersion, kind)`` says which kinds take a namespace."""
    root = clean_path(path)
    if root and not any(p == root or p.startswith(root + "/") for p in tree):
        raise BuildError(f"kustomization path not found: {path}")
    variables = dict(substitute or {})
    for name in variables:
        if not _VAR_NAME.fullmatch(name):
            raise BuildError(f"'{name}' var name is invalid, must match "
                             f"'^[_[:alpha:]][_[:alpha:][:digit:]]*$'")
    load = functools.partial(_load, variables={k: str(v).replace("\n", "")
                                                for k, v in variables.items()})
    objects = _build_dir(tree, root, namespaced, load, depth=0)
    if target_namespace:
        for obj in objects:
            if namespaced(obj.get("apiVersion", ""), obj.get("kind", "")):
                obj.setdefault("metadata", {})["namespace"] = target_namespace
    return objects


def envsubst(text: str, variables: Mapping[str, str]) -> str:
    """drone/envsubst as Flux calls it: unset variables expand to ``""``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            out.append("${")
            i += 3
        elif text.startswith("${", i):
            end = _closing(text, i + 2)
            if end < 0:
                raise BuildError(f"variable substitution failed: missing '}}' in "
                                 f"{text[i:i + 40]!r}")
            out.append(_expand(text[i + 2:end], variables))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def merge(current: Obj | None, manifest: Obj, previous: Obj | None) -> Obj:
    """The object after a server-side apply of ``manifest`` by the field manager that
    last applied ``previous`` (pure). Fields in the manifest win; fields someone else
    set stay; fields the manager applied before and dropped now are removed.
    ``status`` is never touched; lists are atomic, as in a CRD without list markers."""
    base: Obj = _copy(current) if current is not None else {
        "apiVersion": manifest["apiVersion"], "kind": manifest["kind"], "metadata": {}}
    meta_in = manifest.get("metadata") or {}
    meta = base.setdefault("metadata", {})
    meta.setdefault("name", meta_in.get("name"))
    if meta_in.get("namespace"):
        meta.setdefault("namespace", meta_in["namespace"])
    old_meta = (previous or {}).get("metadata") or {}
    for key in ("labels", "annotations"):
        merged = _merge_fields(meta.get(key) or {}, meta_in.get(key) or {}, old_meta.get(key))
        if merged:
            meta[key] = merged
        else:
            meta.pop(key, None)
    skip = {"apiVersion", "kind", "metadata", "status"}
    for key in set(manifest) | set(previous or {}):
        if key in skip:
            continue
        if key in manifest:
            old = (previous or {}).get(key)
            if isinstance(manifest[key], dict) and isinstance(base.get(key), dict):
                base[key] = _merge_fields(base[key], manifest[key],
                                          old if isinstance(old, dict) else None)
            else:
                base[key] = _copy(manifest[key])
        else:
            base.pop(key, None)
    return base


# -- the build -------------------------------------------------------------------

def _build_dir(tree: Tree, root: str, namespaced: Callable[[str, str], bool],
               load: Callable[[Tree, str], list[Obj]], *, depth: int) -> list[Obj]:
    if depth > 20:
        raise BuildError(f"{root or '.'}: kustomization resources nest too deeply")
    config_path = next((_join(root, n) for n in KUSTOMIZATION_FILES if _join(root, n) in tree),
                       None)
    if config_path is None:
        if depth > 0:
            raise BuildError(f"unable to find one of {list(KUSTOMIZATION_FILES)!r} in "
                             f"directory '{root or '.'}'")
        objects: list[Obj] = []
        for entry in _generated(tree, root):
            objects += (load(tree, entry) if entry in tree
                        else _build_dir(tree, entry, namespaced, load, depth=depth + 1))
        return objects
    docs = _load(tree, config_path, variables={}, manifests=False)
    config = docs[0] if docs else {}
    resources = config.get("resources") or []
    if not isinstance(resources, list):
        raise BuildError(f"{config_path}: resources is not a list")
    objects = []
    for entry in resources:
        if not isinstance(entry, str) or "://" in entry or entry.startswith("git@"):
            raise BuildError(f"{config_path}: remote or malformed resource {entry!r} "
                             f"is not supported by the stand-in")
        target = clean_path(posixpath.join(root, entry))
        if target in tree:
            objects += load(tree, target)
        elif any(p.startswith(target + "/") for p in tree):
            objects += _build_dir(tree, target, namespaced, load, depth=depth + 1)
        else:
            raise BuildError(f"{config_path}: accumulating resources: '{entry}' not found")
    namespace = config.get("namespace")
    if isinstance(namespace, str) and namespace:
        for obj in objects:
            if namespaced(obj.get("apiVersion", ""), obj.get("kind", "")):
                obj.setdefault("metadata", {})["namespace"] = namespace
    return objects


def _generated(tree: Tree, root: str) -> list[str]:
    """What Flux's generated kustomization.yaml lists: manifests below ``root``, a
    subdirectory with its own kustomization.yaml standing for everything under it."""
    prefix = root + "/" if root else ""
    owned = sorted({posixpath.dirname(p) for p in tree if p.startswith(prefix)
                    and posixpath.basename(p) in KUSTOMIZATION_FILES
                    and posixpath.dirname(p) != root})
    files: list[str] = []
    for p in sorted(tree):
        if not p.startswith(prefix) or not p.endswith((".yaml", ".yml")):
            continue
        if posixpath.basename(p) in KUSTOMIZATION_FILES:
            continue
        if any(p.startswith(d + "/") for d in owned):
            continue
        files.append(p)
    # A nested kustomization's directory is built with its own config.
    return files + [d for d in owned if not any(d.startswith(o + "/") for o in owned)]


def _load(tree: Tree, path: str, *, variables: Mapping[str, str],
          manifests: bool = True) -> list[Obj]:
    """The objects of one file. Substitution runs on each document's own text, so a
    quoted ``'${VAR}'`` stays a string and a plain ``${VAR}`` takes the value's YAML
    type, as it does on the YAML kustomize hands to Flux's postBuild."""
    data = tree[path]()
    if len(data) > MAX_FILE_BYTES:
        raise BuildError(f"{path}: {len(data)} bytes is more than the stand-in reads")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BuildError(f"{path}: {exc}") from None
    out: list[Obj] = []
    for chunk in _DOCUMENT_START.split(text):
        doc = _parse(chunk, path)
        if doc is None:
            continue
        if manifests and not (doc.get("apiVersion") and doc.get("kind")):
            raise BuildError(f"{path}: missing apiVersion or kind")
        if variables and manifests and not _substitution_disabled(doc):
            doc = _parse(envsubst(chunk, variables), path)
            if doc is None:
                raise BuildError(f"{path}: variable substitution left an empty document")
        out.append(doc)
    return out


def _parse(chunk: str, path: str) -> Obj | None:
    try:
        doc = YAML(typ="safe").load(chunk)
    except (YAMLError, ValueError) as exc:
        raise BuildError(f"{path}: {str(exc).splitlines()[0] if str(exc) else exc!r}"
                         ) from None
    if doc is None:
        return None
    _bounded(doc, path)
    if not isinstance(doc, dict):
        raise BuildError(f"{path}: a document is not a mapping")
    return dict(_copy(doc))


def _bounded(doc: Any, path: str) -> None:
    seen, stack = 0, [doc]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise BuildError(f"{path}: too many nodes (an alias bomb?)")
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


# -- substitution ----------------------------------------------------------------

def _substitution_disabled(obj: Obj) -> bool:
    meta = obj.get("metadata") or {}
    return "disabled" in ((meta.get("labels") or {}).get(SUBSTITUTE_KEY),
                          (meta.get("annotations") or {}).get(SUBSTITUTE_KEY))


def _closing(text: str, start: int) -> int:
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _expand(expr: str, variables: Mapping[str, str]) -> str:
    name_match = _VAR_NAME.match(expr)
    if name_match is None:
        raise BuildError(f"variable substitution failed: bad substitution '${{{expr}}}'")
    name, rest = name_match.group(), expr[name_match.end():]
    value = variables.get(name, "")
    if not rest:
        return value
    for op in (":=", ":-", "=", "-"):
        if rest.startswith(op):
            # drone/envsubst is called with a mapping that returns "" for unset
            # variables, so "unset" and "empty" take the default alike.
            return value if value else envsubst(rest[len(op):], variables)
    raise BuildError(f"variable substitution failed: '${{{expr}}}' is not modelled by the "
                     f"stand-in")


# -- helpers ---------------------------------------------------------------------

def _merge_fields(current: Obj, desired: Obj, previous: Obj | None) -> Obj:
    out: Obj = _copy(current)
    for key, value in desired.items():
        old = (previous or {}).get(key)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge_fields(out[key], value, old if isinstance(old, dict) else None)
        else:
            out[key] = _copy(value)
    for key in (previous or {}):
        if key not in desired:
            out.pop(key, None)
    return out


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def clean_path(path: str) -> str:
    norm = posixpath.normpath("/" + (path or "").strip()).lstrip("/")
    return "" if norm in (".", "") else norm


def _join(root: str, name: str) -> str:
    return f"{root}/{name}" if root else name
