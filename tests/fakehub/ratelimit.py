"""Fixed-window rate limits per caller and bucket (docs/hub.md §4), on the test clock."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from .clock import FakeClock

ANONYMOUS_QUOTA = {"api": 500, "resolvers": 3000, "pages": 100}
USER_QUOTA = {"api": 1000, "resolvers": 5000, "pages": 200}


@dataclass(frozen=True)
class RateLimits:
    """Quotas per window (defaults: the Hub's anonymous and free-user figures of 2025-09)."""

    anonymous: Mapping[str, int] = field(default_factory=lambda: dict(ANONYMOUS_QUOTA))
    user: Mapping[str, int] = field(default_factory=lambda: dict(USER_QUOTA))
    window: int = 300


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    remaining: int
    reset: int
    quota: int
    headers: list[tuple[str, str]]


def ratelimit_headers(
    bucket: str, remaining: int, reset: int, quota: int, window: int
) -> list[tuple[str, str]]:
    return [
        ("RateLimit", f'"{bucket}";r={remaining};t={reset}'),
        ("RateLimit-Policy", f'"fixed window";"{bucket}";q={quota};w={window}'),
    ]


class RateLimiter:
    def __init__(self, limits: RateLimits, clock: FakeClock) -> None:
        self.limits = limits
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, int], int] = {}

    def hit(self, identity: str, bucket: str, quota: int) -> Verdict:
        """Count one request; `allowed` is False once the window's quota is spent."""
        window = self.limits.window
        now = self.clock.now()
        index = math.floor(now / window)
        reset = max(1, math.ceil((index + 1) * window - now))
        with self._lock:
            count = self._counts.get((identity, bucket, index), 0) + 1
            self._counts[(identity, bucket, index)] = count
        remaining = max(0, quota - count)
        return Verdict(
            allowed=count <= quota,
            remaining=remaining,
            reset=reset,
            quota=quota,
            headers=ratelimit_headers(bucket, remaining, reset, quota, window),
        )

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
