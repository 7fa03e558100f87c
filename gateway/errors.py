"""JSON error bodies in the shape of the spec's error.json, and the exceptions routes raise."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
from starlette.responses import Response

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
    507: "InsufficientStorage",
}


def utc_now_iso() -> str:
    """RFC 3339 date-time with a Z suffix, as used throughout the spec."""
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def error_body(status: int, summary: str, error_type: str | None = None) -> dict:
    return {"type": error_type or _REASONS.get(status, "Error"), "summary": summary, "time": utc_now_iso()}


def error_response(
    status: int, summary: str, error_type: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON error response; callers never build error bodies by hand."""
    return Response(
        orjson.dumps(error_body(status, summary, error_type)),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class HTTPError(Exception):
    """Raised anywhere in the gateway; the app's exception handler renders it as a JSON error."""

    def __init__(
        self, status: int, summary: str, error_type: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(summary)
        self.status = status
        self.summary = summary
        self.error_type = error_type
        self.headers = headers

    def response(self) -> Response:
        return error_response(self.status, self.summary, self.error_type, self.headers)
