"""The hostile-input corpus (hostile.py), repository cases: a commit a person pushes to
the config repository (sample-repo/ plus the case's files, symlinks or hand-crafted
tree entries). Checked through the real CLI: ``validate`` names the file, document
and field on one line; ``release apps/podinfo`` either still releases (the hostile
files byte-identical afterwards) or is refused with one line and exit 2 (the remote
head unchanged).

Expected texts are fragments of the one line a person sees; ``where`` is the
``file:line (document N) field`` part of a ``validate`` line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from tests.reliability.craftedtree import Raw
from tests.reliability.hostile import (
    APPS,
    FRONTEND_OCI,
    HOSTILE_TAGS,
    PODINFO_ROLLOUT,
    MiB,
    Tag,
    big_configmap,
    edit,
    kustomization,
    lol_bomb,
    rollout,
    sample,
    spread_bomb,
    tiny_nodes,
    yaml_string,
)


@dataclass(frozen=True)
class RepoCase:
    name: str
    what: str
    files: Mapping[str, bytes] = field(default_factory=dict)
    where: str = ""  # "file:line (document N) field" fragment of the validate line
    says: str = ""  # the message fragment on that same line
    severity: str = "error"
    symlinks: Mapping[str, str] = field(default_factory=dict)
    raw: tuple[Raw, ...] = ()
    # ``release apps/podinfo 6.5.0 --push``: "released" (exit 0; the hostile files
    # unchanged), "refused" (exit 2; one error line with ``refused``; head unchanged)
    # or "rewrites" (the hostile value is a target: replaced as ``rewrite`` says).
    release: str = "released"
    refused: tuple[str, ...] = ()
    rewrite: tuple[tuple[bytes, bytes], ...] = ()
    heavy: bool = False  # big input: its validate runs in a child whose peak RSS is measured
    slow: bool = False  # only with --runslow (the same limit as a faster case, more costly)

    @property
    def validate_exit(self) -> int:
        return 1 if self.severity == "error" else 0  # warnings alone, or nothing: 0

    @property
    def hostile_paths(self) -> tuple[str, ...]:
        return tuple(self.files) + tuple(self.symlinks)

    @property
    def combinable(self) -> bool:
        """Its files are all its own (under apps/hostile/) and podinfo still releases:
        it can share a commit with the others."""
        return not self.raw and self.release == "released" and all(
            p.startswith("apps/hostile/") for p in self.hostile_paths)


def _h(name: str) -> str:
    return f"apps/hostile/{name}.yaml"


REPO_CASES: tuple[RepoCase, ...] = (
    # -- malformed YAML ----------------------------------------------------------------
    RepoCase("yaml-unclosed-flow", "a flow sequence never closed",
             {_h("yaml-unclosed-flow"): b"# kuberik.com\nkind: Kustomization\nspec: [\n"},
             where=f"{_h('yaml-unclosed-flow')} (document 1)", says="line 4, column 1"),
    RepoCase("yaml-bad-indentation", "a Rollout whose spec is indented wrongly",
             {_h("yaml-bad-indentation"): rollout("bad-indent",
                                                  "  maxBump: minor\n bakeTime: 5m\n")},
             where=f"{_h('yaml-bad-indentation')} (document 1)", says="line 8"),
    RepoCase("yaml-tab-indentation", "a tab used as indentation",
             {_h("yaml-tab-indentation"): rollout("tabbed", "\tmaxBump: minor\n")},
             where=f"{_h('yaml-tab-indentation')} (document 1)",
             says="found character '\\t' that cannot start any token"),
    RepoCase("yaml-unterminated-quote", "a double-quoted scalar that never ends",
             {_h("yaml-unterminated-quote"): rollout("quote", '  wantedVersion: "6.5.0\n')},
             where=f"{_h('yaml-unterminated-quote')} (document 1)", says="line"),
    RepoCase("yaml-invalid-utf8", "bytes that are not UTF-8 (Latin-1 ä)",
             {_h("yaml-invalid-utf8"): rollout("latin", "  policy: standard\n").replace(
                 b"standard", b"st\xe4ndard")},
             where=_h("yaml-invalid-utf8"), says="line 7: not valid UTF-8 (byte 0xe4"),
    RepoCase("yaml-control-character", "a raw escape character (ESC) in a value",
             {_h("yaml-control-character"): rollout("ctrl", "  policy: \x1b[2Jstandard\n")},
             where=_h("yaml-control-character"), says="unacceptable character #x001b"),
    RepoCase("yaml-error-in-third-document", "documents 1 and 2 fine, document 3 broken",
             {_h("yaml-error-in-third-document"):
              b"# kuberik.com\n---\na: 1\n---\nb: 2\n---\nc: [\n"},
             where=f"{_h('yaml-error-in-third-document')} (document 3)", says="line 8"),
    RepoCase("yaml-unsupported-version", "a %YAML 2.0 directive",
             {_h("yaml-unsupported-version"): b"%YAML 2.0\n--- # kuberik.com\na: 1\n"},
             where=f"{_h('yaml-unsupported-version')} (document 1)",
             says="found incompatible YAML document"),
    RepoCase("yaml-broken-target-file", "the file holding podinfo's targets does not parse",
             {APPS: edit(APPS, b"  postBuild:\n", b"  postBuild: [\n")},
             where=f"{APPS} (document 1)", says="line 24, column 22",
             release="refused",
             refused=(f"{PODINFO_ROLLOUT} (document 1): no annotated target for apps/podinfo",
                      f"was skipped, which is never read or rewritten: error: {APPS} "
                      "(document 1): line 24, column 22")),
    # -- duplicate keys ----------------------------------------------------------------
    RepoCase("duplicate-key-target", "PODINFO_VERSION twice in podinfo's substitutes",
             {APPS: edit(APPS, b'      PODINFO_UI_TAG: "6.4.0"\n',
                         b'      PODINFO_UI_TAG: "6.4.0"\n      PODINFO_VERSION: "9.9.9"\n')},
             where=f"{APPS} (document 1) spec.postBuild.substitute.PODINFO_VERSION",
             says="line 26: duplicate key 'PODINFO_VERSION' (first at line 24)",
             release="refused", refused=("no annotated target for apps/podinfo",
                                         "duplicate key 'PODINFO_VERSION'")),
    RepoCase("duplicate-key-metadata", "a Rollout with metadata written twice",
             {_h("duplicate-key-metadata"): rollout("dup").replace(
                 b"spec:", b"metadata:\n  name: other\nspec:")},
             where=f"{_h('duplicate-key-metadata')} (document 1) metadata",
             says="line 6: duplicate key 'metadata' (first at line 3)"),
    RepoCase("duplicate-key-quoting", "tag and \"tag\": one key in two quoting styles",
             {FRONTEND_OCI: edit(FRONTEND_OCI, b'ref: {tag: "1.4.2"}',
                                 b'ref: {tag: "1.4.2", "tag": "9.9.9"}')},
             where=f"{FRONTEND_OCI} (document 1) spec.ref.tag",
             says="line 12: duplicate key 'tag' (first at line 12)"),
    RepoCase("duplicate-rollout", "apps/podinfo defined a second time in another file",
             {_h("duplicate-rollout"): rollout("podinfo", "  maxBump: major\n")},
             where=f"{PODINFO_ROLLOUT}:4 (document 1) metadata.name",
             says="Rollout apps/podinfo is also defined in apps/hostile/duplicate-rollout.yaml",
             release="refused", refused=("Rollout apps/podinfo is also defined in",)),
    # -- aliases -----------------------------------------------------------------------
    RepoCase("alias-billion-laughs", "the billion laughs: 9^12 strings from 685 bytes",
             {_h("alias-billion-laughs"): lol_bomb()},
             where=f"{_h('alias-billion-laughs')} (document 1)",
             says="aliases expand to more than 100000 extra nodes in this file", heavy=True),
    RepoCase("alias-bomb-spread-over-documents",
             "200 documents each just under a per-document alias budget",
             {_h("alias-bomb-spread-over-documents"): spread_bomb()},
             where=f"{_h('alias-bomb-spread-over-documents')} (document 2)",
             says="refusing a possible alias bomb", heavy=True),
    RepoCase("alias-recursive", "an anchor whose node contains its own alias",
             {_h("alias-recursive"): b"# kuberik.com\na: &a [1, *a]\n"},
             where=f"{_h('alias-recursive')} (document 1)",
             says="alias *a refers to a node that contains it"),
    RepoCase("alias-undefined", "an alias to an anchor that does not exist",
             {_h("alias-undefined"): rollout("undefined-alias", "  policy: *nope\n")},
             where=f"{_h('alias-undefined')} (document 1)",
             says="alias *nope is not defined before it is used"),
    RepoCase("alias-as-target", "podinfo's target value is an alias",
             {APPS: edit(APPS, b'      PODINFO_UI_TAG: "6.4.0"\n',
                         b'      PODINFO_UI_TAG: *ui\n').replace(
                 b"  interval: 5m\n  path: ./apps/podinfo",
                 b'  interval: &ui "6.4.0"\n  path: ./apps/podinfo')},
             where=f"{APPS}:25 (document 1) spec.postBuild.substitute.PODINFO_UI_TAG",
             says="the value is the alias *ui; edit the anchored node instead",
             release="refused",
             refused=(f"{APPS}:25 (document 1) spec.postBuild.substitute.PODINFO_UI_TAG: "
                      "the value is the alias *ui",)),
    RepoCase("merge-key-target", "the OCIRepository's tag only comes from a merge key",
             {FRONTEND_OCI: edit(FRONTEND_OCI, b'  ref: {tag: "1.4.2"}',
                                 b'  base: &base {tag: "1.4.2"}\n  ref: {<<: *base}')},
             where=f"{FRONTEND_OCI}:13 (document 1) spec.ref.tag",
             says="not set here but possibly through a merge key (<<)"),
    # -- size and depth ----------------------------------------------------------------
    RepoCase("manifest-10mb-unrelated", "a 10 MB ConfigMap that names no kuberik.com",
             {_h("manifest-10mb-unrelated"): big_configmap(10_000_000)},
             severity="none", heavy=True),
    RepoCase("manifest-10mb-parsed", "a 10 MB ConfigMap that names kuberik.com (parsed up "
             "to the node limit)",
             {_h("manifest-10mb-parsed"): big_configmap(10_000_000, parsed=True)},
             where=f"{_h('manifest-10mb-parsed')} (document 1)",
             says="more than 100000 nodes in one file are refused", heavy=True, slow=True),
    RepoCase("manifest-over-10mib", "a manifest one byte over 10 MiB",
             {_h("manifest-over-10mib"): b"# kuberik.com\n" + b"#" * (10 * MiB - 13)},
             where=_h("manifest-over-10mib"),
             says=f"file is {10 * MiB + 1} bytes; manifests larger than {10 * MiB} bytes",
             heavy=True),
    RepoCase("manifest-10mb-of-tiny-nodes", "10 MB of one-character items (5 million nodes)",
             {_h("manifest-10mb-of-tiny-nodes"): tiny_nodes(10_000_000)},
             where=f"{_h('manifest-10mb-of-tiny-nodes')} (document 1)",
             says="more than 100000 nodes in one file are refused", heavy=True),
    RepoCase("many-empty-documents", "300,000 empty documents",
             {_h("many-empty-documents"): b"# kuberik.com\n" + b"---\n" * 300_000},
             where=f"{_h('many-empty-documents')} (document 100001)",
             says="more than 100000 nodes in one file are refused", heavy=True, slow=True),
    RepoCase("deep-flow-nesting", "100,000 nested flow sequences",
             {_h("deep-flow-nesting"): b"# kuberik.com\nx: " + b"[" * 100_000 + b"\n"},
             where=f"{_h('deep-flow-nesting')} (document 1)",
             says="nesting deeper than 100 levels is refused", heavy=True),
    RepoCase("deep-block-nesting", "2,000 levels of block mappings",
             {_h("deep-block-nesting"): b"# kuberik.com\n" + b"".join(
                 b" " * i + b"k:\n" for i in range(2000))},
             where=f"{_h('deep-block-nesting')} (document 1)",
             says="line 102: nesting deeper than 100 levels is refused"),
    RepoCase("deep-nesting-through-aliases", "60 levels aliased into 60 more",
             {_h("deep-nesting-through-aliases"): b"# kuberik.com\na: &a " + b"[" * 60
              + b"]" * 60 + b"\nb: " + b"[" * 60 + b"*a" + b"]" * 60 + b"\n"},
             where=f"{_h('deep-nesting-through-aliases')} (document 1)",
             says="nesting deeper than 100 levels (through aliases) is refused"),
    RepoCase("long-key", "a 100 KB mapping key", {
        _h("long-key"): b"# kuberik.com\n" + b"k" * 100_000 + b": 1\n"},
             where=f"{_h('long-key')} (document 1)",
             says="mapping values are not allowed here"),
    # -- annotations -------------------------------------------------------------------
    RepoCase("annotation-missing-field", "a substitute annotation for a variable not set",
             {_h("annotation-missing-field"): kustomization(
                 "missing", "    rollout.kuberik.com/substitute.NOPE.from: podinfo\n",
                 '      OTHER: "1"\n')},
             where=f"{_h('annotation-missing-field')}:12 (document 1) "
                   "spec.postBuild.substitute.NOPE",
             says="annotated for rollout apps/podinfo but the field is missing",
             release="refused",
             refused=(f"{_h('annotation-missing-field')}:12 (document 1) "
                      "spec.postBuild.substitute.NOPE: annotated for rollout apps/podinfo but "
                      "the field is missing",)),
    RepoCase("annotation-other-namespace", "an annotation naming a rollout in a namespace "
             "that has none",
             {_h("annotation-other-namespace"): kustomization(
                 "elsewhere", "    rollout.kuberik.com/substitute.V.from: staging/podinfo\n",
                 '      V: "6.4.0"\n')},
             where=f"{_h('annotation-other-namespace')}:13 (document 1) "
                   "spec.postBuild.substitute.V",
             says="annotation names rollout staging/podinfo, but no Rollout manifest"),
    RepoCase("annotation-bare-name-other-namespace", "a bare rollout name resolved in the "
             "annotated object's namespace (flux-system), where there is none",
             {_h("annotation-bare-name-other-namespace"): kustomization(
                 "bare", "    rollout.kuberik.com/substitute.V.from: podinfo\n",
                 '      V: "6.4.0"\n', namespace="flux-system")},
             where=f"{_h('annotation-bare-name-other-namespace')}:13 (document 1) "
                   "spec.postBuild.substitute.V",
             says="annotation names rollout flux-system/podinfo, but no Rollout manifest"),
    RepoCase("annotation-path-traversal", "an annotation value ../../podinfo",
             {_h("annotation-path-traversal"): kustomization(
                 "traversal", "    rollout.kuberik.com/substitute.V.from: ../../podinfo\n",
                 '      V: "6.4.0"\n')},
             where=f"{_h('annotation-path-traversal')}:7 (document 1) "
                   "metadata.annotations[rollout.kuberik.com/substitute.V.from]",
             says="'../../podinfo' is not a rollout name"),
    RepoCase("annotation-value-a-list", "an annotation whose value is a list",
             {_h("annotation-value-a-list"): kustomization(
                 "listed", "    rollout.kuberik.com/substitute.V.from: [podinfo]\n",
                 '      V: "6.4.0"\n')},
             where="metadata.annotations[rollout.kuberik.com/substitute.V.from]",
             says="must name a rollout as name or namespace/name"),
    RepoCase("annotation-key-with-newline", "an annotation key holding a newline and a "
             "forged 'error:' line",
             {_h("annotation-key-with-newline"): kustomization(
                 "forged", '    "rollout.kuberik.com/x\\nerror: all good": podinfo\n',
                 '      V: "6.4.0"\n')},
             where="metadata.annotations[rollout.kuberik.com/x\\nerror: all good]",
             says="unknown rollout.kuberik.com annotation", severity="warning"),
    RepoCase("annotation-on-configmap", "rollout.kuberik.com/rollout on a ConfigMap",
             {_h("annotation-on-configmap"):
              b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: apps\n"
              b"  annotations:\n    rollout.kuberik.com/rollout: podinfo\ndata: {}\n"},
             where=f"{_h('annotation-on-configmap')}:7 (document 1) "
                   "metadata.annotations[rollout.kuberik.com/rollout]",
             says="only works on a Flux OCIRepository", release="refused",
             refused=("metadata.annotations[rollout.kuberik.com/rollout]: "
                      "rollout.kuberik.com/rollout only works on a Flux OCIRepository",)),
    RepoCase("annotation-bad-variable", "a substitute variable name with a dash",
             {_h("annotation-bad-variable"): kustomization(
                 "dash", "    rollout.kuberik.com/substitute.A-B.from: podinfo\n",
                 '      A-B: "6.4.0"\n')},
             where="metadata.annotations[rollout.kuberik.com/substitute.A-B.from]",
             says="'A-B' is not a valid substitution variable name", release="refused",
             refused=("'A-B' is not a valid substitution variable name",)),
    RepoCase("target-a-number", "a target value that YAML reads as the number 1.1",
             {_h("target-a-number"): kustomization(
                 "number", "    rollout.kuberik.com/substitute.V.from: podinfo\n",
                 "      V: 1.10\n")},
             where=f"{_h('target-a-number')}:13 (document 1) spec.postBuild.substitute.V",
             says="must be a string, found 1.10, which YAML reads as the number 1.1; quote it",
             release="refused",
             refused=(f"{_h('target-a-number')}:13 (document 1) spec.postBuild.substitute.V: "
                      "must be a string, found 1.10,",)),
    RepoCase("target-through-a-sequence", "spec.ref is a sequence, not a mapping",
             {FRONTEND_OCI: edit(FRONTEND_OCI, b'ref: {tag: "1.4.2"}', b'ref: ["1.4.2"]')},
             where=f"{FRONTEND_OCI}:12 (document 1) spec.ref.tag",
             says="expected a mapping at spec.ref, found a sequence"),
    RepoCase("target-holds-hostile-value", "podinfo's target holds a newline and a "
             "shell command",
             {APPS: edit(APPS, b'PODINFO_UI_TAG: "6.4.0"',
                         b'PODINFO_UI_TAG: "6.4.0\\n$(reboot)"')},
             where="warning: apps/podinfo/rollout.yaml:1 (document 1)",
             says="spec.postBuild.substitute.PODINFO_UI_TAG=6.4.0\\n$(reboot)",
             severity="warning", release="rewrites",
             rewrite=((b'"6.4.0\\n$(reboot)"', b'"6.5.0"'),
                      (b'PODINFO_VERSION: "6.4.0"', b'PODINFO_VERSION: "6.5.0"'))),
    RepoCase("two-rollouts-claim-one-field", "frontend's tag annotated for podinfo too, "
             "in a second copy of the OCIRepository",
             {_h("two-rollouts-claim-one-field"): sample(FRONTEND_OCI).replace(
                 b"rollout.kuberik.com/rollout: frontend",
                 b"rollout.kuberik.com/rollout: podinfo")},
             where=f"{_h('two-rollouts-claim-one-field')}:12 (document 1) spec.ref.tag",
             says="OCIRepository apps/frontend spec.ref.tag is claimed by several rollouts "
                  "(apps/frontend, apps/podinfo); none of them will write it",
             release="refused", refused=("is claimed by several rollouts",)),
    # -- the Rollout itself ------------------------------------------------------------
    RepoCase("rollout-wrong-api-version", "kind Rollout in kuberik.com/v2",
             {_h("rollout-wrong-api-version"): rollout("v2").replace(b"v1alpha1", b"v2")},
             where=f"{_h('rollout-wrong-api-version')}:1 (document 1) apiVersion",
             says="must be one of 'kuberik.com/v1alpha1', got 'kuberik.com/v2'"),
    RepoCase("rollout-without-name", "a Rollout whose name is a list",
             {_h("rollout-without-name"): rollout("[a, b]")},
             where=f"{_h('rollout-without-name')}:4 (document 1) metadata.name",
             says="a Rollout needs a name"),
    RepoCase("rollout-spec-a-string", "spec: a string",
             {_h("rollout-spec-a-string"): rollout("spec-string").replace(
                 b"spec:\n  releasesImagePolicy:\n    name: podinfo\n", b"spec: fast please\n")},
             where=f"{_h('rollout-spec-a-string')}:6 (document 1) spec",
             says="Input should be a valid dictionary or instance of RolloutSpec, "
                  "got 'fast please'"),
    RepoCase("rollout-podinfo-wrong-type", "podinfo's own bakeTime is the number 5",
             {PODINFO_ROLLOUT: edit(PODINFO_ROLLOUT, b"bakeTime: 5m ", b"bakeTime: 5  ")},
             where=f"{PODINFO_ROLLOUT}:11 (document 1) spec.bakeTime",
             says="Input should be a valid string, got 5",
             release="refused",
             refused=(f"{PODINFO_ROLLOUT}:11 (document 1) spec.bakeTime: Rollout apps/podinfo "
                      "has an invalid spec: Input should be a valid string, got 5",)),
    RepoCase("rollout-duration-overflow", "bakeTime: 99999999999999999999h (an "
             "OverflowError once)",
             {_h("rollout-duration-overflow"): rollout(
                 "overflow", "  bakeTime: 99999999999999999999h\n")},
             where=f"{_h('rollout-duration-overflow')}:7 (document 1) spec.bakeTime",
             says="is longer than the longest Go duration"),
    # -- paths -------------------------------------------------------------------------
    RepoCase("symlink-outside-repository", "a .yaml symlink to /etc/passwd",
             symlinks={_h("symlink-outside-repository"): "/etc/passwd"},
             where=_h("symlink-outside-repository"),
             says="a symbolic link to '/etc/passwd', outside the repository; it is never "
                  "followed"),
    RepoCase("symlink-climbing-out", "a .yaml symlink to ../../../../root/.ssh/id_rsa",
             symlinks={_h("symlink-climbing-out"): "../../../../root/.ssh/id_rsa"},
             where=_h("symlink-climbing-out"), says="outside the repository"),
    RepoCase("symlink-replaces-target-file", "podinfo's target file replaced by a symlink "
             "to a copy in /tmp",
             symlinks={APPS: "/tmp/apps.yaml"},
             where=APPS, says="a symbolic link to '/tmp/apps.yaml', outside the repository",
             release="refused",
             refused=("no annotated target for apps/podinfo",
                      f"{APPS}: a symbolic link to '/tmp/apps.yaml'")),
    RepoCase("symlink-inside-repository", "a .yaml symlink to podinfo's target file",
             symlinks={_h("symlink-inside-repository"): "../../" + APPS},
             where=_h("symlink-inside-repository"),
             says="a symbolic link to '../../clusters/production/apps.yaml'; links are "
                  "never followed", severity="warning"),
    RepoCase("path-traversal-name", "a tree entry named ../escape.yaml (hand-crafted tree)",
             raw=(Raw("apps", b"../escape.yaml", b"# kuberik.com\nkind: [\n"),),
             where="apps/'../escape.yaml'",
             says="a tree entry named '../escape.yaml', which git itself refuses"),
    RepoCase("path-traversal-deep-name", "a tree entry named a/../../../b.yaml",
             raw=(Raw("", b"a/../../../b.yaml", b"# kuberik.com\nkind: [\n"),),
             where="'a/../../../b.yaml'", says="which git itself refuses as a path"),
    RepoCase("path-dotdot-directory", "a directory named .. holding a Rollout",
             raw=(Raw("apps", b"..", rollout("dotdot"), mode=b"40000"),),
             where="apps/'..'", says="a tree entry named '..'"),
    RepoCase("path-shadows-target-file", "a root entry named clusters/production/apps.yaml "
             "that would shadow the real file",
             raw=(Raw("", APPS.encode(), sample(APPS).replace(b'"6.4.0"', b'"0.0.1"')),),
             where=f"'{APPS}'", says="which git itself refuses as a path"),
    RepoCase("path-dot-git", "a directory named .git holding a manifest",
             raw=(Raw("", b".git", b"# kuberik.com\nkind: [\n", mode=b"40000"),),
             where="'.git'", says="a tree entry named '.git'"),
    RepoCase("file-name-with-newline", "a broken manifest whose name holds a newline and a "
             "forged line", {"apps/x\nerror: forged.yaml": b"# kuberik.com\nkind: [\n"},
             where="apps/x\\nerror: forged.yaml (document 1)", says="line 3, column 1"),
    RepoCase("file-name-shell-and-unicode", "a broken manifest named $(reboot) ü ;.yaml",
             {"apps/$(reboot) \u00fc ;.yaml": b"# kuberik.com\nkind: [\n"},
             where="apps/$(reboot) \u00fc ;.yaml (document 1)", says="line 3, column 1"),
)


def hostile_tag_repo_case(tag: Tag) -> RepoCase:
    """podinfo pinned by wantedVersion to a hostile tag, in the repository."""
    pinned = edit(PODINFO_ROLLOUT, b"  bakeTime: 5m",
                  f"  wantedVersion: {yaml_string(tag.value)}\n  bakeTime: 5m".encode())
    return RepoCase(f"wanted-version-{tag.name}", f"spec.wantedVersion {tag.shown}",
                    {PODINFO_ROLLOUT: pinned},
                    where=f"{PODINFO_ROLLOUT}:1 (document 1) spec.wantedVersion",
                    says=tag.why)


def all_repo_cases() -> tuple[RepoCase, ...]:
    return REPO_CASES + tuple(hostile_tag_repo_case(t) for t in HOSTILE_TAGS)
