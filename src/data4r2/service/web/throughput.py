"""Bytes/s over time per sync, for the chart on a sync's page.

The samples are read from the store once a second by a thread of the server — finished
files plus the recorded parts of files in flight (in_flight.py) — not taken from the
engine's `BytesMoved` events: events carry no sync id, and they reach only this process,
while the store also sees what `data4r2 worker` processes move. The cost is granularity (a
part, or a whole small file, at a time), which the moving window below smooths. Samples
live in memory: a restarted server draws from its restart on (the totals stay in the store).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ...domain import JobState
from ..context import ServiceContext
from ..views import sync_status
from .in_flight import progress_bytes
from .rows import ENDED

log = logging.getLogger(__name__)
MAX_POINTS = 600  # per sync; past it every other point is dropped, so the whole run stays
WINDOW_S = 5.0  # a rate is measured over this much time (files finish in steps)
ACTIVE_SCAN = 50  # newest syncs sampled (and kept in memory)


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # unix seconds
    bytes_done: int


def rates(samples: list[Sample], window: float = WINDOW_S) -> list[tuple[float, float]]:
    """(time, bytes/s) at each sample, measured over the trailing window; the first sample
    takes the first interval's rate, so two samples already draw a line."""
    out: list[tuple[float, float]] = []
    start = 0
    for i in range(1, len(samples)):
        now = samples[i]
        while start < i - 1 and now.at - samples[start + 1].at >= window:
            start += 1
        then = samples[start]
        span = now.at - then.at
        if span > 0:
            out.append((now.at, max(0.0, (now.bytes_done - then.bytes_done) / span)))
    if out:
        out.insert(0, (samples[0].at, out[0][1]))
    return out


def thin(samples: list[Sample], limit: int = MAX_POINTS) -> list[Sample]:
    """At most `limit` samples spanning the same time: every other one, the last kept."""
    if len(samples) <= limit:
        return samples
    kept = samples[::2]
    if kept[-1] is not samples[-1]:
        kept.append(samples[-1])
    return kept


class Throughput:
    """Samples by sync id; filled by `tick` (a daemon thread calls it every second)."""

    def __init__(self, ctx: ServiceContext, clock: Callable[[], float] = time.time) -> None:
        self._ctx = ctx
        self._clock = clock
        self._samples: dict[int, list[Sample]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def samples(self, sync_id: int) -> list[Sample]:
        with self._lock:
            return list(self._samples.get(sync_id, ()))

    def record(self, sync_id: int, bytes_done: int, at: float | None = None) -> None:
        sample = Sample(self._clock() if at is None else at, bytes_done)
        with self._lock:
            series = self._samples.setdefault(sync_id, [])
            series.append(sample)
            self._samples[sync_id] = thin(series)

    def tick(self) -> None:
        """Sample every recent sync that is still moving; a sync seen for the first time gets
        its start (created, with only its skipped files counted), an ended one its end.
        Syncs older than the newest ACTIVE_SCAN are forgotten (memory stays bounded)."""
        records = self._ctx.store.syncs(limit=ACTIVE_SCAN)
        with self._lock:
            for gone in self._samples.keys() - {r.id for r in records}:
                del self._samples[gone]
        for record in records:
            seen = self.samples(record.id)
            ended = record.finished_at is not None or record.cancelled  # (retry clears both)
            if not ended:
                # The API's status, which also stamps the end of a sync it sees settled.
                ended = sync_status(self._ctx, record).state in ENDED
                record = self._ctx.store.sync(record.id)
            moved = record.bytes_done if ended else progress_bytes(self._ctx.store, record)
            if ended and seen and seen[-1].bytes_done == moved:
                continue  # its last sample is in
            if not seen:
                self.record(record.id, self._skipped_bytes(record.id), at=record.created_at)
            at = record.finished_at if ended and record.finished_at else None
            self.record(record.id, moved, at=at)

    def _skipped_bytes(self, sync_id: int) -> int:
        """What `bytes_done` counted from the start: files already in the destination."""
        skipped = self._ctx.store.jobs(sync_id, state=JobState.SKIPPED)
        return sum(job.file.size for job in skipped)

    def start(self, every: float = 1.0) -> None:
        """Sample on a thread until `stop()` (the app's lifespan calls both)."""
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._run, args=(every,), name="web-throughput", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self, every: float) -> None:
        while not self._stopping.is_set():
            try:
                self.tick()
            except Exception:  # a busy or locked store: skip this tick, never kill the thread
                log.debug("throughput sample skipped", exc_info=True)
            self._stopping.wait(every)
