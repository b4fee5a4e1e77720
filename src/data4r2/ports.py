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
    ObjectInfo,
    ObjectMeta,
    PartInfo,
    PlannedFile,
    RemoteFile,
    RepoRef,
    SinkLimits,
    Snapshot,
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

    def delete(self, key: str) -> None: ...


class JobStore(Protocol):
    """Syncs, their per-file jobs, and the multipart uploads in flight."""

    def create_sync(
        self, snapshot: Snapshot, destination: str, files: Sequence[PlannedFile]
    ) -> int:
        """Record a run with one job per file (up-to-date files recorded as skipped)."""
        ...

    def claim(self, sync_id: int, worker: str) -> Job | None:
        """Take the next pending job (attempts + 1, state running), or None when none is left."""
        ...

    def finish(self, job_id: int, state: JobState) -> None:
        """Mark a job DONE or SKIPPED."""
        ...

    def fail(self, job_id: int, error: str, retry: bool) -> JobState:
        """Record a failed attempt: back to PENDING if `retry`, else FAILED. The new state."""
        ...

    def jobs(self, sync_id: int) -> list[Job]: ...

    def counts(self, sync_id: int) -> dict[JobState, int]: ...

    def finish_sync(self, sync_id: int) -> None: ...

    def upload(self, destination: str, key: str) -> UploadRecord | None:
        """The unfinished multipart upload recorded for this object, with its finished parts."""
        ...

    def record_upload(self, destination: str, key: str, record: UploadRecord) -> None: ...

    def record_part(self, destination: str, key: str, part: PartInfo) -> None: ...

    def forget_upload(self, destination: str, key: str) -> None: ...
