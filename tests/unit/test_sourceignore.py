"""Flux's default ignore patterns without importing pathspec (core/sourceignore.py):
the regular expressions kept in the module are pathspec's own, and a path none of
them can match is decided without the library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pathspec
import pytest

from reconciler.core import sourceignore

ROOT = Path(__file__).resolve().parents[2]
PATHS = ["apps/podinfo/release.yaml", ".github/workflows/ci.yml", "a/.git/config",
         "docs/logo.png", "x/.sops.yaml", "clusters/.flux.yaml", "backup.tar.gz",
         "cloudbuild.yaml", "sub/cloudbuild.yaml", "keep/.gitignore", "img.jpeg.yaml",
         ".github.yaml", "gitlab-ci.yml", ".gitlab-ci.yml"]


def test_the_kept_regexes_are_pathspecs_translation() -> None:
    # Fails after a pathspec upgrade that translates a default differently: copy
    # ``regexes(DEFAULT_PATTERNS)`` into DEFAULT_REGEXES then.
    assert sourceignore.regexes(sourceignore.DEFAULT_PATTERNS) == sourceignore.DEFAULT_REGEXES


@pytest.mark.parametrize("path", PATHS)
def test_defaults_decide_as_pathspec_does(path: str) -> None:
    spec = pathspec.GitIgnoreSpec.from_lines(sourceignore.DEFAULT_PATTERNS)
    assert sourceignore.defaults().matches(path) == spec.match_file(path)


def test_pathspec_is_imported_only_for_patterns_that_are_not_bare_names() -> None:
    # Flux's defaults are bare names, matched per path component without pathspec
    # (even for a path they ignore); a negation or a pattern with a slash needs it.
    code = ("import sys; from reconciler.core import sourceignore as s; i = s.defaults(); "
            "kept = i.keep(['apps/a.yaml', 'clusters/prod/flux.yaml']); "
            "print(len(kept), i.matches('.github/ci.yml'), 'pathspec' in sys.modules, "
            "end=' '); j = s.Ignore([('', s.DEFAULT_PATTERNS), ('', ['apps/*/secret.yaml'])]); "
            "print(j.matches('apps/x/secret.yaml'), 'pathspec' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["2", "True", "False", "True", "True"]
