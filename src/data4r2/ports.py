"""The three seams the engine talks through. Adapters implement them; the engine sees only these.

All methods are blocking: the engine runs them in threads (docs/design.md §4 says why).
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator, Sequence
from typing import Protocol

from .domain import (
    Job,
    JobState,
    Lease,
    MirrorRecord,
    ObjectInfo,
    ObjectMeta,
    OpenUpload,
    PartInfo,
    PlannedFile,
    RemoteFile,
    RepoRef,
    SinkLimits,
    Snapshot,
    SyncRecord,
    UploadRecord,
)


class ByteStream(Protocol):
    """The bytes of one file from an offset to its end."""

    def readinto(self, buf: memoryview) -> int:
        """Fill up to len(buf) bytes; 0 only at the end. Raises TransientError when cut."""
        ...

    def close(self) -> None: ...


class HubSource(Protocol):
    def resolve(self, repo: RepoRef) -> str:
        """The 40-hex commit sha `repo.revision` points at now."""
        ...

    def list_files(self, repo: RepoRef, commit: str) -> list[RemoteFile]:
        """Every file of the repo at `commit` (recursive), with sizes and hashes."""
        ...

    def open(self, repo: RepoRef, commit: str, file: RemoteFile, offset: int = 0) -> ByteStream:
        """Stream `file` at `commit` from `offset`."""
        ...


class ObjectSink(Protocol):
    """A bucket prefix or a folder. Each write is verified before the object becomes visible."""

    limits: SinkLimits

    def describe(self) -> str:
        """Where this sink writes, for messages (no secrets)."""
        ...

    def check(self) -> None:
        """Raise a DestinationError if the destination cannot be written (creds, bucket, net)."""
        ...

    def head(self, key: str) -> ObjectInfo | None: ...

    def read(self, key: str) -> bytes | None:
        """The whole body of a small object (a manifest), or None when there is none."""
        ...

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Objects under `prefix`; `sha256` may be None (a listing carries no metadata)."""
        ...

    def put(self, key: str, body: memoryview, meta: ObjectMeta) -> None:
        """Publish `body` in one request; the store checks it against `meta.sha256`."""
        ...

    def create_multipart(self, key: str, meta: ObjectMeta, part_size: int) -> str:
        """Start an upload whose parts are all `part_size` bytes but the last; its id."""
        ...

    def upload_part(self, key: str, upload_id: str, number: int, body: memoryview) -> PartInfo:
        """Upload one part with a transit checksum the store verifies."""
        ...

    def part_checksum(self, body: memoryview) -> str:
        """The transit checksum `upload_part` records, to prove a recorded part on resume."""
        ...

    def list_parts(self, key: str, upload_id: str) -> builtins.list[PartInfo]:
        """Parts the store holds; raises UploadGone if the upload no longer exists."""
        ...

    def complete(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> None: ...

    def abort(self, key: str, upload_id: str) -> None: ...

    def list_uploads(self, prefix: str) -> Iterator[OpenUpload]:
        """Unfinished multipart uploads whose key starts with `prefix`, however they began.

        What a killed run left behind that no state file remembers; `abort` ends one.
        """
        ...

    def delete(self, key: str) -> None: ...


class JobStore(Protocol):
    """Syncs, their per-file jobs as a durable leased queue, and the multipart uploads in flight.

    The queue contract the embedded `sync`, `serve` and (later) the PostgreSQL cluster share;
    one test suite (tests/contract/test_jobstore_contract.py) holds every backend to it.
    Times are the store's own clock (wall seconds); delays and lease lengths are in seconds.
    """

    # -- syncs -------------------------------------------------------------------------

    def create_sync(
        self,
        snapshot: Snapshot,
        destination: str,
        files: Sequence[PlannedFile],
        *,
        planned_at: float | None = None,
    ) -> int:
        """Record a sync with one job per file (up-to-date files recorded as SKIPPED).
        `planned_at` (unix seconds, default now) is when its plan looked at the destination:
        it becomes the sync's `created_at`, the line `Lease.already_published` draws."""
        ...

    def add_files(self, sync_id: int, files: Sequence[PlannedFile]) -> int:
        """Enqueue more jobs for a sync; a path the sync already has is left as it is
        (idempotent enqueue). How many jobs were new."""
        ...

    def sync(self, sync_id: int) -> SyncRecord:
        """One sync; LookupError if there is none."""
        ...

    def syncs(self, *, limit: int = 50, before: int | None = None) -> list[SyncRecord]:
        """Syncs newest first; `before` is the id to page from (exclusive)."""
        ...

    def finish_sync(self, sync_id: int) -> None:
        """Stamp the end of a sync (all its jobs settled)."""
        ...

    def cancel_sync(self, sync_id: int) -> int:
        """Cancel a sync: PENDING and RUNNING jobs become CANCELLED (a running job's lease is
        lost, so its worker stops at the next part boundary). How many jobs were cancelled."""
        ...

    def requeue_failed(self, sync_id: int) -> int:
        """FAILED jobs back to PENDING with a fresh attempt count. How many."""
        ...

    def prune(self, destination: str, keep: int) -> int:
        """Forget all but the newest `keep` finished syncs of a destination (and their jobs);
        uploads and parts stay. How many syncs were deleted."""
        ...

    # -- the queue ---------------------------------------------------------------------

    def claim(
        self, worker: str, *, sync_id: int | None = None, lease_seconds: float = 60.0
    ) -> Lease | None:
        """Lease the next job that may run now: PENDING whose `not_before` has passed, or
        RUNNING whose lease expired (attempts + 1, state RUNNING). Never a job whose object
        (destination, key) another unexpired lease holds; `Lease.already_published` when
        another sync published the same content there since this sync was planned. Across
        syncs, fair: the sync that least recently had a job claimed goes first. None when
        nothing may run now."""
        ...

    def next_due(self, sync_id: int | None = None) -> float | None:
        """Seconds until a PENDING job (or expired lease) may next be claimed — 0 if one can
        be now, or is due but waits for another job's lease on its object (held_elsewhere);
        None when no job of the sync (or of any sync) is PENDING or RUNNING."""
        ...

    def held_elsewhere(self, sync_id: int) -> list[tuple[Job, str]]:
        """PENDING jobs of a sync that are due but wait because a live lease of another
        sync's job holds their object, each with that holder's worker name (for a message)."""
        ...

    def renew(self, lease: Lease, lease_seconds: float = 60.0) -> None:
        """Extend a lease; LeaseLost if it expired and was taken, or the sync was cancelled."""
        ...

    def finish(self, lease: Lease, state: JobState = JobState.DONE) -> None:
        """Mark a leased job DONE or SKIPPED; LeaseLost if the lease no longer holds."""
        ...

    def fail(self, lease: Lease, error: str, *, retry_in: float | None) -> JobState:
        """Record a failed attempt with its error. `retry_in` None: FAILED (dead letter, kept).
        Else PENDING, claimable after `retry_in` seconds. The new state; LeaseLost if lost."""
        ...

    def release(self, lease: Lease) -> None:
        """Give a job back untried (shutdown): PENDING now, this attempt not counted;
        LeaseLost if the lease no longer holds."""
        ...

    def job(self, job_id: int) -> Job:
        """One job; LookupError if there is none."""
        ...

    def jobs(
        self,
        sync_id: int,
        *,
        state: JobState | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[Job]:
        """Jobs of a sync in plan (id) order, optionally of one state, ids > `after`."""
        ...

    def counts(self, sync_id: int) -> dict[JobState, int]:
        """Jobs of a sync per state (every state present, 0 when none)."""
        ...

    # -- multipart uploads (what makes a resume cheap) -------------------------------------

    def upload(self, destination: str, key: str) -> UploadRecord | None:
        """The unfinished multipart upload recorded for this object, with its finished parts."""
        ...

    def record_upload(self, destination: str, key: str, record: UploadRecord) -> None: ...

    def record_part(self, destination: str, key: str, part: PartInfo) -> None: ...

    def forget_upload(self, destination: str, key: str) -> None: ...


class MirrorReader(Protocol):
    """The read side of a destination, for serving what was mirrored (service/hubapi/).

    Separate from ObjectSink: the engine never reads bytes back, and a reader needs no write
    permission. `link` is how a bucket hands bytes to a client without the server in the
    path; a folder has no such thing and `stream`s instead.
    """

    def read(self, key: str) -> bytes | None:
        """A small object whole (a manifest, the refs); None if there is none."""
        ...

    def keys(self, prefix: str) -> Iterator[str]:
        """Keys that start with `prefix` (not necessarily in order)."""
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """Size and the hashes data4r2 recorded on the object, as ObjectSink.head."""
        ...

    def link(self, key: str, *, expires_in: int) -> str | None:
        """A presigned GET URL valid for `expires_in` seconds; None when this destination
        cannot sign one (then the caller streams)."""
        ...

    def stream(self, key: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes `[start, end)` of an object, in chunks; DestinationError if unreadable."""
        ...


class MirrorSchedule(Protocol):
    """The repos `serve` keeps fresh, durable across restarts (service/scheduler.py).

    Beside the JobStore rather than in it: the queue contract stays what the PostgreSQL
    backend must pass, and a schedule is a handful of rows, not a queue.
    """

    def add_mirror(
        self,
        repo: RepoRef,
        dest: str,
        every: float,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> MirrorRecord:
        """Schedule `repo` (due at once). The same repo, revision and destination again is
        the same mirror, with the new interval and filters."""
        ...

    def mirrors(self) -> list[MirrorRecord]: ...

    def remove_mirror(self, mirror_id: int) -> bool:
        """Unschedule; False if there was no such mirror."""
        ...

    def due_mirrors(self) -> list[MirrorRecord]:
        """Mirrors whose next run time has come, oldest due first."""
        ...

    def mirror_ran(self, mirror_id: int, sync_id: int | None, next_run_at: float) -> None:
        """Record the sync a run queued (None: none this time) and when to run next."""
        ...
