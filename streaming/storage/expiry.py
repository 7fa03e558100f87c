"""Presigned GET URLs that stay byte-identical for a while: the signing instant is a time bucket.

A live playlist is fetched every few seconds; a URL signed with ``now`` would differ at every
refresh, and players that match segments by URI (GStreamer) then see a new playlist each time. So a
GET URL is signed as of the start of the current bucket and made valid for ``expires_in`` plus one
bucket: every request within the bucket gets the same URL, and it is still valid for at least
``expires_in`` seconds from any moment in the bucket.
"""

from __future__ import annotations

import time
from typing import NamedTuple

MAX_BUCKET_S = 3600


class SigningWindow(NamedTuple):
    start: int  # the signing instant, epoch seconds (the bucket's start)
    lifetime: int  # seconds the URL is valid from ``start``

    @property
    def expires(self) -> int:
        return self.start + self.lifetime


def bucket_seconds(expires_in: int) -> int:
    """Half the asked lifetime, at most an hour: URLs change at most every half lifetime, and
    never live longer than 1.5 times what was asked."""
    return max(1, min(expires_in // 2, MAX_BUCKET_S))


def signing_window(expires_in: int, now: float | None = None, limit: int | None = None) -> SigningWindow:
    """The window to sign a GET URL with: the same for every call in one bucket, valid for at least
    ``expires_in`` seconds from ``now``. ``limit`` caps the lifetime (SigV4 allows 7 days); under the
    cap the bucket shrinks, and with no room left the URL is signed as of ``now``."""
    second = int(time.time() if now is None else now)
    bucket = bucket_seconds(expires_in)
    if limit is not None:
        bucket = min(bucket, limit - expires_in)
        if bucket < 1:
            return SigningWindow(second, min(expires_in, limit))
    return SigningWindow(second - second % bucket, expires_in + bucket)
