"""The S3 object store (AWS S3, VAST S3 or any S3-compatible server) over one pooled aiobotocore client.

The client is created once at start-up with the configured pool size, timeouts and retry mode,
and the bucket is checked then. The gateway's own reads use the internal endpoint; URLs handed to
clients are presigned by ``streaming.storage.sigv4`` for the public endpoint, without botocore; GET
URLs as of the start of a time bucket (``streaming.storage.expiry``), so repeated requests get the same URL.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from streaming.storage.breaker import CircuitBreaker
from streaming.storage.expiry import signing_window
from streaming.storage.interface import (
    BackendInfo,
    ObjectInfo,
    Opened,
    StoreError,
    StoreTimeout,
    StoreUnavailable,
    open_after_head,
)
from streaming.storage.ranges import RangeSpec
from streaming.storage.s3_reads import S3Reader, parse_content_range
from streaming.storage.sigv4 import Credentials, Presigner

T = TypeVar("T")
PART_SIZE = 8 * 1024 * 1024


class S3Store:
    """Implements ``ObjectStore`` over an S3 bucket."""

    def __init__(
        self,
        info: BackendInfo,
        *,
        bucket: str,
        endpoint_url: str,
        public_endpoint_url: str | None,
        region: str,
        access_key: str,
        secret_key: str,
        session_token: str | None = None,
        addressing_style: str = "path",
        max_pool_connections: int = 64,
        connect_timeout: float = 5,
        read_timeout: float = 30,
        retry_mode: str = "standard",
        max_attempts: int = 3,
    ) -> None:
        self.info = info
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.credentials = Credentials(access_key, secret_key, session_token)
        self.addressing_style = addressing_style
        self.client_options = {
            "max_pool_connections": max_pool_connections,
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "retries": {"mode": retry_mode, "max_attempts": max_attempts},
        }
        self.presigner = Presigner(
            self.credentials, region, public_endpoint_url or endpoint_url, addressing_style=addressing_style
        )
        self.breaker = CircuitBreaker(info.label)
        # the gateway's own reads: presigned for the internal endpoint, no botocore per request
        self.reader = S3Reader(
            Presigner(self.credentials, region, endpoint_url, addressing_style=addressing_style),
            bucket,
            info.label,
            self.breaker,
            pool=max_pool_connections,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            attempts=max_attempts,
        )
        self._stack: AsyncExitStack | None = None
        self.client: Any = None

    @classmethod
    def from_config(cls, info: BackendInfo, entry: Mapping[str, Any]) -> S3Store:
        try:
            return cls(
                info,
                bucket=entry["bucket"],
                endpoint_url=entry["endpoint_url"],
                public_endpoint_url=entry.get("public_endpoint_url"),
                region=entry.get("region", "us-east-1"),
                access_key=entry["access_key"],
                secret_key=entry["secret_key"],
                session_token=entry.get("session_token"),
                addressing_style=entry.get("addressing_style", "path"),
                max_pool_connections=int(entry.get("max_pool_connections", 64)),
                connect_timeout=float(entry.get("connect_timeout", 5)),
                read_timeout=float(entry.get("read_timeout", 30)),
                retry_mode=entry.get("retry_mode", "standard"),
                max_attempts=int(entry.get("max_attempts", 3)),
            )
        except KeyError as exc:
            raise ValueError(f"s3 storage backend {info.label!r} needs {exc.args[0]!r}") from None

    async def start(self) -> None:
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        config = AioConfig(
            signature_version="s3v4", s3={"addressing_style": self.addressing_style}, **self.client_options
        )
        self._stack = AsyncExitStack()
        self.client = await self._stack.enter_async_context(
            get_session().create_client(
                "s3",
                region_name=self.region,
                endpoint_url=self.endpoint_url,
                config=config,
                aws_access_key_id=self.credentials.access_key,
                aws_secret_access_key=self.credentials.secret_key,
                aws_session_token=self.credentials.session_token,
            )
        )
        try:
            await self.client.head_bucket(Bucket=self.bucket)
            await self.reader.start()
        except Exception as exc:
            await self.close()
            raise RuntimeError(
                f"storage backend {self.info.label!r}: bucket {self.bucket!r} at "
                f"{self.endpoint_url} is not usable: {exc}"
            ) from exc

    async def close(self) -> None:
        await self.reader.close()
        if self._stack is not None:
            await self._stack.aclose()
            self._stack = None

    async def _call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Runs one S3 call through the circuit breaker, mapping failures to store errors."""
        from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

        self.breaker.check()
        try:
            result = await operation()
        except ClientError:
            self.breaker.success()  # the store answered: it is up, the request was refused
            raise
        except (TimeoutError, ConnectTimeoutError, ReadTimeoutError) as exc:
            self.breaker.failure()
            raise StoreTimeout(f"storage backend {self.info.label} timed out: {exc}") from exc
        except Exception as exc:
            self.breaker.failure()
            raise StoreError(f"storage backend {self.info.label} failed: {exc}") from exc
        self.breaker.success()
        return result

    async def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            response = await self._call(
                lambda: self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
            )
        except ClientError as exc:
            if _error_code(exc) in MISSING_CODES:
                return None
            raise StoreError(f"storage backend {self.info.label}: {exc}") from exc
        return _object_info(response, response["ContentLength"])

    async def open(self, key: str, wanted: RangeSpec | None) -> Opened | None:
        """One GET with the client's range: the answer's headers give the size and validators, so a
        proxied read costs one round trip to the store, not a HEAD and then a GET."""
        if wanted is not None and wanted.never_satisfiable:
            return await open_after_head(self, key, wanted)  # the 416 needs the size
        answer = await self.reader.get(key, wanted.header() if wanted is not None else None)
        if answer.status == 404:
            return None
        if answer.status == 416:
            return await open_after_head(self, key, wanted)  # raises RangeNotSatisfiable with the size
        if answer.info is None or answer.body is None:
            raise StoreError(f"storage backend {self.info.label} answered {answer.status}: {answer.error}")
        start, end = 0, answer.info.size - 1
        if answer.content_range:
            start, end = parse_content_range(answer.content_range)
        return Opened(answer.info, start, end, answer.body, answer.close)

    async def read(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        answer = await self.reader.get(key, f"bytes={start}-{end}")
        if answer.body is None:
            raise StoreError(f"storage backend {self.info.label} answered {answer.status}: {answer.error}")
        try:
            async for chunk in answer.body:
                yield chunk
        finally:
            await answer.body.aclose()  # closes the store's response now, not when garbage is collected

    async def write(self, key: str, chunks: AsyncIterator[bytes], content_type: str | None) -> ObjectInfo:
        """Uploads a stream: one PUT when it fits in a part, else a multipart upload (no whole-object buffer)."""
        extra = {"ContentType": content_type} if content_type else {}
        buffer = bytearray()
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        try:
            async for chunk in chunks:
                buffer += chunk
                if len(buffer) >= PART_SIZE:
                    if upload_id is None:
                        created = await self._call(
                            lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **extra)
                        )
                        upload_id = created["UploadId"]
                    parts.append(await self._part(key, upload_id, len(parts) + 1, bytes(buffer)))
                    buffer.clear()
            if upload_id is None:
                await self._call(
                    lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=bytes(buffer), **extra)
                )
            else:
                if buffer:
                    parts.append(await self._part(key, upload_id, len(parts) + 1, bytes(buffer)))
                await self._call(
                    lambda: self.client.complete_multipart_upload(
                        Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
                    )
                )
        except BaseException:
            if upload_id is not None:
                await self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise
        info = await self.head(key)
        if info is None:
            raise StoreError(f"storage backend {self.info.label}: {key} vanished after upload")
        return info

    async def _part(self, key: str, upload_id: str, number: int, data: bytes) -> dict[str, Any]:
        response = await self._call(
            lambda: self.client.upload_part(
                Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
            )
        )
        return {"PartNumber": number, "ETag": response["ETag"]}

    async def delete(self, key: str) -> None:
        await self._call(lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    async def list_keys(self, prefix: str) -> AsyncIterator[tuple[str, float]]:
        token: str | None = None
        while True:
            request = {"Bucket": self.bucket, "Prefix": prefix.rstrip("/") + "/"}
            if token:
                request["ContinuationToken"] = token
            response = await self._call(partial(self.client.list_objects_v2, **request))
            for item in response.get("Contents", []):
                yield item["Key"], item["LastModified"].timestamp()
            if not response.get("IsTruncated"):
                return
            token = response["NextContinuationToken"]

    async def create_multipart(self, key: str, content_type: str) -> str:
        created = await self._call(
            lambda: self.client.create_multipart_upload(Bucket=self.bucket, Key=key, ContentType=content_type)
        )
        return created["UploadId"]

    def part_url(self, key: str, upload_id: str, part_number: int, expires_in: int) -> str:
        return self.presigner.presign(
            "PUT", self.bucket, key, expires_in, query={"partNumber": str(part_number), "uploadId": upload_id}
        )

    async def complete_multipart(self, key: str, upload_id: str, parts: list[tuple[int, str]]) -> ObjectInfo:
        from botocore.exceptions import ClientError

        listing = {"Parts": [{"PartNumber": number, "ETag": etag} for number, etag in parts]}
        try:
            await self._call(
                lambda: self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload=listing
                )
            )
        except ClientError as exc:
            raise ValueError(f"the store refused to complete the upload: {exc}") from None
        info = await self.head(key)
        if info is None:
            raise StoreError(f"storage backend {self.info.label}: {key} missing after completing its upload")
        return info

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        from botocore.exceptions import ClientError

        try:
            await self._call(
                lambda: self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            )
        except ClientError as exc:  # NoSuchUpload: unknown, or the upload of another key
            raise ValueError(f"the store refused to abort the upload: {exc}") from None

    def get_url(self, key: str, expires_in: int) -> str:
        """Valid for at least ``expires_in`` s, and the same URL throughout a time bucket (expiry.py)."""
        start, lifetime = _signing(expires_in)
        return self.presigner.presign("GET", self.bucket, key, lifetime, now=start)

    def get_urls(self, keys: list[str], expires_in: int) -> list[str]:
        start, lifetime = _signing(expires_in)
        return self.presigner.presign_get_many(self.bucket, keys, lifetime, now=start)

    def put_url(self, key: str, content_type: str, expires_in: int) -> str:
        headers = {"content-type": content_type}  # signed, so the upload must declare the allocated type
        return self.presigner.presign("PUT", self.bucket, key, expires_in, signed_headers=headers)


MISSING_CODES = ("404", "NoSuchKey", "NotFound")
MAX_EXPIRES_S = 7 * 24 * 3600  # SigV4's longest X-Amz-Expires


def _signing(expires_in: int) -> tuple[datetime, int]:
    """The bucketed signing instant (as X-Amz-Date) and X-Amz-Expires for a GET URL."""
    window = signing_window(expires_in, limit=MAX_EXPIRES_S)
    return datetime.fromtimestamp(window.start, UTC), window.lifetime


def _error_code(exc: Any) -> str | None:
    return exc.response.get("Error", {}).get("Code")


def _object_info(response: Mapping[str, Any], size: int) -> ObjectInfo:
    """Size (the whole object's, also for a ranged GET), validators, type and (when the object was
    uploaded with one) its SHA-256 from HEAD or GET."""
    sha256: str | None = response.get("ChecksumSHA256")
    whole = response.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"  # not a checksum of part checksums
    return ObjectInfo(
        size,
        response["ETag"],
        response["LastModified"].timestamp(),
        response.get("ContentType"),
        base64.b64decode(sha256).hex() if sha256 and whole else None,
    )


__all__ = ["S3Store", "StoreUnavailable"]
