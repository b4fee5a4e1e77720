"""One pace for every request to the Hub from this process (rclone's lib/pacer idea).

The Hub's rate limits count per token over fixed windows, and a 429 says when the window
ends (`RateLimit: "api";r=0;t=55`, read into `RateLimited.retry_after`). Without a shared
pace each thread learns that on its own: the others keep sending into the closed window,
each collecting its own 429. Here the first 429 pauses every caller until the window ends,
once; `--hub-rps` optionally spaces requests out so the window is never spent.

The pacer sits on the Hub port (`PacedHub`), not on the retry policy: a bucket's SlowDown
must not stop the Hub downloads, nor `--hub-rps` throttle the bucket's HEADs. Written here
rather than taken from a rate-limit library because none we know of can be told "closed
until t" by an answer, and the cluster will back the same two calls with PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from ..domain import RateLimited, RemoteFile, RepoRef
from ..ports import ByteStream, HubSource

T = TypeVar("T")


class Pace(Protocol):
    """What `PacedHub` needs; the cluster's shared pacer will implement the same."""

    def wait(self) -> None:
        """Block until a request may be sent."""
        ...

    def pause(self, seconds: float) -> None:
        """The service asked every caller to wait `seconds` before the next request."""
        ...


class Pacer:
    """Request pacing for one process: a closed window after a 429, and an optional rate."""

    def __init__(
        self,
        rps: float | None = None,
        *,
        max_pause: float = 600.0,  # as RetryPolicy.max_retry_after: a window is ≤ 300 s
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rps is not None and rps <= 0:
            raise ValueError("rps must be positive")
        self._interval = 1.0 / rps if rps else 0.0
        self._max_pause = max_pause
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._closed_until = float("-inf")  # no request before this instant
        self._next_slot = float("-inf")  # the earliest instant the rate allows the next one
        self.pauses = 0  # windows closed by the service: each is waited out once by everyone

    def _reserve(self) -> float:
        """The instant this caller may send, reserving it (called with the lock held)."""
        slot = max(self._clock(), self._closed_until, self._next_slot)
        self._next_slot = slot + self._interval
        return slot

    def wait(self) -> None:
        with self._lock:
            slot = self._reserve()
        while True:
            delay = slot - self._clock()
            if delay > 0:
                self._sleep(delay)
            with self._lock:
                if self._clock() >= self._closed_until:
                    return
                # A 429 closed the window while this caller slept: wait for its end too.
                slot = self._reserve()

    def pause(self, seconds: float) -> None:
        until = self._clock() + min(max(seconds, 0.0), self._max_pause)
        with self._lock:
            if until <= self._closed_until:
                return  # the same window, reported by another caller's 429
            if self._closed_until <= self._clock():
                self.pauses += 1
            self._closed_until = until


class PacedHub:
    """A HubSource whose every request (resolve, listing, each open) waits for the pacer."""

    def __init__(self, hub: HubSource, pacer: Pace) -> None:
        self._hub = hub
        self.pacer = pacer

    def _paced(self, request: Callable[[], T]) -> T:
        self.pacer.wait()
        try:
            return request()
        except RateLimited as err:
            if err.retry_after is not None:
                self.pacer.pause(err.retry_after)
            raise  # the retry policy counts the attempt; its next try waits at the pacer

    def resolve(self, repo: RepoRef) -> str:
        return self._paced(lambda: self._hub.resolve(repo))

    def list_files(self, repo: RepoRef, commit: str) -> list[RemoteFile]:
        return self._paced(lambda: self._hub.list_files(repo, commit))

    def open(self, repo: RepoRef, commit: str, file: RemoteFile, offset: int = 0) -> ByteStream:
        return self._paced(lambda: self._hub.open(repo, commit, file, offset))

    def close(self) -> None:
        close = getattr(self._hub, "close", None)  # only adapters holding a resource have one
        if callable(close):
            close()


def _conforms(hub: PacedHub) -> HubSource:  # mypy checks PacedHub against the port
    return hub
