"""S3 SigV4 query-string presigning without botocore on the hot path.

Produces the same URL, byte for byte, as botocore's ``generate_presigned_url`` for the same
request (a test compares them). The signing key is derived once per UTC day and reused; the host,
credential prefix and static query parts are computed once per backend.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_SAFE = "-._~"


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str | None = None


def _encode(value: str) -> str:
    return quote(value, safe=_SAFE)


class Presigner:
    def __init__(self, credentials: Credentials, region: str, endpoint_url: str, *,
                 addressing_style: str = "path", service: str = "s3") -> None:
        if addressing_style not in ("path", "virtual"):
            raise ValueError("addressing_style must be path or virtual")
        parts = urlsplit(endpoint_url)
        default_port = {"http": 80, "https": 443}.get(parts.scheme)
        self.scheme = parts.scheme
        self.hostname = parts.hostname or ""
        self.port = "" if parts.port in (None, default_port) else f":{parts.port}"
        self.base_path = parts.path.rstrip("/")
        self.credentials = credentials
        self.region = region
        self.service = service
        self.addressing_style = addressing_style
        self._day = ""
        self._signing_key = b""
        self.key_derivations = 0  # how often the signing key was derived (tests check it is reused)

    def _key(self, day: str) -> bytes:
        if day != self._day:
            key = ("AWS4" + self.credentials.secret_key).encode()
            for part in (day, self.region, self.service, "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._day, self._signing_key = day, key
            self.key_derivations += 1
        return self._signing_key

    def presign(self, method: str, bucket: str, key: str, expires_in: int, *, now: datetime | None = None,
                signed_headers: Mapping[str, str] | None = None, query: Mapping[str, str] | None = None) -> str:
        now = now or datetime.now(UTC)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        encoded_key = quote(key, safe="/~")
        if self.addressing_style == "virtual":
            host = f"{bucket}.{self.hostname}{self.port}"
            path = f"{self.base_path}/{encoded_key}"
        else:
            host = f"{self.hostname}{self.port}"
            path = f"{self.base_path}/{bucket}/{encoded_key}"
        headers = {"host": host}
        for name, value in (signed_headers or {}).items():
            headers[name.lower()] = " ".join(value.split())
        names = sorted(headers)
        signed = ";".join(names)
        scope = f"{day}/{self.region}/{self.service}/aws4_request"
        auth = [("X-Amz-Algorithm", ALGORITHM), ("X-Amz-Credential", f"{self.credentials.access_key}/{scope}"),
                ("X-Amz-Date", stamp), ("X-Amz-Expires", str(expires_in)), ("X-Amz-SignedHeaders", signed)]
        if self.credentials.session_token is not None:
            auth.append(("X-Amz-Security-Token", self.credentials.session_token))
        pairs = [(_encode(k), _encode(str(v))) for k, v in (query or {}).items()]
        pairs += [(_encode(k), _encode(v)) for k, v in auth]
        canonical_query = "&".join(f"{k}={v}" for k, v in sorted(pairs))
        canonical_headers = "".join(f"{n}:{headers[n]}\n" for n in names)
        canonical_request = "\n".join(
            (method.upper(), path, canonical_query, canonical_headers, signed, UNSIGNED_PAYLOAD))
        string_to_sign = "\n".join(
            (ALGORITHM, stamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest()))
        signature = hmac.new(self._key(day), string_to_sign.encode(), hashlib.sha256).hexdigest()
        # botocore's order: operation parameters first, then the auth parameters, then the signature
        query_string = "&".join(f"{k}={v}" for k, v in pairs)
        return f"{self.scheme}://{host}{path}?{query_string}&X-Amz-Signature={signature}"
