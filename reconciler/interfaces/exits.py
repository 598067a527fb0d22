"""How every command ends: the exit code and the one stderr line (DESIGN.md, CLI contract).

Where it fits: the modules ``cli.COMMANDS`` names define the commands; this module
decides how they end, for all of them at once, so no command can disagree with
another. The rule:

- 0: the command did what was asked (``nothing to do`` included);
- 1: the command ran and found problems (``validate``'s errors, nothing to revert),
  or something outside it failed or refused (the remote, the cluster, a forge);
  running it again later, or after fixing that outside thing, may succeed;
- 2: what the command was given is wrong: an argument, a flag, an environment
  variable, a file a flag names, or a manifest of the config repository (the
  input the command reads); it fails the same way until the input changes.

An error is one line on stderr, ``reconciler: error: <what>``, click's usage
errors included (click prints three: usage, hint, error). ``ERRORS`` is the
table of every error a command can end with; docs/cli.md shows it
(``python -m reconciler.interfaces.exits``) and tests/unit/test_exits.py keeps
it, the exception tree and :func:`code` in agreement.
"""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import click

from reconciler import errors

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2

# The errors that mean "what you gave the command is wrong" (exit 2); every other
# ReconcilerError means the command ran into a problem (exit 1).
USAGE_ERRORS: tuple[type[errors.ReconcilerError], ...] = (
    errors.InputError, errors.ManifestError, errors.ClusterConfigError)


def code(exc: errors.ReconcilerError) -> int:
    """The exit code a command ends with when it raises ``exc``."""
    return EXIT_USAGE if isinstance(exc, USAGE_ERRORS) else EXIT_PROBLEMS


def line(message: str) -> str:
    """The one stderr line of an error: whitespace (line breaks too) collapsed."""
    return f"reconciler: error: {' '.join(message.split())}"


def fail(message: str, exit_code: int) -> NoReturn:
    click.echo(line(message), err=True)
    sys.exit(exit_code)


def handle_errors(fn: F) -> F:
    """Turn project errors into one stderr line and the contract's exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except errors.ReconcilerError as exc:
            fail(str(exc), code(exc))

    return wrapper  # type: ignore[return-value]


def usage_line(exc: click.ClickException) -> str:
    """click's error as one line, the ``--help`` hint at its end."""
    text = exc.format_message()
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        text += f" (see '{ctx.command_path} --help')"
    return line(text)


# click >= 8.2 raises this for a group called without a command, to print its help.
_HELP_INSTEAD: tuple[type[click.ClickException], ...] = tuple(
    getattr(click.exceptions, name) for name in ("NoArgsIsHelpError",)
    if hasattr(click.exceptions, name))


class Group(click.Group):
    """A click group whose usage errors are one line, like every other error.

    click's standalone mode prints usage, a hint and the error on three lines; this
    runs the group in non-standalone mode and ends the process itself, the way
    standalone mode would, but with one line."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        run = functools.partial(super().main, args, prog_name, complete_var,
                                standalone_mode=False, **extra)
        if not standalone_mode:
            return run()
        try:
            result: Any = run()
        except click.ClickException as exc:
            if isinstance(exc, _HELP_INSTEAD):
                exc.show()  # ``reconciler`` alone: the help is the answer, not an error
            else:
                click.echo(usage_line(exc), err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo(line("aborted"), err=True)
            sys.exit(EXIT_PROBLEMS)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            sys.exit(EXIT_PROBLEMS)  # stdout closed early (``| head``): nothing to say
        # Non-standalone click returns the exit code of ``ctx.exit(n)`` (--help,
        # --version) and None when a command returns normally.
        sys.exit(result if isinstance(result, int) else EXIT_OK)


# -- the table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One way a command can end: what ends it, the exit code, an example message."""

    what: str
    exit_code: int
    example: str
    error: type[errors.ReconcilerError] | None = None


def _row(error: type[errors.ReconcilerError], example: str) -> Row:
    return Row(error.__name__, EXIT_USAGE if issubclass(error, USAGE_ERRORS)
               else EXIT_PROBLEMS, example, error)


# Every ReconcilerError that can reach a command's end, with a message it really
# prints. Errors that never do are in NEVER_REACHES_THE_CLI, with the reason.
ERRORS: tuple[Row, ...] = (
    _row(errors.InputError, "--path '../x': must be a directory inside the repository"),
    _row(errors.InvalidTag, "'latest' is not a semantic version: ..."),
    _row(errors.InvalidConstraint, "invalid version constraint '>=1.2 <': ..."),
    _row(errors.UnknownRollout,
         "no Rollout apps/nope in the repository (known: apps/frontend, apps/podinfo)"),
    _row(errors.SigningKeyError,
         "--signing-key /etc/reconciler/signing/key (--signing-format ssh): cannot sign: "
         "ssh-keygen: Load key \"/etc/reconciler/signing/key\": incorrect passphrase "
         "supplied to decrypt private key; a protected key needs --signing-passphrase-file"),
    _row(errors.ManifestError, "apps/frontend/rollout.yaml:10 (document 1) spec.maxBump: "
                               "must be one of 'patch', 'minor' or 'major', got 'huge'"),
    _row(errors.ClusterConfigError,
         "no Kubernetes configuration: not running in a pod and no kubeconfig at "
         "~/.kube/config"),
    _row(errors.NothingToRevert,
         "apps/podinfo has no release commit on this branch that is not already reverted"),
    _row(errors.HostKeyError, "SSH host key of git.example.com is unknown: not in "
                              "~/.ssh/known_hosts; verify it out of band and add it: ..."),
    _row(errors.ClusterForbidden, "cannot patch rollouts apps/podinfo: RBAC does not allow "
                                  "patch on rollouts (...) [403]"),
    _row(errors.ClusterInvalid, "cannot patch rollouts apps/podinfo: rejected as invalid: "
                                "... [422]"),
    _row(errors.ForgeNotFound, "github GET /repos/acme/fleet/pulls: 404 Not Found"),
    _row(errors.ForgeInvalid, "github PUT /repos/acme/fleet/pulls/7/merge: 422 ..."),
    _row(errors.GitError, "branch 'main' does not exist on https://git.example.com/fleet.git"),
    _row(errors.RemoteUnreachable, "fetch from http://127.0.0.1:9/fleet.git: failed to "
                                   "connect to 127.0.0.1 port 9 ..."),
    _row(errors.AuthenticationFailed, "fetch from https://git.example.com/fleet.git: "
                                      "credentials refused ..."),
    _row(errors.PushRejected, "push to https://git.example.com/fleet.git refs/heads/main "
                              "refused: protected branch"),
    _row(errors.NonFastForward, "push to ... refs/heads/main: the branch moved (after the "
                                "last retry)"),
    _row(errors.ClusterError, "cannot list rollouts in all namespaces: ... [503]"),
    _row(errors.ClusterNotFound, "cannot patch rollouts apps/podinfo: not found: ... [404]"),
    _row(errors.ConflictError, "cannot update leases reconciler-system/reconciler-leader: "
                               "... [409]"),
    _row(errors.ForgeError, "github GET /repos/acme/fleet/pulls: 502 Bad Gateway"),
    _row(errors.ForgeAuthError, "github GET /repos/acme/fleet/pulls: 401 Bad credentials"),
    _row(errors.ForgeRateLimited, "github GET /repos/acme/fleet/pulls: 403 API rate limit "
                                  "exceeded (retry in 60s)"),
    _row(errors.ForgeConflict, "github PUT /repos/acme/fleet/pulls/7/merge: 405 not "
                               "mergeable"),
)

# The rest of the tree, and why no command ends with them.
NEVER_REACHES_THE_CLI: dict[str, str] = {
    "ReconcilerError": "abstract: only its subclasses are raised",
    "PermanentError": "abstract: only its subclasses are raised",
    "TransientError": "abstract: only its subclasses are raised",
    "RevertConflict": "Releaser.revert catches it and writes a rollback (docs/commits.md)",
    "InvalidSelector": "raised on the daemon's selectors, which turn it into a status "
                       "condition; validate reports a bad selector as a ManifestError",
    "SetupProblem": "the daemon's: Stalled condition of the rollout, never a command's end",
}

# Ends that are not a ReconcilerError.
OTHER_ENDS: tuple[Row, ...] = (
    Row("click usage error (unknown option, missing argument, bad choice)", EXIT_USAGE,
        "No such option '--bogus'. (see 'reconciler plan --help')"),
    Row("a bad flag or environment value (settings)", EXIT_USAGE,
        "--repo 'ftp://host/x': unsupported scheme 'ftp' (expected a local path, "
        "file://, http://, https://, ssh:// or user@host:path)"),
    Row("a local `--repo` that does not exist", EXIT_USAGE,
        "--repo '/srv/nowhere/fleet': no such directory"),
    Row("validate found at least one error", EXIT_PROBLEMS,
        "(the problems on stdout, the summary on stderr)"),
    Row("migrate found a field whose value git does not hold (nothing written)", EXIT_PROBLEMS,
        "(one error line per field on stdout, naming the --release to give)"),
    Row("Ctrl-C (`run` instead stops cleanly and exits 0)", EXIT_PROBLEMS, "aborted"),
)


def markdown() -> str:
    """docs/cli.md's table of every way a command can end."""
    rows = ["| ends with | exit | example (after `reconciler: error: `) |", "|---|---|---|"]
    for row in (*ERRORS, *OTHER_ENDS):
        what = f"`{row.what}`" if row.error is not None else row.what
        example = row.example.replace("|", "\\|")
        rows.append(f"| {what} | {row.exit_code} | {example} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
