"""The test bench the forge tests share: one forge's stand-in, its adapter, and helpers.

Used by tests/integration/test_forges.py (the pull-request story on each forge) and
tests/integration/test_forges_errors.py (refusals, limits, transport). ``running`` starts
the stand-in for one forge kind on a fresh bare repository and builds the matching
adapter from ``reconciler.adapters.forges`` pointed at it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.adapters.forges import base, gitea, github, gitlab
from tests.support import gitrepo, secretscan
from tests.support.forges import STAND_INS
from tests.support.forges.server import StandIn

ADAPTERS = {"github": github.GitHub, "gitlab": gitlab.GitLab, "gitea": gitea.Gitea}
REPOS = {"github": "team/config", "gitlab": "team/platform/config", "gitea": "team/config"}
FIRST_READ = {"github": None, "gitlab": None, "gitea": False}
"""``mergeable`` on the first read after a push: Gitea says false while it checks."""
HEAD = "reconciler/production/apps/podinfo"
APPS = "clusters/production/apps.yaml"
FILES = {APPS: "podinfo: 6.4.0\n", "README.md": "the config repository\n"}
RELEASE = ("podinfo: 6.4.0 -> 6.5.0\n\nRollout: apps/podinfo\nRelease: 6.5.0\n"
           "Previous-Release: 6.4.0\nAction: release\nEnvironment: production\n")
NOW = 1_800_000_000.0


@dataclass
class Env:
    kind: str
    stand_in: StandIn
    forge: base.Forge
    bare: gitrepo.BareRepo
    repo: str
    token_file: Path
    token: str

    def branch(self, name: str, *commits: tuple[dict[str, str], str]) -> str:
        """A branch from main's tip with ``commits``, pushed straight into the bare repo."""
        self.bare.git("branch", name, "refs/heads/main")
        for files, message in commits:
            self.bare.commit(files, message, branch=name)
        return self.bare.head(name)

    def release_branch(self) -> str:
        return self.branch(HEAD, ({APPS: "podinfo: 6.5.0\n"}, RELEASE))

    def opened(self) -> base.PullRequest:
        self.release_branch()
        return self.forge.open(title="podinfo: 6.4.0 -> 6.5.0", body="release",
                               head=HEAD, base="main")

    def known(self, number: int) -> base.PullRequest:
        """Read until the forge has computed mergeability (the stand-in says when)."""
        self.forge.get(number=number)
        for _ in range(10):
            if self.stand_in.pull(self.repo, number).reads_left == 0:
                return self.forge.get(number=number)
            self.forge.get(number=number)
        raise AssertionError("mergeability never became known")

    def green(self, sha: str) -> None:
        """The forge's CI reports success on ``sha`` (each forge's own kind of check)."""
        if self.kind == "gitlab":
            self.stand_in.set_check(self.repo, sha=sha, name="pipeline", kind="pipeline",
                                    state="success")
        else:
            self.stand_in.set_check(self.repo, sha=sha, name="ci/build", state="success")


@contextmanager
def running(kind: str, tmp_path: Path, git_home: Path, **options: object) -> Iterator[Env]:
    """A stand-in for ``kind`` serving one bare repository, and its adapter, both closed
    on the way out."""
    token = secretscan.generate(f"{kind} forge token")
    tmp_path.mkdir(parents=True, exist_ok=True)
    token_file = tmp_path / f"{kind}-token"
    token_file.write_text(token + "\n")
    bare = gitrepo.make_bare_repo(tmp_path / "srv" / f"{kind}.git", FILES, home=git_home)
    stand_in = STAND_INS[kind](token=token, **options)  # type: ignore[arg-type]
    stand_in.add_repo(REPOS[kind], bare)
    clock = options.get("clock")
    with stand_in.serving():
        forge = ADAPTERS[kind](repo=REPOS[kind], token_file=token_file,
                               api_url=stand_in.api_url, timeout=20,
                               clock=clock)  # type: ignore[arg-type]
        try:
            yield Env(kind, stand_in, forge, bare, REPOS[kind], token_file, token)
        finally:
            forge.api.close()
