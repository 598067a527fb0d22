"""The forge for pull-request mode, from the ``Writing`` settings; a bad combination
stops start-up with one line (``InputError``, exit 2).

Where it fits: ``reconciler run`` (``daemon_main``) calls ``connect`` before it starts
the daemon and hands the adapter (or None: direct pushes only) to it. The token file's
path is checked here; its content is read only by the adapter and never logged.
"""

from __future__ import annotations

from reconciler.adapters import forges
from reconciler.adapters.forges import base
from reconciler.errors import InputError
from reconciler.interfaces.settings import WriteSettings


def check(write: WriteSettings, *, repo_url: str) -> None:
    """Refuse a combination that cannot work, naming the settings to fix."""
    if "pull-request" in (write.write_mode, write.revert_mode) and (
            write.forge is None or write.forge_token_file is None):
        raise InputError("--write-mode/--revert-mode pull-request needs --forge and "
                         "--forge-token-file (RECONCILER_FORGE, RECONCILER_FORGE_TOKEN_FILE)")
    if write.forge is not None and write.forge_token_file is None:
        raise InputError("--forge needs --forge-token-file (RECONCILER_FORGE_TOKEN_FILE)")
    if write.forge_token_file is not None and not write.forge_token_file.is_file():
        raise InputError(f"--forge-token-file {write.forge_token_file}: no such file")
    if write.forge is not None:
        repository(write, repo_url=repo_url)


def repository(write: WriteSettings, *, repo_url: str) -> str:
    """``--forge-repo``, else the path of ``--repo``'s URL without ``.git``
    (``https://github.com/team/fleet.git`` and ``git@github.com:team/fleet`` give
    ``team/fleet``)."""
    if write.forge_repo:
        return write.forge_repo.strip("/")
    path = ""  # a local path or file:// names no repository on a forge
    if "://" in repo_url and not repo_url.startswith("file://"):
        rest = repo_url.split("://", 1)[1]
        path = rest.split("/", 1)[1] if "/" in rest else ""
    elif ":" in repo_url.split("/", 1)[0]:  # scp-like: git@host:owner/name.git
        path = repo_url.split(":", 1)[1]
    path = path.strip("/").removesuffix(".git")
    if "/" not in path:
        raise InputError(f"cannot derive OWNER/NAME from --repo {repo_url!r}: set "
                         f"--forge-repo")
    return path


def connect(write: WriteSettings, *, repo_url: str) -> base.Forge | None:
    """The forge adapter, or None when no forge is configured."""
    check(write, repo_url=repo_url)
    if write.forge is None or write.forge_token_file is None:
        return None
    return forges.connect(write.forge, repo=repository(write, repo_url=repo_url),
                          token_file=write.forge_token_file, api_url=write.forge_api_url)
