"""A lean HTTP/1.1 GET client for proxied reads from a plain-HTTP store endpoint.

Why not aiohttp here: it copies every body byte twice in user space (uvloop's read buffer into a
``bytes``, then its parser's body callback into another) and hands the body on in pieces of at most
256,000 bytes, each costing a turn through the parser, the stream reader and the ASGI send chain.
Here the body is read with ``socket.recv``, which receives straight into the ``bytes`` that is passed
on (the kernel's copy is the only one), up to ``READ_SIZE`` at a time: a quarter of the pieces and
none of the user-space copies. Reads are pulled, so back-pressure is TCP's: nothing is read from
the store before the client has taken the previous piece. HTTPS endpoints keep aiohttp (TLS needs
a transport); this is only for ``http://``.

It does what a store GET needs and no more: keep-alive connections reused per host (checked before
reuse), ``Content-Length`` and chunked bodies, a connect and a per-read timeout.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncGenerator, Mapping
from typing import Any
from urllib.parse import urlsplit

READ_SIZE = 1024 * 1024  # one recv at most: bounds what one read holds
HEAD_READ = 64 * 1024  # the first recv: the head and the start of the body
HEAD_LIMIT = 64 * 1024  # a longer response head is refused
ERROR_BODY_LIMIT = 64 * 1024
DNS_TTL_S = 300.0  # addresses are looked up once per host per 5 minutes (a thread hop each time)


class HttpError(ConnectionError):
    """The connection failed or the answer is not HTTP/1.x as expected (retryable before the head)."""


class Response:
    """A response whose head is read: ``status``, ``headers`` (lower-case names), then the body once."""

    def __init__(self, pool: Connections, key: str, sock: socket.socket, status: int, headers: dict[str, str]) -> None:
        self.pool = pool
        self.key = key
        self.sock: socket.socket | None = sock
        self.status = status
        self.headers = headers
        self.leftover = b""  # body bytes that came with the head
        self.reusable = False  # set when the body has been read to its end on a keep-alive connection

    async def body(self) -> AsyncGenerator[bytes, None]:
        """The body in the pieces ``recv`` returns; the connection goes back to the pool at its end."""
        try:
            if self.status in (204, 304):  # no body whatever the headers say
                self.reusable = not self.leftover and self._keep_alive()
            elif "chunked" in self.headers.get("transfer-encoding", ""):
                async for piece in self._chunked():
                    yield piece
            elif (length := self.headers.get("content-length")) is not None:
                async for piece in self._sized(int(length)):
                    yield piece
            else:  # framed by the end of the connection
                async for piece in self._until_closed():
                    yield piece
        finally:
            self.close()

    async def read(self, limit: int = ERROR_BODY_LIMIT) -> bytes:
        """The whole body (an error's text), at most ``limit`` bytes kept."""
        kept = bytearray()
        async for piece in self.body():
            kept += piece[: max(0, limit - len(kept))]
        return bytes(kept)

    def close(self) -> None:
        """Back to the pool when the body was read to its end, closed otherwise; idempotent."""
        sock, self.sock = self.sock, None
        if sock is not None:
            self.pool.release(self.key, sock, self.reusable)

    def __del__(self) -> None:
        self.close()  # a response dropped unread (its body never started) still gives its slot back

    async def _recv(self, size: int) -> bytes:
        assert self.sock is not None
        return await self.pool.recv(self.sock, size)

    def _keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"

    async def _sized(self, length: int) -> AsyncGenerator[bytes, None]:
        first, extra, self.leftover = self.leftover[:length], len(self.leftover) > length, b""
        remaining = length - len(first)
        if first:
            yield first
        while remaining > 0:
            piece = await self._recv(min(remaining, READ_SIZE))
            if not piece:
                raise HttpError(f"the store closed the connection {remaining} bytes before the end of the body")
            remaining -= len(piece)
            yield piece
        self.reusable = not extra and self._keep_alive()  # bytes past the body: not a clean connection

    async def _until_closed(self) -> AsyncGenerator[bytes, None]:
        if self.leftover:
            yield self.leftover
            self.leftover = b""
        while piece := await self._recv(READ_SIZE):
            yield piece

    async def _line(self, buffer: bytearray) -> bytes:
        while (end := buffer.find(b"\r\n")) < 0:
            if len(buffer) > HEAD_LIMIT:
                raise HttpError("a chunk size line is too long")
            piece = await self._recv(HEAD_READ)
            if not piece:
                raise HttpError("the store closed the connection inside a chunked body")
            buffer += piece
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        return line

    async def _chunked(self) -> AsyncGenerator[bytes, None]:
        buffer = bytearray(self.leftover)
        self.leftover = b""
        while True:
            size = int((await self._line(buffer)).partition(b";")[0], 16)
            if size == 0:
                while await self._line(buffer):  # trailers, up to the empty line
                    pass
                self.reusable = not buffer and self._keep_alive()
                return
            while size > 0:
                if not buffer:
                    piece = await self._recv(min(size, READ_SIZE))
                    if not piece:
                        raise HttpError("the store closed the connection inside a chunked body")
                    buffer += piece
                taken = bytes(buffer[:size])
                del buffer[:size]
                size -= len(taken)
                yield taken
            if await self._line(buffer) != b"":
                raise HttpError("a chunk does not end with CRLF")


class Connections:
    """Keep-alive TCP connections to the store's hosts, at most ``limit`` in use at once."""

    def __init__(self, limit: int, connect_timeout: float, read_timeout: float) -> None:
        self.slots = asyncio.Semaphore(limit)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.idle: dict[str, list[socket.socket]] = {}
        self.addresses: dict[tuple[str, int], tuple[float, list[Any]]] = {}  # (host, port) -> (expiry, infos)
        self.closed = False

    async def get(self, url: str, headers: Mapping[str, str]) -> Response:
        """Sends one GET and reads the answer's head; the body follows from ``Response.body``.
        A failure before the head raises ``HttpError`` (or ``TimeoutError``): safe to send again."""
        parts = urlsplit(url)
        target = f"{parts.path or '/'}?{parts.query}" if parts.query else parts.path or "/"
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        await self.slots.acquire()
        sock = None
        try:
            sock = self._idle(parts.netloc) or await self._connect(parts.hostname or "", parts.port or 80)
            await asyncio.get_running_loop().sock_sendall(sock, request)
            status, fields, leftover = await self._head(sock)
        except BaseException:
            if sock is not None:
                sock.close()
            self.slots.release()
            raise
        response = Response(self, parts.netloc, sock, status, fields)
        response.leftover = leftover
        return response

    def release(self, key: str, sock: socket.socket, reusable: bool) -> None:
        self.slots.release()
        if reusable and not self.closed:
            self.idle.setdefault(key, []).append(sock)
        else:
            sock.close()

    def close(self) -> None:
        self.closed = True
        for socks in self.idle.values():
            for sock in socks:
                sock.close()
        self.idle.clear()

    async def recv(self, sock: socket.socket, size: int) -> bytes:
        """Up to ``size`` bytes, at once when they are there (then one turn of the event loop is
        yielded, so a fast transfer does not keep other requests waiting), else when they come."""
        try:
            piece = sock.recv(size)
        except BlockingIOError:
            async with asyncio.timeout(self.read_timeout):
                return await asyncio.get_running_loop().sock_recv(sock, size)
        await asyncio.sleep(0)
        return piece

    def _idle(self, key: str) -> socket.socket | None:
        """A pooled connection the store has not closed meanwhile (a closed one reads as EOF)."""
        socks = self.idle.get(key)
        while socks:
            sock = socks.pop()
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    sock.close()  # unasked-for bytes: not a clean connection
                    continue
            except BlockingIOError:
                return sock  # nothing to read: still open
            except OSError:
                pass
            sock.close()
        return None

    async def _connect(self, host: str, port: int) -> socket.socket:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.connect_timeout):
            infos = await self._resolve(host, port)
            error: OSError = HttpError(f"no address for {host}")
            for family, kind, proto, _, address in infos:
                sock = socket.socket(family, kind, proto)
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    await loop.sock_connect(sock, address)
                    return sock
                except OSError as exc:
                    sock.close()
                    error = exc
            raise error

    async def _resolve(self, host: str, port: int) -> list[Any]:
        now = time.monotonic()
        cached = self.addresses.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        self.addresses[host, port] = (now + DNS_TTL_S, infos)
        return infos

    async def _head(self, sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
        """Status, headers and the body bytes read with them; HTTP 100 Continue heads skipped."""
        buffer = b""
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > HEAD_LIMIT:
                    raise HttpError("the store's response head is too long")
                piece = await self.recv(sock, HEAD_READ)
                if not piece:
                    raise HttpError("the store closed the connection before answering")
                buffer += piece
                continue
            head, buffer = buffer[:end].decode("latin-1"), buffer[end + 4 :]
            status_line, *lines = head.split("\r\n")
            version, _, rest = status_line.partition(" ")
            if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
                raise HttpError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
            status = int(rest[:3])
            if 100 <= status < 200:
                continue
            fields: dict[str, str] = {}
            for line in lines:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            if version == "HTTP/1.0" and fields.get("connection", "").lower() != "keep-alive":
                fields["connection"] = "close"
            return status, fields, buffer
