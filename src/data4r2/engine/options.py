"""Knobs of one sync run, already validated by the edge (CLI or service)."""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1024**2


@dataclass(frozen=True, slots=True)
class SyncOptions:
    include: tuple[str, ...] = ()  # fnmatch globs on the repo path; empty = everything
    exclude: tuple[str, ...] = ()
    concurrency: int = 8  # files in flight (and part uploads in flight)
    part_size: int = 16 * MiB  # grown automatically for files that would need > 10,000 parts
    parts_in_flight: int = 4  # part buffers held at once, all files together
    memory_budget: int | None = None  # bytes of part buffers; default part_size × parts_in_flight
    max_retries: int = 3  # per job: at most 1 + max_retries attempts
    request_attempts: int = 6  # per request (429, 5xx, resets), with capped backoff
    retry_base_delay: float = 0.5
    retry_max_delay: float = 30.0
    force: bool = False
    verify_objects: bool = False  # plan and verify look at every object, not the manifest
    delete: bool = False  # after a fully verified sync, remove keys the source no longer has
    prefix: str = ""  # key prefix inside the bucket or folder
    keep_syncs: int = 20  # finished syncs (and their jobs) the state keeps per destination

    @property
    def buffer_budget(self) -> int:
        """Bytes of part buffers in flight: what bounds memory, whatever the file sizes."""
        return max(self.memory_budget or self.part_size * self.parts_in_flight, self.part_size)
