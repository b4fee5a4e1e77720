"""The embedded JobStore: one SQLite file per user, shared by every data4r2 process on the host.

Concurrency: one connection per store, guarded by a lock, serves all threads of a process
(SQLite serialises writers anyway, so a connection per thread would buy nothing but
cleanup). WAL lets other processes (`data4r2 verify`, a second sync) read while we write;
every write is one `BEGIN IMMEDIATE` transaction, so a writer waits for the file lock up to
`timeout` seconds up front instead of failing half-way through.

Durability: each write commits. With WAL, `synchronous=NORMAL` skips the fsync per commit but
keeps every commit atomic, and a commit survives a killed process (the WAL is in the OS
cache); only a power cut can roll back the last few commits, never corrupt the file. What
those commits hold is re-derivable: a lost part record just means that part is uploaded
again, and the engine proves recorded parts against the sink's list on resume anyway.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from ..domain import (
    Data4r2Error,
    Job,
    JobState,
    PartInfo,
    PlannedFile,
    RemoteFile,
    Snapshot,
    UploadRecord,
)
from .sql import load_queries

SCHEMA_VERSION = 1  # must match the `PRAGMA user_version` the `schema` block sets
_Q = load_queries("sqlite")


class StateStoreError(Data4r2Error):
    """The state file cannot be used: not a database, or written by a newer data4r2."""


class SqliteJobStore:
    """`JobStore` on a SQLite file; safe from many threads here and from other processes."""

    def __init__(self, path: Path, *, timeout: float = 30.0) -> None:
        self.path = path
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
        except sqlite3.DatabaseError as e:
            self._conn.close()
            raise StateStoreError(
                f"{path} is not a usable data4r2 state file ({e}): move it away or use another"
            ) from e
        except BaseException:
            self._conn.close()
            raise

    def _open(self) -> None:
        self._conn.executescript(_Q["configure"])
        version = self._user_version()
        if version < SCHEMA_VERSION:
            # The schema block is idempotent and sets user_version in the same transaction,
            # so two processes opening a new file at once both end up with one schema.
            self._conn.executescript(f"BEGIN IMMEDIATE;\n{_Q['schema']}\nCOMMIT;")
            version = self._user_version()
        if version > SCHEMA_VERSION:
            raise StateStoreError(
                f"{self.path} was written by a newer data4r2 (state schema {version}, this "
                f"version knows {SCHEMA_VERSION}): upgrade data4r2 or use another state file"
            )

    def _user_version(self) -> int:
        return int(self._conn.execute(_Q["user_version"]).fetchone()[0])

    @contextmanager
    def _transaction(self, *, write: bool = True) -> Iterator[sqlite3.Connection]:
        """One transaction under the lock: IMMEDIATE for writes, a consistent snapshot for reads."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # ------------------------------------------------------------------------- syncs and jobs

    def create_sync(
        self, snapshot: Snapshot, destination: str, files: Sequence[PlannedFile]
    ) -> int:
        repo = snapshot.repo
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
                    },
                ).fetchone()[0]
            )
            db.executemany(
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
                    }
                    for f in files
                ),
            )
        return sync_id

    def claim(self, sync_id: int, worker: str) -> Job | None:
        with self._transaction() as db:
            rows = db.execute(_Q["claim"], {"sync_id": sync_id, "worker": worker}).fetchall()
        return _job(rows[0]) if rows else None

    def finish(self, job_id: int, state: JobState) -> None:
        if state not in (JobState.DONE, JobState.SKIPPED):
            raise ValueError(f"finish() takes DONE or SKIPPED, not {state.name}")
        with self._transaction() as db:
            if db.execute(_Q["finish_job"], {"job_id": job_id, "state": state.value}).rowcount:
                return
            raise _not_running(db, job_id)

    def fail(self, job_id: int, error: str, retry: bool) -> JobState:
        params = {"job_id": job_id, "error": error, "retry": retry}
        with self._transaction() as db:
            rows = db.execute(_Q["fail_job"], params).fetchall()
            if not rows:
                raise _not_running(db, job_id)
        return JobState(rows[0]["state"])

    def jobs(self, sync_id: int) -> list[Job]:
        with self._transaction(write=False) as db:
            return [_job(row) for row in db.execute(_Q["jobs"], {"sync_id": sync_id})]

    def counts(self, sync_id: int) -> dict[JobState, int]:
        counts = dict.fromkeys(JobState, 0)
        with self._transaction(write=False) as db:
            for row in db.execute(_Q["counts"], {"sync_id": sync_id}):
                counts[JobState(row["state"])] = int(row["n"])
        return counts

    def finish_sync(self, sync_id: int) -> None:
        with self._transaction() as db:
            if not db.execute(_Q["finish_sync"], {"sync_id": sync_id}).rowcount:
                raise LookupError(f"no sync {sync_id} in {self.path}")

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
    )


def _part(row: sqlite3.Row) -> PartInfo:
    return PartInfo(
        number=int(row["number"]),
        size=int(row["size"]),
        etag=str(row["etag"]),
        checksum=str(row["checksum"]),
    )


def _part_params(where: dict[str, str], part: PartInfo) -> dict[str, str | int]:
    return {
        **where,
        "number": part.number,
        "size": part.size,
        "etag": part.etag,
        "checksum": part.checksum,
    }


def _not_running(db: sqlite3.Connection, job_id: int) -> Exception:
    """Why an update of a running job matched nothing: no such job, or it is not running."""
    row = db.execute(_Q["job_state"], {"job_id": job_id}).fetchone()
    if row is None:
        return LookupError(f"no job {job_id}")
    return ValueError(f"job {job_id} is {row['state']}, not running")
