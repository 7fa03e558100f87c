"""HTTP/1.1 pipelining to one webhook receiver: several events in flight on one keep-alive connection.

One POST per event awaited in turn leaves the connection idle for a round trip per event; opening
several connections would let a receiver see events out of order. Pipelining keeps one connection,
so requests arrive in the order they were written, while up to ``window`` of them await their
answers (which HTTP/1.1 returns in request order). Delivery is acknowledged in order: the count of
leading 2xx answers. A failed answer stops the run there; whatever was already written after it is
sent again later (at least once).

The address connected to is the one ``VettedResolver`` vetted (SSRF); TLS uses the URL's name for
SNI and certificate checks, and ``Host`` carries the name too.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver

RESPONSE_READ_LIMIT = 64 * 1024  # bytes of a receiver's answer read (and ignored)
_MAX_HEADERS = 100


class DeliveryFailed(Exception):
    pass


@dataclass
class _Response:
    status: int
    keep_alive: bool


class Pipeline:
    """One connection to ``url``'s host; ``send`` pipelines a run of request bodies on it."""

    def __init__(
        self, url: str, headers: dict[str, str], resolver: AbstractResolver, timeout_s: float, window: int = 32
    ) -> None:
        parts = urlsplit(url)
        if parts.hostname is None:
            raise ValueError(f"{url} has no host")
        self.url = url
        self.headers = headers
        self.host = parts.hostname
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.resolver = resolver
        self.timeout_s = timeout_s
        self.window = window
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = self.port == (443 if self.tls else 80)
        lines = [f"POST {target} HTTP/1.1", f"Host: {host if default else f'{host}:{self.port}'}"]
        lines += [f"{name}: {value}" for name, value in headers.items() if not _unsafe(name, value)]
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")
        self._acked = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    def request(self, body: bytes) -> bytes:
        return b"%s%d\r\n\r\n%s" % (self._head, len(body), body)

    async def send(self, bodies: list[bytes]) -> tuple[int, str | None]:
        """Sends ``bodies`` in order; how many were acknowledged (2xx) in order, and why it stopped."""
        done = 0
        fresh = False  # a connection opened for this run: failing on it is the receiver's fault
        while done < len(bodies):
            self._acked = 0
            try:
                if self._writer is None:
                    fresh = True
                    await self._connect()
                closed = await self._run(bodies[done:])
            except DeliveryFailed as exc:
                self.close()
                return done + self._acked, str(exc)
            except (OSError, EOFError, ValueError, TimeoutError, asyncio.LimitOverrunError) as exc:
                self.close()
                self.window = 1  # requests written after one the receiver closed on are lost: stop pipelining
                done += self._acked
                # a kept-alive connection the receiver closed while it was idle earns one fresh try
                if fresh and not self._acked:
                    return done, f"POST {self.url} failed: {type(exc).__name__} {exc}".rstrip()
                fresh = False
                continue
            done += self._acked
            if closed:  # a receiver that closes connections gets one request at a time from now on
                self.close()
                self.window = 1
        return done, None

    async def _run(self, bodies: list[bytes]) -> bool:
        """Pipelines ``bodies`` on the open connection, counting answers in ``_acked``; whether the
        receiver closes the connection after its last answer."""
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        room = asyncio.Semaphore(self.window)

        async def write_all() -> None:
            for body in bodies:
                await room.acquire()
                writer.write(self.request(body))
                await writer.drain()

        writing = asyncio.create_task(write_all())
        try:
            while self._acked < len(bodies):
                response = await asyncio.wait_for(_read_response(reader), self.timeout_s)
                if not 200 <= response.status < 300:
                    raise DeliveryFailed(f"POST {self.url} answered {response.status}")
                self._acked += 1
                room.release()
                if not response.keep_alive:
                    return True
            return False
        finally:
            writing.cancel()
            with contextlib.suppress(BaseException):
                await writing

    async def _connect(self) -> None:
        answers = await self.resolver.resolve(self.host, self.port, socket.AF_UNSPEC)
        if not answers:
            raise OSError(f"cannot resolve {self.host}")
        problem: OSError | None = None
        for answer in answers:  # the vetted addresses, in the resolver's order
            try:
                self._reader, self._writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        answer["host"],
                        self.port,
                        ssl=ssl.create_default_context() if self.tls else None,
                        server_hostname=self.host if self.tls else None,
                        limit=RESPONSE_READ_LIMIT,
                    ),
                    self.timeout_s,
                )
                return
            except OSError as exc:
                problem = exc
        assert problem is not None
        raise problem

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


def _unsafe(name: str, value: str) -> bool:
    """A header that could split the request (CR/LF) is left out."""
    return any(c in name or c in value for c in "\r\n\0")


async def _read_response(reader: asyncio.StreamReader) -> _Response:
    while True:
        line = await reader.readuntil(b"\r\n")
        version, status_text, *_ = line.decode("latin-1").split(None, 2) + [""]
        if not version.startswith("HTTP/1.") or not status_text.isdigit():
            raise ValueError(f"not an HTTP/1.x answer: {line[:40]!r}")
        status = int(status_text)
        headers: dict[str, str] = {}
        for _ in range(_MAX_HEADERS):
            header = await reader.readuntil(b"\r\n")
            if header == b"\r\n":
                break
            name, _, value = header.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        else:
            raise ValueError("too many headers in the answer")
        if 100 <= status < 200:
            continue  # an interim answer (100 Continue): the real one follows
        keep_alive = headers.get("connection") != "close" and (version != "HTTP/1.0" or "keep-alive" in headers)
        if status in (204, 304):
            return _Response(status, keep_alive)
        if "chunked" in headers.get("transfer-encoding", ""):
            return _Response(status, keep_alive and await _skip_chunked(reader))
        if "content-length" in headers:
            length = int(headers["content-length"])
            if length > RESPONSE_READ_LIMIT:  # a long answer is not read: the connection is dropped
                return _Response(status, False)
            await reader.readexactly(length)
            return _Response(status, keep_alive)
        return _Response(status, False)  # the body runs to the end of the connection


async def _skip_chunked(reader: asyncio.StreamReader) -> bool:
    """Reads a chunked body; False when it is too long to read (the connection is then dropped)."""
    total = 0
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
        total += size
        if total > RESPONSE_READ_LIMIT:
            return False
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return True
        await reader.readexactly(size + 2)
