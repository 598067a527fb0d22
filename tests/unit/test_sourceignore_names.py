"""Bare-name ignore patterns are matched per path component (a fast path in
core/sourceignore): the same verdict as the gitignore matcher for every path."""

from __future__ import annotations

import itertools
import random

import pytest

from reconciler.core import sourceignore

NAMES = ("apps", ".github", ".git", "a.jpg", "x.tar.gz", ".sops.yaml", "cloudbuild.yaml",
         "kustomization.yaml", "tmp", "build", "docs", "README.md", "deploy.yml",
         ".flux.yaml", "x.png.yaml", "jpg", ".circleci", "secret.yaml", "tmpl")

SETS = {
    "defaults": sourceignore.DEFAULT_PATTERNS,
    "names": ("*.md", "tmp/", "**/secret.yaml", "?ocs", "build", "*.y?l"),
    "general": ("apps/*.yaml", "!apps/keep.yaml", "/docs", "\\#x"),  # the general path
}


def paths(seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    out = ["/".join(p) for n in (1, 2) for p in itertools.product(NAMES, repeat=n)]
    out += ["/".join(rng.choice(NAMES) for _ in range(rng.randint(3, 6)))
            for _ in range(count)]
    return out


@pytest.mark.parametrize("which", sorted(SETS))
def test_the_name_fast_path_agrees_with_the_gitignore_matcher(which: str) -> None:
    fast = sourceignore.Ignore([("", SETS[which])])
    general = sourceignore.Ignore([("", SETS[which])])
    for rules in general._rules:
        object.__setattr__(rules, "names", None)
    assert (fast._rules[0].names is None) == (which == "general")
    listed = paths(11, 3_000)
    for path in listed:
        assert fast.matches(path) == general.matches(path), path
    # ``keep`` (the first snapshot's: Flux's defaults alone go through ``_Names.keep``),
    # twice: once filling the remembered names and directories, once reading them.
    for _ in range(2):
        assert fast.keep(listed) == [p for p in listed if not general.matches(p)]
    if which == "defaults":
        assert fast.matches(".github/workflows/ci.yaml") and fast.matches("apps/a.jpg/x.yaml")
        assert not fast.matches("apps/.github")  # a directory pattern; this is a file
        assert not fast.matches("apps/web/kustomization.yaml")
