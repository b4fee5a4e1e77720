"""The engine's front door: plan a repo, then run its jobs through a pool of worker threads.

Threads, not asyncio (docs/design.md §4): measured here, blocking http.client reading into a
reused buffer cost less CPU per GiB than aiohttp on asyncio (docs/design.md §10);
hashlib and socket I/O release the GIL, so threads overlap where it matters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

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
    GatedRepo,
    HubAuthError,
    HubUnreachable,
    JobState,
    Plan,
    PlanReady,
    RepoNotFound,
    RepoRef,
    Snapshot,
    SyncFinished,
    SyncSummary,
)
from ..ports import HubSource, JobStore, ObjectSink
from . import retry
from .buffers import BufferPool
from .context import RunContext
from .options import SyncOptions
from .plan import plan_files, snapshot
from .reader import Cancelled
from .transfer import FileTransfer

T = TypeVar("T")

PLAN = "(plan)"  # the `path` of retry events for the plan's own requests

# Failures that no other file could escape: stop the run instead of failing each file.
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


class SyncEngine:
    def __init__(
        self,
        hub: HubSource,
        sink: ObjectSink,
        store: JobStore,
        *,
        destination: str,
        options: SyncOptions,
        emit: Callable[[Event], None],
        sleep: Callable[[float], None] = time.sleep,
        worker: str = "local",
    ) -> None:
        self.hub, self.sink, self.store = hub, sink, store
        self.destination = destination
        self.options = options
        self.sleep = sleep
        self.worker = worker
        self.policy = retry.policy_for(options)
        lock = threading.Lock()

        def emit_serialised(event: Event) -> None:
            with lock:  # subscribers need not be thread-safe
                emit(event)

        self.emit = emit_serialised

    def _call(self, fn: Callable[[], T]) -> T:
        return retry.call(fn, self.policy, self.sleep, self._plan_retrying)

    def _plan_retrying(self, attempt: int, err: BaseException) -> None:
        # A Hub rate-limit window can hold the plan for minutes: say so instead of going silent.
        self.emit(FileRetrying(PLAN, attempt, str(err)))

    def plan(self, repo: RepoRef) -> Plan:
        snap = snapshot(self.hub, repo, self._call)
        o = self.options
        files = plan_files(
            snap,
            self.sink,
            prefix=o.prefix,
            include=o.include,
            exclude=o.exclude,
            force=o.force,
            call=self._call,
            workers=o.concurrency,
        )
        plan = Plan(snap, files)
        self.emit(PlanReady(plan))
        return plan

    def run(self, plan: Plan) -> SyncSummary:
        started = time.monotonic()
        o = self.options
        sync_id = self.store.create_sync(plan.snapshot, self.destination, plan.files)
        for planned in plan.to_skip:
            self.emit(FileDone(planned.file.path, planned.file.size, skipped=True))
        uploads = ThreadPoolExecutor(max_workers=o.concurrency, thread_name_prefix="part")
        ctx = RunContext(
            hub=self.hub,
            sink=self.sink,
            store=self.store,
            destination=self.destination,
            options=o,
            emit=self.emit,
            buffers=BufferPool(o.buffer_budget),
            uploads=uploads,
            policy=self.policy,
            sleep=self.sleep,
        )
        fatal: list[Data4r2Error] = []
        threads = [
            threading.Thread(
                target=self._work,
                args=(ctx, sync_id, plan.snapshot, fatal),
                name=f"file-{i}",
                daemon=True,
            )
            for i in range(max(1, min(o.concurrency, len(plan.to_copy))))
        ]
        try:
            for t in threads:
                t.start()
            for t in threads:
                while t.is_alive():
                    t.join(0.25)  # short joins keep the main thread responsive to Ctrl-C
        except BaseException:
            ctx.cancel.set()
            uploads.shutdown(wait=True, cancel_futures=True)
            raise
        uploads.shutdown(wait=True)
        if fatal:
            raise fatal[0]
        self.store.finish_sync(sync_id)
        summary = self._summary(sync_id, plan.snapshot, time.monotonic() - started)
        self.emit(SyncFinished(summary))
        return summary

    def _work(
        self, ctx: RunContext, sync_id: int, snap: Snapshot, fatal: list[Data4r2Error]
    ) -> None:
        attempts = 1 + self.options.max_retries
        while not ctx.cancel.is_set():
            job = self.store.claim(sync_id, self.worker)
            if job is None:
                return
            self.emit(FileStarted(job.file.path, job.file.size, job.attempts))
            try:
                FileTransfer(ctx, snap, job.file, job.key).run()
            except Cancelled:
                return
            except Exception as exc:
                err = retry.as_domain_error(exc)
                reason = str(err) if err is not None else f"{type(exc).__name__}: {exc}"
                if isinstance(err, FATAL):
                    fatal.append(err)
                    ctx.cancel.set()
                    self.store.fail(job.id, reason, retry=True)
                    return
                again = err is not None and err.retryable and job.attempts < attempts
                state = self.store.fail(job.id, reason, retry=again)
                if state is JobState.PENDING:
                    self.emit(FileRetrying(job.file.path, job.attempts, reason))
                    self.sleep(self.policy.delay(job.attempts, err or exc))
                else:
                    self.emit(FileFailed(job.file.path, reason))
            else:
                self.store.finish(job.id, JobState.DONE)
                self.emit(FileDone(job.file.path, job.file.size))

    def _summary(self, sync_id: int, snap: Snapshot, elapsed: float) -> SyncSummary:
        jobs = self.store.jobs(sync_id)
        done = [j for j in jobs if j.state is JobState.DONE]
        skipped = [j for j in jobs if j.state is JobState.SKIPPED]
        failed = [j for j in jobs if j.state not in (JobState.DONE, JobState.SKIPPED)]
        return SyncSummary(
            repo=f"{snap.repo.repo_type.value} {snap.repo.repo_id}",
            commit=snap.commit,
            destination=self.sink.describe(),
            copied=len(done),
            skipped=len(skipped),
            failed=len(failed),
            bytes_copied=sum(j.file.size for j in done),
            bytes_skipped=sum(j.file.size for j in skipped),
            elapsed_s=elapsed,
            failures=tuple((j.file.path, j.error or j.state.value) for j in failed),
        )
