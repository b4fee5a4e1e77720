"""API bodies → what a table row shows, formatted once (pure; unit-tested)."""

from __future__ import annotations

from dataclasses import dataclass

from ...domain import JobState
from ..models import JobOut, SyncStatus
from . import format as fmt

ENDED = frozenset({"done", "failed", "cancelled"})
# The files table lists what needs a person first: failures, then what is moving.
JOB_ORDER = (
    JobState.FAILED,
    JobState.RUNNING,
    JobState.PENDING,
    JobState.CANCELLED,
    JobState.DONE,
    JobState.SKIPPED,
)


@dataclass(frozen=True, slots=True)
class SyncRow:
    sync_id: int
    repo_id: str
    repo_url: str
    repo_type: str
    revision: str
    commit: str  # short
    commit_full: str
    destination: str
    state: str
    ended: bool
    bytes_done: int
    bytes_total: int
    percent: int
    progress: str  # "1.2 GB of 3.4 GB · 5 of 7 files"
    rate: str
    eta: str
    started: str
    finished: str
    failed: int


def files_settled(status: SyncStatus) -> int:
    c = status.counts
    return c.get(JobState.DONE, 0) + c.get(JobState.SKIPPED, 0)


def sync_row(
    status: SyncStatus,
    hub_endpoint: str,
    now: float | None = None,
    in_flight: int = 0,
    current_rate: float | None = None,
) -> SyncRow:
    """`in_flight`: bytes of files still being copied (in_flight.py), shown with the done.
    `current_rate`: the recent bytes/s (throughput.py) of a running sync; the rate and ETA
    then say how it goes now, not on average since it was queued (the API's figure)."""
    ended = status.state in ENDED
    moved = min(status.bytes_done + (0 if ended else in_flight), status.bytes_total)
    speed, eta = status.rate, status.eta_s
    if not ended and current_rate is not None:
        speed = current_rate
        remaining = status.bytes_total - moved
        eta = remaining / speed if speed > 0 and remaining > 0 else None
    done_files = files_settled(status)
    return SyncRow(
        sync_id=status.sync_id,
        repo_id=status.repo_id,
        repo_url=fmt.hub_url(hub_endpoint, status.repo_id, status.repo_type),
        repo_type=status.repo_type.value,
        revision=status.revision,
        commit=fmt.short_sha(status.commit),
        commit_full=status.commit,
        destination=status.destination,
        state=status.state,
        ended=ended,
        bytes_done=moved,
        bytes_total=status.bytes_total,
        percent=fmt.percent(moved, status.bytes_total),
        progress=(
            f"{fmt.size(moved)} of {fmt.size(status.bytes_total)} · "
            f"{done_files} of {status.files} files"
        ),
        rate=fmt.rate(speed),
        eta="–" if ended else fmt.duration(eta),
        started=fmt.timestamp(status.created_at, now),
        finished=fmt.timestamp(status.finished_at, now),
        failed=status.counts.get(JobState.FAILED, 0),
    )


@dataclass(frozen=True, slots=True)
class FileRow:
    path: str
    state: str
    size: str
    attempts: int
    error: str


def file_row(job: JobOut) -> FileRow:
    return FileRow(
        path=job.path,
        state=job.state.value,
        size=fmt.size(job.size),
        attempts=job.attempts,
        error=job.error or "",
    )


def state_counts(status: SyncStatus) -> list[tuple[str, int]]:
    """Every job state with its count, in the files table's order."""
    return [(state.value, status.counts.get(state, 0)) for state in JOB_ORDER]
