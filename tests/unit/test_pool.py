"""The worker pool on real threads and real time: delayed retries, leases, stop, two runs.

These use the wall clock on purpose where timing is the point (issue 15 bug 1: a retried
file's next attempt must start after its backoff, which an injected no-op sleep hid).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from typing import Any

from data4r2.domain import (
    CredentialsError,
    Event,
    FileFailed,
    FileRetrying,
    FileStarted,
    JobState,
    PartInfo,
    Plan,
    PlannedFile,
    RemoteFile,
    RepoRef,
    Snapshot,
    SyncSummary,
)
from data4r2.engine.options import SyncOptions
from data4r2.engine.pool import JobTarget, WorkerPool
from data4r2.engine.sync import SyncEngine
from data4r2.sinks.memory import MemorySink
from data4r2.state.memory import MemoryJobStore

from .hub_twin import Fault, MemoryHub
from .test_engine import REPO, CountingSink, make_hub

MiB = 1024**2
DEST = "mem://test"


class SlowHub(MemoryHub):
    """Every open takes a while, so other workers are still busy when one file fails."""

    def open(self, repo: RepoRef, commit: str, file: RemoteFile, offset: int = 0) -> Any:
        time.sleep(0.02)
        return super().open(repo, commit, file, offset)


class Timeline:
    """Events with the monotonic time they arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, Event]] = []

    def __call__(self, event: Event) -> None:
        self.events.append((time.monotonic(), event))

    def at(self, kind: type, path: str) -> list[tuple[float, Any]]:
        return [(t, e) for t, e in self.events if isinstance(e, kind) and e.path == path]


def _engine(hub: Any, sink: Any, store: Any, emit: Any, **opts: Any) -> SyncEngine:
    options = SyncOptions(part_size=5 * MiB, memory_budget=16 * MiB, **opts)
    return SyncEngine(hub, sink, store, destination=DEST, options=options, emit=emit)


def test_a_retried_file_starts_again_only_after_the_hubs_retry_after() -> None:
    hub = SlowHub()
    for i in range(30):
        hub.add(f"f{i:02}.txt", os.urandom(100))
    # request_attempts=1: the 429 fails the attempt at once, so the job-level delay is what
    # holds the file back — exactly the Retry-After the Hub sent.
    hub.faults["f00.txt"] = [Fault("429", retry_after=0.8)]
    timeline = Timeline()
    engine = _engine(
        hub, MemorySink(), MemoryJobStore(), timeline, concurrency=3, request_attempts=1
    )

    summary = engine.run(engine.plan(REPO))

    assert summary.ok and summary.copied == 30
    ((failed_at, retrying),) = timeline.at(FileRetrying, "f00.txt")
    assert "retry after 0.8 s" in retrying.reason
    starts = [(t, e.attempt) for t, e in timeline.at(FileStarted, "f00.txt")]
    assert [a for _, a in starts] == [1, 2]
    waited = starts[1][0] - failed_at
    assert 0.8 <= waited < 0.8 + 0.5, f"attempt 2 started {waited:.2f} s after the 429"


def test_the_backoff_delays_a_lone_file_and_the_pool_waits_for_it() -> None:
    hub = MemoryHub()
    hub.add("only.txt", b"x" * 10)
    hub.faults["only.txt"] = [Fault("503", times=2)]  # two attempts fail (one request each)
    timeline = Timeline()
    engine = _engine(
        hub, MemorySink(), MemoryJobStore(), timeline, request_attempts=1, retry_base_delay=0.4
    )

    summary = engine.run(engine.plan(REPO))

    # Nothing else to do while the file waits: the pool must wait, not end the sync.
    assert summary.ok and summary.copied == 1
    starts = [t for t, _ in timeline.at(FileStarted, "only.txt")]
    retries = [t for t, _ in timeline.at(FileRetrying, "only.txt")]
    assert len(starts) == 3 and len(retries) == 2
    # Backoff with jitter: attempt n waits between base·2^(n-1)/2 and base·2^(n-1).
    assert 0.2 <= starts[1] - retries[0] < 0.4 + 0.3
    assert 0.4 <= starts[2] - retries[1] < 0.8 + 0.3


class GatedSink(CountingSink):
    """Holds part 2 of every upload until the test opens the gate."""

    def __init__(self, inner: MemorySink) -> None:
        super().__init__(inner)
        self.at_part_2 = threading.Event()
        self.gate = threading.Event()

    def upload_part(self, key: str, upload_id: str, number: int, body: memoryview) -> PartInfo:
        if number == 2:
            self.at_part_2.set()
            assert self.gate.wait(30)
        return super().upload_part(key, upload_id, number, body)


def _big_file_plan(store: MemoryJobStore) -> tuple[MemoryHub, Plan, int]:
    hub = MemoryHub()
    hub.add("big.bin", os.urandom(12 * MiB), lfs=True)
    snap = Snapshot(REPO, hub.commit, tuple(hub.list_files(REPO, hub.commit)))
    files = (PlannedFile(snap.files[0], "models/acme/model/big.bin", False),)
    sync_id = store.create_sync(snap, DEST, files)
    return hub, Plan(snap, files), sync_id


def _pool(
    hub: MemoryHub, store: MemoryJobStore, sink: Any, snap: Snapshot, **kw: Any
) -> WorkerPool:
    return WorkerPool(
        hub,
        store,
        lambda _sync_id: JobTarget(snap, sink, DEST),
        options=SyncOptions(part_size=5 * MiB, memory_budget=16 * MiB, concurrency=2),
        emit=lambda e: None,
        worker="w-test",
        **kw,
    )


def test_a_cancelled_sync_stops_a_running_transfer_and_publishes_nothing() -> None:
    store = MemoryJobStore()
    hub, plan, sync_id = _big_file_plan(store)
    sink = GatedSink(MemorySink())
    pool = _pool(hub, store, sink, plan.snapshot, lease_seconds=0.3)  # renewed every 0.1 s
    done = threading.Event()
    runner = threading.Thread(
        target=lambda: (pool.run(threading.Event(), sync_id=sync_id, until_idle=True), done.set())
    )
    runner.start()
    assert sink.at_part_2.wait(30)

    assert store.cancel_sync(sync_id) == 1  # e.g. DELETE /v1/syncs/{id}
    sink.gate.set()  # whether or not the renewer noticed yet, Complete must not happen
    runner.join(30)

    assert done.is_set()
    assert sink.calls[("complete", "models/acme/model/big.bin")] == 0
    assert sink.inner.head("models/acme/model/big.bin") is None
    assert store.job(1).state is JobState.CANCELLED


def test_stop_after_the_grace_period_gives_running_jobs_back_untried() -> None:
    store = MemoryJobStore()
    hub, plan, _ = _big_file_plan(store)
    sink = GatedSink(MemorySink())
    pool = _pool(hub, store, sink, plan.snapshot)
    stop = threading.Event()
    runner = threading.Thread(target=lambda: pool.run(stop, grace=0))  # a service worker
    runner.start()
    assert sink.at_part_2.wait(30)

    stop.set()  # SIGTERM, and the grace period is over at once
    assert pool.stopping.wait(30)
    sink.gate.set()
    runner.join(30)

    assert not runner.is_alive()
    job = store.job(1)
    assert job.state is JobState.PENDING and job.attempts == 0  # released, not failed
    assert sink.calls[("complete", "models/acme/model/big.bin")] == 0
    assert store.upload(DEST, "models/acme/model/big.bin") is not None  # resumable


def test_stop_within_the_grace_period_lets_running_jobs_finish() -> None:
    store = MemoryJobStore()
    hub, plan, _ = _big_file_plan(store)
    store.add_files(1, [PlannedFile(RemoteFile("later.txt", 1, "0" * 40), "k/later.txt", False)])
    sink = GatedSink(MemorySink())
    pool = _pool(hub, store, sink, plan.snapshot)
    stop = threading.Event()
    runner = threading.Thread(target=lambda: pool.run(stop, threads=1, grace=60))
    runner.start()
    assert sink.at_part_2.wait(30)

    stop.set()
    assert pool.stopping.wait(30)
    sink.gate.set()
    runner.join(30)

    assert not runner.is_alive()
    assert store.job(1).state is JobState.DONE  # finished within the grace period
    assert sink.inner.get("models/acme/model/big.bin") == hub.files["big.bin"]
    assert store.job(2).state is JobState.PENDING  # never claimed after the stop


def test_a_service_pool_fails_the_job_on_a_fatal_error_and_goes_on() -> None:
    store = MemoryJobStore()
    hub = make_hub()
    snap = Snapshot(REPO, hub.commit, tuple(hub.list_files(REPO, hub.commit)))
    files = [PlannedFile(f, f"models/acme/model/{f.path}", False) for f in snap.files]
    sync_id = store.create_sync(snap, DEST, files)
    mem = MemorySink()
    sink = CountingSink(mem)

    def put(key: str, body: memoryview, meta: Any) -> None:
        if key.endswith("config.json"):
            raise CredentialsError("the key was revoked")
        mem.put(key, body, meta)

    sink.put = put  # type: ignore[method-assign]
    failed: list[Event] = []
    pool = WorkerPool(
        hub,
        store,
        lambda _id: JobTarget(snap, sink, DEST),
        options=SyncOptions(part_size=5 * MiB, memory_budget=16 * MiB),
        emit=lambda e: failed.append(e) if isinstance(e, FileFailed) else None,
        worker="svc",
    )
    pool.run(threading.Event(), sync_id=sync_id, until_idle=True)  # no stop_on_fatal

    counts = store.counts(sync_id)
    assert counts[JobState.FAILED] == 1 and counts[JobState.DONE] == len(files) - 1
    (job,) = store.jobs(sync_id, state=JobState.FAILED)
    assert job.file.path == "config.json" and job.error == "the key was revoked"


def test_two_runs_of_one_repo_into_one_destination_publish_each_object_once() -> None:
    # Issue 15 bug 6, in-process: both plan before either copies, then both run at once.
    hub, store = make_hub(), MemoryJobStore()
    sink = CountingSink(MemorySink())
    engines = [_engine(hub, sink, store, lambda e: None, concurrency=2) for _ in range(2)]
    for i, e in enumerate(engines):
        e.worker = f"run-{i}"
    plans = [e.plan(REPO) for e in engines]
    assert all(len(p.to_copy) == 6 for p in plans)
    summaries: list[SyncSummary] = []
    barrier = threading.Barrier(2)

    def run(i: int) -> None:
        barrier.wait()
        summaries.append(engines[i].run(plans[i]))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert all(s.ok for s in summaries)
    assert sum(s.copied for s in summaries) == 6  # each file copied by one run...
    assert sum(s.skipped for s in summaries) == 6  # ...and found published by the other
    published = Counter()
    for (op, key), n in sink.calls.items():
        if op in ("put", "complete"):
            published[key] += n
    assert len(published) == 6 and set(published.values()) == {1}
    for path, data in hub.files.items():
        assert sink.inner.get(f"models/acme/model/{path}") == data


def test_a_job_whose_workers_keep_dying_fails_after_its_attempts() -> None:
    now = [1000.0]
    store = MemoryJobStore(clock=lambda: now[0])
    hub, plan, sync_id = _big_file_plan(store)
    for _ in range(4):  # 1 + max_retries workers took it and vanished (SIGKILL)
        assert store.claim("doomed", sync_id=sync_id, lease_seconds=60) is not None
        now[0] += 61
    failed: list[Event] = []
    pool = WorkerPool(
        hub,
        store,
        lambda _id: JobTarget(plan.snapshot, MemorySink(), DEST),
        options=SyncOptions(part_size=5 * MiB, memory_budget=16 * MiB, max_retries=3),
        emit=failed.append,
        worker="w",
    )
    pool.run(threading.Event(), sync_id=sync_id, until_idle=True)

    job = store.job(1)
    assert job.state is JobState.FAILED and job.attempts == 5
    assert job.error is not None and "gave up after 4 attempts" in job.error
    assert [type(e) for e in failed] == [FileFailed]
