"""One suite every JobStore passes (rclone's fstests): SQLite, its in-memory twin, and any
backend added to STORES (the PostgreSQL one: one more entry and factory, nothing else).

Time is a FakeClock handed to the store, so lease expiry and retry delays are tested exactly
and without sleeping. The tests at the end are SQLite-only: what a file gives that memory
cannot — surviving a new store object, a killed process, a second process, schema upgrades.
"""

from __future__ import annotations

import dataclasses
import json
import random
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import platformdirs
import pytest
from servers import postgres as postgres_db

from data4r2.domain import (
    Job,
    JobState,
    Lease,
    LeaseLost,
    PartInfo,
    PlannedFile,
    RemoteFile,
    RepoRef,
    RepoType,
    Snapshot,
    UploadRecord,
)
from data4r2.ports import JobStore
from data4r2.state.memory import MemoryJobStore
from data4r2.state.paths import default_state_path
from data4r2.state.sql import load_queries, parse_queries
from data4r2.state.sqlite import SCHEMA_VERSION, SqliteJobStore, StateStoreError


def _conforms(s: SqliteJobStore, m: MemoryJobStore) -> tuple[JobStore, JobStore]:
    """mypy checks here that both stores implement the Protocol."""
    return s, m


COMMIT = "a" * 40
DEST = "s3://bucket/mirror"
OTHER_DEST = "file:///srv/mirror"
THREADS = 8
T0 = 1_764_000_000.0  # a unix time, so stores that check their clock see a plausible one


class FakeClock:
    """The stores' clock: time moves only when a test says so."""

    def __init__(self) -> None:
        self.now = T0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


# name → factory(folder for its files, clock). A new backend is one more entry.
StoreFactory = Callable[[Path, FakeClock], JobStore]
STORES: dict[str, StoreFactory] = {
    "memory": lambda tmp, clock: MemoryJobStore(clock=clock),
    "sqlite": lambda tmp, clock: SqliteJobStore(tmp / "state.sqlite3", clock=clock),
    "postgres": postgres_db.SESSION.store,
}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(STORES))
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FakeClock
) -> Iterator[Callable[[], JobStore]]:
    """A factory, so a test can open several store objects on one state (threads share one)."""
    opened: list[JobStore] = []
    shared = MemoryJobStore(clock=clock) if request.param == "memory" else None

    def make() -> JobStore:
        # Memory has no file to reopen: every "new store object" is the same one.
        store = shared or STORES[request.param](tmp_path, clock)
        opened.append(store)
        return store

    yield make
    for store in opened:
        close = getattr(store, "close", None)
        if callable(close):
            close()


@pytest.fixture
def store(make_store: Callable[[], JobStore]) -> JobStore:
    return make_store()


def _snapshot(repo_id: str = "org/model") -> Snapshot:
    return Snapshot(RepoRef(repo_id, RepoType.MODEL, "main"), COMMIT, ())


def _planned(n: int, *, skip: frozenset[int] = frozenset(), start: int = 0) -> list[PlannedFile]:
    files = []
    for i in range(start, start + n):
        sha256 = f"{i:064x}" if i % 2 else None  # odd files are LFS
        f = RemoteFile(f"dir/file{i}.bin", 100 + i, f"{i:040x}", sha256)
        files.append(PlannedFile(f, f"models/org/model/dir/file{i}.bin", up_to_date=i in skip))
    return files


def _claim(store: JobStore, sync_id: int | None = None, worker: str = "w", **kw: float) -> Lease:
    lease = store.claim(worker, sync_id=sync_id, **kw)
    assert lease is not None
    return lease


def _all_at_once(fn: Callable[[int], None], n: int = THREADS) -> None:
    """Run fn(0..n-1) in n threads released together by a barrier; re-raise the first error."""
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            fn(i)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# ----------------------------------------------------------------------------- enqueue


def test_create_sync_records_one_job_per_file_with_skipped_ones(store: JobStore) -> None:
    planned = _planned(4, skip=frozenset({1}))
    sync_id = store.create_sync(_snapshot(), DEST, planned)

    jobs = store.jobs(sync_id)
    assert [(j.file, j.key) for j in jobs] == [(p.file, p.key) for p in planned]
    assert [j.state for j in jobs] == [
        JobState.PENDING,
        JobState.SKIPPED,
        JobState.PENDING,
        JobState.PENDING,
    ]
    assert all(j.sync_id == sync_id and j.attempts == 0 and j.error is None for j in jobs)
    assert len({j.id for j in jobs}) == 4
    assert store.job(jobs[2].id) == jobs[2]
    with pytest.raises(LookupError, match="no job"):
        store.job(jobs[-1].id + 1000)


def test_add_files_enqueues_a_batch_and_is_idempotent(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(3))
    first = _claim(store, sync_id)

    assert store.add_files(sync_id, _planned(5)) == 2  # file0..2 are known: only 3 and 4 are new
    assert store.add_files(sync_id, _planned(5)) == 0
    jobs = store.jobs(sync_id)
    assert [j.file.path for j in jobs] == [f"dir/file{i}.bin" for i in range(5)]
    assert jobs[0].state is JobState.RUNNING and jobs[0].id == first.job.id  # left as it was
    assert store.counts(sync_id)[JobState.PENDING] == 4
    with pytest.raises(LookupError, match="no sync 404"):
        store.add_files(404, _planned(1))


def test_jobs_pages_by_id_and_filters_by_state(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(6, skip=frozenset({1, 4})))
    ids = [j.id for j in store.jobs(sync_id)]

    assert [j.id for j in store.jobs(sync_id, state=JobState.SKIPPED)] == [ids[1], ids[4]]
    assert [j.id for j in store.jobs(sync_id, after=ids[2], limit=2)] == ids[3:5]
    assert [j.id for j in store.jobs(sync_id, state=JobState.PENDING, limit=3)] == [
        ids[0],
        ids[2],
        ids[3],
    ]
    assert store.jobs(sync_id, after=ids[-1]) == []
    assert store.jobs(404) == []


def test_syncs_are_listed_newest_first_with_their_totals(store: JobStore, clock: FakeClock) -> None:
    a = store.create_sync(_snapshot("org/a"), DEST, _planned(3, skip=frozenset({0})))
    clock.advance(10)
    b = store.create_sync(_snapshot("org/b"), OTHER_DEST, [])
    clock.advance(10)
    c = store.create_sync(_snapshot("org/c"), DEST, _planned(2))
    lease = _claim(store, a)
    store.finish(lease)
    store.finish_sync(a)

    assert [s.id for s in store.syncs()] == [c, b, a]
    assert [s.id for s in store.syncs(limit=2)] == [c, b]
    assert [s.id for s in store.syncs(before=c, limit=5)] == [b, a]
    rec = store.sync(a)
    assert rec.repo == RepoRef("org/a") and rec.commit == COMMIT and rec.destination == DEST
    assert (rec.files, rec.bytes_total, rec.bytes_done) == (3, 100 + 101 + 102, 100 + 101)
    assert rec.created_at == T0 and rec.finished_at == T0 + 20 and not rec.cancelled
    assert store.sync(b).files == 0 and store.sync(b).finished_at is None
    with pytest.raises(LookupError, match="no sync 404"):
        store.sync(404)
    with pytest.raises(LookupError, match="no sync 404"):
        store.finish_sync(404)


# ----------------------------------------------------------------------------- claim and leases


def test_claim_leases_pending_jobs_in_plan_order_then_none(store: JobStore) -> None:
    planned = _planned(4, skip=frozenset({0}))
    sync_id = store.create_sync(_snapshot(), DEST, planned)

    leases: list[Lease] = []
    while (lease := store.claim("w1", sync_id=sync_id)) is not None:
        leases.append(lease)

    assert [le.job.file.path for le in leases] == [p.file.path for p in planned[1:]]
    assert all(le.job.state is JobState.RUNNING and le.job.attempts == 1 for le in leases)
    assert all(le.worker == "w1" and le.job.worker == "w1" for le in leases)
    assert len({le.token for le in leases}) == 3  # a token per lease
    assert not any(le.already_published for le in leases)
    assert store.claim("w1", sync_id=sync_id) is None
    assert [j.state for j in store.jobs(sync_id)] == [JobState.SKIPPED] + [JobState.RUNNING] * 3


def test_claim_for_one_sync_stays_within_it(store: JobStore) -> None:
    first = store.create_sync(_snapshot(), DEST, _planned(1))
    second = store.create_sync(_snapshot(), OTHER_DEST, _planned(2))
    assert first != second

    assert _claim(store, second).job.sync_id == second
    assert _claim(store, second).job.sync_id == second
    assert store.claim("w", sync_id=second) is None
    assert store.counts(first)[JobState.PENDING] == 1
    assert store.claim("w", sync_id=404) is None
    assert _claim(store).job.sync_id == first  # any sync: the one left


def test_claim_from_many_threads_hands_each_job_out_once(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(200))
    per_thread: list[list[int]] = [[] for _ in range(THREADS)]

    def drain(i: int) -> None:
        while (lease := store.claim(f"w{i}", sync_id=sync_id)) is not None:
            per_thread[i].append(lease.job.id)

    _all_at_once(drain)

    claimed = [job_id for ids in per_thread for job_id in ids]
    assert sorted(claimed) == sorted(j.id for j in store.jobs(sync_id))
    assert len(claimed) == len(set(claimed)) == 200
    assert store.counts(sync_id)[JobState.RUNNING] == 200
    assert all(j.attempts == 1 for j in store.jobs(sync_id))


def test_a_renewed_lease_holds_and_an_expired_one_is_claimable_again(
    store: JobStore, clock: FakeClock
) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(1))
    lease = _claim(store, sync_id, "w1", lease_seconds=10)

    clock.advance(8)
    store.renew(lease, 10)  # now held until T0 + 18
    clock.advance(9)
    assert store.claim("w2", sync_id=sync_id) is None
    assert store.next_due(sync_id) == pytest.approx(1)  # when the lease runs out

    clock.advance(1)
    taken = _claim(store, sync_id, "w2")
    assert taken.job.id == lease.job.id and taken.job.attempts == 2  # the lost attempt counts
    assert taken.token != lease.token
    for late in (
        lambda: store.renew(lease),
        lambda: store.finish(lease),
        lambda: store.fail(lease, "late", retry_in=0),
        lambda: store.release(lease),
    ):
        with pytest.raises(LeaseLost, match="w2 took the job over"):
            late()
    store.finish(taken)
    assert store.job(lease.job.id).state is JobState.DONE


def test_an_expired_lease_not_yet_taken_may_still_finish(store: JobStore, clock: FakeClock) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(1))
    lease = _claim(store, sync_id, lease_seconds=5)
    clock.advance(60)  # a long GC pause, say; nobody claimed the job meanwhile
    store.renew(lease)
    store.finish(lease)
    assert store.job(lease.job.id).state is JobState.DONE


def test_finish_settles_a_leased_job_and_refuses_anything_else(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(3))
    a, b = _claim(store, sync_id), _claim(store, sync_id)

    store.finish(a)
    store.finish(b, JobState.SKIPPED)
    assert [j.state for j in store.jobs(sync_id)] == [
        JobState.DONE,
        JobState.SKIPPED,
        JobState.PENDING,
    ]
    with pytest.raises(LeaseLost, match="done now"):
        store.finish(a)  # twice: a bug in the caller
    with pytest.raises(LeaseLost, match="done now"):
        store.fail(a, "late", retry_in=None)
    c = _claim(store, sync_id)
    with pytest.raises(ValueError, match="DONE or SKIPPED"):
        store.finish(c, JobState.FAILED)
    ghost = Lease(Job(9999, sync_id, c.job.file, c.job.key), "t", "w")
    with pytest.raises(LookupError, match="no job 9999"):
        store.finish(ghost)
    assert store.job(a.job.id).state is JobState.DONE


# ------------------------------------------------------------------ retries and dead letters


def test_a_retried_job_waits_its_delay_before_it_can_be_claimed(
    store: JobStore, clock: FakeClock
) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(2))
    first = _claim(store, sync_id)

    assert store.fail(first, "429 rate limited", retry_in=30) is JobState.PENDING
    other = _claim(store, sync_id)  # the delayed job is skipped, the next one is not
    assert other.job.id != first.job.id
    assert store.claim("w", sync_id=sync_id) is None
    assert store.next_due(sync_id) == pytest.approx(30)

    clock.advance(29.5)
    assert store.claim("w", sync_id=sync_id) is None
    assert store.next_due(sync_id) == pytest.approx(0.5)
    clock.advance(0.5)
    again = _claim(store, sync_id)
    assert again.job.id == first.job.id and again.job.attempts == 2
    assert again.job.error == "429 rate limited"  # the last error stays until it succeeds


def test_fail_without_retry_is_a_dead_letter_kept_with_its_error(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(1))
    lease = _claim(store, sync_id)

    assert store.fail(lease, "sha256 mismatch", retry_in=None) is JobState.FAILED
    (after,) = store.jobs(sync_id)
    assert after.state is JobState.FAILED
    assert after.error == "sha256 mismatch" and after.attempts == 1
    assert store.claim("w", sync_id=sync_id) is None
    assert store.next_due(sync_id) is None  # nothing left to wait for
    assert store.jobs(sync_id, state=JobState.FAILED) == [after]  # kept and listed


def test_requeue_failed_gives_dead_letters_fresh_attempts(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(3))
    leases = [_claim(store, sync_id) for _ in range(3)]
    store.fail(leases[0], "gone", retry_in=None)
    store.fail(leases[1], "gone too", retry_in=None)
    store.finish(leases[2])
    store.finish_sync(sync_id)

    assert store.requeue_failed(sync_id) == 2
    assert store.requeue_failed(sync_id) == 0
    assert store.counts(sync_id)[JobState.PENDING] == 2
    assert store.sync(sync_id).finished_at is None  # open again
    again = _claim(store, sync_id)
    assert again.job.id == leases[0].job.id and again.job.attempts == 1
    with pytest.raises(LookupError, match="no sync 404"):
        store.requeue_failed(404)


def test_release_gives_a_job_back_untried(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(1))
    lease = _claim(store, sync_id)
    store.release(lease)
    assert store.job(lease.job.id).state is JobState.PENDING
    again = _claim(store, sync_id)
    assert again.job.attempts == 1  # the released attempt did not count
    with pytest.raises(LeaseLost):
        store.release(lease)


def test_next_due_says_how_long_until_something_can_be_claimed(
    store: JobStore, clock: FakeClock
) -> None:
    assert store.next_due() is None
    sync_id = store.create_sync(_snapshot(), DEST, _planned(2, skip=frozenset({1})))
    assert store.next_due(sync_id) == 0
    lease = _claim(store, sync_id, lease_seconds=60)
    assert store.next_due(sync_id) == pytest.approx(60)  # only a live lease: its end
    clock.advance(100)
    assert store.next_due() == 0  # expired: claimable now
    store.finish(lease)
    assert store.next_due(sync_id) is None and store.next_due() is None


# ----------------------------------------------------------------------------- cancel and counts


def test_cancel_settles_pending_and_running_jobs_and_takes_the_leases(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(5, skip=frozenset({4})))
    running = _claim(store, sync_id)
    done = _claim(store, sync_id)
    store.finish(done)

    assert store.cancel_sync(sync_id) == 3  # one running, two pending
    assert store.counts(sync_id) == {
        JobState.PENDING: 0,
        JobState.RUNNING: 0,
        JobState.DONE: 1,
        JobState.SKIPPED: 1,
        JobState.FAILED: 0,
        JobState.CANCELLED: 3,
    }
    with pytest.raises(LeaseLost, match="cancelled"):
        store.renew(running)
    with pytest.raises(LeaseLost, match="cancelled"):
        store.finish(running)
    assert store.claim("w", sync_id=sync_id) is None
    assert store.next_due(sync_id) is None
    rec = store.sync(sync_id)
    assert rec.cancelled and rec.finished_at is not None
    assert store.cancel_sync(sync_id) == 0
    with pytest.raises(LookupError, match="no sync 404"):
        store.cancel_sync(404)


def test_counts_cover_every_state(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(6, skip=frozenset({5})))
    leases = [_claim(store, sync_id) for _ in range(4)]
    store.finish(leases[0])
    store.fail(leases[1], "gone", retry_in=None)
    store.fail(leases[2], "reset", retry_in=0)

    assert store.counts(sync_id) == {
        JobState.PENDING: 2,  # file2 (retried) and file4
        JobState.RUNNING: 1,
        JobState.DONE: 1,
        JobState.SKIPPED: 1,
        JobState.FAILED: 1,
        JobState.CANCELLED: 0,
    }
    assert store.counts(404) == dict.fromkeys(JobState, 0)


# ----------------------------------------------------------------------------- fairness and objects


def test_a_small_sync_is_not_starved_by_a_big_one_submitted_first(store: JobStore) -> None:
    big = store.create_sync(_snapshot("org/big"), DEST, _planned(40_000))
    small_files = [
        PlannedFile(RemoteFile(f"s{i}", 1, f"{i:040x}"), f"models/org/small/s{i}", False)
        for i in range(3)
    ]
    small = store.create_sync(_snapshot("org/small"), DEST, small_files)

    order = [_claim(store).job.sync_id for _ in range(6)]
    assert order == [big, small, big, small, big, small]  # round robin across syncs
    assert store.claim("w", sync_id=small) is None  # the small one is all running already


def test_claim_never_leases_an_object_another_live_lease_holds(
    store: JobStore, clock: FakeClock
) -> None:
    # Two syncs of one repo into one destination: the same keys (bug 6).
    first = store.create_sync(_snapshot(), DEST, _planned(2))
    second = store.create_sync(_snapshot(), DEST, _planned(2))
    elsewhere = store.create_sync(_snapshot(), OTHER_DEST, _planned(1))

    held = _claim(store, first, "proc-a", lease_seconds=30)  # file0
    mine = _claim(store, second, "proc-b")
    assert mine.job.key != held.job.key  # file1: file0's object is taken
    assert store.claim("proc-b", sync_id=second) is None
    assert _claim(store, elsewhere).job.key == held.job.key  # another destination: no clash

    ((waiting, holder),) = store.held_elsewhere(second)
    assert waiting.key == held.job.key and holder == "proc-a"
    assert store.next_due(second) == 0  # due, just held: keep polling

    clock.advance(31)  # proc-a died: its lease runs out
    taken = _claim(store, second, "proc-b")
    assert taken.job.key == held.job.key and not taken.already_published
    assert store.held_elsewhere(second) == []


def test_an_object_another_sync_published_since_this_plan_is_already_published(
    store: JobStore, clock: FakeClock
) -> None:
    early = store.create_sync(_snapshot(), DEST, _planned(1, start=5))
    store.finish(_claim(store, early))  # published before the next syncs were planned
    clock.advance(1)
    first = store.create_sync(_snapshot(), DEST, _planned(2, start=5))  # e.g. --force
    second = store.create_sync(_snapshot(), DEST, _planned(2, start=5))
    changed = RemoteFile("dir/file5.bin", 105, "f" * 40, "e" * 64)
    third = store.create_sync(
        _snapshot(), DEST, [PlannedFile(changed, _planned(1, start=5)[0].key, False)]
    )

    a = _claim(store, first, "proc-a")
    assert not a.already_published  # published before `first` was planned: --force copies it
    store.finish(a)
    b = _claim(store, second, "proc-b")
    assert b.job.key == a.job.key and b.already_published  # same key, blob and size: skip
    store.finish(b, JobState.SKIPPED)
    assert not _claim(store, second, "proc-b").already_published  # file6: nobody did it
    assert not _claim(store, third).already_published  # same key, other content: copy


# ----------------------------------------------------------------------------- prune


def test_prune_keeps_the_newest_finished_syncs_of_a_destination(store: JobStore) -> None:
    ids = [store.create_sync(_snapshot(), DEST, _planned(2)) for _ in range(4)]
    for sync_id in ids[:3]:
        store.finish_sync(sync_id)  # the 4th is still running: never pruned
    other = store.create_sync(_snapshot(), OTHER_DEST, _planned(1))
    store.finish_sync(other)
    store.record_upload(DEST, "models/org/model/dir/file0.bin", UploadRecord("up", 8, "x"))

    assert store.prune(DEST, keep=1) == 2
    assert [s.id for s in store.syncs()] == [other, ids[3], ids[2]]
    for gone in ids[:2]:
        assert store.jobs(gone) == []
        with pytest.raises(LookupError):
            store.sync(gone)
    assert len(store.jobs(ids[2])) == 2 and len(store.jobs(ids[3])) == 2
    assert store.upload(DEST, "models/org/model/dir/file0.bin") is not None  # resume data stays
    assert store.prune(DEST, keep=1) == 0
    assert store.prune(OTHER_DEST, keep=0) == 1


# ----------------------------------------------------------------------------- multipart uploads


def _part(n: int, tag: str = "") -> PartInfo:
    return PartInfo(n, 5 * 1024**2, f'"etag{n}{tag}"', f"crc{n}{tag}==")


def test_upload_round_trip_with_parts_recorded_out_of_order_from_threads(store: JobStore) -> None:
    key = "models/org/model/big.safetensors"
    assert store.upload(DEST, key) is None
    store.record_upload(DEST, key, UploadRecord("up-1", 5 * 1024**2, "sha-x"))

    numbers = list(range(1, 81))
    random.Random(7).shuffle(numbers)

    def record(i: int) -> None:
        for n in numbers[i::THREADS]:
            store.record_part(DEST, key, _part(n))

    _all_at_once(record)

    got = store.upload(DEST, key)
    assert got == UploadRecord("up-1", 5 * 1024**2, "sha-x", tuple(_part(n) for n in range(1, 81)))

    store.record_part(DEST, key, _part(3, "-again"))  # a re-uploaded part replaces the old one
    got = store.upload(DEST, key)
    assert got is not None and len(got.parts) == 80
    assert got.parts[2] == _part(3, "-again")

    store.forget_upload(DEST, key)
    assert store.upload(DEST, key) is None
    store.forget_upload(DEST, key)  # forgetting twice is harmless


def test_record_upload_replaces_an_older_upload_and_its_parts(store: JobStore) -> None:
    key = "datasets/org/data/train.parquet"
    store.record_upload(DEST, key, UploadRecord("old", 8, "v1"))
    store.record_part(DEST, key, _part(1))
    store.record_part(DEST, key, _part(2))

    store.record_upload(DEST, key, UploadRecord("new", 16, "v2", (_part(4), _part(2, "n"))))

    assert store.upload(DEST, key) == UploadRecord("new", 16, "v2", (_part(2, "n"), _part(4)))


def test_uploads_are_keyed_by_destination_and_key(store: JobStore) -> None:
    store.record_upload(DEST, "k", UploadRecord("a", 8, "x"))
    store.record_upload("file:///mirror", "k", UploadRecord("b", 8, "x"))
    store.record_part(DEST, "k", _part(1))

    other = store.upload("file:///mirror", "k")
    assert other is not None and other.upload_id == "b" and other.parts == ()
    store.forget_upload("file:///mirror", "k")
    mine = store.upload(DEST, "k")
    assert mine is not None and mine.parts == (_part(1),)


def test_record_part_refuses_a_part_without_an_upload(store: JobStore) -> None:
    with pytest.raises(LookupError, match="no upload recorded"):
        store.record_part(DEST, "nowhere", _part(1))
    store.record_upload(DEST, "k", UploadRecord("a", 8, "x"))
    store.forget_upload(DEST, "k")
    with pytest.raises(LookupError, match="no upload recorded"):
        store.record_part(DEST, "k", _part(1))  # a late part after the upload was forgotten
    with pytest.raises(ValueError, match="start at 1"):
        store.record_part(DEST, "k", _part(0))
    assert store.upload(DEST, "k") is None


def test_parts_keep_their_hash_state_byte_exact(make_store: Callable[[], JobStore]) -> None:
    """A part's sha256 state is what lets a resume skip re-reading it: it must come back
    byte for byte (NUL and high bytes included), survive a replaced part, and stay None
    for a part recorded without one."""
    store = make_store()
    state = bytes(range(256))[::-1] + b"\x00" * 9
    store.record_upload(DEST, "k", UploadRecord("up", 8, "sha", (_with_state(1, b"\x00\xff"),)))
    store.record_part(DEST, "k", _with_state(2, state))
    store.record_part(DEST, "k", _part(3))
    store.record_part(DEST, "k", _with_state(3, b"later"))  # the same number, now with a state
    store.record_part(DEST, "k", _part(4))

    got = make_store().upload(DEST, "k")  # another store object on the same state

    assert got is not None
    assert [p.hash_state for p in got.parts] == [b"\x00\xff", state, b"later", None]
    assert got.parts[1] == _with_state(2, state)


def _with_state(n: int, state: bytes) -> PartInfo:
    return dataclasses.replace(_part(n), hash_state=state)


# ----------------------------------------------------------------------------- SQLite only


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )


def test_sqlite_a_new_store_object_sees_everything(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with SqliteJobStore(path) as first:
        sync_id = first.create_sync(_snapshot(), DEST, _planned(3))
        assert first.claim("w", sync_id=sync_id) is not None
        first.record_upload(DEST, "k", UploadRecord("up", 8, "sha"))
        for n in (3, 1, 2):
            first.record_part(DEST, "k", _part(n))

        with SqliteJobStore(path) as second:  # the first is still open, like another process
            got = second.upload(DEST, "k")
            assert got == UploadRecord("up", 8, "sha", (_part(1), _part(2), _part(3)))
            assert second.counts(sync_id)[JobState.RUNNING] == 1
            assert second.create_sync(_snapshot(), DEST, []) == sync_id + 1


def test_sqlite_uploads_survive_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    code = """
import sys
from pathlib import Path
from data4r2.domain import PartInfo, UploadRecord
from data4r2.state.sqlite import SqliteJobStore
store = SqliteJobStore(Path(sys.argv[1]))
store.record_upload("dest", "k", UploadRecord("up-9", 8, "sha"))
for n in (2, 3, 1):
    store.record_part("dest", "k", PartInfo(n, 8, f"e{n}", f"c{n}"))
print("recorded", flush=True)
sys.stdin.read()  # hold the store open until killed: no close(), no checkpoint
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line == "recorded\n", proc.stderr.read() if proc.stderr else ""
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode != 0  # it really was killed

    with SqliteJobStore(path) as store:
        got = store.upload("dest", "k")
    assert got == UploadRecord(
        "up-9", 8, "sha", tuple(PartInfo(n, 8, f"e{n}", f"c{n}") for n in (1, 2, 3))
    )


def test_sqlite_a_second_process_claims_and_its_lease_is_honoured_here(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with SqliteJobStore(path) as store:
        sync_id = store.create_sync(_snapshot(), DEST, _planned(4, skip=frozenset({3})))
        lease = _claim(store, sync_id, "here")

        code = """
import json, sys
from pathlib import Path
from data4r2.state.sqlite import SqliteJobStore
with SqliteJobStore(Path(sys.argv[1])) as store:
    sync_id = int(sys.argv[2])
    before = {s.value: n for s, n in store.counts(sync_id).items()}
    lease = store.claim("there", sync_id=sync_id)
    print(json.dumps({"before": before, "job": lease.job.id, "token": lease.token}))
"""
        result = _run_python(code, str(path), str(sync_id))
        assert result.returncode == 0, result.stderr
        seen = json.loads(result.stdout)

        assert seen["before"] == {
            "pending": 2,
            "running": 1,
            "done": 0,
            "skipped": 1,
            "failed": 0,
            "cancelled": 0,
        }
        assert seen["job"] == lease.job.id + 1  # the other process took the next job
        assert store.counts(sync_id)[JobState.RUNNING] == 2  # and this one sees it
        theirs = store.job(seen["job"])
        with pytest.raises(LeaseLost):  # only the token's holder may finish it...
            store.finish(Lease(theirs, "not-the-token", "here"))
        store.finish(Lease(theirs, seen["token"], "there"))  # ...wherever it lives
        assert store.counts(sync_id)[JobState.DONE] == 1


def test_sqlite_processes_opening_a_brand_new_file_at_once_all_succeed(tmp_path: Path) -> None:
    # Bug 6: the loser of the race to switch a new file to WAL got "database is locked …
    # move it away". A race, so several rounds; each process spins to a common start time.
    code = """
import sys, time
from pathlib import Path
from data4r2.state.sqlite import SqliteJobStore
start = float(sys.argv[2])
while time.time() < start:
    pass
with SqliteJobStore(Path(sys.argv[1])) as store:
    print(store.counts(1)[next(iter(store.counts(1)))])
"""
    import time

    for round_ in range(3):
        path = tmp_path / f"new-{round_}.sqlite3"
        start = f"{time.time() + 1.0}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(path), start],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        results = [(p.communicate(timeout=60), p.returncode) for p in procs]
        for (out, err), rc in results:
            assert rc == 0 and out == "0\n", err
        with SqliteJobStore(path) as store:
            assert store.create_sync(_snapshot(), DEST, []) == 1


def test_sqlite_a_busy_file_is_not_called_unusable(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SqliteJobStore(path, timeout=0.2)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process in the middle of a long write
        with pytest.raises(StateStoreError, match="is busy") as err:
            store.create_sync(_snapshot(), DEST, [])
        assert "move it away" not in str(err.value)
    finally:
        holder.close()
        store.close()


def _schema(path: Path) -> dict[str, object]:
    """Each table's columns and each index's columns: what a migration must reproduce."""
    db = sqlite3.connect(path)
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        indexes = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index'")]
        return {
            "version": db.execute("PRAGMA user_version").fetchone()[0],
            **{t: db.execute(f"PRAGMA table_info({t})").fetchall() for t in sorted(tables)},
            **{
                f"fk:{t}": db.execute(f"PRAGMA foreign_key_list({t})").fetchall()
                for t in sorted(tables)
            },
            **{i: db.execute(f"PRAGMA index_info({i})").fetchall() for i in sorted(indexes)},
        }
    finally:
        db.close()


def test_sqlite_a_v1_state_file_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    db = sqlite3.connect(path)
    db.executescript((Path(__file__).parent / "data" / "state_v1.sql").read_text())
    db.close()

    with SqliteJobStore(path) as store:
        old, mid = store.sync(1), store.sync(2)
        assert old.repo == RepoRef("org/model") and old.destination == DEST
        assert old.created_at == 1796032800.0  # 2026-11-30T10:00:00Z as unix seconds
        assert old.finished_at == 1796033100.5
        assert (mid.repo, mid.finished_at, mid.files) == (
            RepoRef("org/data", RepoType.DATASET, "v1"),
            None,
            2,
        )
        failed = store.job(2)
        assert (failed.state, failed.attempts, failed.error) == (
            JobState.FAILED,
            4,
            "sha256 mismatch",
        )
        # The interrupted run's job is claimable again, and its multipart upload resumes.
        lease = _claim(store, 2)
        assert lease.job.file.path == "train.parquet" and lease.job.attempts == 2
        record = store.upload(DEST, "datasets/org/data/train.parquet")
        assert record is not None and [p.number for p in record.parts] == [1, 2]
        assert store.requeue_failed(1) == 1

    fresh = tmp_path / "fresh.sqlite3"
    SqliteJobStore(fresh).close()
    assert _schema(path) == _schema(fresh)  # upgraded = created new


def test_sqlite_a_v2_state_file_keeps_its_parts_and_gains_hash_states(tmp_path: Path) -> None:
    """v2 → v3 in place: parts recorded before have no hash state (their resume re-reads
    from the first byte, as v2 did); new parts record one."""
    path = tmp_path / "state.sqlite3"
    db = sqlite3.connect(path)
    db.executescript((Path(__file__).parent / "data" / "state_v1.sql").read_text())
    db.executescript(load_queries("sqlite")["migrate_1_to_2"])
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    key = "datasets/org/data/train.parquet"
    before = db.execute("SELECT number, etag FROM parts WHERE key = ?", (key,)).fetchall()
    db.close()

    with SqliteJobStore(path) as store:
        record = store.upload(DEST, key)
        assert record is not None
        assert [(p.number, p.etag) for p in record.parts] == before
        assert [p.hash_state for p in record.parts] == [None, None]
        store.record_part(DEST, key, dataclasses.replace(record.parts[0], hash_state=b"s1"))
        assert store.upload(DEST, key).parts[0].hash_state == b"s1"  # type: ignore[union-attr]

    fresh = tmp_path / "fresh.sqlite3"
    SqliteJobStore(fresh).close()
    assert _schema(path) == _schema(fresh)


def test_sqlite_writes_wal_with_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.sqlite3"  # missing folders are made
    SqliteJobStore(path).close()
    db = sqlite3.connect(path)
    try:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"syncs", "jobs", "uploads", "parts"}
    finally:
        db.close()
    with SqliteJobStore(path) as again:  # opening an existing file keeps its schema
        assert again.counts(1) == dict.fromkeys(JobState, 0)
    assert _schema(path)["version"] == SCHEMA_VERSION


def test_sqlite_stores_times_as_unix_seconds_from_its_clock(tmp_path: Path) -> None:
    path, clock = tmp_path / "state.sqlite3", FakeClock()
    with SqliteJobStore(path, clock=clock) as store:
        sync_id = store.create_sync(_snapshot(), DEST, [])
        clock.advance(2.5)
        store.finish_sync(sync_id)
    db = sqlite3.connect(path)
    try:
        row = db.execute(
            "SELECT repo_type, repo_id, revision, commit_sha, destination, created_at, finished_at"
            " FROM syncs WHERE id = ?",
            (sync_id,),
        ).fetchone()
    finally:
        db.close()
    assert row == ("model", "org/model", "main", COMMIT, DEST, T0, T0 + 2.5)


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    SqliteJobStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(
        StateStoreError, match=rf"newer data4r2 \(state schema {SCHEMA_VERSION + 1}"
    ):
        SqliteJobStore(path)


def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"not a database, just some text that is long enough" * 100)
    with pytest.raises(StateStoreError, match="not a usable data4r2 state file"):
        SqliteJobStore(path)


# ----------------------------------------------------------------------------- the SQL file


def test_every_sqlite_query_is_described_and_the_parser_refuses_sloppy_files() -> None:
    queries = load_queries("sqlite")
    assert {"schema", "migrate_1_to_2", "claimable", "upsert_part"} <= set(queries)
    assert all(q.startswith("-- ") for q in queries.values())
    with pytest.raises(ValueError, match="defined twice"):
        parse_queries("-- name: a\n-- one\nSELECT 1;\n-- name: a\n-- two\nSELECT 2;\n")
    with pytest.raises(ValueError, match="needs a one-line"):
        parse_queries("-- name: a\nSELECT 1;\n")


def test_default_state_path_is_in_the_user_data_dir() -> None:
    path = default_state_path()
    assert path.name == "state.sqlite3"
    assert path.parent == Path(platformdirs.user_data_dir("data4r2", appauthor=False))
