"""API errors as the server reports them: ``metav1.Status`` bodies and their codes.

Every refusal in the emulator is an ``ApiError`` carrying the exact ``Status`` body
kube-apiserver would send (kind, status, reason, message, details, code), which is
what the official client turns into ``ApiException.status`` and ``.body``.
"""

from __future__ import annotations

from typing import Any

from reconciler.emulator.resources import Resource

__all__ = ["ApiError", "Obj", "conflict", "invalid", "not_found", "status_body"]

Obj = dict[str, Any]

_REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
            405: "MethodNotAllowed", 409: "Conflict", 410: "Expired", 415: "UnsupportedMediaType",
            422: "Invalid", 429: "TooManyRequests", 500: "InternalError",
            503: "ServiceUnavailable", 504: "Timeout"}


def status_body(code: int, message: str, *, reason: str | None = None,
                details: Obj | None = None) -> Obj:
    """A ``metav1.Status`` failure as the API server writes it."""
    body: Obj = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                 "message": message, "reason": reason or _REASONS.get(code, "Unknown"),
                 "code": code}
    if details:
        body["details"] = details
    return body


class ApiError(Exception):
    """A request the API server refuses; ``body`` is the ``Status`` to send."""

    def __init__(self, code: int, message: str, *, reason: str | None = None,
                 res: Resource | None = None, name: str | None = None) -> None:
        super().__init__(message)
        details: Obj = {}
        if name:
            details["name"] = name
        if res is not None:
            details.update(group=res.group, kind=res.plural)
        self.code = code
        self.body = status_body(code, message, reason=reason, details=details or None)


def not_found(res: Resource, name: str) -> ApiError:
    return ApiError(404, f'{res.qualified} "{name}" not found', res=res, name=name)


def conflict(res: Resource, name: str, why: str | None = None) -> ApiError:
    why = why or ("the object has been modified; please apply your changes to the latest "
                  "version and try again")
    return ApiError(409, f'Operation cannot be fulfilled on {res.qualified} "{name}": {why}',
                    res=res, name=name)


def invalid(res: Resource, name: str, why: str) -> ApiError:
    return ApiError(422, f'{res.kind} "{name}" is invalid: {why}', res=res, name=name)
