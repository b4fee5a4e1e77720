"""Store records → API bodies (the one place that decides what a sync's state is called)."""

from __future__ import annotations

import time

from ..domain import Job, JobState, SyncRecord
from .context import ServiceContext
from .models import JobOut, SyncStatus


def sync_state(record: SyncRecord, counts: dict[JobState, int]) -> str:
    """queued (nothing started), running, done, failed (some jobs dead-lettered), cancelled."""
    if record.cancelled:
        return "cancelled"
    if counts[JobState.PENDING] or counts[JobState.RUNNING]:
        started = counts[JobState.RUNNING] or counts[JobState.DONE] or counts[JobState.FAILED]
        return "running" if started else "queued"
    return "failed" if counts[JobState.FAILED] else "done"


def sync_status(ctx: ServiceContext, record: SyncRecord, now: float | None = None) -> SyncStatus:
    counts = ctx.store.counts(record.id)
    now = time.time() if now is None else now
    settled = not (counts[JobState.PENDING] or counts[JobState.RUNNING])
    if settled and record.finished_at is None and not record.cancelled:
        # Workers settle jobs one by one and none of them knows it was a sync's last, so
        # the end is stamped by whoever first sees it settled (stamping twice is harmless).
        ctx.store.finish_sync(record.id)
        record = ctx.store.sync(record.id)
    elapsed = max((record.finished_at or now) - record.created_at, 1e-3)
    rate = record.bytes_done / elapsed
    remaining = record.bytes_total - record.bytes_done
    target = ctx.target_by_id(record.destination)
    return SyncStatus(
        sync_id=record.id,
        repo_id=record.repo.repo_id,
        repo_type=record.repo.repo_type,
        revision=record.repo.revision,
        commit=record.commit,
        destination=target.name if target else record.destination,
        state=sync_state(record, counts),
        counts=counts,
        files=record.files,
        bytes_total=record.bytes_total,
        bytes_done=record.bytes_done,
        rate=round(rate, 1),
        eta_s=round(remaining / rate, 1) if rate > 0 and remaining > 0 else None,
        created_at=record.created_at,
        finished_at=record.finished_at,
    )


def job_out(job: Job) -> JobOut:
    return JobOut(
        job_id=job.id,
        sync_id=job.sync_id,
        path=job.file.path,
        size=job.file.size,
        key=job.key,
        state=job.state,
        attempts=job.attempts,
        error=job.error,
    )
