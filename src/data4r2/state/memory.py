"""The in-memory JobStore twin for dry runs and unit tests: plain Python, the SQLite contract.

It fakes the Protocol, not the SQL (procrastinate's InMemoryConnector fakes the SQL text and
drifts with it), and tests/contract/ holds every store to the same suite so the twin cannot
drift either. Lookups scan the jobs of a sync: fine for tests and dry runs, which is all it
serves; the service and the embedded `sync` use the SQLite store.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from ..domain import (
    Job,
    JobState,
    Lease,
    PartInfo,
    PlannedFile,
    Snapshot,
    SyncRecord,
    UploadRecord,
)
from .leases import lease_lost

_OPEN = (JobState.PENDING, JobState.RUNNING)
_SETTLED = (JobState.DONE, JobState.SKIPPED)


@dataclass(slots=True)
class _Sync:
    snapshot: Snapshot
    destination: str
    created_at: float
    job_ids: dict[str, int]  # path → job id, in plan (insertion = id) order
    finished_at: float | None = None
    cancelled: bool = False
    last_claim: int = 0  # fair-claim order: the sync claimed from least recently goes first


@dataclass(slots=True)
class _Row:
    """A job and its queue bookkeeping, which `Job` does not show."""

    job: Job
    not_before: float = 0.0
    token: str | None = None
    expires: float | None = None
    updated_at: float = 0.0


class MemoryJobStore:
    """`JobStore` in dicts behind one lock, so it is as thread-safe as the SQLite store."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._syncs: dict[int, _Sync] = {}
        self._rows: dict[int, _Row] = {}
        self._sync_ids = itertools.count(1)
        self._job_ids = itertools.count(1)
        self._by_object: dict[tuple[str, str], list[int]] = {}  # (destination, key) → job ids
        self._claims = itertools.count(1)
        self._uploads: dict[tuple[str, str], UploadRecord] = {}  # parts kept in _parts
        self._parts: dict[tuple[str, str], dict[int, PartInfo]] = {}

    # ------------------------------------------------------------------------- syncs

    def create_sync(
        self,
        snapshot: Snapshot,
        destination: str,
        files: Sequence[PlannedFile],
        *,
        planned_at: float | None = None,
    ) -> int:
        with self._lock:
            now = self._clock()
            sync_id = next(self._sync_ids)
            created = now if planned_at is None else planned_at
            self._syncs[sync_id] = _Sync(snapshot, destination, created, {})
            self._insert(sync_id, files, now)
        return sync_id

    def add_files(self, sync_id: int, files: Sequence[PlannedFile]) -> int:
        with self._lock:
            sync = self._sync(sync_id)
            added = self._insert(sync_id, files, self._clock())
            if added:
                sync.finished_at, sync.cancelled = None, False
            return added

    def _insert(self, sync_id: int, files: Sequence[PlannedFile], now: float) -> int:
        sync, added = self._syncs[sync_id], 0
        for f in files:
            if f.file.path in sync.job_ids:
                continue
            job_id = next(self._job_ids)
            state = JobState.SKIPPED if f.up_to_date else JobState.PENDING
            self._rows[job_id] = _Row(Job(job_id, sync_id, f.file, f.key, state), updated_at=now)
            sync.job_ids[f.file.path] = job_id
            self._by_object.setdefault((sync.destination, f.key), []).append(job_id)
            added += 1
        return added

    def _sync(self, sync_id: int) -> _Sync:
        sync = self._syncs.get(sync_id)
        if sync is None:
            raise LookupError(f"no sync {sync_id}")
        return sync

    def _rows_of(self, sync_id: int) -> Iterable[_Row]:
        sync = self._syncs.get(sync_id)
        return (self._rows[i] for i in sync.job_ids.values()) if sync else ()

    def sync(self, sync_id: int) -> SyncRecord:
        with self._lock:
            return self._record(sync_id, self._sync(sync_id))

    def syncs(self, *, limit: int = 50, before: int | None = None) -> list[SyncRecord]:
        with self._lock:
            ids = sorted((i for i in self._syncs if before is None or i < before), reverse=True)
            return [self._record(i, self._syncs[i]) for i in ids[:limit]]

    def _record(self, sync_id: int, sync: _Sync) -> SyncRecord:
        jobs = [row.job for row in self._rows_of(sync_id)]
        return SyncRecord(
            id=sync_id,
            repo=sync.snapshot.repo,
            commit=sync.snapshot.commit,
            destination=sync.destination,
            created_at=sync.created_at,
            finished_at=sync.finished_at,
            cancelled=sync.cancelled,
            files=len(jobs),
            bytes_total=sum(j.file.size for j in jobs),
            bytes_done=sum(j.file.size for j in jobs if j.state in _SETTLED),
        )

    def finish_sync(self, sync_id: int) -> None:
        with self._lock:
            self._sync(sync_id).finished_at = self._clock()

    def cancel_sync(self, sync_id: int) -> int:
        with self._lock:
            sync, now = self._sync(sync_id), self._clock()
            sync.cancelled = True
            sync.finished_at = sync.finished_at or now
            cancelled = 0
            for row in self._rows_of(sync_id):
                if row.job.state in _OPEN:
                    self._settle(row, replace(row.job, state=JobState.CANCELLED), now)
                    cancelled += 1
            return cancelled

    def requeue_failed(self, sync_id: int) -> int:
        with self._lock:
            sync, now = self._sync(sync_id), self._clock()
            requeued = 0
            for row in self._rows_of(sync_id):
                if row.job.state is JobState.FAILED:
                    row.job = replace(row.job, state=JobState.PENDING, attempts=0)
                    row.not_before = row.updated_at = now
                    requeued += 1
            if requeued:
                sync.finished_at, sync.cancelled = None, False
            return requeued

    def prune(self, destination: str, keep: int) -> int:
        if keep < 0:
            raise ValueError(f"keep must be 0 or more, not {keep}")
        with self._lock:
            finished = sorted(
                (
                    i
                    for i, s in self._syncs.items()
                    if s.destination == destination and s.finished_at is not None
                ),
                reverse=True,
            )
            for sync_id in finished[keep:]:
                sync = self._syncs.pop(sync_id)
                for job_id in sync.job_ids.values():
                    row = self._rows.pop(job_id)
                    self._by_object[(destination, row.job.key)].remove(job_id)
            return len(finished[keep:])

    # ------------------------------------------------------------------------- the queue

    def claim(
        self, worker: str, *, sync_id: int | None = None, lease_seconds: float = 60.0
    ) -> Lease | None:
        with self._lock:
            now = self._clock()
            order = sorted(
                (s.last_claim, i) for i, s in self._syncs.items() if sync_id is None or i == sync_id
            )
            for _, candidate in order:
                row = next((r for r in self._rows_of(candidate) if self._claimable(r, now)), None)
                if row is None:
                    continue
                sync = self._syncs[candidate]
                published = self._published_since(row.job, sync)
                token = uuid.uuid4().hex
                row.job = replace(
                    row.job, state=JobState.RUNNING, attempts=row.job.attempts + 1, worker=worker
                )
                row.token, row.expires, row.updated_at = token, now + lease_seconds, now
                sync.last_claim = next(self._claims)
                return Lease(row.job, token, worker, already_published=published)
            return None

    def _claimable(self, row: _Row, now: float) -> bool:
        job = row.job
        due = (job.state is JobState.PENDING and row.not_before <= now) or (
            job.state is JobState.RUNNING and row.expires is not None and row.expires <= now
        )
        return due and self._holder(job, now) is None

    def _same_object(self, job: Job) -> Iterable[_Row]:
        """Rows of other jobs that write the same object (destination, key)."""
        destination = self._syncs[job.sync_id].destination
        for job_id in self._by_object[(destination, job.key)]:
            if job_id != job.id:
                yield self._rows[job_id]

    def _holder(self, job: Job, now: float) -> str | None:
        """The worker whose live lease holds this job's object, if another job's does."""
        for row in self._same_object(job):
            if row.job.state is JobState.RUNNING and row.expires is not None and row.expires > now:
                return row.job.worker or "?"
        return None

    def _published_since(self, job: Job, sync: _Sync) -> bool:
        return any(
            row.job.state is JobState.DONE
            and row.job.file.git_sha1 == job.file.git_sha1
            and row.job.file.size == job.file.size
            and row.updated_at >= sync.created_at
            for row in self._same_object(job)
        )

    def next_due(self, sync_id: int | None = None) -> float | None:
        with self._lock:
            now = self._clock()
            ids = [sync_id] if sync_id is not None else list(self._syncs)
            due = [
                row.not_before if row.job.state is JobState.PENDING else (row.expires or 0.0)
                for i in ids
                for row in self._rows_of(i)
                if row.job.state in _OPEN
            ]
            return max(0.0, min(due) - now) if due else None

    def held_elsewhere(self, sync_id: int) -> list[tuple[Job, str]]:
        with self._lock:
            now = self._clock()
            held = []
            for row in self._rows_of(sync_id):
                if row.job.state is JobState.PENDING and row.not_before <= now:
                    holder = self._holder(row.job, now)
                    if holder is not None:
                        held.append((row.job, holder))
            return held

    def renew(self, lease: Lease, lease_seconds: float = 60.0) -> None:
        with self._lock:
            row = self._leased(lease)
            row.expires = self._clock() + lease_seconds

    def finish(self, lease: Lease, state: JobState = JobState.DONE) -> None:
        if state not in _SETTLED:
            raise ValueError(f"finish() takes DONE or SKIPPED, not {state.name}")
        with self._lock:
            row = self._leased(lease)
            self._settle(row, replace(row.job, state=state, error=None), self._clock())

    def fail(self, lease: Lease, error: str, *, retry_in: float | None) -> JobState:
        with self._lock:
            row, now = self._leased(lease), self._clock()
            state = JobState.FAILED if retry_in is None else JobState.PENDING
            self._settle(row, replace(row.job, state=state, error=error), now)
            row.not_before = now + max(retry_in or 0.0, 0.0)
            return state

    def release(self, lease: Lease) -> None:
        with self._lock:
            row, now = self._leased(lease), self._clock()
            self._settle(
                row, replace(row.job, state=JobState.PENDING, attempts=row.job.attempts - 1), now
            )
            row.not_before = now

    def _leased(self, lease: Lease) -> _Row:
        row = self._rows.get(lease.job.id)
        if row is None:
            raise LookupError(f"no job {lease.job.id}")
        if row.job.state is not JobState.RUNNING or row.token != lease.token:
            raise lease_lost(lease, row.job)
        return row

    @staticmethod
    def _settle(row: _Row, job: Job, now: float) -> None:
        """Replace the job (in its new state), dropping any lease on it."""
        row.job = job
        row.token = row.expires = None
        row.updated_at = now

    def job(self, job_id: int) -> Job:
        with self._lock:
            row = self._rows.get(job_id)
            if row is None:
                raise LookupError(f"no job {job_id}")
            return row.job

    def jobs(
        self,
        sync_id: int,
        *,
        state: JobState | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[Job]:
        with self._lock:
            jobs = [
                row.job
                for row in self._rows_of(sync_id)
                if row.job.id > after and (state is None or row.job.state is state)
            ]
            return jobs if limit is None else jobs[:limit]

    def counts(self, sync_id: int) -> dict[JobState, int]:
        counts = dict.fromkeys(JobState, 0)
        for job in self.jobs(sync_id):
            counts[job.state] += 1
        return counts

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
