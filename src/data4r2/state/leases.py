"""What every store says when a lease no longer holds: one wording for logs and the API."""

from __future__ import annotations

from ..domain import Job, JobState, Lease, LeaseLost


def lease_lost(lease: Lease, current: Job) -> LeaseLost:
    """The error for a lease whose job is now `current` (cancelled, settled, or taken over)."""
    if current.state is JobState.CANCELLED:
        why = "its sync was cancelled"
    elif current.state is JobState.RUNNING:
        why = f"the lease expired and {current.worker or 'another worker'} took the job over"
    else:
        why = f"the job is {current.state.value} now"
    return LeaseLost(f"lost the lease on {lease.job.file.path} (job {lease.job.id}): {why}")
