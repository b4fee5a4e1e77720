"""A byte budget for part buffers: memory = budget, whatever the file sizes.

The reader takes a buffer before it reads a part and the uploader gives it back when the
part is stored (s3transfer's BoundedExecutor idea): backpressure instead of buffering.
Buffers are reused, so steady state allocates nothing and touches no new pages.
"""

from __future__ import annotations

import threading


class BufferPool:
    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._in_use = 0
        self._free: list[bytearray] = []
        self._cond = threading.Condition()

    def acquire(self, size: int) -> bytearray:
        """A buffer of at least `size` bytes; blocks while the budget is spent.

        A request larger than the whole budget is granted once nothing else is in use, so a
        huge part size can never deadlock.
        """
        with self._cond:
            self._cond.wait_for(lambda: self._in_use + size <= self._budget or self._in_use == 0)
            self._in_use += size
            fit = [b for b in self._free if len(b) >= size]
            if fit:
                buf = min(fit, key=len)
                self._free.remove(buf)
                if len(buf) - size < 1024**2 or len(buf) <= 2 * size:
                    return buf
                self._free.append(buf)  # too wasteful for a small file: keep it for a part
            # Drop idle buffers until the new one fits beside what is in use.
            while self._free and self._in_use + sum(map(len, self._free)) > self._budget:
                self._free.remove(min(self._free, key=len))
            return bytearray(size)

    def release(self, buf: bytearray, size: int) -> None:
        with self._cond:
            self._in_use -= size
            if len(buf) >= 1024**2:  # small ones are cheap to make again
                self._free.append(buf)
            self._cond.notify_all()
