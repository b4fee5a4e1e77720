"""Bytes of files still being copied: the parts their multipart uploads have recorded.

The store's `bytes_done` grows only when a file is finished, so a sync of a few large files
would look stuck for minutes and then jump. A running job's upload records each part as it
lands (that is what makes a resume cheap); summing them shows the progress in between, for
jobs of any process on this store. Single-request files show up when they finish.
"""

from __future__ import annotations

from ...domain import JobState, SyncRecord
from ...ports import JobStore


def in_flight_bytes(store: JobStore, record: SyncRecord) -> int:
    """Bytes of the sync's RUNNING jobs already uploaded as parts (0 when none)."""
    total = 0
    for job in store.jobs(record.id, state=JobState.RUNNING):
        upload = store.upload(record.destination, job.key)
        if upload is not None:
            total += min(sum(part.size for part in upload.parts), job.file.size)
    return total


def progress_bytes(store: JobStore, record: SyncRecord) -> int:
    """Finished files plus the parts in flight, never past the total."""
    return min(record.bytes_done + in_flight_bytes(store, record), record.bytes_total)
