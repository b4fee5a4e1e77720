"""Fan the engine's events out to any number of subscribers (s3transfer's subscriber idea).

The engine calls `publish`, which only queues: each subscriber is called on a thread of its
own, so a slow one (a terminal display, a log on a slow disk) never holds up a transfer, and
one that raises is logged and keeps its place. While a subscriber is behind, the `BytesMoved`
events of one file still queued for it are summed into one — progress arrives coarser but no
byte is lost, so totals stay exact; every other event is delivered, in order, never dropped.
Queued progress is therefore bounded by the files in flight; the rest by the run's own events.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from ..domain import BytesMoved, Event

Subscriber = Callable[[Event], None]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Slot:
    event: Event  # replaced in place when later progress of the same file is merged into it


class _Mailbox:
    """One subscriber's queue and the thread that calls it, one event at a time."""

    def __init__(self, subscriber: Subscriber, name: str) -> None:
        self.subscriber = subscriber
        self.name = name
        self._queue: deque[_Slot] = deque()
        # Per file, the queued progress slot later progress may still merge into: none once
        # another event of that file is queued behind it (a retry's FileStarted resets the
        # file's count, so bytes from either side of it must not be mixed).
        self._progress: dict[str, _Slot] = {}
        self._cond = threading.Condition()
        self._closing = False
        self._failures = 0
        self._thread = threading.Thread(target=self._deliver, name=f"events-{name}", daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        with self._cond:
            if self._closing:
                return
            if isinstance(event, BytesMoved):
                slot = self._progress.get(event.path)
                if slot is not None:
                    assert isinstance(slot.event, BytesMoved)
                    slot.event = BytesMoved(event.path, slot.event.nbytes + event.nbytes)
                    return
                slot = _Slot(event)
                self._progress[event.path] = slot
            else:
                slot = _Slot(event)
                path = getattr(event, "path", None)
                if path is None:
                    self._progress.clear()  # PlanReady, SyncFinished: a barrier for every file
                else:
                    self._progress.pop(path, None)
            self._queue.append(slot)
            self._cond.notify()

    def _next(self) -> Event | None:
        with self._cond:
            self._cond.wait_for(lambda: self._queue or self._closing)
            if not self._queue:
                return None
            slot = self._queue.popleft()
            path = getattr(slot.event, "path", None)
            if path is not None and self._progress.get(path) is slot:
                del self._progress[path]  # being delivered: later progress queues anew
            return slot.event

    def _deliver(self) -> None:
        while (event := self._next()) is not None:
            try:
                self.subscriber(event)
            except Exception as exc:  # a broken display must not stop the copy nor the others
                self._failures += 1
                if self._failures == 1:
                    log.warning(
                        "event subscriber %s failed: %s: %s", self.name, type(exc).__name__, exc
                    )
                log.debug("event subscriber %s failed on %r", self.name, event, exc_info=True)

    def close(self, timeout: float | None) -> None:
        """Deliver what is queued, then stop the thread."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)

    @property
    def backlog(self) -> int:
        with self._cond:
            return len(self._queue)


class EventBus:
    """`publish` is the engine's `emit`; `subscribe` before the run, `close` after it."""

    def __init__(self) -> None:
        self._mailboxes: list[_Mailbox] = []
        # One order for every subscriber, whichever threads publish at once.
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber, *, name: str | None = None) -> None:
        label = name or getattr(subscriber, "__qualname__", None) or type(subscriber).__name__
        with self._lock:
            self._mailboxes.append(_Mailbox(subscriber, label))

    def publish(self, event: Event) -> None:
        """Queue `event` for every subscriber; never waits for one. Ignored after `close`."""
        with self._lock:
            for mailbox in self._mailboxes:
                mailbox.put(event)

    def close(self, timeout: float | None = None) -> None:
        """Deliver every queued event (a subscriber sees the run's end), then stop."""
        with self._lock:
            mailboxes, self._mailboxes = self._mailboxes, []
        for mailbox in mailboxes:
            mailbox.close(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
