"""Password checks with a bounded cost: scrypt is slow and memory-hard on purpose, so each run is rationed.

- Verified credentials are cached, keyed by a keyed hash (HMAC with a per-process random key) of
  the user and the password, so a correct client costs one scrypt per cache lifetime and the cache
  never holds a password or an unkeyed digest of one.
- Failures are rate limited per client address: an attempt counts as a failure from the moment it
  starts (so parallel attempts cannot all pass the check before any has failed) until it succeeds;
  over the limit, the answer is 429 with ``Retry-After`` and no scrypt runs.
- At most ``concurrency`` scrypt runs at once (each holds ~16 MiB), and each is bounded by ``maxmem``
  (a stored hash asking for more memory is refused, not computed).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

import anyio.to_thread

SCRYPT_PARAMS = {"n": 2**14, "r": 8, "p": 1}
SCRYPT_MAXMEM = 64 * 1024 * 1024  # 4× what SCRYPT_PARAMS need: room for stronger stored hashes, no more


def hash_password(password: str) -> str:
    """A self-describing scrypt hash: ``scrypt$n$r$p$salt$hash`` (base64)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, maxmem=SCRYPT_MAXMEM, **SCRYPT_PARAMS)
    b64 = base64.b64encode
    n, r, p = SCRYPT_PARAMS["n"], SCRYPT_PARAMS["r"], SCRYPT_PARAMS["p"]
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = hashed.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=SCRYPT_MAXMEM,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


class RateLimited(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed authentication attempts; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class CredentialLimits:
    failures_per_minute: int = 10  # per client address
    concurrency: int = 2  # scrypt runs at once
    cache_s: float = 300.0  # lifetime of a verified credential
    cache_entries: int = 4096
    tracked_addresses: int = 10_000


class PasswordChecker:
    """Verifies a secret against a stored scrypt hash, rationing scrypt (see the module docstring)."""

    WINDOW_S = 60.0

    def __init__(self, limits: CredentialLimits | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits or CredentialLimits()
        self.clock = clock
        self._key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, float] = OrderedDict()  # keyed hash → expiry
        self._attempts: OrderedDict[str, deque[float]] = OrderedDict()
        self._scrypt = asyncio.Semaphore(self.limits.concurrency)
        self.scrypt_runs = 0  # counters for /metrics
        self.refused = 0

    async def check(self, address: str, name: str, secret: str, stored_hash: str | None) -> bool:
        """Whether ``secret`` matches ``stored_hash`` (None: no such name). RateLimited when ``address``
        failed too often; a cached success is answered before that check, without scrypt."""
        key = hmac.new(self._key, f"{name}\0{secret}".encode(), hashlib.sha256).digest()
        now = self.clock()
        if self._verified.get(key, 0.0) > now:
            self._verified.move_to_end(key)
            return True
        attempts = self._window(address, now)
        if len(attempts) >= self.limits.failures_per_minute:
            self.refused += 1
            raise RateLimited(max(1, math.ceil(attempts[0] + self.WINDOW_S - now)))
        attempts.append(now)  # a failure until proven otherwise
        if stored_hash is None or not await self._verify(secret, stored_hash):
            return False
        with contextlib.suppress(ValueError):  # already out of the window
            attempts.remove(now)
        self._verified[key] = self.clock() + self.limits.cache_s
        while len(self._verified) > self.limits.cache_entries:
            self._verified.popitem(last=False)
        return True

    def _window(self, address: str, now: float) -> deque[float]:
        attempts = self._attempts.get(address)
        if attempts is None:
            attempts = self._attempts[address] = deque()
            while len(self._attempts) > self.limits.tracked_addresses:
                self._attempts.popitem(last=False)
        self._attempts.move_to_end(address)
        while attempts and attempts[0] <= now - self.WINDOW_S:
            attempts.popleft()
        return attempts

    async def _verify(self, secret: str, stored_hash: str) -> bool:
        async with self._scrypt:
            self.scrypt_runs += 1
            return await anyio.to_thread.run_sync(verify_password, secret, stored_hash)
