"""Worker threads in a service process: the engine's WorkerPool on the shared store.

`serve --workers N` hosts one of these beside the API; `data4r2 worker` hosts one alone.
Stopping (SIGTERM) sets `stop`: the pool claims nothing more and finishes or releases its
running jobs within the grace period, so no job waits for a lease to expire.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable

from ..domain import DestinationError, Event, Snapshot
from ..engine.options import SyncOptions
from ..engine.pool import JobTarget, WorkerPool
from ..ports import HubSource, JobStore
from .context import ServiceContext


def worker_name() -> str:
    """Host and pid: what `jobs` shows as the worker that holds a job."""
    return f"{socket.gethostname()}:{os.getpid()}"


def job_targets(ctx: ServiceContext) -> Callable[[int], JobTarget]:
    """Where each sync's jobs go: its snapshot and the sink of the destination it names."""
    cache: dict[int, JobTarget] = {}
    lock = threading.Lock()

    def target(sync_id: int) -> JobTarget:
        with lock:
            found = cache.get(sync_id)
            if found is None:
                record = ctx.store.sync(sync_id)
                dest = ctx.target_by_id(record.destination)
                if dest is None:
                    raise DestinationError(
                        f"sync {sync_id} writes to {record.destination}, which this server "
                        "no longer has among its destinations"
                    )
                found = JobTarget(Snapshot(record.repo, record.commit, ()), dest.sink, dest.id)
                cache[sync_id] = found
            return found

    return target


class WorkerThreads:
    """A WorkerPool running on a background thread until `stop()`."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        threads: int,
        lease_seconds: float,
        grace: float,
        emit: Callable[[Event], None],
        hub: HubSource | None = None,
        store: JobStore | None = None,
        options: SyncOptions | None = None,
    ) -> None:
        self.threads = threads
        self.grace = grace
        self.worker = worker_name()
        self.stopping = threading.Event()
        self.pool = WorkerPool(
            hub or ctx.hub,
            store or ctx.store,
            job_targets(ctx),
            options=options or ctx.options,
            emit=emit,
            worker=self.worker,
            lease_seconds=lease_seconds,
        )
        self._thread = threading.Thread(target=self._run, name="worker-pool", daemon=True)
        self.error: BaseException | None = None

    def _run(self) -> None:
        try:
            self.pool.run(self.stopping, threads=self.threads, grace=self.grace)
        except BaseException as e:  # kept for the caller: a dead pool must not go unnoticed
            self.error = e

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> bool:
        """Ask the pool to stop; wait for the grace period (+ a margin). True if it stopped."""
        self.stopping.set()
        self._thread.join(self.grace + 5.0)
        return not self._thread.is_alive()

    def wait(self) -> None:
        """Block until the pool ends (`stop()` from another thread or a signal handler)."""
        while self._thread.is_alive():
            self._thread.join(0.5)
