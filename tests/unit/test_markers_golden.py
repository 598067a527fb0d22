"""Golden-directory tests for releases written through Flux ``$imagepolicy`` markers.

Each directory under ``tests/golden/markers/`` holds ``original/*.yaml`` (a Rollout
reading an ImagePolicy, and manifests with markers in one of Flux's four formats),
``release.json`` (``{"rollout", "tag", "digest"}``), ``expected/*.yaml`` (the bytes
the release leaves, every file of ``original/``) and ``changes.txt`` (the change lines
of the release commit's body, documents counted from 1). The test scans and resolves
the files as the engine does, renders the release's change set and splices it, so
the whole path from marker to bytes is covered. Bytes are compared, so CRLF and
quotes count. To add a case, write ``original/`` and ``release.json``, run
``python -m tests.unit.test_markers_golden NN-case`` and read the diff it wrote.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from reconciler.core import manifests, planning, rewrite, trailers
from reconciler.core.changes import ChangeSet

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "markers"
CASES = sorted(p for p in GOLDEN.iterdir() if p.is_dir())


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def release(files: dict[str, bytes], spec: dict[str, str | None]) -> tuple[
        ChangeSet, dict[str, bytes]]:
    """The change set of the release ``spec`` over ``files``, and every file after it."""
    inventory = manifests.resolve(manifests.scan_file(n, d) for n, d in files.items())
    rollout, tag = str(spec["rollout"]), str(spec["tag"])
    assert rollout not in inventory.broken, inventory.broken
    changes = planning.changes_for(rollout, inventory.targets[rollout], tag,
                                   digest=spec.get("digest"))
    out = dict(files)
    for name in changes.files:
        edits = [(c.document, c.path, c.new) for c in changes.changes if c.file == name]
        out[name] = rewrite.set_values(files[name], file=name, edits=edits)
    return changes, out


def _body(changes: ChangeSet, tag: str) -> str:
    message = trailers.release_message(changes, release=tag, previous="6.4.0")
    return "".join(line + "\n" for line in message.splitlines() if line.startswith("  "))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_release_through_markers_matches_golden(case: Path) -> None:
    spec = json.loads((case / "release.json").read_bytes())
    changes, got = release(_files(case / "original"), spec)
    assert changes, "a case must change something"
    assert got == _files(case / "expected")
    assert _body(changes, spec["tag"]) == (case / "changes.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_release_through_markers_is_idempotent(case: Path) -> None:
    spec = json.loads((case / "release.json").read_bytes())
    changes, got = release(_files(case / "expected"), spec)
    assert not changes.changes
    assert got == _files(case / "expected")


def _generate(name: str) -> None:  # pragma: no cover - a tool for people adding cases
    case = GOLDEN / name
    spec = json.loads((case / "release.json").read_bytes())
    changes, got = release(_files(case / "original"), spec)
    (case / "expected").mkdir(exist_ok=True)
    for file, data in got.items():
        (case / "expected" / file).write_bytes(data)
    (case / "changes.txt").write_text(_body(changes, spec["tag"]), encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    for arg in sys.argv[1:]:
        _generate(arg)
