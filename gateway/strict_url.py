"""Refuses request URLs whose percent-encoding is not UTF-8, before anything decodes them lossily.

Servers decode ``%ff`` in the path to U+FFFD, and Starlette's query parsing does the same, so
``/flows/F/tags/%ff`` and ``/flows/F/tags/%fe`` would name one tag. A 400 instead keeps names exact.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import error_response


def undecodable_part(scope: Scope) -> str | None:
    """``"path"`` or ``"query string"`` when that part is not UTF-8 once percent-decoded, else None."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogateescape")
    for part, raw in (("path", raw_path), ("query string", scope.get("query_string", b""))):
        if raw.isascii() and b"%" not in raw:
            continue  # decodes to itself (the common case: no work)
        try:
            unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            return part
    return None


class StrictUrl:
    """ASGI middleware: a 400 JSON error for a URL that does not decode as UTF-8."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            part = undecodable_part(scope)
            if part is not None:
                response = error_response(400, f"the request's {part} is not valid UTF-8 once percent-decoded")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
