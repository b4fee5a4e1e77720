"""The cluster JobStore: PostgreSQL, with procrastinate owning the queue.

How the contract maps onto procrastinate (SQL and the reasons in state/sql/postgres.sql):

- enqueue: one procrastinate job per file to copy, deferred in batches through
  `procrastinate_defer_jobs_v1` in the transaction that writes our `files` rows. Idempotence is
  our UNIQUE (sync_id, path): procrastinate's queueing_lock only guards jobs still 'todo'.
- not_before is the job's `scheduled_at`; fairness is its `priority` (each sync's files count
  down from the queue's current frontier, so syncs interleave); per-object exclusivity is its
  `lock` (destination + key), whose unique index allows one 'doing' job per object.
- claim is our SQL on procrastinate_jobs, not `procrastinate_fetch_job_v2`: that one reads
  the database clock (the contract passes its own), treats a lock as a FIFO (an object's
  waiting job would block the same object in every later sync) and knows no lease.
- leases (token + expiry) are ours: procrastinate only detects stalled *workers* by heartbeat.
  We keep both: every claim and renew beats the worker's procrastinate heartbeat; `reap()`
  prunes silent workers with procrastinate's own function and requeues their jobs, expired
  leases and jobs over their size-scaled timeout.
- finish / fail / retry / cancel go through procrastinate's functions (finish_job 'succeeded'
  or 'failed' — our dead letter, kept; retry_job with retry_at; cancel_job + an immediate
  'aborted' for running jobs, whose lease we take). release ("untried") has no procrastinate
  equivalent: it is a retry due now whose attempt our `files.attempts` does not count.
- locks: every writer takes its worker's heartbeat row, then jobs, then leases (lock_jobs in
  the SQL), so none can deadlock another (a name's first registration locks the name before
  all of them, so the threads of one worker register it once); a claimer skips an object
  another claimer is starting (a transaction-scoped advisory lock) and retries the rare
  unique-index clash.

The retry *policy* (capped exponential backoff with jitter, the Hub's Retry-After exactly) is
engine/retry.py's, shared with the SQLite store: procrastinate's RetryStrategy runs inside its
own worker, and our workers are the engine's WorkerPool; the store receives `retry_in`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ..domain import (
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
    SyncRecord,
    UploadRecord,
)
from .leases import lease_lost
from .pg_schema import CONNECT_OPTIONS, DatabaseError, check_schema, describe
from .sql import load_queries

Row = dict[str, Any]
Conn = psycopg.Connection[Row]

_Q = load_queries("postgres")
_SETTLED = (JobState.DONE, JobState.SKIPPED)
_BATCH = 5_000  # files per INSERT / defer statement: bounded arrays, one transaction
_CLAIM_TRIES = 5
_ANALYZE_AFTER = 1_000  # new files in one enqueue that make the queue's statistics stale
_REAPER_LOCK = 0x6461_7461_3472_7270  # "data4r2" + "rp": one reaper round at a time
_WORKER_NAME_LOCKS = 0x6434_7277  # "d4rw": the first key of each worker name's lock


class PostgresJobStore:
    """`JobStore` on PostgreSQL; safe from many threads, processes and hosts at once."""

    def __init__(
        self,
        dsn: str,
        *,
        clock: Callable[[], float] | None = None,
        pool_size: int = 8,
        timeout: float = 30.0,
    ) -> None:
        """`clock` None: the database's clock (one for every host); tests pass their own."""
        check_schema(dsn)  # refuse an old or new schema before anything touches it
        self._clock = clock
        self._where = describe(dsn)
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            dsn,
            min_size=1,
            max_size=pool_size,
            kwargs={"options": CONNECT_OPTIONS, "row_factory": dict_row},
            # A connection cut by the server (restart, pg_terminate_backend) is replaced
            # when it is next taken, instead of failing the call that takes it.
            check=ConnectionPool.check_connection,
            timeout=timeout,
            name="data4r2",
            open=False,
        )
        try:
            self._pool.open(wait=True, timeout=timeout)
        except PoolTimeout as e:
            self._pool.close()
            raise DatabaseError(f"cannot connect to {self._where} within {timeout:g} s") from e

    def _now(self) -> float | None:
        return self._clock() if self._clock is not None else None

    @contextmanager
    def _tx(self) -> Iterator[Conn]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        with self._pool.connection() as conn:
            yield conn

    # ------------------------------------------------------------------------- syncs

    def create_sync(
        self,
        snapshot: Snapshot,
        destination: str,
        files: Sequence[PlannedFile],
        *,
        planned_at: float | None = None,
    ) -> int:
        repo = snapshot.repo
        with self._tx() as db:
            row = _one(
                db.execute(
                    _Q["insert_sync"],
                    {
                        "repo_type": repo.repo_type.value,
                        "repo_id": repo.repo_id,
                        "revision": repo.revision,
                        "commit_sha": snapshot.commit,
                        "destination": destination,
                        "now": planned_at if planned_at is not None else self._now(),
                    },
                )
            )
            sync_id = int(row["id"])
            added = _enqueue(db, sync_id, destination, files)
        self._analyze_after(added)
        return sync_id

    def add_files(self, sync_id: int, files: Sequence[PlannedFile]) -> int:
        with self._tx() as db:
            destination = _sync_must_exist(db, sync_id)
            added = _enqueue(db, sync_id, destination, files)
            if added:
                db.execute(_Q["reopen_sync"], {"sync_id": sync_id})
        self._analyze_after(added)
        return added

    def _analyze_after(self, added: int) -> None:
        """Refresh the planner's statistics after a big enqueue (committed first, so this
        never holds the enqueue's transaction open); autovacuum would, but only later."""
        if added >= _ANALYZE_AFTER:
            with self._tx() as db:
                db.execute(_Q["analyze"])

    def sync(self, sync_id: int) -> SyncRecord:
        with self._tx() as db:
            row = db.execute(
                _Q["syncs"], {"sync_id": sync_id, "before": None, "limit": 1}
            ).fetchone()
        if row is None:
            raise LookupError(f"no sync {sync_id}")
        return _sync_record(row)

    def syncs(self, *, limit: int = 50, before: int | None = None) -> list[SyncRecord]:
        params = {"sync_id": None, "before": before, "limit": limit}
        with self._tx() as db:
            return [_sync_record(row) for row in db.execute(_Q["syncs"], params)]

    def finish_sync(self, sync_id: int) -> None:
        with self._tx() as db:
            if not db.execute(_Q["finish_sync"], {"sync_id": sync_id, "now": self._now()}).rowcount:
                raise LookupError(f"no sync {sync_id}")

    def cancel_sync(self, sync_id: int) -> int:
        params = {"sync_id": sync_id, "now": self._now()}
        with self._tx() as db:
            if not db.execute(_Q["cancel_sync"], params).rowcount:
                raise LookupError(f"no sync {sync_id}")
            # Jobs before leases, as every writer locks them (see lock_jobs in the SQL). A
            # claim racing this one either committed first (its job is 'doing' now, aborted
            # here, its new lease dropped below) or finds the job cancelled.
            db.execute(_Q["cancel_jobs"], params)
            db.execute(_Q["abort_jobs"], params)
            db.execute(_Q["drop_sync_leases"], params)
            return int(db.execute(_Q["cancel_files"], params).rowcount)

    def requeue_failed(self, sync_id: int) -> int:
        params = {"sync_id": sync_id, "now": self._now()}
        with self._tx() as db:
            _sync_must_exist(db, sync_id)
            db.execute(_Q["requeue_jobs"], params)
            requeued = int(db.execute(_Q["requeue_files"], params).rowcount)
            if requeued:
                db.execute(_Q["reopen_sync"], params)
        return requeued

    def prune(self, destination: str, keep: int) -> int:
        if keep < 0:
            raise ValueError(f"keep must be 0 or more, not {keep}")
        with self._tx() as db:
            rows = db.execute(_Q["doomed_syncs"], {"destination": destination, "keep": keep})
            doomed = [int(row["id"]) for row in rows]
            if doomed:
                db.execute(_Q["prune_jobs"], {"sync_ids": doomed})
                db.execute(_Q["prune_syncs"], {"sync_ids": doomed})
        return len(doomed)

    # ------------------------------------------------------------------------- the queue

    def claim(
        self, worker: str, *, sync_id: int | None = None, lease_seconds: float = 60.0
    ) -> Lease | None:
        for _ in range(_CLAIM_TRIES):
            try:
                return self._claim_once(worker, sync_id, lease_seconds)
            except psycopg.errors.UniqueViolation:
                # Another claimer started a job of the same object (another sync's) between
                # our look and our update; the lock index refused the second. Look again.
                continue
        return None

    def _claim_once(self, worker: str, sync_id: int | None, lease_seconds: float) -> Lease | None:
        now = self._now()
        token = uuid.uuid4().hex
        with self._tx() as db:
            # Lock order everywhere: worker row, then jobs, then leases (no deadlocks).
            worker_id = _worker_id(db, worker)
            _requeue(db, db.execute(_Q["expired_leases"], {"now": now}).fetchall(), now)
            found = db.execute(_Q["claimable"], {"now": now, "sync_id": sync_id}).fetchone()
            if found is None:
                return None
            ids = {"job_id": found["job_id"], "file_id": found["file_id"]}
            db.execute(_Q["start_job"], {**ids, "worker_id": worker_id})
            db.execute(
                _Q["insert_lease"],
                {**ids, "token": token, "worker": worker, "now": now, "seconds": lease_seconds},
            )
            row = _one(db.execute(_Q["file_running"], {**ids, "worker": worker}))
            published = db.execute(
                _Q["published_since"],
                {
                    **ids,
                    "key": found["key"],
                    "git_sha1": found["git_sha1"],
                    "size": found["size"],
                    "destination": found["destination"],
                    "planned_at": found["created_at"],
                },
            ).fetchone()
        return Lease(_job(row), token, worker, already_published=published is not None)

    def next_due(self, sync_id: int | None = None) -> float | None:
        with self._tx() as db:
            row = _one(db.execute(_Q["next_due"], {"sync_id": sync_id, "now": self._now()}))
        return float(row["due"]) if row["open"] else None

    def held_elsewhere(self, sync_id: int) -> list[tuple[Job, str]]:
        with self._tx() as db:
            rows = db.execute(
                _Q["held_elsewhere"], {"sync_id": sync_id, "now": self._now()}
            ).fetchall()
        return [(_job(row), str(row["holder"])) for row in rows]

    def renew(self, lease: Lease, lease_seconds: float = 60.0) -> None:
        params = {**_holder(lease), "now": self._now(), "seconds": lease_seconds}
        with self._tx() as db:
            db.execute(_Q["touch_worker"], {"worker": lease.worker})  # the heartbeat, first:
            if db.execute(_Q["renew"], params).fetchone() is not None:  # worker before lease
                return
        raise self._lost(lease)

    def finish(self, lease: Lease, state: JobState = JobState.DONE) -> None:
        if state not in _SETTLED:
            raise ValueError(f"finish() takes DONE or SKIPPED, not {state.name}")
        with self._tx() as db:
            taken = _take_lease(db, lease)
            if taken is not None:
                db.execute(_Q["finish_job"], {"job_id": taken["job_id"], "status": "succeeded"})
                self._settle(db, lease, state, None)
                return
        raise self._lost(lease)

    def fail(self, lease: Lease, error: str, *, retry_in: float | None) -> JobState:
        now = self._now()
        with self._tx() as db:
            taken = _take_lease(db, lease)
            if taken is not None:
                if retry_in is None:  # the dead letter: procrastinate 'failed', kept
                    db.execute(_Q["finish_job"], {"job_id": taken["job_id"], "status": "failed"})
                    self._settle(db, lease, JobState.FAILED, error)
                    return JobState.FAILED
                params = {"job_ids": [taken["job_id"]], "now": now, "delay": max(retry_in, 0.0)}
                db.execute(_Q["retry_jobs"], params)
                db.execute(_Q["retry_file"], {"file_id": lease.job.id, "error": error})
                return JobState.PENDING
        raise self._lost(lease)

    def release(self, lease: Lease) -> None:
        now = self._now()
        with self._tx() as db:
            taken = _take_lease(db, lease)
            if taken is not None:
                params = {"job_ids": [taken["job_id"]], "now": now, "delay": 0.0}
                db.execute(_Q["retry_jobs"], params)
                db.execute(_Q["release_file"], {"file_id": lease.job.id})
                return
        raise self._lost(lease)

    def _settle(self, db: Conn, lease: Lease, state: JobState, error: str | None) -> None:
        db.execute(
            _Q["settle_file"],
            {"file_id": lease.job.id, "state": state.value, "error": error, "now": self._now()},
        )

    def _lost(self, lease: Lease) -> LeaseLost:
        """The error for a lease whose token no longer holds (LookupError: no such job)."""
        return lease_lost(lease, self.job(lease.job.id))

    def job(self, job_id: int) -> Job:
        with self._tx() as db:
            row = db.execute(_Q["job"], {"file_id": job_id}).fetchone()
        if row is None:
            raise LookupError(f"no job {job_id}")
        return _job(row)

    def jobs(
        self,
        sync_id: int,
        *,
        state: JobState | None = None,
        after: int = 0,
        limit: int | None = None,
    ) -> list[Job]:
        params = {
            "sync_id": sync_id,
            "state": state.value if state else None,
            "after": after,
            "limit": limit,  # LIMIT NULL: all
        }
        with self._tx() as db:
            return [_job(row) for row in db.execute(_Q["jobs"], params)]

    def counts(self, sync_id: int) -> dict[JobState, int]:
        counts = dict.fromkeys(JobState, 0)
        with self._tx() as db:
            for row in db.execute(_Q["counts"], {"sync_id": sync_id}):
                counts[JobState(row["state"])] = int(row["n"])
        return counts

    # ------------------------------------------------------------------------- workers

    def reap(
        self,
        *,
        stall_seconds: float = 120.0,
        timeout_base: float = 900.0,
        timeout_min_rate: float = 512 * 1024,
    ) -> int | None:
        """One round of the cluster's reaper: requeue (counting the attempt) the jobs of
        workers silent for `stall_seconds` (procrastinate's stalled-worker pruning), of
        expired leases, and of leases held past `timeout_base` + size / `timeout_min_rate`
        seconds (a transfer hung on a live worker). How many; None when another reaper
        holds the advisory lock this round."""
        now = self._now()
        with self._tx() as db:
            if not _one(db.execute(_Q["reaper_lock"], {"key": _REAPER_LOCK}))["locked"]:
                return None
            db.execute(_Q["prune_stalled_workers"], {"seconds": stall_seconds})
            dead = [
                *db.execute(_Q["orphaned_leases"]).fetchall(),
                *db.execute(
                    _Q["stalled_leases"],
                    {"now": now, "base": timeout_base, "min_rate": timeout_min_rate},
                ).fetchall(),
            ]
            expired = db.execute(_Q["expired_leases"], {"now": now}).fetchall()
            return _requeue(db, dead, now, force=True) + _requeue(db, expired, now)

    def retire_worker(self, worker: str) -> None:
        """A worker leaving cleanly: procrastinate forgets its heartbeat row."""
        with self._tx() as db:
            db.execute(_Q["unregister_worker"], {"worker": worker})

    # ------------------------------------------------------------------------- multipart uploads

    def upload(self, destination: str, key: str) -> UploadRecord | None:
        where = {"destination": destination, "key": key}
        with self._tx() as db:
            row = db.execute(_Q["upload"], where).fetchone()
            if row is None:
                return None
            parts = tuple(_part(p) for p in db.execute(_Q["upload_parts"], where))
        return UploadRecord(
            upload_id=str(row["upload_id"]),
            part_size=int(row["part_size"]),
            identity=str(row["identity"]),
            parts=parts,
        )

    def record_upload(self, destination: str, key: str, record: UploadRecord) -> None:
        """Record a new upload for the object, replacing any older one and its parts."""
        where = {"destination": destination, "key": key}
        with self._tx() as db:
            db.execute(_Q["delete_parts"], where)
            db.execute(
                _Q["upsert_upload"],
                {
                    **where,
                    "upload_id": record.upload_id,
                    "part_size": record.part_size,
                    "identity": record.identity,
                    "now": self._now(),
                },
            )
            with db.cursor() as cur:
                cur.executemany(_Q["upsert_part"], [_part_params(where, p) for p in record.parts])

    def record_part(self, destination: str, key: str, part: PartInfo) -> None:
        """Record a finished part (replacing one with its number); LookupError without an upload."""
        if part.number < 1:
            raise ValueError(f"part numbers start at 1, not {part.number}")
        where = {"destination": destination, "key": key}
        with self._tx() as db:
            if not db.execute(_Q["upsert_part"], _part_params(where, part)).rowcount:
                raise LookupError(f"no upload recorded for {key!r} in {destination}")

    def forget_upload(self, destination: str, key: str) -> None:
        with self._tx() as db:
            db.execute(_Q["delete_upload"], {"destination": destination, "key": key})

    # ------------------------------------------------------------------------- lifetime

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresJobStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ----------------------------------------------------------------------------- helpers


def _enqueue(db: Conn, sync_id: int, destination: str, files: Sequence[PlannedFile]) -> int:
    """Insert the files of a sync and defer a procrastinate job for each new one to copy,
    in batches of _BATCH, inside the caller's transaction. How many files were new."""
    frontier = int(_one(db.execute(_Q["frontier"]))["frontier"])
    added = 0
    for start in range(0, len(files), _BATCH):
        batch = files[start : start + _BATCH]
        new = db.execute(
            _Q["insert_files"],
            {
                "sync_id": sync_id,
                "path": [f.file.path for f in batch],
                "size": [f.file.size for f in batch],
                "git_sha1": [f.file.git_sha1 for f in batch],
                "sha256": [f.file.sha256 for f in batch],
                "key": [f.key for f in batch],
                "state": [
                    (JobState.SKIPPED if f.up_to_date else JobState.PENDING).value for f in batch
                ],
            },
        ).fetchall()
        added += len(new)
        to_copy = sorted(
            (int(row["id"]), str(row["key"])) for row in new if row["state"] == "pending"
        )
        if not to_copy:
            continue
        job_ids = [
            int(row["job_id"])
            for row in db.execute(
                _Q["defer_files"],
                {
                    "sync_id": sync_id,
                    "destination": destination,
                    "frontier": frontier,
                    "file_ids": [file_id for file_id, _ in to_copy],
                    "keys": [key for _, key in to_copy],
                },
            )
        ]
        db.execute(_Q["link_files"], {"job_ids": job_ids})
        frontier -= len(job_ids)
    return added


def _requeue(db: Conn, leases: Sequence[Row], now: float | None, *, force: bool = False) -> int:
    """Give leased jobs back to the queue, counting the attempt (their holders lose the
    lease); how many. `leases` were read unlocked: each job is locked first (skipped if
    another transaction holds it), then its lease dropped if it is still the same lease and,
    unless `force`, still expired — a renew may have come in between."""
    if not leases:
        return 0
    tokens = [str(row["token"]) for row in leases]
    wanted = sorted({int(row["job_id"]) for row in leases})
    locked = [int(row["job_id"]) for row in db.execute(_Q["lock_jobs"], {"job_ids": wanted})]
    if not locked:
        return 0
    params = {"job_ids": locked, "tokens": tokens, "force": force, "now": now}
    job_ids = sorted(int(row["job_id"]) for row in db.execute(_Q["drop_leases"], params))
    if job_ids:
        db.execute(_Q["retry_jobs"], {"job_ids": job_ids, "now": now, "delay": 0.0})
        db.execute(_Q["files_pending"], {"job_ids": job_ids})
    return len(job_ids)


def _take_lease(db: Conn, lease: Lease) -> Row | None:
    """End a lease its token still holds, its job locked first; None if the token lost it."""
    if db.execute(_Q["lock_leased_job"], _holder(lease)).fetchone() is None:
        return None
    return db.execute(_Q["take_lease"], _holder(lease)).fetchone()


def _worker_id(db: Conn, worker: str) -> int:
    """procrastinate's id of a named worker, with a heartbeat; (re)registered if needed."""
    row = db.execute(_Q["touch_worker"], {"worker": worker}).fetchone()
    if row is None:
        # Threads of one process claim at once under one name. A second registration would
        # leave an orphan row that never beats: pruned as stalled, it would have the reaper
        # take back the live job claimed under it. So: lock the name, look again, then register.
        db.execute(_Q["lock_worker_name"], {"space": _WORKER_NAME_LOCKS, "worker": worker})
        row = db.execute(_Q["touch_worker"], {"worker": worker}).fetchone()
    if row is None:
        row = _one(db.execute(_Q["register_worker"], {"worker": worker}))
    return int(row["worker_id"])


def _sync_must_exist(db: Conn, sync_id: int) -> str:
    """The sync's destination; LookupError if there is no such sync."""
    row = db.execute(_Q["sync_exists"], {"sync_id": sync_id}).fetchone()
    if row is None:
        raise LookupError(f"no sync {sync_id}")
    return str(row["destination"])


def _holder(lease: Lease) -> dict[str, Any]:
    return {"file_id": lease.job.id, "token": lease.token}


def _one(cursor: psycopg.Cursor[Row]) -> Row:
    row = cursor.fetchone()
    if row is None:  # pragma: no cover - every caller's statement returns a row
        raise AssertionError("the statement returned no row")
    return row


def _sync_record(row: Row) -> SyncRecord:
    return SyncRecord(
        id=int(row["id"]),
        repo=RepoRef(str(row["repo_id"]), RepoType(row["repo_type"]), str(row["revision"])),
        commit=str(row["commit_sha"]),
        destination=str(row["destination"]),
        created_at=float(row["created_at"]),
        finished_at=None if row["finished_at"] is None else float(row["finished_at"]),
        cancelled=bool(row["cancelled"]),
        files=int(row["files"]),
        bytes_total=int(row["bytes_total"]),
        bytes_done=int(row["bytes_done"]),
    )


def _job(row: Row) -> Job:
    return Job(
        id=int(row["id"]),
        sync_id=int(row["sync_id"]),
        file=RemoteFile(
            path=str(row["path"]),
            size=int(row["size"]),
            git_sha1=str(row["git_sha1"]),
            sha256=row["sha256"],
        ),
        key=str(row["key"]),
        state=JobState(row["state"]),
        attempts=int(row["attempts"]),
        error=row["error"],
        worker=row["worker"],
    )


def _part(row: Row) -> PartInfo:
    return PartInfo(
        number=int(row["number"]),
        size=int(row["size"]),
        etag=str(row["etag"]),
        checksum=str(row["checksum"]),
        hash_state=None if row["hash_state"] is None else bytes(row["hash_state"]),
    )


def _part_params(where: dict[str, str], part: PartInfo) -> dict[str, str | int | bytes | None]:
    return {
        **where,
        "number": part.number,
        "size": part.size,
        "etag": part.etag,
        "checksum": part.checksum,
        "hash_state": part.hash_state,
    }
