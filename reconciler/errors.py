"""The project's own exceptions, typed by what the caller should do next.

Every layer raises these; the adapters translate ``pygit2.GitError`` and friends into
them with ``raise ... from``. The CLI maps them to exit codes (interfaces/exits.py:
2 for what a command was given, InputError, ManifestError and ClusterConfigError;
1 for the rest; the table is in docs/cli.md) and the daemon maps them to
conditions: a ``PermanentError`` stalls the rollout until a person acts, a
``TransientError`` is retried with backoff.

    ReconcilerError
    ├── PermanentError                  no retry; Stalled
    │   ├── InputError                  a bad argument on the command line
    │   │   ├── InvalidTag              not semver, or not a valid OCI tag
    │   │   ├── InvalidConstraint       a versionConstraint that does not parse
    │   │   ├── UnknownRollout          no Rollout manifest with that name
    │   │   └── SigningKeyError         the commit signing key cannot sign
    │   ├── ManifestError               a file/document/field in the config repo is wrong
    │   ├── NothingToRevert             the rollout has no release commit to revert
    │   ├── HostKeyError                SSH host key unknown or changed
    │   ├── InvalidSelector             a LabelSelector (dict or string) that does not parse
    │   ├── ClusterConfigError          no kubeconfig and no in-cluster configuration
    │   ├── ClusterForbidden            the API server said 401/403 (names verb and resource)
    │   ├── ClusterInvalid              the API server said 400/422 to what we sent
    │   ├── ForgeNotFound               404: repository, pull request or API URL wrong
    │   └── ForgeInvalid                the forge said 400/422 to what we sent
    └── TransientError                  retry with backoff
        ├── GitError                    anything git-side that may clear on its own
        │   ├── RemoteUnreachable       DNS, connection refused, TLS failure
        │   ├── AuthenticationFailed    credentials refused (or retries exhausted)
        │   ├── PushRejected            the server refused the update (hook, protection)
        │   │   └── NonFastForward      someone else pushed first: fetch and retry
        │   └── RevertConflict          git revert does not apply cleanly
        ├── ClusterError                API server unreachable, timeouts, 429, 5xx
        │   └── ClusterNotFound         404 on a write, or the resource type is not served
        ├── ConflictError               409: the object changed since we read it
        └── ForgeError                  forge API unreachable, timeouts, 5xx, an unreadable answer
            ├── ForgeAuthError          401/403: token refused or short of a scope
            ├── ForgeRateLimited        rate limit hit; ``retry_after`` says how long to wait
            └── ForgeConflict           merge refused (405/406/409): not mergeable now, head moved

The forge errors (``reconciler.adapters.forges``) follow the git side's reasoning: a
refused token is transient, like ``AuthenticationFailed``, because the token is read
again from its file and a rotated Secret clears it; a 404 or a 422 is a configuration
or input mistake that no retry mends.
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """Base of every error this project raises on purpose."""


class PermanentError(ReconcilerError):
    """Retrying will not help; a person has to change something."""


class TransientError(ReconcilerError):
    """May clear on its own; retry with backoff."""


class InputError(PermanentError):
    """A command-line argument or API input is wrong."""


class InvalidTag(InputError):
    """A tag that is not valid semver or not a valid OCI tag."""


class InvalidConstraint(InputError):
    """A version constraint that does not parse."""


class UnknownRollout(InputError):
    """No Rollout manifest with that namespace/name in the repository."""


class SigningKeyError(InputError):
    """The commit signing key cannot sign: checked at start-up by signing a probe."""


class NothingToRevert(PermanentError):
    """The rollout has no release commit on the branch that could be reverted."""


def printable(text: str) -> str:
    """``text`` with every character that is not printable escaped as Python would
    (``\\n``, ``\\x1b``, ``\\u202e``), so a message stays on one line and a file name
    or value from the repository cannot forge output or drive a terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


class ManifestError(PermanentError):
    """Something in the config repository is wrong; carries where."""

    def __init__(self, message: str, *, file: str, document: int | None = None,
                 field: str | None = None, line: int | None = None) -> None:
        self.file = file
        self.document = document
        self.field = field
        self.line = line
        self.detail = message
        super().__init__(self.render())

    def render(self) -> str:
        where = location(self.file, line=self.line, document=self.document, field=self.field)
        return printable(f"{where}: {self.detail}")


class HostKeyError(PermanentError):
    """The SSH server's host key is not in known_hosts, or does not match it."""


class GitError(TransientError):
    """A git operation failed in a way that may clear on its own."""


class RemoteUnreachable(GitError):
    """The remote could not be reached."""


class AuthenticationFailed(GitError):
    """The remote refused the credentials."""


class PushRejected(GitError):
    """The remote refused the ref update; ``reason`` is the server's message."""

    def __init__(self, message: str, *, ref: str, reason: str) -> None:
        self.ref = ref
        self.reason = reason
        super().__init__(message)


class NonFastForward(PushRejected):
    """The remote branch moved since we fetched; fetch, recompute, retry."""


class RevertConflict(GitError):
    """``git revert`` of a commit conflicts with what the branch holds now."""


class InvalidSelector(PermanentError):
    """A Kubernetes label selector that does not parse or uses an unknown operator."""


class ClusterConfigError(PermanentError):
    """No usable Kubernetes client configuration (kubeconfig or in-cluster)."""


class ClusterForbidden(PermanentError):
    """The API server refused us (401/403); the message names the verb and resource."""


class ClusterInvalid(PermanentError):
    """The API server rejected what we sent as malformed or invalid (400/422)."""


class ClusterError(TransientError):
    """The Kubernetes API could not be reached or failed (timeouts, 429, 5xx)."""


class ClusterNotFound(ClusterError):
    """The object (or its whole resource type) does not exist on the API server."""


class ConflictError(TransientError):
    """409 Conflict: the object changed since it was read; re-read and retry."""


class ForgeNotFound(PermanentError):
    """The forge answered 404, or a redirect (the repository was renamed or moved): the
    repository, the pull request or the API URL is wrong (GitHub also answers 404 for a
    private repository the token cannot see)."""


class ForgeInvalid(PermanentError):
    """The forge rejected what we sent as invalid (400/422): a merge method the
    repository does not allow, a branch that does not exist, a duplicate."""


class ForgeError(TransientError):
    """A forge API call failed in a way that may clear on its own (network, 5xx).

    ``status`` is the HTTP status when there was an answer. The message never holds
    the token: the adapters build it from the method, the path and the forge's own
    message with the token masked.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        self.status = status
        super().__init__(message)


class ForgeAuthError(ForgeError):
    """The forge refused the token (401), or it lacks a scope or a permission (403)."""


class ForgeRateLimited(ForgeError):
    """The forge's rate limit is exhausted; ``retry_after`` is the wait in seconds.

    Taken from ``Retry-After``, or from the reset time GitHub (``X-RateLimit-Reset``
    with ``X-RateLimit-Remaining: 0``) and GitLab (``RateLimit-Reset``) send. The
    adapters never sleep: the caller schedules the retry.
    """

    def __init__(self, message: str, *, retry_after: float, status: int | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, status=status)


class ForgeConflict(ForgeError):
    """The forge refused a merge or a creation that conflicts with its state now:
    not mergeable yet or at all (405/406), the head moved since it was read (409),
    or a pull request for that branch already exists."""


def location(file: str, *, line: int | None, document: int | None, field: str | None) -> str:
    """``file:line (document N) field``, as every problem and error names its place
    (``document`` counts from 0 inside, from 1 where people read it)."""
    where = file
    if line is not None:
        where += f":{line}"
    if document is not None:
        where += f" (document {document + 1})"
    if field:
        where += f" {field}"
    return where
