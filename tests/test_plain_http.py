"""The lean GET client of proxied store reads (streaming/storage/plain_http.py) against a real TCP
server that answers with scripted bytes: framings moto never sends (chunked, close-delimited),
connections reused or dropped, a store that stops mid-body or goes quiet."""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Awaitable, Callable

import pytest

from streaming.storage.plain_http import READ_SIZE, Connections, HttpError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def with_server(handler: Handler, client: Callable[[str], Awaitable[None]]) -> list[bytes]:
    """Runs ``client`` against a server on 127.0.0.1 whose connections ``handler`` answers;
    returns one entry per connection the server accepted (the requests it read on it)."""
    connections: list[bytes] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(b"")
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        await client(f"http://127.0.0.1:{port}")
    finally:
        server.close()
    return connections


def sized(body: bytes, status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def test_sized_bodies_on_one_kept_alive_connection_and_the_request_as_sent():
    payload = os.urandom(3 * READ_SIZE + 12345)
    requests: list[bytes] = []

    async def handler(reader, writer):
        while True:
            requests.append(await read_request(reader))
            writer.write(sized(payload, extra='ETag: "x"\r\n'))
            await writer.drain()

    async def client(base):
        pool = Connections(4, 5, 5)
        for _ in range(2):
            response = await pool.get(f"{base}/bucket/key.ts?X-Amz-Signature=ab%2F", {"Range": "bytes=0-"})
            pieces = [piece async for piece in response.body()]
            assert response.status == 200 and response.headers["etag"] == '"x"'
            assert b"".join(pieces) == payload and max(map(len, pieces)) <= READ_SIZE
            assert all(type(piece) is bytes for piece in pieces)
        pool.close()

    connections = asyncio.run(with_server(handler, client))
    assert len(connections) == 1  # the second GET reused the first one's connection
    first_line, *headers = requests[0].decode().split("\r\n")
    assert first_line == "GET /bucket/key.ts?X-Amz-Signature=ab%2F HTTP/1.1"
    assert headers[0].startswith("Host: 127.0.0.1:") and "Range: bytes=0-" in headers


def test_chunked_body_with_extensions_and_trailers_then_reuse():
    parts = [os.urandom(10), os.urandom(70_000), os.urandom(3)]
    chunked = b"".join(f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\nX-Trailer: t\r\n\r\n"

    async def handler(reader, writer):
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for i in range(0, len(chunked), 1000):  # the framing split anywhere across reads
                writer.write(chunked[i : i + 1000])
                await writer.drain()

    async def client(base):
        pool = Connections(4, 5, 5)
        for _ in range(2):
            response = await pool.get(f"{base}/k", {})
            assert b"".join([piece async for piece in response.body()]) == b"".join(parts)
        pool.close()

    assert len(asyncio.run(with_server(handler, client))) == 1


def test_a_connection_the_store_closed_is_not_reused():
    closed = asyncio.Event()

    async def handler(reader, writer):
        await read_request(reader)
        writer.write(sized(b"hello"))
        writer.close()  # after the answer: a keep-alive connection the store dropped
        await writer.wait_closed()
        closed.set()

    async def client(base):
        pool = Connections(4, 5, 5)
        for _ in range(3):
            closed.clear()
            response = await pool.get(f"{base}/k", {})
            assert await response.read() == b"hello" and response.reusable  # nothing said it would close
            await closed.wait()
        pool.close()

    assert len(asyncio.run(with_server(handler, client))) == 3


def test_close_delimited_http_1_0_body():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: video/mp2t\r\n\r\nall of it")
        await writer.drain()

    async def client(base):
        pool = Connections(4, 5, 5)
        response = await pool.get(f"{base}/k", {})
        assert await response.read() == b"all of it" and not response.reusable
        pool.close()

    asyncio.run(with_server(handler, client))


def test_a_body_cut_short_is_an_error_and_a_quiet_store_times_out():
    async def cut(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        await writer.drain()

    async def quiet(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    async def read_all(base, timeout):
        pool = Connections(4, 5, timeout)
        response = await pool.get(f"{base}/k", {})
        try:
            await response.read()
        finally:
            pool.close()

    async def expect(handler, error, timeout=5.0):
        with pytest.raises(error):
            await with_server(handler, lambda base: read_all(base, timeout))

    asyncio.run(expect(cut, HttpError))
    asyncio.run(expect(quiet, TimeoutError, timeout=0.2))


def test_an_answer_that_is_not_http_and_a_refused_connection_raise_before_any_body():
    async def garbage(reader, writer):
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()

    async def client(base):
        pool = Connections(4, 5, 5)
        with pytest.raises(HttpError):
            await pool.get(f"{base}/k", {})
        assert pool.slots._value == 4  # the slot came back  # noqa: SLF001
        pool.close()

    asyncio.run(with_server(garbage, client))

    async def refused():
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectionError):
            await Connections(4, 5, 5).get(f"http://127.0.0.1:{port}/k", {})

    asyncio.run(refused())


def test_closing_a_body_half_read_drops_its_connection():
    payload = os.urandom(4 * READ_SIZE)

    async def handler(reader, writer):
        while True:
            await read_request(reader)
            writer.write(sized(payload))
            await writer.drain()

    async def client(base):
        pool = Connections(4, 5, 5)
        response = await pool.get(f"{base}/k", {})
        body = response.body()
        await body.__anext__()
        await body.aclose()  # a player that went away: the rest is never read
        assert not pool.idle.get(response.key)
        again = await pool.get(f"{base}/k", {})
        assert await again.read(10) == payload[:10]
        pool.close()

    assert len(asyncio.run(with_server(handler, client))) == 2


def test_a_response_dropped_unread_gives_its_connection_slot_back():
    async def handler(reader, writer):
        while True:
            await read_request(reader)
            writer.write(sized(b"x" * 100))
            await writer.drain()

    async def client(base):
        pool = Connections(1, 5, 5)
        response = await pool.get(f"{base}/k", {})
        body = response.body()  # never started: a client that left before the first byte
        del response, body
        gc.collect()
        again = await asyncio.wait_for(pool.get(f"{base}/k", {}), 5)  # would wait forever for the one slot
        assert await again.read() == b"x" * 100
        pool.close()

    asyncio.run(with_server(handler, client))


def test_no_body_answers_and_bytes_past_a_body():
    async def handler(reader, writer):
        await read_request(reader)
        writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: "e"\r\n\r\n')  # no length: still no body
        await read_request(reader)
        writer.write(sized(b"abc") + b"JUNK")  # more than the body: the connection is not reused
        await writer.drain()
        await reader.read()

    async def client(base):
        pool = Connections(4, 5, 5)
        not_modified = await pool.get(f"{base}/k", {})
        assert (not_modified.status, await not_modified.read(), not_modified.reusable) == (304, b"", True)
        response = await pool.get(f"{base}/k", {})
        assert (await response.read(), response.reusable) == (b"abc", False)
        pool.close()

    assert len(asyncio.run(with_server(handler, client))) == 1
