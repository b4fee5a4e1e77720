"""The one retry policy: which failures to retry, and how long to wait between tries.

Adapters only classify (a domain error with `retryable` and maybe `retry_after`); this module
decides. Written here rather than with tenacity because the wait depends on the error itself
(`RateLimited.retry_after` from the Hub's `RateLimit t=` or `Retry-After`), the sleep must be
injectable for tests, and it is twenty lines.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

from ..domain import Data4r2Error, TransientError, UploadGone
from .options import SyncOptions

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 600.0  # the Hub's 5-minute windows: t can be up to 300 s

    def delay(self, failures: int, error: BaseException) -> float:
        """Seconds to wait after the `failures`-th failure in a row (1-based)."""
        if isinstance(error, TransientError) and error.retry_after is not None:
            return min(max(float(error.retry_after), 0.0), self.max_retry_after)
        cap = min(self.max_delay, self.base_delay * 2.0 ** (failures - 1))
        return cap / 2 + random.uniform(0, cap / 2)  # noqa: S311 - jitter, not crypto


def policy_for(options: SyncOptions) -> RetryPolicy:
    return RetryPolicy(
        attempts=options.request_attempts,
        base_delay=options.retry_base_delay,
        max_delay=options.retry_max_delay,
    )


class Caller(Protocol):
    """`call` with the policy bound: `caller(lambda: sink.head(key))`."""

    def __call__(self, fn: Callable[[], T], /) -> T: ...


def as_domain_error(exc: BaseException) -> Data4r2Error | None:
    """Adapters should raise domain errors; a stray OSError is a network hiccup."""
    if isinstance(exc, Data4r2Error):
        return exc
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return TransientError(f"network error: {exc}")
    return None


def is_retryable(exc: BaseException) -> bool:
    err = as_domain_error(exc)
    return err is not None and err.retryable


def _resend_may_help(err: Data4r2Error) -> bool:
    # UploadGone is retryable for the file (a fresh upload), never for the request: the same
    # part or Complete for a vanished upload id fails the same way every time.
    return err.retryable and not isinstance(err, UploadGone)


def call(
    fn: Callable[[], T],
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Run `fn`, retrying retryable failures up to `policy.attempts` tries in all."""
    failures = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            err = as_domain_error(exc)
            failures += 1
            if err is None or not _resend_may_help(err) or failures >= policy.attempts:
                if err is not None and err is not exc:
                    raise err from exc
                raise
            if on_retry is not None:
                on_retry(failures, err)
            sleep(policy.delay(failures, err))
