"""The engine's front door: plan a repo, then run its jobs through a pool of worker threads.

Threads, not asyncio (docs/design.md §4): measured here, blocking http.client reading into a
reused buffer cost less CPU per GiB than aiohttp on asyncio (docs/design.md §10);
hashlib and socket I/O release the GIL, so threads overlap where it matters.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from ..domain import (
    Event,
    FileDone,
    FileFailed,
    FileRetrying,
    JobState,
    Plan,
    PlanReady,
    RepoRef,
    Snapshot,
    SyncFinished,
    SyncSummary,
)
from ..ports import HubSource, JobStore, ObjectSink
from . import retry
from .delete import planned_deletions
from .options import SyncOptions
from .plan import plan_files, snapshot, with_refused
from .pool import JobTarget, WorkerPool
from .reclaim import reclaim_stale_uploads, repo_prefix
from .settle import settle_mirror

T = TypeVar("T")

PLAN = "(plan)"  # the `path` of retry events for the plan's own requests


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
        worker: str | None = None,
    ) -> None:
        self.hub, self.sink, self.store = hub, sink, store
        self.destination = destination
        self.options = options
        self.sleep = sleep
        # host:pid names this run in the store, and in another run's "waiting for" message.
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
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
        planned_at = time.time()  # before the HEADs: what is published later, they miss
        o = self.options
        files, refused = plan_files(
            snap,
            self.sink,
            prefix=o.prefix,
            include=o.include,
            exclude=o.exclude,
            force=o.force,
            call=self._call,
            workers=o.concurrency,
            verify_objects=o.verify_objects,
        )
        to_delete = planned_deletions(self.sink, snap, o, self._call)
        plan = Plan(snap, files, refused=refused, planned_at=planned_at, to_delete=to_delete)
        self.emit(PlanReady(plan))
        return plan

    def run(self, plan: Plan) -> SyncSummary:
        """Record the plan as one sync and run its jobs on a pool until none is left."""
        started = time.monotonic()
        o = self.options
        prefix = repo_prefix(o.prefix, plan.snapshot.repo)
        reclaim_stale_uploads(self.sink, self.store, self.destination, prefix)
        sync_id = self.store.create_sync(
            plan.snapshot, self.destination, plan.files, planned_at=plan.planned_at
        )
        for planned in plan.to_skip:
            self.emit(FileDone(planned.file.path, planned.file.size, skipped=True))
        for refused in plan.refused:  # unsafe names: failed before anything is written
            self.emit(FileFailed(refused.file.path, refused.reason))
        target = JobTarget(plan.snapshot, self.sink, self.destination)
        pool = WorkerPool(
            self.hub,
            self.store,
            lambda _sync_id: target,
            options=o,
            emit=self.emit,
            worker=self.worker,
            sleep=self.sleep,
        )
        try:
            pool.run(
                threading.Event(),
                sync_id=sync_id,
                until_idle=True,
                threads=max(1, min(o.concurrency, len(plan.to_copy))),
                stop_on_fatal=True,
            )
        except BaseException:
            # Ctrl-C or a fatal error: settle the sync (its leases go, so the next run can
            # take these objects at once); recorded parts stay for that run to resume.
            with contextlib.suppress(Exception):
                self.store.cancel_sync(sync_id)
            raise
        self.store.finish_sync(sync_id)
        self.store.prune(self.destination, o.keep_syncs)  # issue 15 bug 3: bounded state
        summary = with_refused(
            self._summary(sync_id, plan.snapshot, time.monotonic() - started), plan.refused
        )
        summary = settle_mirror(self.sink, plan, summary, o, self._call)
        self.emit(SyncFinished(summary))
        return summary

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
