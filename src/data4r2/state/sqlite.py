"""The embedded JobStore: one SQLite file per user, shared by every data4r2 process on the host.

Concurrency: one connection per store, guarded by a lock, serves all threads of a process
(SQLite serialises writers anyway, so a connection per thread would buy nothing but
cleanup). WAL lets other processes (`data4r2 verify`, a second sync, `data4r2 worker`) read
while we write; every write is one `BEGIN IMMEDIATE` transaction, so a writer waits for the
file lock up to `timeout` seconds up front instead of failing half-way through — which is
also what makes `claim` atomic across processes: no two leases on one job or one object.

Durability: each write commits. With WAL, `synchronous=NORMAL` skips the fsync per commit but
keeps every commit atomic, and a commit survives a killed process (the WAL is in the OS
cache); only a power cut can roll back the last few commits, never corrupt the file. What
those commits hold is re-derivable: a lost part record just means that part is uploaded
again, and the engine proves recorded parts against the sink's list on resume anyway.

Times are unix seconds from `clock` (a parameter, so tests can move time and every backend
stores the same numbers); the SQL never reads the database's own clock.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from ..domain import (
    Data4r2Error,
    Job,
    JobState,
    Lease,
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
from .sql import load_queries

SCHEMA_VERSION = 3  # must match the `PRAGMA user_version` the `schema` block sets
_Q = load_queries("sqlite")
# Upgrade steps from each older version, in order; each sets the next user_version.
_MIGRATIONS = {1: "migrate_1_to_2", 2: "migrate_2_to_3"}
_SETTLED = (JobState.DONE, JobState.SKIPPED)


class StateStoreError(Data4r2Error):
    """The state file cannot be used: not a database, busy, or written by a newer data4r2."""


class SqliteJobStore:
    """`JobStore` on a SQLite file; safe from many threads here and from other processes."""

    def __init__(
        self, path: Path, *, timeout: float = 30.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = path
        self._clock = clock
        self._timeout = timeout
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves (sqlite3's
        # implicit deferred BEGIN would take the write lock late and could fail mid-way).
        self._conn = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._conn.row_factory = sqlite3.Row
        try:
            self._open()
        except sqlite3.OperationalError as e:
            self._conn.close()
            if _is_busy(e):
                raise self._busy() from e
            raise StateStoreError(f"{path} cannot be opened ({e})") from e
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise StateStoreError(
                f"{path} is not a usable data4r2 state file ({e}): move it away or use another"
            ) from e
        except BaseException:
            self._conn.close()
            raise

    def _open(self) -> None:
        # Two processes opening a brand-new file race to switch it to WAL; SQLite answers
        # the loser "database is locked" at once, without its busy handler, so wait here.
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                _run_script(self._conn, _Q["configure"])
                self._upgrade()
                return
            except sqlite3.OperationalError as e:
                if not _is_busy(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _upgrade(self) -> None:
        """Create or upgrade the schema in one transaction, after re-reading the version
        under the write lock: whoever comes second finds the work done."""
        if self._user_version() == SCHEMA_VERSION:
            return
        self._conn.execute("PRAGMA foreign_keys = OFF")  # table rebuilds; no-op in a transaction
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            version = self._user_version()
            if version == 0:
                _run_script(self._conn, _Q["schema"])
            while version in _MIGRATIONS:
                _run_script(self._conn, _Q[_MIGRATIONS[version]])
                version = self._user_version()
            if self._conn.execute(_Q["foreign_key_check"]).fetchone() is not None:
                raise StateStoreError(f"{self.path}: the schema upgrade broke a foreign key")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        self._conn.execute("PRAGMA foreign_keys = ON")
        version = self._user_version()
        if version > SCHEMA_VERSION:
            raise StateStoreError(
                f"{self.path} was written by a newer data4r2 (state schema {version}, this "
                f"version knows {SCHEMA_VERSION}): upgrade data4r2 or use another state file"
            )

    def _busy(self) -> StateStoreError:
        return StateStoreError(
            f"{self.path} is busy: another data4r2 process kept it locked for over "
            f"{self._timeout:g} s; try again when it is done"
        )

    def _user_version(self) -> int:
        return int(self._conn.execute(_Q["user_version"]).fetchone()[0])

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock: IMMEDIATE for writes, a consistent snapshot for reads."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.OperationalError as e:
                if _is_busy(e):
                    raise self._busy() from e
                raise
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

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
        now = self._clock()
        with self._transaction() as db:
            sync_id = int(
                db.execute(
                    _Q["insert_sync"],
                    {
                        "repo_type": repo.repo_type.value,
                        "repo_id": repo.repo_id,
                        "revision": repo.revision,
                        "commit_sha": snapshot.commit,
                        "destination": destination,
                        "created_at": now if planned_at is None else planned_at,
                    },
                ).fetchone()[0]
            )
            _insert_jobs(db, sync_id, files, now)
        return sync_id

    def add_files(self, sync_id: int, files: Sequence[PlannedFile]) -> int:
        now = self._clock()
        with self._transaction() as db:
            _sync_must_exist(db, sync_id)
            added = _insert_jobs(db, sync_id, files, now)
            if added:
                db.execute(_Q["reopen_sync"], {"sync_id": sync_id})
        return added

    def sync(self, sync_id: int) -> SyncRecord:
        with self._transaction(write=False) as db:
            rows = db.execute(
                _Q["syncs"], {"sync_id": sync_id, "before": None, "limit": 1}
            ).fetchall()
        if not rows:
            raise LookupError(f"no sync {sync_id}")
        return _sync_record(rows[0])

    def syncs(self, *, limit: int = 50, before: int | None = None) -> list[SyncRecord]:
        params = {"sync_id": None, "before": before, "limit": limit}
        with self._transaction(write=False) as db:
            return [_sync_record(row) for row in db.execute(_Q["syncs"], params)]

    def finish_sync(self, sync_id: int) -> None:
        with self._transaction() as db:
            if not db.execute(
                _Q["finish_sync"], {"sync_id": sync_id, "now": self._clock()}
            ).rowcount:
                raise LookupError(f"no sync {sync_id}")

    def cancel_sync(self, sync_id: int) -> int:
        params = {"sync_id": sync_id, "now": self._clock()}
        with self._transaction() as db:
            if not db.execute(_Q["cancel_sync"], params).rowcount:
                raise LookupError(f"no sync {sync_id}")
            return int(db.execute(_Q["cancel_jobs"], params).rowcount)

    def requeue_failed(self, sync_id: int) -> int:
        params = {"sync_id": sync_id, "now": self._clock()}
        with self._transaction() as db:
            _sync_must_exist(db, sync_id)
            requeued = int(db.execute(_Q["requeue_failed"], params).rowcount)
            if requeued:
                db.execute(_Q["reopen_sync"], params)
        return requeued

    def prune(self, destination: str, keep: int) -> int:
        if keep < 0:
            raise ValueError(f"keep must be 0 or more, not {keep}")
        with self._transaction() as db:
            finished = db.execute(_Q["finished_syncs"], {"destination": destination}).fetchall()
            doomed = [{"sync_id": int(row["id"])} for row in finished[keep:]]
            db.executemany(_Q["delete_sync_jobs"], doomed)
            db.executemany(_Q["delete_sync"], doomed)
        return len(doomed)

    # ------------------------------------------------------------------------- the queue

    def claim(
        self, worker: str, *, sync_id: int | None = None, lease_seconds: float = 60.0
    ) -> Lease | None:
        now = self._clock()
        token = uuid.uuid4().hex
        with self._transaction() as db:
            for sync in db.execute(_Q["claim_order"], {"sync_id": sync_id}).fetchall():
                where = {"sync_id": sync["id"], "destination": sync["destination"], "now": now}
                # Expired leases first (older work), then pending jobs in plan order: one
                # state per query, so SQLite walks the (sync_id, state, id) index in order.
                found = db.execute(_Q["claimable"], {**where, "state": "running"}).fetchone()
                if found is None:
                    found = db.execute(_Q["claimable"], {**where, "state": "pending"}).fetchone()
                if found is None:
                    continue
                published = db.execute(
                    _Q["published_since"],
                    {
                        "key": found["key"],
                        "job_id": found["id"],
                        "git_sha1": found["git_sha1"],
                        "size": found["size"],
                        "destination": sync["destination"],
                        "planned_at": sync["created_at"],
                    },
                ).fetchone()
                row = db.execute(
                    _Q["lease_job"],
                    {
                        "job_id": found["id"],
                        "worker": worker,
                        "token": token,
                        "expires": now + lease_seconds,
                        "now": now,
                    },
                ).fetchone()
                db.execute(_Q["touch_sync"], {"sync_id": sync["id"]})
                return Lease(_job(row), token, worker, already_published=published is not None)
        return None

    def next_due(self, sync_id: int | None = None) -> float | None:
        with self._transaction(write=False) as db:
            ids = (
                [sync_id]
                if sync_id is not None
                else [int(row["id"]) for row in db.execute(_Q["claim_order"], {"sync_id": None})]
            )
            rows = [db.execute(_Q["next_due"], {"sync_id": i}).fetchone() for i in ids]
        due = [float(row["due"] or 0.0) for row in rows if row["open"]]
        return max(0.0, min(due) - self._clock()) if due else None

    def held_elsewhere(self, sync_id: int) -> list[tuple[Job, str]]:
        params = {"sync_id": sync_id, "now": self._clock()}
        with self._transaction(write=False) as db:
            rows = db.execute(_Q["held_elsewhere"], params).fetchall()
        return [(_job(row), str(row["holder"])) for row in rows]

    def renew(self, lease: Lease, lease_seconds: float = 60.0) -> None:
        self._leased_update(lease, "renew", expires=self._clock() + lease_seconds)

    def finish(self, lease: Lease, state: JobState = JobState.DONE) -> None:
        if state not in _SETTLED:
            raise ValueError(f"finish() takes DONE or SKIPPED, not {state.name}")
        self._leased_update(lease, "finish_job", state=state.value, now=self._clock())

    def fail(self, lease: Lease, error: str, *, retry_in: float | None) -> JobState:
        now = self._clock()
        state = JobState.FAILED if retry_in is None else JobState.PENDING
        self._leased_update(
            lease,
            "fail_job",
            state=state.value,
            error=error,
            not_before=now + max(retry_in or 0.0, 0.0),
            now=now,
        )
        return state

    def release(self, lease: Lease) -> None:
        self._leased_update(lease, "release_job", now=self._clock())

    def _leased_update(self, lease: Lease, query: str, **params: Any) -> None:
        """Update a leased job; LeaseLost (LookupError: no such job) when the token lost it."""
        where = {"job_id": lease.job.id, "token": lease.token, **params}
        with self._transaction() as db:
            if db.execute(_Q[query], where).rowcount:
                return
            row = db.execute(_Q["job"], {"job_id": lease.job.id}).fetchone()
        if row is None:
            raise LookupError(f"no job {lease.job.id}")
        raise lease_lost(lease, _job(row))

    def job(self, job_id: int) -> Job:
        with self._transaction(write=False) as db:
            row = db.execute(_Q["job"], {"job_id": job_id}).fetchone()
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
            "limit": -1 if limit is None else limit,  # SQLite: a negative LIMIT means none
        }
        with self._transaction(write=False) as db:
            return [_job(row) for row in db.execute(_Q["jobs"], params)]

    def counts(self, sync_id: int) -> dict[JobState, int]:
        counts = dict.fromkeys(JobState, 0)
        with self._transaction(write=False) as db:
            for row in db.execute(_Q["counts"], {"sync_id": sync_id}):
                counts[JobState(row["state"])] = int(row["n"])
        return counts

    # ------------------------------------------------------------------------- multipart uploads

    def upload(self, destination: str, key: str) -> UploadRecord | None:
        where = {"destination": destination, "key": key}
        with self._transaction(write=False) as db:
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
        with self._transaction() as db:
            db.execute(_Q["delete_parts"], where)
            db.execute(
                _Q["upsert_upload"],
                {
                    **where,
                    "upload_id": record.upload_id,
                    "now": self._clock(),
                    "part_size": record.part_size,
                    "identity": record.identity,
                },
            )
            db.executemany(_Q["upsert_part"], (_part_params(where, p) for p in record.parts))

    def record_part(self, destination: str, key: str, part: PartInfo) -> None:
        """Record a finished part (replacing one with its number); LookupError without an upload."""
        if part.number < 1:
            raise ValueError(f"part numbers start at 1, not {part.number}")
        where = {"destination": destination, "key": key}
        with self._transaction() as db:
            if not db.execute(_Q["upsert_part"], _part_params(where, part)).rowcount:
                raise LookupError(f"no upload recorded for {key!r} in {destination}")

    def forget_upload(self, destination: str, key: str) -> None:
        where = {"destination": destination, "key": key}
        with self._transaction() as db:
            db.execute(_Q["delete_parts"], where)  # explicit: do not depend on the FK pragma
            db.execute(_Q["delete_upload"], where)

    # ------------------------------------------------------------------------- lifetime

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SqliteJobStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _insert_jobs(
    db: sqlite3.Connection, sync_id: int, files: Sequence[PlannedFile], now: float
) -> int:
    """Insert one job per file, skipping paths the sync already has; how many were new."""
    cursor = db.executemany(
        _Q["insert_job"],
        (
            {
                "sync_id": sync_id,
                "path": f.file.path,
                "size": f.file.size,
                "git_sha1": f.file.git_sha1,
                "sha256": f.file.sha256,
                "key": f.key,
                "state": (JobState.SKIPPED if f.up_to_date else JobState.PENDING).value,
                "now": now,
            }
            for f in files
        ),
    )
    return max(cursor.rowcount, 0)


def _sync_must_exist(db: sqlite3.Connection, sync_id: int) -> None:
    if db.execute(_Q["sync_exists"], {"sync_id": sync_id}).fetchone() is None:
        raise LookupError(f"no sync {sync_id}")


def _sync_record(row: sqlite3.Row) -> SyncRecord:
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


def _job(row: sqlite3.Row) -> Job:
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


def _part(row: sqlite3.Row) -> PartInfo:
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


def _is_busy(e: sqlite3.OperationalError) -> bool:
    return "locked" in str(e) or "busy" in str(e)


def _run_script(db: sqlite3.Connection, script: str) -> None:
    """Run a block statement by statement: unlike executescript(), this never commits a
    transaction the caller opened (sqlite3 does that before a script)."""
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""
    if statement.strip() and not statement.strip().startswith("--"):
        db.execute(statement)
