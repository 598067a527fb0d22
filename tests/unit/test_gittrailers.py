"""git's trailer rules (reconciler.core.gittrailers), checked against the git binary.

Each message is parsed by ``git interpret-trailers --parse --no-divider`` (what
``git log --format=%(trailers:only,unfold)`` shows for a commit) and by the module;
the two must agree. Where pygit2 (libgit2) disagrees with git, the test says so:
that is why the parsing lives in the core and not behind pygit2.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pygit2
import pytest

from reconciler.core import gittrailers

OURS = "Rollout: apps/podinfo\nRelease: 6.5.0\nPrevious-Release: 6.4.0\nAction: release\n"

CASES: dict[str, str] = {
    "ours": "podinfo: 6.4.0 -> 6.5.0\n\nRelease 6.5.0 of apps/podinfo.\n\n" + OURS,
    "body with blank lines above": "s\n\npara one\n\n\npara two\nline\n\n" + OURS + "\n\n",
    "folded value": "s\n\nReason: the error rate\n  went up\n\tand stayed\nAction: revert\n",
    "signed-off-by mixed": "s\n\nRollout: a/b\nSigned-off-by: A <a@b>\nAction: release\n",
    "signed-off-by makes a quarter enough":
        "s\n\nSigned-off-by: A <a@b>\nsome words\nmore words\nlast words\n",
    "a fifth is not enough":
        "s\n\nSigned-off-by: A <a@b>\none\ntwo\nthree\nfour\n",
    "non-trailer line in the block": "s\n\nRollout: a/b\nthis is prose\nAction: release\n",
    "squash merge body":
        "Release podinfo 6.5.0 (#12)\n\n* podinfo: 6.4.0 -> 6.5.0\n\nRelease 6.5.0.\n\n"
        "* fix the comment\n\n" + OURS,
    "squash list directly above trailers":
        "Release (#12)\n\n* podinfo: 6.4.0 -> 6.5.0\n* fix\n" + OURS,
    "crlf": ("s\n\nbody\n\n" + OURS).replace("\n", "\r\n"),
    "crlf folded": "s\r\n\r\nReason: a\r\n  b\r\nAction: revert\r\n",
    "only trailers": OURS,
    "title then trailers, no blank line": "s\n" + OURS,
    "colon in the value": "s\n\nReason: probe failed: http://x:8080/healthz\nAction: revert\n",
    "blank before the colon": "s\n\nRollout : a/b\nAction\t: release\n",
    "cherry-picked": "s\n\nbody\n\n" + OURS + "(cherry picked from commit " + "a" * 40 + ")\n",
    "comments and a scissors line":
        "s\n\n" + OURS + "# a comment\n\n" + gittrailers._SCISSORS + "Action: revert\n",
    "old conflicts block": "s\n\n" + OURS + "\nConflicts:\n\tapps/a.yaml\n",
    "patch divider is not one for a commit": "s\n\n---\nbody\n\n" + OURS,
    "token with an underscore is no token": "s\n\nMy_Key: v\n",
    "odd tokens": "s\n\n-: dash\n9: nine\nKey\t : tab\nSigned-off-by: A\n: empty\nTwo Words: v\n",
    "unicode in the token": "s\n\nRéase: 1\n",
    "no body": "s\n",
    "empty": "",
    "continuation at the top": "s\n\n  indented\nKey: v\n",
    "no newline at the end": "s\n\nKey: v\nOther: w",
    "trailing blank lines with spaces": "s\n\nKey: v\n  \n\n",
}


def git_parse(message: str, tmp: Path) -> list[tuple[str, str]]:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    out = subprocess.run(["git", "-c", "core.commentChar=#", "interpret-trailers", "--parse",
                          "--no-divider"], input=message.encode(), capture_output=True,
                         check=True, env=env, cwd=tmp).stdout.decode()
    pairs = []
    for line in out.split("\n")[:-1]:  # not splitlines(): a value may hold a \r
        token, _, value = line.partition(": ")
        pairs.append((token, value))
    return pairs


@pytest.mark.parametrize("name", sorted(CASES))
def test_as_git_parses_it(name: str, tmp_path: Path) -> None:
    assert gittrailers.parse(CASES[name]) == git_parse(CASES[name], tmp_path)


def test_the_cases_say_what_they_are_about() -> None:
    parse = gittrailers.parse
    assert parse(CASES["folded value"])[0] == ("Reason", "the error rate went up and stayed")
    assert parse(CASES["signed-off-by mixed"])[0] == ("Rollout", "a/b")
    assert parse(CASES["signed-off-by makes a quarter enough"]) == [("Signed-off-by",
                                                                     "A <a@b>")]
    assert parse(CASES["a fifth is not enough"]) == []
    assert parse(CASES["non-trailer line in the block"]) == []
    assert ("Action", "release") in parse(CASES["squash merge body"])
    assert parse(CASES["squash list directly above trailers"]) == []
    assert parse(CASES["crlf"])[-1] == ("Action", "release")
    assert parse(CASES["only trailers"]) == []  # the first paragraph is the title
    assert parse(CASES["colon in the value"])[0][1] == "probe failed: http://x:8080/healthz"
    assert ("Action", "revert") not in parse(CASES["comments and a scissors line"])
    assert ("Action", "release") in parse(CASES["patch divider is not one for a commit"])


def _libgit2(message: str, tmp: Path) -> dict[str, str]:
    repo = pygit2.init_repository(tmp / "repo", bare=True)
    sig = pygit2.Signature("t", "t@example.com", 0, 0)
    tree = repo.TreeBuilder().write()
    commit = repo[repo.create_commit(None, sig, sig, message, tree, [])]
    return dict(commit.message_trailers)


def test_where_libgit2_differs_from_git(tmp_path: Path) -> None:
    """pygit2's ``Commit.message_trailers`` is not used: on these it disagrees with git."""
    divider = CASES["patch divider is not one for a commit"]
    assert ("Action", "release") in git_parse(divider, tmp_path)
    assert "Action" not in _libgit2(divider, tmp_path / "a")
    folded = CASES["folded value"]
    assert _libgit2(folded, tmp_path / "b")["Reason"] == "the error rate\n  went up"
    assert _libgit2(CASES["crlf"], tmp_path / "c")["Action"] == "release\r"
    assert _libgit2(CASES["comments and a scissors line"], tmp_path / "d") == {
        "Action": "revert"}
