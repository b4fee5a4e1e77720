"""Prometheus metrics (prometheus-client): what moved, what retried, and the queue's state.

Counters come from the engine's event stream (this object is one more subscriber); the queue
gauges are read from the store at scrape time, so they are right even for jobs that another
process (`data4r2 worker`) ran. Each app has its own registry: no global state, and tests
can build many apps in one process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ..domain import BytesMoved, Event, FileDone, FileFailed, FileRetrying, FileStarted, JobState
from ..ports import JobStore

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SCAN_SYNCS = 200  # newest syncs looked at per scrape: bounds the cost of a scrape


def retry_cause(reason: str) -> str:
    """A small, fixed label set from a retry's reason line (labels must not be free text)."""
    text = reason.lower()
    if "429" in text or "rate limit" in text:
        return "rate_limited"
    if "sha256" in text or "checksum" in text or "integrity" in text or "mismatch" in text:
        return "integrity"
    if "timed out" in text or "timeout" in text:
        return "timeout"
    if "connection" in text or "reset" in text or "network" in text:
        return "network"
    return "other"


class _QueueCollector(Collector):
    def __init__(self, store: JobStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily("data4r2_jobs", "Jobs of recent syncs by state", labels=["state"])
        depth = GaugeMetricFamily("data4r2_queue_depth", "Jobs waiting to be claimed")
        oldest = GaugeMetricFamily(
            "data4r2_oldest_pending_age_seconds",
            "Age of the oldest sync that still has pending jobs",
        )
        totals = dict.fromkeys(JobState, 0)
        oldest_created: float | None = None
        for record in self.store.syncs(limit=_SCAN_SYNCS):
            counts = self.store.counts(record.id)
            for state, n in counts.items():
                totals[state] += n
            if counts[JobState.PENDING] and not record.cancelled:
                oldest_created = min(oldest_created or record.created_at, record.created_at)
        for state, n in totals.items():
            jobs.add_metric([state.value], n)
        depth.add_metric([], totals[JobState.PENDING])
        oldest.add_metric([], time.time() - oldest_created if oldest_created else 0.0)
        yield jobs
        yield depth
        yield oldest


class ServiceMetrics:
    """The service's registry, fed by engine events; `render()` is the /metrics body."""

    def __init__(self, store: JobStore) -> None:
        self.registry = CollectorRegistry()
        self.bytes_moved = Counter(
            "data4r2_bytes_moved", "Bytes copied into destinations", registry=self.registry
        )
        self.finished = Counter(
            "data4r2_jobs_finished",
            "Jobs this process finished, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.retries = Counter(
            "data4r2_retries", "Retried attempts by cause", ["cause"], registry=self.registry
        )
        self.transfer_seconds = Histogram(
            "data4r2_transfer_seconds",
            "Wall time of one file's successful transfer",
            buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, float("inf")),
            registry=self.registry,
        )
        self.registry.register(_QueueCollector(store))
        self._started: dict[str, float] = {}

    def __call__(self, event: Event) -> None:
        match event:
            case FileStarted(path):
                self._started[path] = time.monotonic()
            case BytesMoved(_, nbytes):
                self.bytes_moved.inc(nbytes)
            case FileDone(path, _, skipped=True):
                self.finished.labels("skipped").inc()
            case FileDone(path):
                self.finished.labels("done").inc()
                began = self._started.pop(path, None)
                if began is not None:
                    self.transfer_seconds.observe(time.monotonic() - began)
            case FileFailed(path):
                self._started.pop(path, None)
                self.finished.labels("failed").inc()
            case FileRetrying(_, _, reason):
                self.retries.labels(retry_cause(reason)).inc()
            case _:
                pass

    def render(self) -> bytes:
        return generate_latest(self.registry)
