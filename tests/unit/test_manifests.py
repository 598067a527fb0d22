"""Scanning files for Rollouts and annotated targets, and joining them across files."""

from __future__ import annotations

from pathlib import Path

from reconciler.core import manifests

ROOT = Path(__file__).resolve().parents[2]

ROLLOUT = b"""\
apiVersion: kuberik.com/v1alpha1
kind: Rollout
metadata:
  name: podinfo
  namespace: apps
spec:
  policy: standard
"""

KUSTOMIZATION = b"""\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: podinfo
  namespace: flux-system
  annotations:
    rollout.kuberik.com/substitute.VERSION.from: apps/podinfo
    rollout.kuberik.com/substitute.UI.from: apps/podinfo
spec:
  postBuild:
    substitute:
      VERSION: "6.4.0"
      UI: 6.4.0
      OTHER: keep
"""

OCI = b"""\
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: frontend
  namespace: apps
  annotations:
    rollout.kuberik.com/rollout: frontend
spec:
  ref: {tag: "1.4.2"}
"""


def scan(files: dict[str, bytes]) -> manifests.Inventory:
    return manifests.resolve(manifests.scan_file(p, d) for p, d in files.items())


def test_finds_every_substitute_and_oci_tag() -> None:
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": KUSTOMIZATION,
                "o.yaml": OCI + b"---\n" + ROLLOUT.replace(b"podinfo", b"frontend")})
    assert sorted(inv.rollouts) == ["apps/frontend", "apps/podinfo"]
    podinfo = inv.targets["apps/podinfo"]
    assert sorted(t.path[-1] for t in podinfo) == ["UI", "VERSION"]
    assert {t.value for t in podinfo} == {"6.4.0"}
    (oci,) = inv.targets["apps/frontend"]
    assert (oci.path, oci.value, oci.document) == (("spec", "ref", "tag"), "1.4.2", 0)
    assert inv.errors() == []


def test_screen_skips_files_without_our_group() -> None:
    result = manifests.scan_file("plain.yaml", b"apiVersion: v1\nkind: ConfigMap\n")
    assert not result.parsed
    # Even broken YAML is not parsed (and so not reported) when it cannot matter.
    assert manifests.scan_file("x.yaml", b"{{{").problems == ()


def test_unknown_rollout_is_reported_not_guessed() -> None:
    inv = scan({"k.yaml": KUSTOMIZATION})
    assert inv.targets == {}
    msgs = [p.render() for p in inv.errors()]
    assert len(msgs) == 2
    assert all("no Rollout manifest" in m and "apps/podinfo" in m for m in msgs)
    assert msgs[0].startswith("error: k.yaml:")


def test_missing_field_is_reported() -> None:
    broken = KUSTOMIZATION.replace(b'      VERSION: "6.4.0"\n', b"")
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": broken})
    (problem,) = inv.errors()
    assert problem.field == "spec.postBuild.substitute.VERSION"
    assert "missing" in problem.message
    assert [t.path[-1] for t in inv.targets["apps/podinfo"]] == ["UI"]


def test_two_rollouts_claiming_one_field_write_none_of_it() -> None:
    other = KUSTOMIZATION.replace(b"UI.from: apps/podinfo", b"UI.from: apps/other")
    copy = KUSTOMIZATION.replace(b"VERSION.from: apps/podinfo", b"VERSION.from: apps/other")
    inv = scan({"r.yaml": ROLLOUT, "r2.yaml": ROLLOUT.replace(b"podinfo", b"other"),
                "k.yaml": other, "k2.yaml": copy})
    claimed = [p for p in inv.errors() if "claimed by several rollouts" in p.message]
    assert claimed
    assert "apps/other" in inv.broken and "apps/podinfo" in inv.broken


def test_invalid_rollout_spec_names_field() -> None:
    bad = ROLLOUT + b"  maxBump: huge\n  versionConstraint: '>=1.0 <<'\n"
    inv = scan({"r.yaml": bad})
    fields = sorted(p.field or "" for p in inv.errors())
    assert fields == ["spec.maxBump", "spec.versionConstraint"]
    assert inv.rollouts["apps/podinfo"].rollout is None
    assert "apps/podinfo" in inv.broken


def test_unparsable_file_is_named_with_line() -> None:
    inv = scan({"r.yaml": ROLLOUT, "bad.yaml": b"kind: Rollout # kuberik.com\nspec: [\n"})
    assert "bad.yaml" in inv.unparsable
    (problem,) = [p for p in inv.errors() if p.file == "bad.yaml"]
    assert "line" in problem.render()


def test_annotation_on_wrong_kind_and_bad_reference() -> None:
    wrong = OCI.replace(b"rollout.kuberik.com/rollout: frontend",
                        b"rollout.kuberik.com/substitute.X.from: frontend")
    badref = OCI.replace(b"rollout: frontend", b"rollout: a/b/c")
    inv = scan({"w.yaml": wrong, "b.yaml": badref})
    msgs = " | ".join(p.message for p in inv.errors())
    assert "only work on a Flux Kustomization" in msgs
    assert "'a/b/c' is not a rollout name" in msgs


def test_non_string_target_must_be_quoted() -> None:
    numeric = KUSTOMIZATION.replace(b'VERSION: "6.4.0"', b"VERSION: 1.10")
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": numeric})
    (problem,) = inv.errors()
    assert "quote it" in problem.message and problem.field.endswith("VERSION")


def test_sample_repo_is_clean() -> None:
    files = {str(p.relative_to(ROOT / "sample-repo")): p.read_bytes()
             for p in (ROOT / "sample-repo").rglob("*.y*ml")}
    inv = scan(files)
    assert inv.errors() == []
    assert sorted(inv.rollouts) == ["apps/frontend", "apps/podinfo"]
    assert len(inv.targets["apps/podinfo"]) == 2


def test_a_broken_target_stops_its_rollout_not_others() -> None:
    # UI is not a string: writing only VERSION would leave the release half done.
    inv = scan({"r.yaml": ROLLOUT, "k.yaml": KUSTOMIZATION.replace(b"UI: 6.4.0", b"UI: 6.4"),
                "f.yaml": ROLLOUT.replace(b"podinfo", b"frontend"), "o.yaml": OCI})
    [problem] = inv.broken["apps/podinfo"]
    assert (problem.file, problem.document, problem.field) == (
        "k.yaml", 0, "spec.postBuild.substitute.UI")
    assert "must be a string, found 6.4" in problem.message
    assert "apps/frontend" not in inv.broken and inv.targets["apps/frontend"]


def test_an_invalid_spec_names_its_field_where_release_reports_it() -> None:
    inv = scan({"r.yaml": ROLLOUT.replace(b"policy: standard", b"bakeTime: 5")})
    [problem] = inv.broken["apps/podinfo"]
    assert problem.field == "spec.bakeTime"
    assert problem.message == ("Rollout apps/podinfo has an invalid spec: Input should be a "
                               "valid string, got 5")


def test_rendered_problems_stay_on_one_line() -> None:
    problem = manifests.Problem(file="apps/x\nerror: forged.yaml", field="a\tb",
                                message="bad \x1b[2J value \u202e")
    assert problem.render() == ("error: apps/x\\nerror: forged.yaml a\\tb: bad \\x1b[2J value "
                                "\\u202e")


def test_skipped_entries() -> None:
    inside = manifests.skipped("a.yaml", kind="symlink", detail="'b.yaml'")
    outside = manifests.skipped("c.yaml", kind="symlink-outside", detail="'/etc/passwd'")
    named = manifests.skipped("'..'", kind="invalid-name", detail="'..'")
    assert [s.problems[0].severity for s in (inside, outside, named)] == [
        "warning", "error", "error"]
    assert "outside the repository" in outside.problems[0].message
    inv = manifests.resolve([outside, manifests.scan_file("r.yaml", ROLLOUT)])
    assert inv.unparsable == {"c.yaml"}
    assert "may be in a file that was skipped" in inv.no_target("apps/podinfo")
