"""libgit2's errors, translated into the project's (``reconciler.errors``).

Where it fits: ``git.Mirror`` runs every network call through this translation, so
the engine only ever sees project errors, raised ``from`` the original, each with
one line naming the remote (never a password: the caller masks secrets first):

    pygit2 / libgit2                                    project error
    ------------------------------------------------    ----------------------------
    connect/resolve/timeout/TLS, missing local repo     RemoteUnreachable
    GIT_EAUTH, HTTP 401/403, retries exhausted          AuthenticationFailed
    the proxy's 407 (no or wrong proxy credentials)     AuthenticationFailed, naming
                                                          where they go (the proxy URL)
    SSH host key unknown or changed                     HostKeyError (permanent)
    push_update_reference(ref, msg), msg not None       PushRejected(reason=msg + hook text)
      ... msg says non-fast-forward / fetch first       NonFastForward
    "cannot push non-fastforwardable reference" and
      "... commits that are not present locally"        NonFastForward
    revert index with conflicts                         RevertConflict
    missing branch, unknown object, anything else       GitError
"""

from __future__ import annotations

import pygit2

from reconciler.errors import AuthenticationFailed, GitError, RemoteUnreachable

# libgit2 error classes (git_error_t) that mean "could not talk to the remote".
_ERROR_OS, _ERROR_NET, _ERROR_SSL, _ERROR_SSH, _ERROR_HTTP = 2, 12, 16, 23, 34
_UNREACHABLE = ("failed to connect", "connection refused", "failed to resolve",
                "could not resolve", "timed out", "timeout", "unreachable", "no route",
                "connection reset", "broken pipe", "early eof", "unexpected eof",
                "ssl", "tls", "certificate", "failed to start ssh session",
                "could not find repository")
_AUTH = ("authentication", "unexpected http status code: 401",
         "unexpected http status code: 403")
_NON_FAST_FORWARD = ("non-fast-forward", "non-fastforward", "fetch first", "stale info",
                     "not present locally", "but expected", "cannot lock ref",
                     "incorrect old value")


def matches(text: str, needles: tuple[str, ...]) -> bool:
    lowered = text.lower()
    return any(needle in lowered for needle in needles)


def non_fast_forward(detail: str) -> bool:
    """Does a refusal or a libgit2 error say the remote ref moved?"""
    return matches(detail, _NON_FAST_FORWARD)


def translate(exc: BaseException, *, context: str, detail: str) -> GitError:
    """The project error for ``exc``; ``detail`` is its text with secrets masked."""
    message = f"{context}: {detail}"
    lowered = detail.lower()
    if "proxy authentication" in lowered or "proxy-authenticate" in lowered:
        return AuthenticationFailed(
            f"{context}: the proxy asks for credentials (HTTP 407) and was not given "
            "the right ones; put them in the proxy URL: "
            f"https_proxy=http://USER:PASSWORD@HOST:PORT ({detail})")
    if isinstance(exc, pygit2.AuthError) or matches(lowered, _AUTH):
        return AuthenticationFailed(message)
    error_class = getattr(exc, "error_class", None)
    if isinstance(exc, pygit2.CertificateError) or (
        error_class in (_ERROR_OS, _ERROR_NET, _ERROR_SSL, _ERROR_SSH, _ERROR_HTTP)
        and matches(lowered, _UNREACHABLE)
    ):
        return RemoteUnreachable(message)
    return GitError(message)
