"""``/_store/{storageId}/{key}``: the local-disk backend's bytes, behind signed, expiring URLs.

GET/HEAD support single and multiple ranges, If-Range, ETag, Last-Modified, If-Match,
If-None-Match, If-(Un)Modified-Since, and send the object's ``x-amz-checksum-sha256``. PUT streams the
body to disk atomically, up to the configured size limit, checks ``Content-MD5`` and
``x-amz-checksum-*`` when sent (400 BadDigest), and never replaces stored bytes (409); a full disk is 507.
"""

from __future__ import annotations

import re

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from gateway.errors import HTTPError
from gateway.responses import empty
from gateway.routes.common import media
from streaming.storage.checksums import BadDigest, expected_checksums, sha256_header
from streaming.storage.interface import ObjectExists, ObjectInfo, ObjectTooLarge
from streaming.storage.local_files import read_sha256
from streaming.storage.localdisk import LocalDiskStore
from streaming.storage.ranges import last_modified, precondition

_EXPIRES = re.compile(r"[0-9]{1,19}")  # ASCII digits only: int() also takes "²" and other Unicode digits
_SIGNATURE = re.compile(r"[A-Za-z0-9_=+/-]{0,512}")  # compare_digest refuses non-ASCII strings


def _signed_query(q: QueryParams) -> tuple[str, str]:
    """``expires`` and ``signature`` as the signer can read them; anything else is a refused URL."""
    expires, signature = q.get("expires", ""), q.get("signature", "")
    if not _EXPIRES.fullmatch(expires):
        raise HTTPError(403, "the URL has no valid expiry; ask the gateway for a fresh URL")
    if not _SIGNATURE.fullmatch(signature):
        raise HTTPError(403, "the URL's signature does not match; ask the gateway for a fresh URL")
    return expires, signature


def _store_and_key(request: Request, method: str) -> tuple[LocalDiskStore, str]:
    store = media(request).storage.get(request.path_params["storageId"])
    if not isinstance(store, LocalDiskStore) or store.signer is None:
        raise HTTPError(404, "no local storage backend with that id")
    key = request.path_params["key"]
    q = request.query_params
    is_part = "uploadId" in q or "partNumber" in q
    content_type = request.headers.get("content-type", "") if method == "PUT" and not is_part else ""
    signed_key = f"{key}?uploadId={q.get('uploadId')}&partNumber={q.get('partNumber')}" if is_part else key
    expires, signature = _signed_query(q)
    reason = store.signer.verify(method, store.info.id, signed_key, expires, signature, content_type)
    if reason is not None:
        raise HTTPError(403, f"{reason}; ask the gateway for a fresh URL")
    return store, key


async def get_bytes(request: Request) -> Response:
    store, key = _store_and_key(request, "GET")  # a GET URL is good for HEAD too
    try:
        path = store.path(key)
        stat = path.stat()
    except (FileNotFoundError, ValueError):
        raise HTTPError(404, "no bytes have been uploaded for this object") from None
    response = FileResponse(path, stat_result=stat, media_type="application/octet-stream")
    response.chunk_size = 1024 * 1024  # Starlette reads 64 KiB per thread hop by default: too slow for media
    info = ObjectInfo(stat.st_size, response.headers["etag"], stat.st_mtime, None, read_sha256(path))
    answer = precondition(request.headers, info)
    if answer == 412:
        raise HTTPError(412, "the object does not match the request's If-Match or If-Unmodified-Since")
    if answer == 304:
        return Response(status_code=304, headers={"ETag": info.etag, "Last-Modified": last_modified(info)})
    if info.sha256 and "range" not in request.headers:
        response.headers.update(sha256_header(info.sha256))  # of the whole object: not on a range
    return response


async def put_bytes(request: Request) -> Response:
    store, key = _store_and_key(request, "PUT")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > store.max_object_bytes:
        raise HTTPError(413, f"object of {declared} bytes exceeds the limit of {store.max_object_bytes} bytes")
    q = request.query_params
    try:
        expected = expected_checksums(request.headers)
        if "uploadId" in q:
            number = q.get("partNumber", "")
            if not number.isdigit():
                raise HTTPError(400, "partNumber must be a whole number from 1 to 10000")
            etag = await store.write_part(key, q["uploadId"], int(number), request.stream(), expected)
            return empty(200, headers={"ETag": etag})
        info = await store.write(key, request.stream(), request.headers.get("content-type"), expected)
    except ObjectTooLarge as exc:
        raise HTTPError(413, str(exc)) from None
    except BadDigest as exc:
        raise HTTPError(400, str(exc), "BadDigest") from None
    except ObjectExists as exc:
        raise HTTPError(409, str(exc)) from None
    except ValueError as exc:  # an unknown upload, or one of another object
        raise HTTPError(400, str(exc)) from None
    return empty(200, headers={"ETag": info.etag, **(sha256_header(info.sha256) if info.sha256 else {})})


routes = [
    Route("/_store/{storageId}/{key:path}", get_bytes, methods=["GET", "HEAD"]),
    Route("/_store/{storageId}/{key:path}", put_bytes, methods=["PUT"]),
]
