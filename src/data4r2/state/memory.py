"""The in-memory JobStore twin for unit tests: plain Python, the same contract as SQLite.

It fakes the Protocol, not the SQL (docs/testing.md §4), and
tests/contract/ holds both stores to the same suite so the twin cannot drift.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from ..domain import Job, JobState, PartInfo, PlannedFile, Snapshot, UploadRecord


@dataclass(slots=True)
class _Sync:
    snapshot: Snapshot
    destination: str
    job_ids: list[int]
    pending: list[int]  # a heap: claim() hands out the lowest id first, like SQLite's ORDER BY
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None


class MemoryJobStore:
    """`JobStore` in dicts behind one lock, so it is as thread-safe as the SQLite store."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._syncs: dict[int, _Sync] = {}
        self._jobs: dict[int, Job] = {}
        self._uploads: dict[tuple[str, str], UploadRecord] = {}  # parts kept in _parts
        self._parts: dict[tuple[str, str], dict[int, PartInfo]] = {}

    # ------------------------------------------------------------------------- syncs and jobs

    def create_sync(
        self, snapshot: Snapshot, destination: str, files: Sequence[PlannedFile]
    ) -> int:
        with self._lock:
            sync_id = len(self._syncs) + 1
            sync = _Sync(snapshot, destination, job_ids=[], pending=[])
            for f in files:
                job_id = len(self._jobs) + 1
                state = JobState.SKIPPED if f.up_to_date else JobState.PENDING
                self._jobs[job_id] = Job(job_id, sync_id, f.file, f.key, state)
                sync.job_ids.append(job_id)
                if state is JobState.PENDING:
                    sync.pending.append(job_id)  # ids grow, so the list is already a heap
            self._syncs[sync_id] = sync
        return sync_id

    def claim(self, sync_id: int, worker: str) -> Job | None:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None or not sync.pending:
                return None
            job_id = heapq.heappop(sync.pending)
            job = self._jobs[job_id]
            job = replace(job, state=JobState.RUNNING, attempts=job.attempts + 1)
            self._jobs[job_id] = job
            return job

    def finish(self, job_id: int, state: JobState) -> None:
        if state not in (JobState.DONE, JobState.SKIPPED):
            raise ValueError(f"finish() takes DONE or SKIPPED, not {state.name}")
        with self._lock:
            self._jobs[job_id] = replace(self._running(job_id), state=state)

    def fail(self, job_id: int, error: str, retry: bool) -> JobState:
        with self._lock:
            job = self._running(job_id)
            state = JobState.PENDING if retry else JobState.FAILED
            self._jobs[job_id] = replace(job, state=state, error=error)
            if retry:
                heapq.heappush(self._syncs[job.sync_id].pending, job_id)
            return state

    def _running(self, job_id: int) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise LookupError(f"no job {job_id}")
        if job.state is not JobState.RUNNING:
            raise ValueError(f"job {job_id} is {job.state.value}, not running")
        return job

    def jobs(self, sync_id: int) -> list[Job]:
        with self._lock:
            sync = self._syncs.get(sync_id)
            return [self._jobs[i] for i in sync.job_ids] if sync else []

    def counts(self, sync_id: int) -> dict[JobState, int]:
        counts = dict.fromkeys(JobState, 0)
        for job in self.jobs(sync_id):
            counts[job.state] += 1
        return counts

    def finish_sync(self, sync_id: int) -> None:
        with self._lock:
            sync = self._syncs.get(sync_id)
            if sync is None:
                raise LookupError(f"no sync {sync_id}")
            sync.finished_at = datetime.now(UTC)

    # ------------------------------------------------------------------------- multipart uploads

    def upload(self, destination: str, key: str) -> UploadRecord | None:
        with self._lock:
            record = self._uploads.get((destination, key))
            if record is None:
                return None
            parts = self._parts[(destination, key)]
            return replace(record, parts=tuple(parts[n] for n in sorted(parts)))

    def record_upload(self, destination: str, key: str, record: UploadRecord) -> None:
        """Record a new upload for the object, replacing any older one and its parts."""
        with self._lock:
            self._uploads[(destination, key)] = replace(record, parts=())
            self._parts[(destination, key)] = {p.number: p for p in record.parts}

    def record_part(self, destination: str, key: str, part: PartInfo) -> None:
        """Record a finished part (replacing one with its number); LookupError without an upload."""
        if part.number < 1:
            raise ValueError(f"part numbers start at 1, not {part.number}")
        with self._lock:
            parts = self._parts.get((destination, key))
            if parts is None:
                raise LookupError(f"no upload recorded for {key!r} in {destination}")
            parts[part.number] = part

    def forget_upload(self, destination: str, key: str) -> None:
        with self._lock:
            self._uploads.pop((destination, key), None)
            self._parts.pop((destination, key), None)

    def close(self) -> None:
        """Nothing to release; here so the composition root treats both stores alike."""
