"""JSON rendering, paging headers, request bodies and HEAD handling."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import HTTPError


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def empty(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, headers=headers)


def paging_headers(
    request: Request, count: int | None, next_key: str | None, limit: int, reverse: bool | None = None
) -> dict[str, str]:
    """``Link`` (absolute, every original parameter kept) and the X-Paging-* headers."""
    headers = {"X-Paging-Limit": str(limit)}
    if count is not None:
        headers["X-Paging-Count"] = str(count)
    if reverse is not None:
        headers["X-Paging-Reverse-Order"] = "true" if reverse else "false"
    if next_key is not None:
        headers["X-Paging-NextKey"] = next_key
        headers["Link"] = f'<{_with_page(public_url(request), next_key)}>; rel="next"'
    return headers


def _with_page(url: URL, page: str) -> str:
    """``str(url.include_query_params(page=page))``, the same text in half the time (a page's
    ``Link``: Starlette builds a MultiDict and re-parses the whole URL)."""
    text = str(url)
    base, _, query = text.partition("?")
    if "#" in text:  # (a "#" in the path or query, from %23: split as Starlette's URL splits it)
        query = url.query
    items = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "page"]
    items.append(("page", page))
    return f"{base}?{urlencode(items)}"


def paged_response(
    request: Request,
    items: list[Any],
    next_key: str | None,
    limit: int,
    reverse: bool | None = None,
    extra: dict[str, str] | None = None,
    count: bool = True,
) -> Response:
    """A JSON list response with paging headers."""
    headers = paging_headers(request, len(items) if count else None, next_key, limit, reverse)
    if extra:
        headers.update(extra)
    return json_response(items, headers=headers)


def paged_json(
    request: Request,
    body: bytes,
    count: int,
    next_key: str | None,
    limit: int,
    reverse: bool | None = None,
    extra: dict[str, str] | None = None,
) -> Response:
    """``paged_response`` for a list already serialised (``count`` items)."""
    headers = paging_headers(request, count, next_key, limit, reverse)
    if extra:
        headers.update(extra)
    return Response(body, media_type="application/json", headers=headers)


def public_url(request: Request) -> Any:
    """The request URL as the client sees it (honours a configured public base URL)."""
    base = getattr(request.app.state, "public_base_url", None)
    url = request.url
    if base:
        public = URL(base.rstrip("/") + request.url.path)
        return public.replace(query=url.query)
    return url


async def read_json(request: Request, optional: bool = False) -> Any:
    """Reads and parses the body whatever its Content-Type; refuses oversize and non-JSON bodies.

    With ``optional``, an empty body reads as None instead of being refused.
    """
    limit: int = request.app.state.settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        if optional:
            return None
        raise HTTPError(400, "request body is empty; a JSON body is required")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPError(400, f"request body is not valid JSON: {exc}") from None


class HeadBodyStripper:
    """Drops the body of HEAD responses but keeps every header, whatever server runs the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app(scope, receive, send_without_body)
