"""The checks of a webhook request, before anything acts on it.

Part of ``interfaces/http``: the body is read up to a limit (whatever framing the
client claims), every signature header present must match the HMAC-SHA256 of the
raw body keyed with the secret (compared in constant time), and the body must be
JSON of the right shape; each refusal is a ``_Refused`` with the status code and
the reason (never the body or the secret). The order is in ``http``'s docstring.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from fastapi import Request
from pydantic import ValidationError

# HMAC-SHA256 of the body as ``sha256=<hex>``: GitHub, Flux's notification-controller.
PREFIXED = ("X-Hub-Signature-256", "X-Signature")
# The same HMAC as bare hex: Gitea and Forgejo.
BARE_HEX = ("X-Gitea-Signature", "X-Forgejo-Signature")
# GitLab sends the secret itself (its webhooks sign nothing): a shared token.
TOKEN = "X-Gitlab-Token"
SIGNATURE_HEADERS = (*PREFIXED, *BARE_HEX, TOKEN)
_DIGITS = re.compile(r"[0-9]{1,20}")



class _Refused(Exception):
    """A refusal: ``detail`` goes to the caller, ``logged`` (no body content) to the log;
    ``close``: end the connection after answering (its framing cannot be trusted)."""

    def __init__(self, code: int, detail: str, logged: str | None = None, *,
                 close: bool = False) -> None:
        super().__init__(detail)
        self.code, self.detail, self.logged = code, detail, logged or detail
        self.close = close


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and "transfer-encoding" in request.headers:
        # RFC 9112 6.3: a proxy in front may have framed this body differently (request
        # smuggling); refuse, and close the connection as the RFC requires.
        raise _Refused(400, "both Content-Length and Transfer-Encoding: ambiguous framing",
                       close=True)
    if declared is not None:
        if not _DIGITS.fullmatch(declared.strip()):
            raise _Refused(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise _Refused(413, f"body of {int(declared)} bytes is over the limit of {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # Content-Length can lie; chunked bodies have none
            raise _Refused(413, f"body is over the limit of {limit} bytes")
    return bytes(body)


def _check_signatures(request: Request, body: bytes, secret: bytes) -> None:
    digest = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
    for header in SIGNATURE_HEADERS:
        value = request.headers.get(header)
        if value is None:
            continue
        # Header values arrive decoded as latin-1: encoding back is lossless, and
        # compare_digest on bytes accepts any content.
        given = value.strip().encode("latin-1")
        if header == TOKEN:
            if not hmac.compare_digest(secret, given):
                raise _Refused(401, f"{header} does not match the secret")
            continue
        given = given.lower()
        if header in PREFIXED:
            if not given.startswith(b"sha256="):
                raise _Refused(401, f"{header} is not of the form sha256=<hex>")
            given = given[len(b"sha256="):]
        if not hmac.compare_digest(digest, given):
            raise _Refused(401, f"{header} does not match the body")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise _Refused(400, f"body is not JSON: {exc.msg} at line {exc.lineno} "
                            f"column {exc.colno}") from None
    except (UnicodeDecodeError, RecursionError):
        raise _Refused(400, "body is not JSON: undecodable or nested too deeply") from None
    except ValueError:  # e.g. an integer longer than sys.get_int_max_str_digits()
        raise _Refused(400, "body is not JSON this server accepts: a number is too long") \
            from None


def _shape(exc: ValidationError) -> str:
    # Field names come from the model (extra fields are ignored) and pydantic's
    # messages for these types do not quote the input, so the text is safe to log.
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                     for e in exc.errors(include_url=False, include_input=False))


