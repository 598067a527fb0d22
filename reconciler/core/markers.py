"""Flux image-automation markers: ``# {"$imagepolicy": "<ns>:<name>[:tag|:name|:digest]"}``.

Core, pure: a parsed document in, ``Marker`` records and problems out; a release in,
the new value of a marked field out. Teams coming from Flux's image automation have
these comments on the lines of their manifests (Deployments, kustomize ``images:``,
HelmRelease ``spec.values``, at any depth, in block sequences and mappings). The
Rollout whose ``spec.releasesImagePolicy`` is that ImagePolicy owns those lines too:
``manifests.scan_file`` finds them here, ``inventory.resolve`` gives each to its
Rollout as a ``Target``, and a release rewrites them in the same commit with the
same byte-exact splice as every other target (``core/rewrite.py``).

What Flux does, and so what this does (fluxcd/image-automation-controller
``internal/update/setters.go`` and ``filter.go``; kustomize ``kyaml/fieldmeta``;
https://fluxcd.io/flux/guides/image-update/ and the controller's
``docs/spec/v1/imageupdateautomations.md``, "Marking images for update"):

* a marker is the line comment of a scalar value: the text after ``#`` (leading
  ``#`` trimmed) must decode as a JSON object of strings whose ``$imagepolicy`` key
  names the setter; any other comment is no marker. Flux skips a comment that does
  not decode silently; here a comment that mentions ``$imagepolicy`` and does not
  decode, or names no setter Flux defines, is a problem, so a typo is seen;
* the setters are ``<ns>:<name>`` (the full reference: ``ImageRef.String()``,
  ``name:tag`` plus ``@digest`` when the policy reflects digests), ``<ns>:<name>:tag``,
  ``<ns>:<name>:name`` (the image repository) and ``<ns>:<name>:digest``
  (fluxcd/image-reflector-controller ``api/v1/imagepolicy_types.go``: ``latestRef
  {name, tag, digest}``; the digest is set only with ``digestReflectionPolicy``
  ``IfNotPresent`` or ``Always``, and is empty under the default ``Never``);
* only scalars are set (never a sequence or mapping), wherever they sit.

The reconciler knows the release's tag and, when the ImagePolicy reflects one (or
``release --digest`` gives it), its digest; the image name is the one the field holds
now, since a policy's ImageRepository names one image. A field that pins a digest
(a ``:digest`` marker, a full reference with ``@``) is therefore written only with the
release's digest (``needs_digest`` in ``core/planning.py``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from reconciler.core import imageref, yamldoc
from reconciler.core.inventory import Marker, Problem, Severity, dotted
from reconciler.errors import ManifestError, printable

KEY = "$imagepolicy"
SCREEN = KEY.encode()
SETTERS = {"": "image", "tag": "tag", "name": "name", "digest": "digest"}
"""The suffix of a marker's value -> its format (Flux's four setters)."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
# A comment must be separated from the token before it by whitespace (YAML 1.2, 6.6).
_AFTER = re.compile(r"[ \t]+#([^\r\n]*)")
_AFTER_COLON = re.compile(r"[ \t]*:(?:[ \t]+#([^\r\n]*))?")
_BLOCK_HEADER = re.compile(r"[|>][-+0-9]*[ \t]+#([^\r\n]*)")
_OWN_LINE = re.compile(r"^[ \t]*#([^\r\n]*\$imagepolicy[^\r\n]*)$", re.M)
_TYPE_NAMES: dict[type, str] = {bool: "the boolean", int: "the integer", float: "the number"}
EXAMPLE = '{"$imagepolicy": "flux-system:podinfo"}'


def parse(comment: str) -> tuple[str, str] | str | None:
    """The ``(policy, format)`` a comment's text names, a sentence saying why it is
    no valid marker, or None when it is no marker at all. Pure.

    ``policy`` is ``namespace/name``; ``format`` one of ``SETTERS``' values."""
    body = comment.lstrip("#")
    if KEY not in body:
        return None
    try:
        data: Any = json.loads(body)
    except ValueError as exc:
        return f"the marker is not valid JSON ({exc}); write it as {EXAMPLE}"
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        return f"the marker must be a JSON object of strings, like {EXAMPLE}"
    ref = data.get(KEY)
    if ref is None:
        return None
    parts = ref.split(":")
    if len(parts) not in (2, 3) or not all(_DNS_LABEL.match(p) for p in parts[:2]):
        return (f"{ref!r} names no ImagePolicy: write <namespace>:<name>, optionally "
                f"followed by :tag, :name or :digest")
    suffix = parts[2] if len(parts) == 3 else ""
    if suffix not in SETTERS:
        return (f"{ref!r}: Flux's markers end in :tag, :name or :digest (or nothing, for "
                f"the full image reference), not :{suffix}")
    return f"{parts[0]}/{parts[1]}", SETTERS[suffix]


def scan(path: str, doc: yamldoc.Document, text: str) -> tuple[list[Marker], list[Problem]]:
    """Every marker on a value of ``doc``, and the problems of the comments that
    mention ``$imagepolicy`` but mark nothing writable. Pure (``text`` is the file's
    decoded text, which ``doc``'s offsets index)."""
    data = doc.data if isinstance(doc.data, dict) else {}
    meta = data.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    kind = str(data.get("kind")) if isinstance(data.get("kind"), str) else ""
    name, namespace = meta.get("name"), meta.get("namespace")
    obj = (f"{namespace}/{name}" if isinstance(namespace, str) else str(name)) \
        if isinstance(name, str) else ""
    api = data.get("apiVersion")
    group = api.rpartition("/")[0] if isinstance(api, str) else ""
    markers: list[Marker] = []
    problems: list[Problem] = []
    for value in doc.values():
        comment = _comment(value, text)
        if comment is None or KEY not in comment:
            continue
        on_key = value.key_end is not None and (value.kind != "scalar"
                                                or value.start == value.end)
        line = yamldoc.line_at(text, value.key_end if on_key and value.key_end is not None
                               else value.start)
        fld = dotted(value.path)

        def problem(message: str, severity: Severity = "error", at: int = line,
                    where: str = fld) -> Problem:
            found = Problem(file=path, document=doc.index, line=at, field=where,
                            message=printable(message), severity=severity)
            problems.append(found)
            return found

        parsed = parse(comment)
        if parsed is None:
            continue
        if isinstance(parsed, str):
            problem(parsed)
            continue
        policy, setter = parsed
        if value.kind != "scalar":
            problem(f"the $imagepolicy marker for {policy} is on {_what(value.kind)}; "
                    f"Flux and the reconciler only set a single value")
            continue
        held, refused = _held(doc, value.path, setter=setter, policy=policy)
        at = held.line if held is not None else line
        found = problem(refused, at=at) if refused else None
        markers.append(Marker(
            file=path, document=doc.index, path=value.path, line=at, policy=policy,
            setter=setter, value=held.value if held is not None and
            isinstance(held.value, str) else None,
            kind=kind, object=obj, group=group, problem=found))
    return sorted(markers, key=lambda m: m.line), problems


def stray(path: str, text: str, documents: list[yamldoc.Document],
          found: list[Marker], reported: list[Problem]) -> list[Problem]:
    """Warnings for marker comments on a line of their own: Flux reads a marker only
    at the end of a value's line, so these mark nothing."""
    lines = {m.line for m in found} | {p.line for p in reported}
    inside = [(v.start, v.end) for d in documents for v in d.values() if v.kind == "scalar"]
    out = []
    for match in _OWN_LINE.finditer(text):
        line = yamldoc.line_at(text, match.start(1))
        if line in lines or parse(match.group(1)) is None \
                or any(start <= match.start(1) < end for start, end in inside):
            continue  # a line of a block scalar is text, not a comment
        document = max((d.index for d in documents if d.line <= line), default=None)
        out.append(Problem(
            file=path, document=document, line=line, severity="warning",
            message="a $imagepolicy marker on a line of its own marks nothing; put it at "
                    "the end of the value's line"))
    return out


def new_value(*, setter: str, held: str | None, tag: str, digest: str | None) -> str | None:
    """What a marked field becomes for the release ``tag`` (with ``digest`` when known),
    as Flux's setter of that format writes it; None when it cannot be said (a digest
    field, no digest known). Pure."""
    if setter == "tag":
        return tag
    if setter == "digest":
        return digest
    if setter == "name":
        return held  # the image repository: one ImageRepository, one name
    ref = imageref.parse(held or "")
    if ref is None:
        return None
    return imageref.ImageRef(ref.name, tag, digest).render()


def _comment(value: yamldoc.Value, text: str) -> str | None:
    """The line comment after a value, or after ``key:`` for a collection or an
    empty value."""
    if value.kind == "scalar" and value.style in ("|", ">"):
        m = _BLOCK_HEADER.match(text, value.start)
        return m.group(1) if m else None
    if value.kind in ("mapping", "sequence") or (value.kind == "scalar"
                                                 and value.start == value.end):
        if value.key_end is None:
            return None
        m = _AFTER_COLON.match(text, value.key_end)
        return m.group(1) if m and m.group(1) is not None else None
    m = _AFTER.match(text, value.end)
    return m.group(1) if m else None


def _held(doc: yamldoc.Document, path: tuple[str, ...], *, setter: str,
          policy: str) -> tuple[yamldoc.Scalar | None, str | None]:
    """The marked scalar, and why it cannot be written (None when it can)."""
    try:
        scalar = doc.find(path, sequences=True)
    except ManifestError as exc:
        return None, exc.detail.split(": ", 1)[-1] if exc.detail.startswith("line ") \
            else exc.detail
    if scalar is None:
        if setter == "image":
            return None, (f"marked for ImagePolicy {policy} but empty: write the image "
                          f"reference (name:tag), whose name the release keeps")
        return None, None
    if scalar.value is not None and not isinstance(scalar.value, str):
        return scalar, (f"must be a string, found {scalar.text}, which YAML reads as "
                        f"{_TYPE_NAMES.get(type(scalar.value), 'a non-string')} "
                        f"{scalar.value!r}; quote it")
    sharing = scalar.sharing()
    if sharing is not None:
        return scalar, sharing
    if setter == "image" and imageref.parse(scalar.value or "") is None:
        return scalar, (f"marked for ImagePolicy {policy} (the full image reference) but "
                        f"{scalar.text or 'empty'} is no image reference (name:tag), whose "
                        f"name the release keeps")
    return scalar, None


def _what(kind: str) -> str:
    return {"alias": "an alias", "flow": "a {}/[] collection",
            "mapping": "a mapping", "sequence": "a sequence"}.get(kind, kind)
