"""``core/migration.py``: the fields kuberik's rollout-controller set in the cluster,
found in git and added as whole lines, every other byte kept."""

from __future__ import annotations

import pytest

from reconciler.core import manifests, migration
from reconciler.errors import ManifestError

HEAD = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        "  name: podinfo\n  namespace: apps\n  annotations:\n"
        "    rollout.kuberik.com/substitute.VERSION.from: podinfo\n")


def _added(text: str, value: str = "6.4.0") -> str:
    data = text.encode()
    found = migration.find("k.yaml", data)
    return migration.add(data, file="k.yaml",
                         fields=[(m.document, m.path, value) for m in found]).decode()


def test_finds_what_kuberik_set_in_the_cluster() -> None:
    [missing] = migration.find("k.yaml", (HEAD + "spec:\n  interval: 5m\n").encode())
    assert (missing.rollout, missing.field_name, missing.object, missing.line) == (
        "apps/podinfo", "spec.postBuild.substitute.VERSION", "apps/podinfo", 7)
    assert migration.find("k.yaml", (HEAD + "spec:\n  postBuild:\n    substitute:\n"
                                            "      VERSION: '1.0.0'\n").encode()) == []


@pytest.mark.parametrize(("spec", "want"), [
    ("spec:\n  interval: 5m  # kept\n",
     'spec:\n  interval: 5m  # kept\n  postBuild:\n    substitute:\n      VERSION: "6.4.0"\n'),
    ("spec:\n    postBuild:\n        substituteFrom:\n        - kind: ConfigMap\n"
     "          name: vars\n    path: ./x\n",
     "spec:\n    postBuild:\n        substituteFrom:\n        - kind: ConfigMap\n"
     '          name: vars\n        substitute:\n            VERSION: "6.4.0"\n    path: ./x\n'),
    ("spec:\n  postBuild:\n    substitute:\n      A: |\n        text\n\n  interval: 5m\n",
     "spec:\n  postBuild:\n    substitute:\n      A: |\n        text\n\n"
     '      VERSION: "6.4.0"\n  interval: 5m\n'),
    ("spec:\n  interval: 5m", 'spec:\n  interval: 5m\n  postBuild:\n    substitute:\n'
                              '      VERSION: "6.4.0"\n'),
])
def test_adds_whole_lines_at_the_mappings_indentation(spec: str, want: str) -> None:
    assert _added(HEAD + spec) == HEAD + want


def test_crlf_and_several_documents() -> None:
    two = (HEAD + "spec:\n  interval: 5m\n---\n" + HEAD.replace("podinfo", "ui", 1)
           + "spec:\n  postBuild:\n    substitute: {A: b}\n")
    with pytest.raises(ManifestError, match="not a block mapping"):
        _added(two)
    crlf = (HEAD + "spec:\n  interval: 5m\n").replace("\n", "\r\n")
    assert _added(crlf).endswith('  interval: 5m\r\n  postBuild:\r\n    substitute:\r\n'
                                 '      VERSION: "6.4.0"\r\n')


def test_an_empty_mapping_on_the_way_is_left_to_a_person() -> None:
    with pytest.raises(ManifestError, match="add it by hand"):
        _added(HEAD + "spec:\n  postBuild:\n")


def test_the_added_field_is_a_target_afterwards() -> None:
    text = _added(HEAD + "spec:\n  interval: 5m\n", value="1.10")
    [target] = manifests.scan_file("k.yaml", text.encode()).targets
    assert target.value == "1.10"
    assert migration.find("k.yaml", text.encode()) == []


def test_oci_repository_tag() -> None:
    text = ("apiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n"
            "  name: web\n  namespace: apps\n  annotations:\n"
            "    rollout.kuberik.com/rollout: web\nspec:\n  url: oci://x\n  ref:\n"
            "    semverFilter: '.*'\n")
    assert _added(text).endswith("  ref:\n    semverFilter: '.*'\n    tag: \"6.4.0\"\n")
