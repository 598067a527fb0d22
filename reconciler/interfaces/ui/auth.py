"""Who may act from the dashboard: bearer tokens from a mounted file.

Part of the dashboard (``interfaces/ui``). Actions are off unless
``--ui-token-file`` names a file; each line is ``TOKEN,USER[,UID[,GROUPS]]``, the
format of kube-apiserver's ``--token-auth-file`` (blank lines and ``#`` comments
skipped; extra columns ignored), so one Secret can serve both. ``USER`` is who the
``Requested-By`` trailer names; a token is never logged, never written anywhere.

The caller sends ``Authorization: Bearer <token>`` on every action; the browser
page keeps the token in ``sessionStorage`` and sends it in that header, never in a
cookie, so another site cannot make a visitor's browser send it (no CSRF through
ambient credentials). Tokens are compared in constant time, every one of them (the
time does not say which matched). The file is read again when it changes, so a
rotated Secret takes effect without a restart; a file that becomes unreadable or
empty turns actions off (every request refused) until it is fixed.
"""

from __future__ import annotations

import hmac
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import PermanentError

log = logging.getLogger(__name__)

MIN_TOKEN = 16  # characters: shorter tokens are refused at start-up


@dataclass(frozen=True)
class Entry:
    token: bytes
    user: str


def parse(text: str, *, source: str) -> list[Entry]:
    """The entries of a token file; ``PermanentError`` naming the line at fault."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        token, sep, rest = line.partition(",")
        user = rest.split(",", 1)[0].strip().strip('"')
        token = token.strip()
        if not sep or not user:
            raise PermanentError(f"{source} line {number}: expected TOKEN,USER (as "
                                 f"kube-apiserver's --token-auth-file)")
        if len(token) < MIN_TOKEN:
            raise PermanentError(f"{source} line {number}: the token is shorter than "
                                 f"{MIN_TOKEN} characters")
        if any(ord(c) < 32 or ord(c) == 127 for c in user):
            raise PermanentError(f"{source} line {number}: control characters in USER")
        out.append(Entry(token=token.encode(), user=user))
    if not out:
        raise PermanentError(f"{source} holds no token")
    return out


class Tokens:
    """The tokens of ``path``, read now (start-up fails on a bad file) and again
    whenever the file changes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: list[Entry] = []
        self._read(strict=True)

    def _read(self, *, strict: bool) -> None:
        try:
            stat = self.path.stat()
            stamp = (stat.st_mtime_ns, stat.st_size)
            if stamp == self._stamp:
                return
            entries = parse(self.path.read_text(encoding="utf-8"),
                            source=f"--ui-token-file {self.path}")
        except (OSError, UnicodeDecodeError, PermanentError) as exc:
            message = exc.strerror if isinstance(exc, OSError) else str(exc)
            if strict:
                raise PermanentError(f"cannot use --ui-token-file {self.path}: "
                                     f"{message}") from None
            if self._entries:
                log.error("dashboard actions refused until --ui-token-file is fixed: %s",
                          message)
            self._entries, self._stamp = [], None
            return
        self._entries, self._stamp = entries, stamp
        log.info("dashboard actions: %d token%s from %s", len(entries),
                 "s" if len(entries) != 1 else "", self.path)

    def who(self, authorization: str | None) -> str | None:
        """The user of a valid ``Bearer`` token, or None."""
        with self._lock:
            self._read(strict=False)
            entries = list(self._entries)
        if not authorization:
            return None
        scheme, _, given = authorization.partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return None
        offered = given.strip().encode()
        found = None
        for entry in entries:  # every one compared: the time does not say which matched
            if hmac.compare_digest(entry.token, offered):
                found = found or entry.user
        return found
