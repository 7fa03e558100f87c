"""Proxied S3 reads: one presigned GET over a pooled connection, the bytes handed on as they come.

botocore builds, signs and parses every request in Python (serialisers, event hooks, endpoint
rules): several milliseconds of CPU per call, which is most of a 1 MiB range's fixed cost. A read
needs none of it: the URL is presigned by ``streaming.storage.sigv4`` (microseconds), the client's
Range header goes as it is (SigV4 query signing covers only the host), and the answer's headers
carry the size and validators.

The bytes: from an ``http://`` endpoint they come through ``streaming.storage.plain_http``, which
receives each piece (up to 1 MiB) straight into the ``bytes`` passed on, with no copy in user space
and about one trip through the ASGI send chain per MiB; against moto that halved the gateway's user
CPU per GiB and cut its total by a third (docs/PERFORMANCE.md). ``https://`` endpoints use an
aiohttp session with a large read buffer (``READ_BUFFER``, so it does not pause and resume the
socket every 128 KiB), its chunks passed on as they arrive (``iter_chunks``).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

from streaming.storage.breaker import CircuitBreaker
from streaming.storage.interface import ObjectInfo, StoreError, StoreTimeout
from streaming.storage.plain_http import Connections, HttpError, Response
from streaming.storage.sigv4 import Presigner

READ_BUFFER = 1024 * 1024  # aiohttp pauses the socket at twice this much unread: bounded memory per read
URL_LIFETIME_S = 300  # only the gateway uses these URLs, at once
RETRY_STATUSES = (500, 502, 503, 504)
RETRIED = (HttpError, OSError)  # connection failures before the answer's head: sent again


@dataclass(frozen=True)
class Answer:
    """A store's answer to a GET: 200/206 with a body to stream, or an error status (body read)."""

    status: int
    info: ObjectInfo | None
    content_range: str | None
    body: AsyncGenerator[bytes, None] | None
    close: Any
    error: str = ""


class S3Reader:
    """GETs (with an optional Range) for one bucket, over a connection pool of its own."""

    def __init__(
        self,
        presigner: Presigner,
        bucket: str,
        label: str,
        breaker: CircuitBreaker,
        *,
        pool: int,
        connect_timeout: float,
        read_timeout: float,
        attempts: int,
    ) -> None:
        self.presigner = presigner
        self.bucket = bucket
        self.label = label
        self.breaker = breaker
        self.pool = pool
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.attempts = max(1, attempts)
        self.session: Any = None  # aiohttp, for https endpoints
        self.plain: Connections | None = None  # plain_http, for http ones

    async def start(self, *, plain: bool | None = None) -> None:
        """``plain``: the lean client (default: for an ``http://`` endpoint), else aiohttp."""
        if plain is None:
            plain = self.presigner.scheme == "http"
        if plain:
            self.plain = Connections(self.pool, self.connect_timeout, self.read_timeout)
            return
        import aiohttp

        self.session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.pool, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(sock_connect=self.connect_timeout, sock_read=self.read_timeout),
            read_bufsize=READ_BUFFER,
            auto_decompress=False,  # the object's bytes as stored
            skip_auto_headers=("Accept-Encoding", "User-Agent"),
        )

    async def close(self) -> None:
        if self.plain is not None:
            self.plain.close()
            self.plain = None
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def get(self, key: str, range_header: str | None) -> Answer:
        """One GET, retried (fresh URL, fresh connection) on connection failures and 5xx answers."""
        self.breaker.check()
        headers = {"Range": range_header} if range_header else {}
        for attempt in range(1, self.attempts + 1):
            url = self.presigner.presign("GET", self.bucket, key, URL_LIFETIME_S)
            try:
                response = await self._send(url, headers)
            except TimeoutError as exc:
                self.breaker.failure()
                raise StoreTimeout(f"storage backend {self.label} timed out: {exc!r}") from exc
            except RETRIED as exc:
                if attempt < self.attempts:
                    continue  # most often a keep-alive connection the store had closed
                self.breaker.failure()
                raise StoreError(f"storage backend {self.label} failed: {exc!r}") from exc
            status = response.status
            if status in (200, 206):
                self.breaker.success()
                info = _object_info(response.headers)  # lower-case names: aiohttp's match any case
                return Answer(status, info, response.headers.get("content-range"), self._body(response), response.close)
            text = await self._error_text(response)
            if status in RETRY_STATUSES and attempt < self.attempts:
                await asyncio.sleep(0.05 * attempt)
                continue
            if status >= 500:
                self.breaker.failure()
            else:
                self.breaker.success()  # the store answered: it is up, the request was refused
            return Answer(status, None, None, None, None, text)
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    async def _send(self, url: str, headers: dict[str, str]) -> Any:
        if self.plain is not None:
            return await self.plain.get(url, headers)
        import aiohttp

        try:
            return await self.session.get(url, headers=headers, allow_redirects=False)
        except aiohttp.ServerTimeoutError as exc:
            raise TimeoutError(str(exc)) from exc
        except aiohttp.ClientError as exc:
            raise HttpError(repr(exc)) from exc

    async def _error_text(self, response: Any) -> str:
        if isinstance(response, Response):
            raw = await response.read(500)
        else:
            raw = (await response.read())[:500]
            response.release()
        return raw.decode("utf-8", "replace")

    async def _body(self, response: Any) -> AsyncGenerator[bytes, None]:
        """The pieces as they arrive (each already a ``bytes``: passing them on copies nothing); a
        client that went away closes this generator, and the upstream read stops too."""
        try:
            if isinstance(response, Response):
                async for piece in response.body():
                    yield piece
            else:
                async for piece, _ in response.content.iter_chunks():
                    yield piece
        except TimeoutError as exc:
            raise StoreTimeout(f"storage backend {self.label} timed out in a body: {exc!r}") from exc
        except RETRIED as exc:
            raise StoreError(f"storage backend {self.label} failed in a body: {exc!r}") from exc
        finally:
            response.close()


def _object_info(headers: Mapping[str, str]) -> ObjectInfo:
    """Size and validators of the whole object from a 200 or 206 answer's headers."""
    size = int(headers.get("content-length", 0))
    if content_range := headers.get("content-range"):  # "bytes 1000-1999/300000"
        size = int(content_range.rpartition("/")[2])
    modified = headers.get("last-modified")
    sha256 = headers.get("x-amz-checksum-sha256")  # passed through when S3 sends one (whole objects)
    whole = headers.get("x-amz-checksum-type", "FULL_OBJECT") == "FULL_OBJECT"
    return ObjectInfo(
        size,
        headers.get("etag", ""),
        parsedate_to_datetime(modified).timestamp() if modified else 0.0,
        headers.get("content-type"),
        base64.b64decode(sha256).hex() if sha256 and whole else None,
    )


def parse_content_range(value: str) -> tuple[int, int]:
    """``bytes 1000-1999/300000`` -> (1000, 1999)."""
    span = value.removeprefix("bytes ").partition("/")[0]
    first, _, last = span.partition("-")
    return int(first), int(last)
