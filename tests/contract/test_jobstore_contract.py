"""One suite every JobStore passes (rclone's fstests): the SQLite store and its in-memory twin.

The tests at the end are SQLite-only: what a file gives that memory cannot — surviving a new
store object, a killed process, a second process, and schema versioning.
"""

from __future__ import annotations

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

from data4r2.domain import (
    Job,
    JobState,
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
THREADS = 8


def _snapshot() -> Snapshot:
    return Snapshot(RepoRef("org/model", RepoType.MODEL, "main"), COMMIT, ())


def _planned(n: int, *, skip: frozenset[int] = frozenset()) -> list[PlannedFile]:
    files = []
    for i in range(n):
        sha256 = f"{i:064x}" if i % 2 else None  # odd files are LFS
        f = RemoteFile(f"dir/file{i}.bin", 100 + i, f"{i:040x}", sha256)
        files.append(PlannedFile(f, f"models/org/model/dir/file{i}.bin", up_to_date=i in skip))
    return files


@pytest.fixture(params=["memory", "sqlite"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], JobStore]]:
    """A factory, so a test can open several store objects (threads share one)."""
    opened: list[SqliteJobStore | MemoryJobStore] = []

    def make() -> JobStore:
        store: SqliteJobStore | MemoryJobStore
        if request.param == "sqlite":
            store = SqliteJobStore(tmp_path / "state.sqlite3")
        else:
            store = MemoryJobStore()
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: Callable[[], JobStore]) -> JobStore:
    return make_store()


def _claim(store: JobStore, sync_id: int, worker: str = "w") -> Job:
    job = store.claim(sync_id, worker)
    assert job is not None
    return job


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


# ----------------------------------------------------------------------------- syncs and jobs


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


def test_claim_hands_out_pending_jobs_in_plan_order_then_none(store: JobStore) -> None:
    planned = _planned(4, skip=frozenset({0}))
    sync_id = store.create_sync(_snapshot(), DEST, planned)

    claimed: list[Job] = []
    while (job := store.claim(sync_id, "w1")) is not None:
        claimed.append(job)

    assert [j.file.path for j in claimed] == [p.file.path for p in planned[1:]]
    assert all(j.state is JobState.RUNNING and j.attempts == 1 for j in claimed)
    assert store.claim(sync_id, "w1") is None
    assert [j.state for j in store.jobs(sync_id)] == [JobState.SKIPPED] + [JobState.RUNNING] * 3


def test_claim_stays_within_its_sync(store: JobStore) -> None:
    first = store.create_sync(_snapshot(), DEST, _planned(1))
    second = store.create_sync(_snapshot(), "file:///tmp/other", _planned(2))
    assert first != second

    job = store.claim(second, "w")
    assert job is not None and job.sync_id == second
    assert store.claim(second, "w") is not None
    assert store.claim(second, "w") is None
    assert store.counts(first)[JobState.PENDING] == 1
    assert store.claim(404, "w") is None


def test_claim_from_many_threads_hands_each_job_out_once(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(200))
    per_thread: list[list[int]] = [[] for _ in range(THREADS)]

    def drain(i: int) -> None:
        while (job := store.claim(sync_id, f"w{i}")) is not None:
            per_thread[i].append(job.id)

    _all_at_once(drain)

    claimed = [job_id for ids in per_thread for job_id in ids]
    assert sorted(claimed) == sorted(j.id for j in store.jobs(sync_id))
    assert len(claimed) == len(set(claimed)) == 200
    assert store.counts(sync_id)[JobState.RUNNING] == 200
    assert all(j.attempts == 1 for j in store.jobs(sync_id))


def test_fail_with_retry_makes_the_job_pending_again_and_attempts_grow(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(2))
    first = store.claim(sync_id, "w")
    assert first is not None

    assert store.fail(first.id, "connection reset", retry=True) is JobState.PENDING
    again = store.claim(sync_id, "w")  # the lower id comes first again, before file1
    assert again is not None and again.id == first.id
    assert again.attempts == 2
    assert again.error == "connection reset"

    assert store.fail(again.id, "timeout", retry=True) is JobState.PENDING
    third = store.claim(sync_id, "w")
    assert third is not None and third.id == first.id and third.attempts == 3


def test_fail_without_retry_is_final_and_keeps_the_error(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(1))
    job = store.claim(sync_id, "w")
    assert job is not None

    assert store.fail(job.id, "sha256 mismatch", retry=False) is JobState.FAILED
    (after,) = store.jobs(sync_id)
    assert after.state is JobState.FAILED
    assert after.error == "sha256 mismatch"
    assert after.attempts == 1
    assert store.claim(sync_id, "w") is None


def test_finish_marks_a_running_job_and_refuses_anything_else(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(3))
    a, b = store.claim(sync_id, "w"), store.claim(sync_id, "w")
    assert a is not None and b is not None

    store.finish(a.id, JobState.DONE)
    store.finish(b.id, JobState.SKIPPED)
    assert [j.state for j in store.jobs(sync_id)] == [
        JobState.DONE,
        JobState.SKIPPED,
        JobState.PENDING,
    ]
    with pytest.raises(ValueError, match="done, not running"):
        store.finish(a.id, JobState.DONE)  # twice: a bug in the caller
    with pytest.raises(ValueError, match="not running"):
        store.fail(a.id, "late", retry=True)
    pending = store.jobs(sync_id)[2]
    with pytest.raises(ValueError, match="pending, not running"):
        store.finish(pending.id, JobState.DONE)
    with pytest.raises(ValueError, match="DONE or SKIPPED"):
        store.finish(a.id, JobState.FAILED)
    with pytest.raises(LookupError, match="no job 9999"):
        store.finish(9999, JobState.DONE)
    with pytest.raises(LookupError, match="no job 9999"):
        store.fail(9999, "x", retry=False)
    assert store.jobs(sync_id)[0].state is JobState.DONE


def test_counts_cover_every_state(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, _planned(6, skip=frozenset({5})))
    jobs = [_claim(store, sync_id) for _ in range(4)]
    store.finish(jobs[0].id, JobState.DONE)
    store.fail(jobs[1].id, "gone", retry=False)
    store.fail(jobs[2].id, "reset", retry=True)

    assert store.counts(sync_id) == {
        JobState.PENDING: 2,  # file2 (retried) and file4
        JobState.RUNNING: 1,
        JobState.DONE: 1,
        JobState.SKIPPED: 1,
        JobState.FAILED: 1,
    }
    assert store.counts(404) == dict.fromkeys(JobState, 0)


def test_finish_sync_needs_a_known_sync(store: JobStore) -> None:
    sync_id = store.create_sync(_snapshot(), DEST, [])
    store.finish_sync(sync_id)
    assert store.jobs(sync_id) == []
    with pytest.raises(LookupError, match="no sync 404"):
        store.finish_sync(404)


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


# ----------------------------------------------------------------------------- SQLite only


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60
    )


def test_sqlite_a_new_store_object_sees_everything(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with SqliteJobStore(path) as first:
        sync_id = first.create_sync(_snapshot(), DEST, _planned(3))
        job = first.claim(sync_id, "w")
        assert job is not None
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


def test_sqlite_a_second_process_reads_and_claims_while_the_first_holds_the_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "state.sqlite3"
    with SqliteJobStore(path) as store:
        sync_id = store.create_sync(_snapshot(), DEST, _planned(4, skip=frozenset({3})))
        job = store.claim(sync_id, "here")
        assert job is not None

        code = """
import json, sys
from pathlib import Path
from data4r2.state.sqlite import SqliteJobStore
with SqliteJobStore(Path(sys.argv[1])) as store:
    sync_id = int(sys.argv[2])
    before = {s.value: n for s, n in store.counts(sync_id).items()}
    job = store.claim(sync_id, "there")
    print(json.dumps({"before": before, "claimed": job.id if job else None}))
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
        }
        assert seen["claimed"] == job.id + 1  # the other process took the next job
        assert store.counts(sync_id)[JobState.RUNNING] == 2  # and this one sees it
        store.finish(seen["claimed"], JobState.DONE)  # a claim is no longer tied to its process
        assert store.counts(sync_id)[JobState.DONE] == 1


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


def test_sqlite_finish_sync_stamps_the_time(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    with SqliteJobStore(path) as store:
        sync_id = store.create_sync(_snapshot(), DEST, [])
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
    assert row[:5] == ("model", "org/model", "main", COMMIT, DEST)
    assert row[5] <= row[6]
    assert row[6].endswith("Z")


def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    SqliteJobStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(StateStoreError, match=r"newer data4r2 \(state schema 2"):
        SqliteJobStore(path)


def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"not a database, just some text that is long enough" * 100)
    with pytest.raises(StateStoreError, match="not a usable data4r2 state file"):
        SqliteJobStore(path)


# ----------------------------------------------------------------------------- the SQL file


def test_every_sqlite_query_is_described_and_the_parser_refuses_sloppy_files() -> None:
    queries = load_queries("sqlite")
    assert {"schema", "claim", "upsert_part"} <= set(queries)
    assert all(q.startswith("-- ") for q in queries.values())
    with pytest.raises(ValueError, match="defined twice"):
        parse_queries("-- name: a\n-- one\nSELECT 1;\n-- name: a\n-- two\nSELECT 2;\n")
    with pytest.raises(ValueError, match="needs a one-line"):
        parse_queries("-- name: a\nSELECT 1;\n")


def test_default_state_path_is_in_the_user_data_dir() -> None:
    path = default_state_path()
    assert path.name == "state.sqlite3"
    assert path.parent == Path(platformdirs.user_data_dir("data4r2", appauthor=False))
