"""The first fetch into an empty mirror, by git's command line where it is installed.

Part of the git adapter. A mirror's first fetch receives the whole repository;
libgit2 indexes the received pack on one thread, git's ``index-pack`` on every
core, so on a 100,000-file repository libgit2's first fetch took 1.4-1.8 times
``git clone --bare`` (docs/performance.md). ``git.Mirror.fetch`` therefore asks
this module first when the mirror is one it just created; every later fetch is
incremental and stays libgit2's. git clones the branch (``git clone --bare
--single-branch``, no tags) into a directory beside the mirror and its objects move
into the mirror; then libgit2's own fetch runs as always (finding nothing left to
fetch for the branch; the notes, if any, are its, into their own repository:
``gitnotesrepo``), writes the refs and checks the result, so the branch, the notes
and every error past this point are exactly what they were. The clone checks the
objects it receives (``CHECKS``: a name git refuses in a tree is an error), so that a
first snapshot may list the branch's tree with ``git ls-tree`` (``gitlisting``); a
repository git refuses is cloned again without the check. A clone, not ``git fetch``
into the mirror: the clone's ``index-pack`` checks the pack it received is complete
while indexing it, where ``git fetch`` walks every object again afterwards (the
first fetch then took 1.03-1.10 times the clone).

What ``gitauth`` and ``gittrust`` do for libgit2 is carried over, and a secret
never reaches argv, the environment of anything but git's own helpers, or a log:

* HTTP(S) username and password or token: ``GIT_ASKPASS`` names a small script
  (no secret in it, written 0700 into a private directory of the cache) that
  prints them from the environment of the git process; credential helpers from
  other config are switched off, and so is prompting (``GIT_TERMINAL_PROMPT=0``).
  git asks once; a refusal is ``AuthenticationFailed`` naming the remote.
* SSH: ``GIT_SSH_COMMAND`` with the configured key (``IdentitiesOnly``), its
  passphrase through ``SSH_ASKPASS`` (``SSH_ASKPASS_REQUIRE=force``), and host
  keys checked strictly against the same known_hosts file libgit2 reads (the
  global one ignored), or not at all with ``insecure_skip_host_key_check``. A
  refused host key is the same ``HostKeyError`` libgit2's path raises.
* A CA bundle: ``http.sslCAInfo``, passed through ``GIT_CONFIG_COUNT`` (no argv).
* Proxies: git reads the same ``http_proxy``/``https_proxy``/``no_proxy`` and
  ``http.proxy`` that libgit2's automatic proxy detection does.

Where a case is not covered (an SSH remote with neither a key nor an agent, a
configured known_hosts or CA file that does not exist), or git fails in any
other way (unreachable, no such branch, an old git), ``fetch`` answers False and
libgit2 does the first fetch as before, raising what it always raised.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

from reconciler.adapters.gitauth import Credentials, RemoteURL, mask
from reconciler.adapters.gittrust import default_known_hosts, host_key_problem
from reconciler.errors import AuthenticationFailed, HostKeyError

log = logging.getLogger(__name__)

TIMEOUT = 3600.0
"""Seconds the whole first fetch may take before it is given up on (libgit2 then
tries); a stalled transfer is cut sooner by ``http.lowSpeedTime``."""
_STALL_SECONDS = 60  # as libgit2's server_timeout (gitobjects)

_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' "$RECONCILER_ASKPASS_USERNAME" ;;
  *assphrase*) printf '%s\\n' "$RECONCILER_ASKPASS_PASSPHRASE" ;;
  *) printf '%s\\n' "$RECONCILER_ASKPASS_PASSWORD" ;;
esac
"""

CHECKS = ("fullPathname", "hasDot", "hasDotdot", "hasDotgit", "emptyName")
"""git's object checks (``git help fsck``, the message ids) made errors of the first
clone, beside the ones that are errors by default (a tree not sorted, a name twice):
the names the pygit2 walk reports as invalid (``adapters/gitobjects``: a ``/`` in a
name, ``.``, ``..``, ``.git`` in any case, an empty name). A clone git completes
with them vouches that no tree of the branch holds one (``gitlisting``); the check
runs while ``index-pack`` indexes the objects, at no cost measured beside it
(docs/performance.md)."""
# A clone refused by that check (index-pack --strict or unpack-objects --strict).
_REFUSED = re.compile(r"fsck error|error: object [0-9a-f]{40,}: \w+: ")

_HTTP_REFUSED = re.compile(r"Authentication failed|could not read (Username|Password)|"
                           r"returned error: 40[13]\b")
_SSH_REFUSED = re.compile(r"Permission denied \(")
_HOST_KEY = re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED")


def git_command() -> str | None:
    """The git executable on ``PATH``, or None."""
    return shutil.which("git")


class Cloned(NamedTuple):
    """What a first fetch by git brought: ``objects`` received, the branch's ``head``
    and whether git ``checked`` every one of those objects (``CHECKS``)."""

    objects: int
    head: str | None
    checked: bool


def fetch(path: Path, *, remote: RemoteURL, credentials: Credentials,
          refspecs: list[str]) -> Cloned | None:
    """Fill the empty bare repository at ``path`` with the objects of the branch the
    first of ``refspecs`` fetches (``+refs/heads/<branch>:...``), by git's command
    line. What it brought, or None when git is absent, the case is
    not covered or git failed (the caller then fetches with libgit2, which also
    fetches the rest of ``refspecs`` and writes every ref either way).
    ``AuthenticationFailed`` and ``HostKeyError`` when the server refused the
    credentials or the host key: libgit2 would be refused the same way.

    ``git clone --bare`` into a directory beside the mirror, whose objects then move
    into it: a clone's ``index-pack`` checks that the pack it received is complete
    (``--check-self-contained-and-connected``), where ``git fetch`` walks every
    object again afterwards to check the same (``rev-list --objects``: 0.15 s of
    1.1 s at 100,000 files, docs/performance.md).

    The clone checks every object it receives (``CHECKS``) and so vouches for the
    names in the branch's trees (``Cloned.checked``: ``gitlisting`` lists such a tree
    in C); a repository whose objects git refuses is cloned again without the
    check, as before."""
    git = git_command()
    branch = _branch(refspecs[0]) if refspecs else None
    if git is None or branch is None or not _covered(remote, credentials):
        return None
    with tempfile.TemporaryDirectory(prefix=".reconciler-clone-", dir=path.parent) as tmp:
        into = Path(tmp) / "clone.git"
        # --no-local: objects copied through the transport, never hard links into
        # another repository; --template=: no hooks or sample files to copy.
        command = [git, "clone", "--bare", "--quiet", "--no-local", "--no-tags",
                   "--single-branch", "--branch", branch, "--template=", "--",
                   remote.url, str(into)]
        try:
            for checked in (True, False):
                env = _environment(Path(tmp), remote=remote, credentials=credentials,
                                   checked=checked)
                done = subprocess.run(command, env=env, capture_output=True, text=True,
                                      timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
                if done.returncode == 0 or not checked or not _REFUSED.search(done.stderr):
                    break
                log.info("git's check refuses objects of %s (%s); cloning it unchecked",
                         remote, mask(" ".join(done.stderr.split()), credentials.secrets())[:300])
                shutil.rmtree(into, ignore_errors=True)
            if done.returncode == 0:
                head = _head(git, into, branch)
                _adopt(into / "objects", path / "objects")
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.info("first fetch of %s by git failed (%s); fetching with libgit2", remote,
                     type(exc).__name__)
            return None
    detail = mask(" ".join(done.stderr.split()), credentials.secrets())
    if done.returncode == 0:
        return Cloned(_objects(git, path), head, checked)
    if remote.is_ssh and _HOST_KEY.search(detail):
        raise HostKeyError(host_key_problem(remote.host or "", remote.port,
                                            credentials.known_hosts))
    if (_SSH_REFUSED if remote.is_ssh else _HTTP_REFUSED).search(detail):
        what = "key" if remote.is_ssh else "password or token"
        configured = credentials.ssh_key if remote.is_ssh else credentials.password
        if configured is None and not remote.is_ssh:
            raise AuthenticationFailed(f"{remote} requires authentication but no matching "
                                       "credentials are configured (no password or token)")
        raise AuthenticationFailed(f"{remote}: credentials refused; check the username and "
                                   f"{what}")
    log.info("first fetch of %s by git failed (exit %d: %s); fetching with libgit2",
             remote, done.returncode, detail[:300])
    return None


def _branch(refspec: str) -> str | None:
    """The branch a ``+refs/heads/<branch>:<tracking ref>`` refspec fetches."""
    source = refspec.removeprefix("+").partition(":")[0]
    branch = source.removeprefix("refs/heads/")
    return branch if branch != source and branch and "*" not in branch else None


def _adopt(source: Path, objects: Path) -> None:
    """Move the packs and loose objects under ``source`` into the object directory
    ``objects`` (same file system): each pack before its index, so that git and
    libgit2, which only see a pack through its index, never see half of one."""
    order = {".pack": 0, ".rev": 1, ".idx": 2}
    packs = sorted((p for p in (source / "pack").iterdir() if p.suffix in order),
                   key=lambda p: (order[p.suffix], p.name))
    (objects / "pack").mkdir(parents=True, exist_ok=True)
    for pack in packs:
        os.replace(pack, objects / "pack" / pack.name)
    for loose in source.glob("[0-9a-f][0-9a-f]/*"):
        (objects / loose.parent.name).mkdir(exist_ok=True)
        os.replace(loose, objects / loose.parent.name / loose.name)


def _covered(remote: RemoteURL, credentials: Credentials) -> bool:
    if remote.scheme not in ("http", "https", "file") and not remote.is_ssh:
        return False
    if credentials.ca_bundle is not None and not credentials.ca_bundle.is_file():
        return False  # libgit2's path says so (InputError)
    if remote.is_ssh:
        if credentials.ssh_key is None and not os.environ.get("SSH_AUTH_SOCK"):
            return False  # libgit2 refuses, git would try ~/.ssh/id_*: keep libgit2's
        if credentials.ssh_key is not None and not credentials.ssh_key.is_file():
            return False
        known = credentials.known_hosts
        if known is not None and not known.is_file() \
                and not credentials.insecure_skip_host_key_check:
            return False
    return True


def _environment(tmp: Path, *, remote: RemoteURL, credentials: Credentials,
                 checked: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GIT_", "SSH_ASKPASS", "RECONCILER_ASKPASS_"))}
    config = {"credential.helper": "", "gc.auto": "0", "maintenance.auto": "false",
              "http.lowSpeedLimit": "1000", "http.lowSpeedTime": str(_STALL_SECONDS)}
    if checked:
        config |= {"transfer.fsckObjects": "true",
                   **{f"fetch.fsck.{name}": "error" for name in CHECKS}}
    if credentials.ca_bundle is not None and remote.scheme == "https":
        config["http.sslCAInfo"] = str(credentials.ca_bundle.resolve())
    askpass = tmp / "askpass"
    askpass.write_text(_ASKPASS)
    askpass.chmod(0o700)
    env.update({
        "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
        "GIT_ASKPASS": str(askpass),
        "RECONCILER_ASKPASS_USERNAME": credentials.username or remote.username or "git",
        "RECONCILER_ASKPASS_PASSWORD": credentials.password or "",
        "GIT_CONFIG_COUNT": str(len(config)),
    })
    for n, (key, value) in enumerate(config.items()):
        env[f"GIT_CONFIG_KEY_{n}"], env[f"GIT_CONFIG_VALUE_{n}"] = key, value
    if remote.is_ssh:
        env["GIT_SSH_COMMAND"] = _ssh_command(remote, credentials)
        env["GIT_SSH_VARIANT"] = "ssh"
        if credentials.ssh_passphrase:
            env.update({"SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force",
                        "RECONCILER_ASKPASS_PASSPHRASE": credentials.ssh_passphrase})
    return env


def _ssh_command(remote: RemoteURL, credentials: Credentials) -> str:
    options = ["-o", "ConnectTimeout=10", "-o", f"ServerAliveInterval={_STALL_SECONDS // 3}",
               "-o", "ServerAliveCountMax=3", "-o", "GlobalKnownHostsFile=/dev/null"]
    if credentials.insecure_skip_host_key_check:
        log.warning("accepting unverified SSH host key of %s (insecure_skip_host_key_check)",
                    remote.host)
        options += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
    else:
        known = credentials.known_hosts or default_known_hosts()
        options += ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}"]
    if credentials.ssh_key is not None:
        options += ["-o", "IdentitiesOnly=yes", "-i", str(credentials.ssh_key)]
    if not credentials.ssh_passphrase:
        options += ["-o", "BatchMode=yes"]
    if remote.username is None:
        options += ["-o", f"User={credentials.username or 'git'}"]
    return " ".join(shlex.quote(part) for part in ["ssh", *options])


def _head(git: str, repository: Path, branch: str) -> str | None:
    """The commit ``branch`` names in ``repository``, or None."""
    try:
        done = subprocess.run([git, "rev-parse", "--verify", "--quiet",
                               f"refs/heads/{branch}^{{commit}}"], capture_output=True,
                              text=True, timeout=60, check=False,
                              env={**os.environ, "GIT_DIR": str(repository)})
    except (OSError, subprocess.SubprocessError):
        return None
    head = done.stdout.strip()
    return head if done.returncode == 0 and head else None


def _objects(git: str, path: Path) -> int:
    """Objects in the repository (all of them arrived with this first fetch)."""
    try:
        done = subprocess.run([git, "count-objects", "-v"], capture_output=True, text=True,
                              timeout=60, check=True, env={**os.environ, "GIT_DIR": str(path)})
    except (OSError, subprocess.SubprocessError):
        return 0
    counts = dict(line.split(": ", 1) for line in done.stdout.splitlines() if ": " in line)
    return int(counts.get("count", 0)) + int(counts.get("in-pack", 0))
