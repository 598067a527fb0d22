"""Golden-directory tests for the surgical rewrite (``reconciler.core.rewrite``).

Each directory under ``tests/golden/rewrite/`` holds ``original/*.yaml``, the
``expected/*.yaml`` bytes after the edits, and ``edits.json``: a list of
``{"file", "document", "path", "value"}``. Files are read and compared as bytes so
CRLF, a BOM and a missing final newline count (``.gitattributes`` keeps git from
converting them). Expected files are written by hand or generated and then
reviewed; this test never rewrites them.

Each directory under ``tests/golden/rewrite-refused/`` holds ``original/*.yaml``,
``edits.json`` and ``error.txt``: the one line the rewrite refuses with, which the
manifest scan (``validate``, ``plan``) must report word for word as an error on the
edited field, so that nothing ``release`` would refuse is planned.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from reconciler.core import manifests, rewrite, yamldoc
from reconciler.errors import ManifestError

GOLDEN = Path(__file__).resolve().parent.parent / "golden" / "rewrite"
CASES = sorted(p for p in GOLDEN.iterdir() if p.is_dir()) if GOLDEN.is_dir() else []
REFUSED = sorted(p for p in (GOLDEN.parent / "rewrite-refused").iterdir() if p.is_dir())


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def _edits(case: Path, name: str) -> list[tuple[int, tuple[str, ...], str]]:
    edits = json.loads((case / "edits.json").read_bytes())
    return [(e["document"], tuple(e["path"]), e["value"]) for e in edits if e["file"] == name]


def _diff(want: bytes, got: bytes) -> str:
    lines = difflib.unified_diff(
        [repr(line) for line in want.splitlines(keepends=True)],
        [repr(line) for line in got.splitlines(keepends=True)],
        "expected", "got", lineterm="",
    )
    return "\n".join(lines)


def test_corpus_has_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_rewrite_matches_golden(case: Path) -> None:
    originals = _files(case / "original")
    expected = _files(case / "expected")
    edited = {e["file"] for e in json.loads((case / "edits.json").read_bytes())}
    assert originals, "a case needs at least one original file"
    assert set(expected) == set(originals), "original/ and expected/ must hold the same files"
    assert edited <= set(originals), "edits.json names a file that is not in original/"

    for name, data in originals.items():
        edits = _edits(case, name)
        got = rewrite.set_values(data, file=name, edits=edits) if edits else data
        assert got == expected[name], f"{case.name}/{name}:\n" + _diff(expected[name], got)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_rewrite_is_idempotent_and_reads_back(case: Path) -> None:
    for name, data in _files(case / "expected").items():
        edits = _edits(case, name)
        if not edits:
            continue
        assert rewrite.set_values(data, file=name, edits=edits) == data
        documents = yamldoc.parse(data, file=name)
        for index, path, value in edits:
            scalar = documents[index].find(path)
            assert scalar is not None
            assert scalar.value == value
            assert isinstance(scalar.value, str)


@pytest.mark.parametrize("case", REFUSED, ids=[c.name for c in REFUSED])
def test_rewrite_refuses_as_golden_and_the_scan_says_it_first(case: Path) -> None:
    originals = _files(case / "original")
    [want] = (case / "error.txt").read_text(encoding="utf-8").splitlines()
    [name] = {e["file"] for e in json.loads((case / "edits.json").read_bytes())}
    edits = _edits(case, name)
    with pytest.raises(ManifestError) as caught:
        rewrite.set_values(originals[name], file=name, edits=edits)
    assert str(caught.value) == want
    fields = {".".join(path) for _, path, _ in edits}
    scan = manifests.scan_file(name, originals[name])
    assert [p.render() for p in scan.problems if p.field in fields] == [f"error: {want}"]
    assert not [t for t in scan.targets if t.field_name in fields]
