"""Many workers on one PostgreSQL: processes claiming side by side, a worker SIGKILLed,
silent workers reaped, hung transfers timed out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from servers.postgres import temp_database

from data4r2.domain import JobState, LeaseLost, PlannedFile, RemoteFile, RepoRef, Snapshot
from data4r2.state.pg_reaper import start_reaper
from data4r2.state.postgres import PostgresJobStore

WORKER = Path(__file__).parent / "worker_loop.py"
DEST = "s3://bucket/mirror"


@pytest.fixture
def db() -> Iterator[str]:
    with temp_database() as url:
        yield url


def _planned(n: int, size: int = 100) -> list[PlannedFile]:
    return [
        PlannedFile(RemoteFile(f"f{i:03}", size, f"{i:040x}"), f"models/org/m/f{i:03}", False)
        for i in range(n)
    ]


def _snapshot() -> Snapshot:
    return Snapshot(RepoRef("org/m"), "a" * 40, ())


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_worker_processes_share_the_queue_and_a_killed_ones_job_is_redelivered_once(
    db: str, tmp_path: Path
) -> None:
    with PostgresJobStore(db) as store:
        sync_id = store.create_sync(_snapshot(), DEST, _planned(60))
        hold = "f007"
        ledger = tmp_path / "ledger"
        procs = {
            name: subprocess.Popen(
                [sys.executable, str(WORKER), db, name, str(ledger), hold],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=os.environ.copy(),  # keeps PYTHONPATH: the workers run this checkout
            )
            for name in ("w1", "w2", "w3")
        }
        try:
            held = next(j for j in store.jobs(sync_id) if j.file.path == hold)
            _wait_for(
                lambda: store.job(held.id).state is JobState.RUNNING, 30, f"{hold} to be claimed"
            )
            victim = store.job(held.id).worker
            assert victim in procs
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait(timeout=10)

            for name, proc in procs.items():
                if name != victim:
                    _, err = proc.communicate(timeout=60)
                    assert proc.returncode == 0, err.decode()
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()

        published = [line.split() for line in ledger.read_text().splitlines()]
        per_path = Counter(path for path, _ in published)
        assert sorted(per_path) == [f"f{i:03}" for i in range(60)]
        assert set(per_path.values()) == {1}  # nothing published twice, nothing lost
        publishers = {path: worker for path, worker in published}
        assert publishers[hold] != victim  # redelivered to a live worker after the lease
        assert len(set(publishers.values())) >= 2  # the processes really shared the queue
        after = store.job(held.id)
        assert (after.state, after.attempts) == (JobState.DONE, 2)  # the lost attempt counted
        assert store.counts(sync_id)[JobState.DONE] == 60
        assert store.next_due(sync_id) is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_764_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_reaper_requeues_the_jobs_of_a_silent_worker(db: str) -> None:
    with PostgresJobStore(db) as store:
        sync_id = store.create_sync(_snapshot(), DEST, _planned(2))
        lease = store.claim("silent", lease_seconds=600)  # its lease alone would hold 10 min
        assert lease is not None
        assert store.reap(stall_seconds=3600) == 0  # heard from recently: left alone

        # stall 0: every heartbeat before this round is too old (the database's clock).
        assert store.reap(stall_seconds=0) == 1

        with pytest.raises(LeaseLost, match="pending now"):
            store.renew(lease)
        again = store.claim("alive")
        assert again is not None and again.job.id == lease.job.id and again.job.attempts == 2
        with psycopg.connect(db) as conn:  # procrastinate's view: retried, by the live worker
            row = conn.execute(
                "SELECT j.status, j.attempts, w.name FROM procrastinate.procrastinate_jobs j "
                "JOIN data4r2.workers w ON w.procrastinate_worker_id = j.worker_id "
                "JOIN data4r2.files f ON f.job_id = j.id WHERE f.id = %s",
                (lease.job.id,),
            ).fetchone()
        assert row == ("doing", 1, "alive")
        assert store.counts(sync_id)[JobState.RUNNING] == 1


def test_the_reaper_times_out_a_hung_transfer_scaled_to_its_size(db: str) -> None:
    clock = FakeClock()
    with PostgresJobStore(db, clock=clock) as store:
        store.create_sync(_snapshot(), DEST, [*_planned(1, size=10_000), *_planned(2)[1:]])
        big = store.claim("busy", lease_seconds=10_000)
        small = store.claim("busy", lease_seconds=10_000)
        assert big is not None and small is not None

        clock.now += 60 + 50  # base 60 s; the small file's 100 B need 1 s more, the big one's 100
        assert store.reap(timeout_base=60, timeout_min_rate=100) == 1
        with pytest.raises(LeaseLost):
            store.renew(small)
        store.renew(big)  # still within its size-scaled time


def test_only_one_reaper_works_at_a_time(db: str) -> None:
    with PostgresJobStore(db) as store, psycopg.connect(db, autocommit=True) as other:
        from data4r2.state.postgres import _REAPER_LOCK

        other.execute("SELECT pg_advisory_lock(%s)", (_REAPER_LOCK,))  # another host's round
        assert store.reap() is None
        other.execute("SELECT pg_advisory_unlock(%s)", (_REAPER_LOCK,))
        assert store.reap() == 0


def test_the_reaper_thread_runs_rounds_until_stopped(db: str) -> None:
    with PostgresJobStore(db) as store:
        store.create_sync(_snapshot(), DEST, _planned(1))
        lease = store.claim("gone", lease_seconds=0.2)
        assert lease is not None
        stop = threading.Event()
        thread = start_reaper(store, stop, interval=0.05)
        try:
            _wait_for(lambda: store.counts(lease.job.sync_id)[JobState.PENDING] == 1, 10, "reap")
        finally:
            stop.set()
            thread.join(timeout=10)
        assert not thread.is_alive()


def test_racing_claims_across_syncs_never_run_one_object_twice(db: str) -> None:
    # Two syncs of one repo into one destination: every key twice. Claimers race; the
    # unique "one 'doing' job per lock" index refuses the loser, which looks again.
    with PostgresJobStore(db, pool_size=8) as store:
        for _ in range(2):
            store.create_sync(_snapshot(), DEST, _planned(40))
        leases, errors = [], []
        barrier = threading.Barrier(8)

        def drain(i: int) -> None:
            try:
                barrier.wait()
                while (lease := store.claim(f"w{i}")) is not None:
                    leases.append(lease)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=drain, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert errors == []
        keys = [lease.job.key for lease in leases]
        assert len(keys) == len(set(keys)) == 40  # each object once; its twin waits
        assert store.next_due() == 0  # the twins are due, held by live leases


def test_a_connection_cut_by_the_server_is_replaced_not_fatal(db: str) -> None:
    with PostgresJobStore(db, pool_size=2) as store:
        sync_id = store.create_sync(_snapshot(), DEST, _planned(3))
        with psycopg.connect(db, autocommit=True) as admin:
            cut = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert cut is not None and cut[0] >= 1  # the store's pooled connection is gone

        lease = store.claim("w")
        assert lease is not None and lease.job.sync_id == sync_id
        store.finish(lease)
        assert store.counts(sync_id)[JobState.DONE] == 1


def test_threads_of_one_worker_claiming_at_once_register_it_once(db: str) -> None:
    # A second registration under the same name is an orphan procrastinate row that never
    # beats: once pruned as stalled, the reaper would take back the live job claimed under it.
    threads, names = 8, [f"w{i}" for i in range(5)]  # five first claims: the race shows
    with PostgresJobStore(db, pool_size=threads) as store:
        store.create_sync(_snapshot(), DEST, _planned(threads * len(names)))
        for name in names:
            start = threading.Barrier(threads)

            def claim(name: str = name, start: threading.Barrier = start) -> None:
                start.wait()
                assert store.claim(name) is not None

            pool = [threading.Thread(target=claim) for _ in range(threads)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
        with psycopg.connect(db) as conn:
            rows = conn.execute("SELECT count(*) FROM procrastinate.procrastinate_workers")
            assert rows.fetchone() == (len(names),)
