"""A circuit breaker: after repeated store failures, fail fast for a while, then try again by itself."""

from __future__ import annotations

import time

from streaming.storage.interface import StoreUnavailable


class CircuitBreaker:
    """closed → (``threshold`` consecutive failures) → open for ``reset_after`` s → half-open (one trial)."""

    def __init__(self, name: str, threshold: int = 5, reset_after: float = 10.0) -> None:
        self.name = name
        self.threshold = threshold
        self.reset_after = reset_after
        self.failures = 0
        self.opened_at: float | None = None

    @property
    def state(self) -> str:
        if self.opened_at is None:
            return "closed"
        return "half-open" if time.monotonic() - self.opened_at >= self.reset_after else "open"

    def check(self) -> None:
        """Raises StoreUnavailable while open; lets a trial call through when half-open."""
        if self.state == "open":
            raise StoreUnavailable(
                f"storage backend {self.name} is unavailable (failing fast; retrying within {self.reset_after:.0f} s)"
            )

    def success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def failure(self) -> None:
        self.failures += 1
        if self.failures >= self.threshold or self.state == "half-open":
            self.opened_at = time.monotonic()
