"""Calling test hooks over HTTP: one signed POST, bounded in time, never redirected.

Where it fits: ``engine/hooks`` asks ``core/hooks`` for the body and what the answer
means; this module does the I/O in between, with ``httpx2`` like the notifications
(``adapters/notify``) and the forges. A call never raises: a timeout, a refused
connection or a TLS failure is an ``Answer`` without a status code, which
``core/hooks.judge`` counts as a failure. Redirects are not followed (a hook is
called only at the address the user configured).

The signing secret is read from a file (``--hook-secret-file``, a mounted Secret) and
read again when the file changes; it is never logged and is in no ``repr``.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import httpx2

from reconciler.core import hooks
from reconciler.errors import InputError, printable

log = logging.getLogger(__name__)

USER_AGENT = "reconciler-hooks"


class SecretFile:
    """The hooks' signing secret, from ``path`` (trailing newline dropped), read again
    when the file's modification time or size changes (a rotated Secret)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._value = b""

    def __repr__(self) -> str:
        return f"SecretFile({str(self.path)!r})"

    def read(self) -> bytes:
        try:
            st = os.stat(self.path)
            with self._lock:
                if self._seen != (st.st_mtime_ns, st.st_size):
                    value = self.path.read_bytes().rstrip(b"\r\n")
                    if not value:
                        raise InputError(f"--hook-secret-file {printable(str(self.path))}: "
                                         f"the file is empty")
                    self._seen, self._value = (st.st_mtime_ns, st.st_size), value
                return self._value
        except OSError as err:
            raise InputError(f"--hook-secret-file {printable(str(self.path))}: "
                             f"{err.strerror or type(err).__name__}") from None


class Caller:
    """POSTs hook payloads; one client (and its connection pool) for every hook."""

    def __init__(self, *, secret: SecretFile | None = None,
                 transport: httpx2.BaseTransport | None = None) -> None:
        self._secret = secret
        self._client = httpx2.Client(follow_redirects=False, transport=transport,
                                     headers={"User-Agent": USER_AGENT})

    def call(self, hook: hooks.Hook, body: bytes) -> hooks.Answer:
        """POST ``body`` to the hook's URL within its timeout; the answer's status code
        and the start of its body, or why there was none."""
        headers = {"Content-Type": "application/json"}
        if self._secret is not None:
            headers[hooks.SIGNATURE_HEADER] = hooks.signature(self._secret.read(), body)
        timeout = hook.timeout_seconds()
        try:
            response = self._client.post(hook.url, content=body, headers=headers,
                                         timeout=httpx2.Timeout(timeout))
        except httpx2.TimeoutException:
            return hooks.Answer(None, f"no answer within {timeout:g}s")
        except httpx2.HTTPError as err:
            return hooks.Answer(None, printable(f"{type(err).__name__}: {err}")[:200])
        try:
            detail = printable(response.text[:200])
        except (UnicodeDecodeError, LookupError):
            detail = ""
        log.debug("hook %s (%s) answered %d", hook.name, hook.type, response.status_code)
        return hooks.Answer(response.status_code, detail)

    def close(self) -> None:
        self._client.close()
