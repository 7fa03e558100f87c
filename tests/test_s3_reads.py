"""The proxied-read client (streaming/storage/s3_reads.py) against moto, over both of its transports:
the lean plain-HTTP one (``http://`` endpoints) and aiohttp (kept for ``https://``), which must
answer alike: status, size, validators, Content-Range, the bytes, and a missing key."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid

import boto3
import pytest

from streaming.storage.breaker import CircuitBreaker
from streaming.storage.s3_reads import S3Reader
from streaming.storage.sigv4 import Credentials, Presigner


async def answers(s3_server, bucket: str, key: str, plain: bool) -> list[tuple]:
    presigner = Presigner(Credentials("test", "test"), "us-east-1", s3_server.url)
    reader = S3Reader(
        presigner, bucket, "s3", CircuitBreaker("s3"), pool=4, connect_timeout=5, read_timeout=30, attempts=3
    )
    await reader.start(plain=plain)
    try:
        seen = []
        for range_header in (None, "bytes=100-199", "bytes=-7", "bytes=0-"):
            answer = await reader.get(key, range_header)
            assert answer.body is not None and answer.info is not None
            data = b"".join([piece async for piece in answer.body])
            seen.append((answer.status, answer.info.size, answer.info.etag, answer.content_range, data))
        missing = await reader.get(key + ".gone", None)
        seen.append((missing.status, missing.body, "NoSuchKey" in missing.error))
        return seen
    finally:
        await reader.close()


@pytest.mark.slow
def test_both_transports_answer_alike(s3_server):
    bucket = f"tams-{uuid.uuid4().hex[:12]}"
    s3_server.create_bucket(bucket)
    payload = os.urandom(3 * 1024 * 1024 + 5)
    keys = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    client = boto3.client("s3", endpoint_url=s3_server.url, region_name="us-east-1", **keys)
    client.put_object(Bucket=bucket, Key="a/b.ts", Body=payload)
    etag = f'"{hashlib.md5(payload).hexdigest()}"'
    size = len(payload)
    expected = [
        (200, size, etag, None, payload),
        (206, size, etag, f"bytes 100-199/{size}", payload[100:200]),
        (206, size, etag, f"bytes {size - 7}-{size - 1}/{size}", payload[-7:]),
        (206, size, etag, f"bytes 0-{size - 1}/{size}", payload),
        (404, None, True),
    ]
    assert asyncio.run(answers(s3_server, bucket, "a/b.ts", plain=True)) == expected
    assert asyncio.run(answers(s3_server, bucket, "a/b.ts", plain=False)) == expected
