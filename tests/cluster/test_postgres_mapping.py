"""The PostgreSQL store keeps two views of each job in step: procrastinate's queue row (what
claims read) and our files row (what the API lists). After every kind of transition, each
file's state must match its procrastinate job's status, and procrastinate's event log must
show the transitions its own functions record."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from servers.postgres import temp_database

from data4r2.domain import JobState, PlannedFile, RemoteFile, RepoRef, Snapshot
from data4r2.state.postgres import PostgresJobStore

STATUS = {  # our state -> the procrastinate statuses it may sit beside
    "pending": {"todo"},
    "running": {"doing"},
    "done": {"succeeded"},
    "skipped": {"succeeded", None},  # up-to-date files never get a queue entry
    "failed": {"failed"},
    "cancelled": {"cancelled", "aborted"},
}


@pytest.fixture
def store() -> Iterator[tuple[PostgresJobStore, str]]:
    with temp_database() as url, PostgresJobStore(url) as s:
        yield s, url


def _pairs(url: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT f.state, j.status::text FROM data4r2.files f "
            "LEFT JOIN procrastinate.procrastinate_jobs j ON j.id = f.job_id ORDER BY f.id"
        ).fetchall()


def _events(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT type::text FROM procrastinate.procrastinate_events ORDER BY id"
        ).fetchall()
    return [r[0] for r in rows]


def _in_step(url: str) -> None:
    for state, status in _pairs(url):
        assert status in STATUS[state], (state, status)


def test_every_transition_moves_the_queue_row_and_the_record_together(
    store: tuple[PostgresJobStore, str],
) -> None:
    s, url = store
    files = [
        PlannedFile(RemoteFile(f"f{i}", 10, f"{i:040x}"), f"models/o/m/f{i}", up_to_date=i == 5)
        for i in range(6)
    ]
    sync_id = s.create_sync(Snapshot(RepoRef("o/m"), "a" * 40, ()), "dest", files)
    assert [status for _, status in _pairs(url)] == ["todo"] * 5 + [None]
    _in_step(url)

    leases = [s.claim("w") for _ in range(5)]
    assert all(lease is not None for lease in leases)
    _in_step(url)
    a, b, c, d, _running = (lease for lease in leases if lease is not None)
    s.finish(a)
    s.fail(b, "gone", retry_in=None)
    s.fail(c, "reset", retry_in=30)
    s.release(d)
    _in_step(url)

    assert s.requeue_failed(sync_id) == 1
    _in_step(url)
    assert s.cancel_sync(sync_id) == 4  # b, c, d pending; e running
    _in_step(url)
    assert [state for state, _ in _pairs(url)] == ["done"] + ["cancelled"] * 4 + ["skipped"]
    assert _pairs(url)[4] == ("cancelled", "aborted")  # the running one: aborted, not failed

    events = _events(url)
    for kind in ("deferred", "started", "succeeded", "failed", "deferred_for_retry"):
        assert kind in events, kind
    assert {"retried", "cancelled", "abort_requested", "aborted"} <= set(events)
    assert s.counts(sync_id)[JobState.CANCELLED] == 4


def test_prune_takes_procrastinate_rows_with_the_sync(store: tuple[PostgresJobStore, str]) -> None:
    s, url = store
    files = [PlannedFile(RemoteFile("f", 1, "0" * 40), "models/o/m/f", False)]
    sync_id = s.create_sync(Snapshot(RepoRef("o/m"), "a" * 40, ()), "dest", files)
    lease = s.claim("w")
    assert lease is not None
    s.finish(lease)
    s.finish_sync(sync_id)

    assert s.prune("dest", keep=0) == 1
    with psycopg.connect(url) as conn:
        for table in ("procrastinate_jobs", "procrastinate_events"):
            count = conn.execute(f"SELECT count(*) FROM procrastinate.{table}").fetchone()
            assert count == (0,), table


def test_cancel_racing_busy_workers_leaves_every_job_settled_and_in_step(
    store: tuple[PostgresJobStore, str],
) -> None:
    import threading

    from data4r2.domain import LeaseLost

    s, url = store
    files = [PlannedFile(RemoteFile(f"f{i}", 1, f"{i:040x}"), f"k/f{i}", False) for i in range(300)]
    sync_id = s.create_sync(Snapshot(RepoRef("o/m"), "a" * 40, ()), "dest", files)
    errors: list[BaseException] = []
    started = threading.Barrier(7)

    def work(i: int) -> None:
        try:
            started.wait()
            while (lease := s.claim(f"w{i}", sync_id=sync_id)) is not None:
                try:
                    s.renew(lease)
                    if lease.job.id % 7 == 0:
                        s.fail(lease, "flaky", retry_in=0)
                    else:
                        s.finish(lease)
                except LeaseLost:  # cancelled under us: the expected outcome, not an error
                    continue
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    started.wait()
    deadline = time.monotonic() + 30
    while s.counts(sync_id)[JobState.DONE] < 30:  # cancel mid-run, with work in flight
        assert time.monotonic() < deadline, "the workers did not get going"
        time.sleep(0.01)
    cancelled = s.cancel_sync(sync_id)
    for t in threads:
        t.join()

    assert [str(e) for e in errors] == []  # no deadlock, no procrastinate "wrong status" error
    counts = s.counts(sync_id)
    assert counts[JobState.CANCELLED] == cancelled > 0
    assert counts[JobState.DONE] + counts[JobState.CANCELLED] == 300
    _in_step(url)
