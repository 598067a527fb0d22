"""Unit tests for ``reconciler.core.rewrite``: quoting table, read-back, apply's guards.

The byte-for-byte behaviour on real manifests lives in the golden tests
(``test_rewrite_golden.py``); these pin the rules behind it.
"""

from __future__ import annotations

import dataclasses

import pytest

from reconciler.core import rewrite, yamldoc
from reconciler.errors import ManifestError

# value, style of the old token, flow context, rendered text
RENDER_TABLE = [
    ("6.5.0", "", False, "6.5.0"),
    ("v6.5.0", "", False, "v6.5.0"),
    ("1.2.3-rc.1+build.5", "", False, "1.2.3-rc.1+build.5"),
    ("ghcr.io/org/app:1.2.3", "", False, "ghcr.io/org/app:1.2.3"),
    ("ghcr.io/org/app:1.2.3", "", True, '"ghcr.io/org/app:1.2.3"'),
    ("café", "", False, "café"),
    ("a#b", "", False, "a#b"),
    ("-foo", "", False, "-foo"),
    ("a b", "", False, "a b"),
    # would read back as something other than this string
    ("1.10", "", False, '"1.10"'),
    ("1.0", "", False, '"1.0"'),
    ("1e3", "", False, '"1e3"'),
    ("10", "", False, '"10"'),
    ("-1", "", False, '"-1"'),
    ("+1", "", False, '"+1"'),
    ("010", "", False, '"010"'),
    ("0o17", "", False, '"0o17"'),
    ("0x1F", "", False, '"0x1F"'),
    ("0b101", "", False, '"0b101"'),
    ("1_000", "", False, '"1_000"'),
    ("1:20", "", False, '"1:20"'),
    (".inf", "", False, '".inf"'),
    ("-.Inf", "", False, '"-.Inf"'),
    (".nan", "", False, '".nan"'),
    ("NaN", "", False, '"NaN"'),
    ("Infinity", "", False, '"Infinity"'),
    ("true", "", False, '"true"'),
    ("False", "", False, '"False"'),
    ("yes", "", False, '"yes"'),
    ("No", "", False, '"No"'),
    ("on", "", False, '"on"'),
    ("OFF", "", False, '"OFF"'),
    ("y", "", False, '"y"'),
    ("n", "", False, '"n"'),
    ("null", "", False, '"null"'),
    ("Null", "", False, '"Null"'),
    ("~", "", False, '"~"'),
    ("", "", False, '""'),
    ("2024-01-01", "", False, '"2024-01-01"'),
    ("2024-1-2", "", False, '"2024-1-2"'),
    ("2001-12-14t21:59:43.10-05:00", "", False, '"2001-12-14t21:59:43.10-05:00"'),
    ("<<", "", False, '"<<"'),
    ("=", "", False, '"="'),
    # YAML syntax in the text
    ("a: b", "", False, '"a: b"'),
    ("a #b", "", False, '"a #b"'),
    ("a:", "", False, '"a:"'),
    ("- a", "", False, '"- a"'),
    ("#a", "", False, '"#a"'),
    ("&a", "", False, '"&a"'),
    ("*a", "", False, '"*a"'),
    ("!a", "", False, '"!a"'),
    ("|a", "", False, '"|a"'),
    (">a", "", False, '">a"'),
    ("%a", "", False, '"%a"'),
    ("@a", "", False, '"@a"'),
    ("`a", "", False, '"`a"'),
    ("?a", "", False, '"?a"'),
    (":a", "", False, '":a"'),
    ("'a'", "", False, "\"'a'\""),
    ('"a"', "", False, '"\\"a\\""'),
    ("[a]", "", False, '"[a]"'),
    ("{a}", "", False, '"{a}"'),
    ("a,b", "", False, "a,b"),
    ("a,b", "", True, '"a,b"'),
    ("a]b", "", True, '"a]b"'),
    ("---", "", False, '"---"'),
    ("...", "", False, '"..."'),
    (" a", "", False, '" a"'),
    ("a ", "", False, '"a "'),
    ("a\nb", "", False, '"a\\nb"'),
    ("a\tb", "", False, '"a\\tb"'),
    ("a\x00b", "", False, '"a\\u0000b"'),
    ("a\x7fb", "", False, '"a\\u007fb"'),
    ("a\u2028b", "", False, '"a\\u2028b"'),
    ("a\ufeffb", "", False, '"a\\ufeffb"'),
    ("a\\b", "", False, "a\\b"),
    # quoted styles are kept
    ("6.5.0", "'", False, "'6.5.0'"),
    ("1.10", "'", False, "'1.10'"),
    ("it's", "'", False, "'it''s'"),
    ("", "'", False, "''"),
    ("a\nb", "'", False, '"a\\nb"'),
    ("a\tb", "'", False, '"a\\tb"'),
    ("6.5.0", '"', False, '"6.5.0"'),
    ('say "hi"', '"', False, '"say \\"hi\\""'),
    ("C:\\dir", '"', False, '"C:\\\\dir"'),
    ("ü", '"', False, '"ü"'),
    # block scalars fall back to double quotes
    ("6.5.0", "|", False, '"6.5.0"'),
    ("line\n", ">", False, '"line\\n"'),
]


@pytest.mark.parametrize(("value", "style", "flow", "rendered"), RENDER_TABLE)
def test_render_table(value: str, style: str, flow: bool, rendered: str) -> None:
    assert rewrite.render(value, style=style, flow=flow) == rendered


@pytest.mark.parametrize("style", rewrite.STYLES)
@pytest.mark.parametrize("flow", [False, True])
def test_render_reads_back_as_the_same_string(style: str, flow: bool) -> None:
    for value, *_ in RENDER_TABLE:
        text = rewrite.render(value, style=style, flow=flow)
        sources = [f"k: {text}\n", f"%YAML 1.1\n---\nk: {text}\n", f"- {text}\n"]
        if flow:
            sources += [f"{{k: {text}}}\n", f"[{text}]\n"]
        for source in sources:
            (doc,) = yamldoc.parse(source.encode(), file="t.yaml")
            got = doc.data["k"] if isinstance(doc.data, dict) else doc.data[0]
            assert got == value and isinstance(got, str), (value, style, source)


def test_render_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="style"):
        rewrite.render("x", style="?")
    with pytest.raises(TypeError):
        rewrite.render(1.5, style="")  # type: ignore[arg-type]


# --- apply -----------------------------------------------------------------------

OCI = b"""\
# managed by the reconciler
---
kind: OCIRepository
metadata:
  name: podinfo
spec:
  ref:
    tag: 6.4.0 # {"$imagepolicy": "apps:podinfo:tag"}
  other: "x"
"""


def locate(data: bytes, path: tuple[str, ...], document: int = 0) -> yamldoc.Scalar:
    scalar = yamldoc.parse(data, file="oci.yaml")[document].find(path)
    assert scalar is not None
    return scalar


def test_apply_with_located_scalars() -> None:
    tag = locate(OCI, ("spec", "ref", "tag"))
    other = locate(OCI, ("spec", "other"))
    out = rewrite.apply(OCI, [(tag, "6.5.0"), (other, "1.0")], file="oci.yaml")
    assert out == OCI.replace(b"6.4.0", b"6.5.0").replace(b'"x"', b'"1.0"')


def test_apply_without_edits_returns_the_same_bytes() -> None:
    assert rewrite.apply(OCI, []) == OCI


def test_same_edit_twice_is_fine_conflicting_edits_are_not() -> None:
    tag = locate(OCI, ("spec", "ref", "tag"))
    assert rewrite.apply(OCI, [(tag, "6.5.0"), (tag, "6.5.0")]) == OCI.replace(b"6.4.0", b"6.5.0")
    with pytest.raises(ManifestError, match="two different values"):
        rewrite.apply(OCI, [(tag, "6.5.0"), (tag, "6.6.0")])


def test_apply_refuses_a_scalar_from_other_bytes() -> None:
    tag = locate(OCI, ("spec", "ref", "tag"))
    moved = b"# one more line\n" + OCI
    with pytest.raises(ManifestError, match="changed since"):
        rewrite.apply(moved, [(tag, "6.5.0")], file="oci.yaml")


def test_apply_refuses_a_scalar_with_the_wrong_path() -> None:
    tag = locate(OCI, ("spec", "ref", "tag"))
    forged = yamldoc.Scalar(value=tag.value, text=tag.text, start=tag.start, end=tag.end,
                            style=tag.style, line=tag.line, document=0, path=("spec", "other"))
    with pytest.raises(ManifestError, match="not at the recorded place"):
        rewrite.apply(OCI, [(forged, "6.5.0")])


def test_shared_anchor_is_not_rewritten_behind_the_users_back() -> None:
    data = b"spec:\n  ref:\n    tag: &v 6.4.0\n  mirror: *v\n  again: *v\n"
    with pytest.raises(ManifestError) as caught:
        rewrite.set_values(data, file="f.yaml", edits=[(0, ("spec", "ref", "tag"), "6.5.0")])
    # Refused up front, naming the edited field, the anchor and every alias.
    assert (caught.value.field, caught.value.line) == ("spec.ref.tag", 3)
    assert "anchored as &v at line 3 and reused through *v at lines 4 and 5" in str(caught.value)
    assert str(caught.value).startswith("f.yaml:3 (document 1) spec.ref.tag: ")


def test_merged_mapping_is_not_rewritten_behind_the_users_back() -> None:
    data = b"base: &b\n  tag: 6.4.0\nspec:\n  <<: *b\n"
    with pytest.raises(ManifestError) as caught:
        rewrite.set_values(data, file="f.yaml", edits=[(0, ("base", "tag"), "6.5.0")])
    assert (caught.value.field, caught.value.line) == ("base.tag", 2)
    assert "inside base, anchored as &b at line 1 and reused through *b at line 4" in \
        caught.value.detail


def test_reading_back_still_catches_a_share_the_scalar_does_not_declare() -> None:
    # Defence in depth: a located scalar stripped of what yamldoc knew about its
    # anchor is still refused once the result reads back differently.
    data = b"spec:\n  ref:\n    tag: &v 6.4.0\n  mirror: *v\n"
    tag = dataclasses.replace(locate(data, ("spec", "ref", "tag")), shared=())
    with pytest.raises(ManifestError) as caught:
        rewrite.apply(data, [(tag, "6.5.0")], file="f.yaml")
    assert (caught.value.field, caught.value.line) == ("spec.mirror", 4)
    assert "would change more than the edited fields" in caught.value.detail


def test_set_values_reports_missing_fields_and_documents() -> None:
    with pytest.raises(ManifestError) as caught:
        rewrite.set_values(OCI, file="oci.yaml", edits=[(0, ("spec", "ref", "digest"), "x")])
    assert (caught.value.document, caught.value.field) == (0, "spec.ref.digest")
    assert "not found" in str(caught.value)
    with pytest.raises(ManifestError, match="no document 3"):
        rewrite.set_values(OCI, file="oci.yaml", edits=[(2, ("spec", "ref", "tag"), "x")])


def test_set_values_refuses_non_scalar_targets() -> None:
    with pytest.raises(ManifestError) as caught:
        rewrite.set_values(OCI, file="oci.yaml", edits=[(0, ("spec", "ref"), "x")])
    assert caught.value.field == "spec.ref"


@pytest.mark.parametrize(("before", "after"), [
    (b"a:\n", b"a: v\n"),
    (b"a: \n", b"a: v\n"),
    (b"a: # note\n", b"a: v # note\n"),
    (b"a:", b"a: v"),
    (b"x: {a: , b: 1}\n", b"x: {a: v, b: 1}\n"),
    (b"a: &x\n", b"a: &x v\n"),
    (b"a: !!str\n", b"a: !!str v\n"),
])
def test_empty_values_are_filled_in_place(before: bytes, after: bytes) -> None:
    path = ("x", "a") if before.startswith(b"x") else ("a",)
    assert rewrite.set_values(before, file="f.yaml", edits=[(0, path, "v")]) == after


def test_multiline_scalars_are_replaced_whole() -> None:
    data = b"a: 'one\n  two'\nb: plain\n  continued\nc: |+\n  keep\n\nd: 1\n"
    out = rewrite.set_values(data, file="f.yaml",
                             edits=[(0, ("a",), "x"), (0, ("b",), "why"), (0, ("c",), "z")])
    assert out == b"a: 'x'\nb: why\nc: \"z\"\n\nd: 1\n"
