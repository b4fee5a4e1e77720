"""Run leased jobs from a JobStore on worker threads: the one loop `sync`, `serve` and
`worker` share.

Each thread claims a job (a lease), copies its file with FileTransfer and settles it in the
store: finish, fail with a delay (`not_before`: the store, not a sleeping thread, holds a
retried file back — issue 15 bug 1), or fail for good (kept with its error). One renewer
thread keeps every running lease alive; when a renewal fails the job's transfer stops at
its next write and publishes nothing (engine/leased_sink.py). Threads, not asyncio: hashlib
and socket I/O release the GIL (docs/design.md).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..domain import (
    BucketNotFound,
    CredentialsError,
    Data4r2Error,
    DisabledRepo,
    EndpointUnreachable,
    Event,
    FileDone,
    FileFailed,
    FileRetrying,
    FileStarted,
    FileWaiting,
    GatedRepo,
    HubAuthError,
    HubUnreachable,
    JobState,
    Lease,
    LeaseLost,
    RepoNotFound,
    Snapshot,
)
from ..ports import HubSource, JobStore, ObjectSink
from . import retry
from .buffers import BufferPool
from .context import RunContext
from .leased_sink import LeasedSink
from .options import SyncOptions
from .reader import Cancelled
from .transfer import FileTransfer

# Failures no other file could escape: the embedded sync stops; a service worker fails the
# job with the error (kept, visible) and goes on with other syncs.
FATAL = (
    CredentialsError,
    BucketNotFound,
    EndpointUnreachable,
    HubAuthError,
    HubUnreachable,
    GatedRepo,
    DisabledRepo,
    RepoNotFound,
)

# Longest nap of an idle thread: other processes change the store without waking us.
IDLE_POLL = 1.0
# A job whose object another run holds is polled this often (that run may finish any time).
HELD_POLL = 0.5


@dataclass(frozen=True)
class JobTarget:
    """Where a sync's jobs go: its snapshot (repo + commit) and the sink of its destination."""

    snapshot: Snapshot  # `files` may be empty: each job carries its own RemoteFile
    sink: ObjectSink
    destination: str  # the name the store records; upload records are keyed by it


@dataclass
class _Running:
    lease: Lease
    lost: threading.Event = field(default_factory=threading.Event)


class WorkerPool:
    """Claims and runs jobs until stopped (or, `until_idle`, until nothing is left to do)."""

    def __init__(
        self,
        hub: HubSource,
        store: JobStore,
        targets: Callable[[int], JobTarget],
        *,
        options: SyncOptions,
        emit: Callable[[Event], None],
        worker: str,
        lease_seconds: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.hub, self.store, self.targets = hub, store, targets
        self.options = options
        self.worker = worker
        self.lease_seconds = lease_seconds
        self.sleep = sleep  # for request retries inside a transfer; job delays live in the store
        self.policy = retry.policy_for(options)
        self.attempts = 1 + options.max_retries
        lock = threading.Lock()

        def emit_serialised(event: Event) -> None:
            with lock:  # subscribers need not be thread-safe
                emit(event)

        self.emit = emit_serialised
        self._running: dict[int, _Running] = {}
        self._running_lock = threading.Lock()
        self._waiting_for: set[int] = set()  # job ids already reported as held elsewhere
        # Bumped whenever a job of this pool settles, so idle threads look again at once
        # instead of at their next poll (the end of a run would otherwise lag by a poll).
        self._changed = threading.Condition()
        self._generation = 0
        self._fatal: list[Data4r2Error] = []
        self.stopping = threading.Event()  # set once run() claims nothing more

    # -- the loop --------------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        *,
        sync_id: int | None = None,
        until_idle: bool = False,
        threads: int | None = None,
        stop_on_fatal: bool = False,
        grace: float = 30.0,
    ) -> None:
        """Claim and run leased jobs on `threads` threads (default options.concurrency).

        `until_idle`: return once no job of `sync_id` (or of any sync) is pending or running
        — the embedded sync. `stop` set (SIGTERM): claim nothing more, let running jobs
        finish for up to `grace` seconds, then stop them at their next write and give their
        jobs back untried (release); return. `stop_on_fatal`: a FATAL error stops the pool at
        once and is raised here (the embedded sync); otherwise it fails just that job.
        `self.stopping` is set as soon as the pool stops claiming.
        """
        o = self.options
        uploads = ThreadPoolExecutor(max_workers=o.concurrency, thread_name_prefix="part")
        buffers = BufferPool(o.buffer_budget)
        self.stopping.clear()
        done = threading.Event()  # the renewer's signal: every worker thread has returned

        def stop_now() -> None:
            self._lose_all()  # first, so whoever sees `stopping` sees the transfers stopped
            self.stopping.set()
            self._bump()

        def loop() -> None:
            while not (self.stopping.is_set() or stop.is_set()):
                if not self._claim_and_run(sync_id, until_idle, uploads, buffers):
                    return
                if stop_on_fatal and self._fatal:
                    stop_now()

        workers = [
            threading.Thread(target=loop, name=f"{self.worker}-{i}", daemon=True)
            for i in range(max(1, threads or o.concurrency))
        ]
        renewer = threading.Thread(target=self._renew_loop, args=(done,), daemon=True)
        stop_seen: float | None = None
        try:
            renewer.start()
            for t in workers:
                t.start()
            for t in workers:
                while t.is_alive():
                    t.join(0.05 if stop_seen is None and stop.is_set() else 0.25)
                    if not stop.is_set():
                        continue  # short joins keep the main thread responsive to Ctrl-C
                    if stop_seen is None:
                        stop_seen = time.monotonic()
                        if grace > 0:  # claim nothing more; running jobs may finish
                            self.stopping.set()
                            self._bump()
                    if time.monotonic() - stop_seen >= grace:
                        stop_now()
        except BaseException:
            stop_now()
            raise
        finally:
            self.stopping.set()
            done.set()
            self._bump()
            uploads.shutdown(wait=True, cancel_futures=True)
        if stop_on_fatal and self._fatal:
            raise self._fatal[0]

    def _claim_and_run(
        self,
        sync_id: int | None,
        until_idle: bool,
        uploads: ThreadPoolExecutor,
        buffers: BufferPool,
    ) -> bool:
        """One turn of a worker thread; False when it should exit."""
        generation = self._generation
        lease = self.store.claim(self.worker, sync_id=sync_id, lease_seconds=self.lease_seconds)
        if lease is not None:
            self._run(lease, uploads, buffers)
            return True
        due = self.store.next_due(sync_id)
        if due is None:
            if until_idle:
                return False
            due = IDLE_POLL
        elif due == 0:  # due but not claimable: another run holds the object
            if sync_id is not None:
                self._report_held(sync_id)
            due = HELD_POLL
        with self._changed:
            self._changed.wait_for(
                lambda: self._generation != generation or self.stopping.is_set(),
                min(due, IDLE_POLL),
            )
        return True

    def _bump(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def _report_held(self, sync_id: int) -> None:
        for job, holder in self.store.held_elsewhere(sync_id):
            if job.id not in self._waiting_for:
                self._waiting_for.add(job.id)
                self.emit(
                    FileWaiting(
                        job.file.path,
                        f"another data4r2 run ({holder}) is copying {job.key}; "
                        "waiting for it instead of uploading it twice",
                    )
                )

    # -- one job ---------------------------------------------------------------------------

    def _run(
        self,
        lease: Lease,
        uploads: ThreadPoolExecutor,
        buffers: BufferPool,
    ) -> None:
        job = lease.job
        file = job.file
        if lease.already_published:
            self._settle(lambda: self.store.finish(lease, JobState.SKIPPED))
            self.emit(FileDone(file.path, file.size, skipped=True))
            return
        if job.attempts > self.attempts:  # its workers kept dying (leases expired mid-file)
            last = job.error or "each time, its worker stopped before it finished (lease expired)"
            reason = f"gave up after {job.attempts - 1} attempts; last error: {last}"
            self._settle(lambda: self.store.fail(lease, reason, retry_in=None))
            self.emit(FileFailed(file.path, reason))
            return
        running = _Running(lease)
        target = self.targets(job.sync_id)

        def confirm() -> None:
            self.store.renew(lease, self.lease_seconds)

        ctx = RunContext(
            hub=self.hub,
            sink=LeasedSink(target.sink, running.lost, confirm),
            store=self.store,
            destination=target.destination,
            options=self.options,
            emit=self.emit,
            buffers=buffers,
            uploads=uploads,
            policy=self.policy,
            cancel=running.lost,
            sleep=self.sleep,
        )
        with self._running_lock:
            self._running[job.id] = running
        self.emit(FileStarted(file.path, file.size, job.attempts))
        try:
            FileTransfer(ctx, target.snapshot, file, job.key).run()
        except (Cancelled, LeaseLost):
            if self.stopping.is_set():  # shutting down, not lost: give the job back untried
                self._settle(lambda: self.store.release(lease))
        except Exception as exc:
            self._failed(lease, exc)
        else:
            self._settle(lambda: self.store.finish(lease))
            self.emit(FileDone(file.path, file.size))
        finally:
            with self._running_lock:
                self._running.pop(job.id, None)
            self._bump()

    def _failed(self, lease: Lease, exc: Exception) -> None:
        job = lease.job
        err = retry.as_domain_error(exc)
        reason = str(err) if err is not None else f"{type(exc).__name__}: {exc}"
        if isinstance(err, FATAL):
            self._fatal.append(err)
        again = err is not None and err.retryable and job.attempts < self.attempts
        if again:
            # The Hub's Retry-After (RateLimited.retry_after) when it gave one, else backoff.
            delay = self.policy.delay(job.attempts, err or exc)
            self._settle(lambda: self.store.fail(lease, reason, retry_in=delay))
            self.emit(
                FileRetrying(job.file.path, job.attempts, f"{reason} (next try in {delay:.1f} s)")
            )
        else:
            self._settle(lambda: self.store.fail(lease, reason, retry_in=None))
            self.emit(FileFailed(job.file.path, reason))

    @staticmethod
    def _settle(update: Callable[[], object]) -> None:
        """Record a job's outcome; if the lease was lost meanwhile, the new holder owns it."""
        with contextlib.suppress(LeaseLost):
            update()

    # -- leases ----------------------------------------------------------------------------

    def _renew_loop(self, done: threading.Event) -> None:
        """Renew every running lease a few times per lease period; a failed renewal stops
        that job's transfer (its `lost` event is the transfer's cancel signal)."""
        interval = self.lease_seconds / 3
        while not done.wait(interval):
            with self._running_lock:
                running = list(self._running.values())
            for r in running:
                try:
                    self.store.renew(r.lease, self.lease_seconds)
                except LeaseLost:
                    r.lost.set()
                except Exception:  # noqa: S112 - a store hiccup (a busy file): the next round retries
                    continue

    def _lose_all(self) -> None:
        """Stop every running transfer at its next write (shutdown or Ctrl-C)."""
        with self._running_lock:
            for r in self._running.values():
                r.lost.set()
