"""An injectable clock for rate-limit windows and signed-URL expiry."""

from __future__ import annotations

import threading
import time


class FakeClock:
    """Frozen unless advanced. Starts at a multiple of 300 s near real time, so a fresh
    rate-limit window reports `t=300` and signed URLs carry plausible `Expires`."""

    def __init__(self, start: float | None = None) -> None:
        self._lock = threading.Lock()
        self._now = float(start if start is not None else int(time.time()) // 300 * 300)

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float) -> None:
        with self._lock:
            self._now = float(when)
