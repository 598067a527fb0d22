"""Scope of a cluster (core/scope.py): what is followed, what is ignored, and what
is reported; over small repositories held in memory."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core import artifacts, scope, sourceignore

KUSTOMIZE = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"


def flux(name: str, path: str, *, namespace: str = "flux-system", source: str = "flux-system",
         kind: str = "GitRepository", source_ns: str | None = None) -> str:
    ns_line = f"\n    namespace: {source_ns}" if source_ns else ""
    return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
            f"metadata:\n  name: {name}\n  namespace: {namespace}\n"
            f"spec:\n  path: {path}\n  sourceRef:\n    kind: {kind}\n    name: {source}"
            f"{ns_line}\n")


def cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


class Repo:
    def __init__(self, files: Mapping[str, str]) -> None:
        self.files = dict(files)
        self.read_paths: list[str] = []

    def read(self, path: str) -> bytes:
        self.read_paths.append(path)
        return self.files[path].encode()

    def scope(self, root: str = "clusters/a") -> scope.Scope:
        return scope.resolve(root=root, files=list(self.files), read=self.read)


def test_kustomization_resources_components_and_patches() -> None:
    repo = Repo({
        "clusters/a/kustomization.yaml": KUSTOMIZE + (
            "resources:\n  - app.yaml\n  - ../../base\n  - https://example.com/remote.yaml\n"
            "components:\n  - ../../components/extra\n"
            "patches:\n  - path: patch.yaml\n    target: {kind: Deployment}\n"
            "  - patch: |-\n      - op: remove\n        path: /x\n"
            "patchesStrategicMerge:\n  - merge.yaml\n"),
        "clusters/a/app.yaml": cm("app"),
        "clusters/a/patch.yaml": cm("patch"),
        "clusters/a/merge.yaml": cm("merge"),
        "clusters/a/unlisted.yaml": cm("unlisted"),
        "base/kustomization.yml": KUSTOMIZE + "resources:\n  - one.yaml\n",
        "base/one.yaml": cm("one"),
        "base/two.yaml": cm("two"),
        "components/extra/Kustomization": "kind: Component\nresources:\n  - c.json\n",
        "components/extra/c.json": '{"apiVersion": "v1", "kind": "ConfigMap"}',
    })
    result = repo.scope()
    assert result.problems == ()
    assert sorted(result.files) == [
        "base/kustomization.yml", "base/one.yaml", "clusters/a/app.yaml",
        "clusters/a/kustomization.yaml", "clusters/a/merge.yaml", "clusters/a/patch.yaml",
        "components/extra/Kustomization", "components/extra/c.json"]


def test_without_kustomization_file_every_manifest_below_as_flux_generates() -> None:
    repo = Repo({
        "clusters/a/one.yaml": cm("one"),
        "clusters/a/deep/er/two.yml": cm("two"),
        "clusters/a/data.json": "{}",  # the generator takes .yaml and .yml only
        "clusters/a/sub/kustomization.yaml": KUSTOMIZE + "resources:\n  - listed.yaml\n",
        "clusters/a/sub/listed.yaml": cm("listed"),
        "clusters/a/sub/not-listed.yaml": cm("not-listed"),
        "clusters/b/other.yaml": cm("other"),
    })
    result = repo.scope()
    assert sorted(result.files) == [
        "clusters/a/deep/er/two.yml", "clusters/a/one.yaml", "clusters/a/sub/kustomization.yaml",
        "clusters/a/sub/listed.yaml"]
    assert result.environment == "a"


def test_sourceignore_at_the_root_and_nested() -> None:
    repo = Repo({
        ".sourceignore": "# comment\ndrafts/\n*.tmp.yaml\n",
        "clusters/a/.sourceignore": "local-*.yaml\n!keep.tmp.yaml\n",
        "clusters/a/app.yaml": cm("app"),
        "clusters/a/drafts/new.yaml": cm("draft"),
        "clusters/a/x.tmp.yaml": cm("tmp"),
        "clusters/a/keep.tmp.yaml": cm("kept"),
        "clusters/a/local-dev.yaml": cm("dev"),
        "clusters/b/local-dev.yaml": cm("dev"),
    })
    assert sorted(repo.scope().files) == ["clusters/a/app.yaml", "clusters/a/keep.tmp.yaml"]
    assert not repo.scope("clusters/b").files.isdisjoint({"clusters/b/local-dev.yaml"})


def test_flux_default_ignore_rules() -> None:
    ignore = sourceignore.defaults()
    for path in (".github/workflows/ci.yaml", "clusters/a/.github/x.yaml", "a/.sops.yaml",
                 ".sops.yaml", "cloudbuild.yaml", "x/.gitlab-ci.yml", "a/.flux.yaml",
                 ".goreleaser.yml", "logo.png", "a/b.tar.gz"):
        assert ignore.matches(path), path
    for path in ("clusters/a/app.yaml", "github/x.yaml", "a/sops.yaml"):
        assert not ignore.matches(path), path
    assert "cloudbuild.yaml" in sourceignore.DEFAULT_PATTERNS
    repo = Repo({"clusters/a/app.yaml": cm("app"), "clusters/a/.sops.yaml": "creation_rules: []\n"})
    assert sorted(repo.scope().files) == ["clusters/a/app.yaml"]


def test_only_kustomizations_on_the_bootstrap_source_are_followed() -> None:
    repo = Repo({
        "clusters/a/ks.yaml": "---\n".join([
            flux("same", "./apps/same"),
            flux("oci", "./", kind="OCIRepository", source="podinfo"),
            flux("other-repo", "./apps/other", source="team-repo"),
            flux("other-ns", "./apps/other", namespace="apps"),  # sourceRef: apps/flux-system
            flux("explicit-ns", "./apps/explicit", namespace="apps", source_ns="flux-system"),
        ]),
        "apps/same/a.yaml": cm("a"),
        "apps/other/b.yaml": cm("b"),
        "apps/explicit/c.yaml": cm("c"),
    })
    result = repo.scope()
    assert sorted(result.files) == ["apps/explicit/c.yaml", "apps/same/a.yaml",
                                    "clusters/a/ks.yaml"]
    followed = {k.name: k.followed for k in result.kustomizations}
    assert followed == {"same": True, "oci": False, "other-repo": False, "other-ns": False,
                        "explicit-ns": True}
    assert {str(k.source) for k in result.kustomizations if k.name == "other-ns"} == {
        "GitRepository/apps/flux-system"}


def test_a_path_back_to_an_ancestor_ends() -> None:
    repo = Repo({
        "clusters/a/loop.yaml": flux("loop", "./"),
        "clusters/a/self.yaml": flux("self", "./clusters/a"),
        "apps/x.yaml": cm("x"),
        "apps/k.yaml": flux("back", "./clusters"),
        "clusters/b/y.yaml": cm("y"),
    })
    result = repo.scope()
    assert result.problems == ()
    assert sorted(result.files) == sorted(repo.files)
    assert all(k.followed for k in result.kustomizations)


def test_missing_paths_are_problems_naming_file_and_field() -> None:
    repo = Repo({
        "clusters/a/kustomization.yaml": KUSTOMIZE + "resources:\n  - app.yaml\n  - gone.yaml\n"
                                                     "  - ../../nodir\n  - plain\n",
        "clusters/a/app.yaml": flux("apps", "./apps/missing"),
        "clusters/a/plain/x.yaml": cm("x"),
    })
    rendered = [p.render() for p in repo.scope().problems]
    assert rendered == [
        "error: clusters/a/app.yaml (document 1) spec.path: 'apps/missing': no such directory "
        "in the repository",
        "error: clusters/a/kustomization.yaml resources[1]: 'gone.yaml': no such file or "
        "directory",
        "error: clusters/a/kustomization.yaml resources[2]: '../../nodir': no such file or "
        "directory",
        "error: clusters/a/kustomization.yaml resources[3]: 'plain' is a directory without a "
        "kustomization file; kustomize cannot build it",
    ]
    missing = Repo({"clusters/a/x.yaml": cm("x")}).scope("clusters/nope")
    assert missing.files == frozenset()
    assert [p.render() for p in missing.problems] == [
        "error: clusters/nope --path: no such directory in the repository (after .sourceignore)"]


def test_an_unparsable_kustomization_in_scope_is_a_problem() -> None:
    repo = Repo({"clusters/a/ks.yaml": "kind: Kustomization\nmetadata: {name: [\n"})
    (problem,) = repo.scope().problems
    assert problem.file == "clusters/a/ks.yaml"
    assert problem.message.startswith("in this cluster's scope but unreadable")


def test_helm_template_out_of_scope_is_never_read() -> None:
    template = ("kind: Kustomization\napiVersion: kustomize.toolkit.fluxcd.io/v1\n"
                "metadata:\n  name: {{ .Release.Name }}\n  annotations:\n"
                "    rollout.kuberik.com/rollout: {{ .Values.x }}\n")
    repo = Repo({
        "clusters/a/app.yaml": cm("app"),
        "charts/podinfo/templates/ks.yaml": template,
        "charts/podinfo/Chart.yaml": "apiVersion: v2\nname: podinfo\n",
    })
    result = repo.scope()
    assert result.problems == ()
    assert not any(p.startswith("charts/") for p in repo.read_paths)
    assert scope.roots(list(repo.files), repo.read) == []


def test_artifact_generator_copy_rules_map_back_to_the_repository() -> None:
    copies = [artifacts.parse_copy(c) for c in (
        {"from": "@repo/apps/base/**", "to": "@artifact/base/"},
        {"from": "@repo/apps/prod", "to": "@artifact/"},             # a directory, whole
        {"from": "@repo/apps/one.yaml", "to": "@artifact/single/"},  # a file into a dir
        {"from": "@repo/apps/one.yaml", "to": "@artifact/renamed.yaml"},
        {"from": "@repo/apps/*.yml", "to": "@artifact/globbed/"},    # full match path kept
        {"from": "@repo/apps/base/**", "to": "@artifact/lean/", "exclude": ["*.md.yaml"]},
        {"from": "@other/x/**", "to": "@artifact/"},                 # another source
    )]
    assert all(isinstance(c, artifacts.Copy) for c in copies)
    files = ["apps/base/a/k.yaml", "apps/base/b.md.yaml", "apps/prod/p.yaml",
             "apps/one.yaml", "apps/two.yml", "x/other.yaml", "apps/base/.sops.yaml"]
    staged = artifacts.apply([c for c in copies if isinstance(c, artifacts.Copy)],
                             alias="repo", files=files)
    assert staged == {
        "base/a/k.yaml": "apps/base/a/k.yaml", "base/b.md.yaml": "apps/base/b.md.yaml",
        "prod/p.yaml": "apps/prod/p.yaml", "single/one.yaml": "apps/one.yaml",
        "renamed.yaml": "apps/one.yaml", "globbed/apps/two.yml": "apps/two.yml",
        "lean/a/k.yaml": "apps/base/a/k.yaml",
    }
    assert artifacts.parse_copy({"from": "repo/x", "to": "@artifact/"}) == \
        "from: expected \"@<alias>/<pattern>\", found 'repo/x'"
    assert artifacts.parse_copy({"from": "@r/x", "to": "@artifact/../up"}) == \
        "to: '@artifact/../up' leaves the artifact"


def test_kustomization_on_an_artifact_found_before_its_generator() -> None:
    generator = ("apiVersion: source.extensions.fluxcd.io/v1beta1\nkind: ArtifactGenerator\n"
                 "metadata:\n  name: gen\n  namespace: flux-system\nspec:\n  sources:\n"
                 "    - alias: fleet\n      kind: GitRepository\n      name: flux-system\n"
                 "  artifacts:\n    - name: apps\n      copy:\n"
                 "        - from: \"@fleet/apps/a/**\"\n          to: \"@artifact/\"\n")
    repo = Repo({
        "clusters/a/1-apps.yaml": flux("apps", "./x", kind="ExternalArtifact", source="apps"),
        "clusters/a/2-gen.yaml": generator,
        "clusters/a/3-unknown.yaml": flux("u", "./", kind="ExternalArtifact", source="nobody"),
        "apps/a/x/app.yaml": cm("app"),
        "apps/a/y/not.yaml": cm("not"),
    })
    result = repo.scope()
    assert "apps/a/x/app.yaml" in result
    assert "apps/a/y/not.yaml" not in result
    assert {k.name: k.followed for k in result.kustomizations} == {"apps": True, "u": False}


def test_roots_and_environment_names() -> None:
    sync = flux("flux-system", "./clusters/prod")
    repo = Repo({"clusters/prod/flux-system/gotk-sync.yaml": sync,
                 "clusters/prod/flux-system/copy.yaml": sync,
                 "elsewhere/ks.yaml": flux("flux-system", "./x", namespace="apps")})
    (root,) = scope.roots(list(repo.files), repo.read)
    assert (root.path, root.environment) == ("clusters/prod", "prod")
    whole = Repo({"gotk.yaml": flux("flux-system", "./")})
    (top,) = scope.roots(list(whole.files), whole.read)
    assert (top.path, top.environment) == ("", "default")
    assert scope.environment("clusters/staging/") == "staging"


def test_bootstrap_source_is_the_one_the_root_kustomization_names() -> None:
    repo = Repo({
        "clusters/a/flux-system/gotk-sync.yaml": flux("flux-system", "./clusters/a",
                                                      source="fleet"),
        "clusters/a/apps.yaml": flux("apps", "./apps", source="fleet"),
        "clusters/a/other.yaml": flux("other", "./other"),  # flux-system/flux-system
        "apps/x.yaml": cm("x"),
        "other/y.yaml": cm("y"),
    })
    result = repo.scope()
    assert "apps/x.yaml" in result and "other/y.yaml" not in result
    assert {k.name: k.followed for k in result.kustomizations} == {
        "flux-system": True, "apps": True, "other": False}
    (root,) = scope.roots(list(repo.files), repo.read)
    assert str(root.source) == "GitRepository/flux-system/fleet"


def test_namespaces_as_kustomize_and_flux_set_them() -> None:
    """A kustomization's ``namespace:`` (the outermost wins) and a Flux
    Kustomization's ``spec.targetNamespace`` move the Kustomizations they apply, and
    with them the namespace their sourceRef defaults to."""
    no_ns = ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
             "metadata:\n  name: {name}\nspec:\n  path: {path}\n  sourceRef:\n"
             "    kind: GitRepository\n    name: flux-system\n")
    repo = Repo({
        "clusters/a/kustomization.yaml": KUSTOMIZE + "namespace: flux-system\n"
                                                     "resources:\n  - ../../inner\n",
        "inner/kustomization.yaml": KUSTOMIZE + "namespace: elsewhere\nresources:\n  - ks.yaml\n",
        "inner/ks.yaml": no_ns.format(name="outer-wins", path="./one"),
        "one/ks.yaml": flux("targeted", "./two") .replace(
            "spec:\n", "spec:\n  targetNamespace: flux-system\n"),
        "two/ks.yaml": no_ns.format(name="moved", path="./three"),
        "three/x.yaml": cm("x"),
    })
    result = repo.scope()
    assert {k.name: (k.namespace, k.followed) for k in result.kustomizations} == {
        "outer-wins": ("flux-system", True), "targeted": ("flux-system", True),
        "moved": ("flux-system", True)}
    assert "three/x.yaml" in result
