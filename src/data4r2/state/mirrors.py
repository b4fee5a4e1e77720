"""MirrorSchedule on the same SQLite file as the JobStore: one small table of its own.

Its own connection and `CREATE TABLE IF NOT EXISTS`, so the JobStore's schema version and
migrations are untouched; WAL (set by the JobStore) lets both connections share the file.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..domain import MirrorRecord, RepoRef, RepoType

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mirrors (
    id           INTEGER PRIMARY KEY,
    repo_id      TEXT NOT NULL,
    repo_type    TEXT NOT NULL,
    revision     TEXT NOT NULL,
    dest         TEXT NOT NULL,
    every        REAL NOT NULL,
    next_run_at  REAL NOT NULL,
    last_sync_id INTEGER,
    include      TEXT NOT NULL DEFAULT '[]',
    exclude      TEXT NOT NULL DEFAULT '[]',
    UNIQUE (repo_type, repo_id, revision, dest)
)
"""
_COLUMNS = (
    "id, repo_id, repo_type, revision, dest, every, next_run_at, last_sync_id, include, exclude"
)


def _record(row: sqlite3.Row) -> MirrorRecord:
    return MirrorRecord(
        id=row["id"],
        repo=RepoRef(row["repo_id"], RepoType(row["repo_type"]), row["revision"]),
        dest=row["dest"],
        every=row["every"],
        next_run_at=row["next_run_at"],
        last_sync_id=row["last_sync_id"],
        include=tuple(json.loads(row["include"])),
        exclude=tuple(json.loads(row["exclude"])),
    )


class SqliteMirrorSchedule:
    def __init__(
        self, path: Path, *, timeout: float = 30.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=timeout, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        with self._lock, self._conn:
            self._conn.execute(_SCHEMA)

    def close(self) -> None:
        self._conn.close()

    def add_mirror(
        self,
        repo: RepoRef,
        dest: str,
        every: float,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
    ) -> MirrorRecord:
        values = (
            repo.repo_id,
            repo.repo_type.value,
            repo.revision,
            dest,
            every,
            self._clock(),
            json.dumps(list(include)),
            json.dumps(list(exclude)),
        )
        with self._lock, self._conn:
            row = self._conn.execute(
                "INSERT INTO mirrors (repo_id, repo_type, revision, dest, every, next_run_at,"
                " include, exclude) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (repo_type, repo_id, revision, dest) DO UPDATE SET"
                " every = excluded.every, next_run_at = excluded.next_run_at,"
                " include = excluded.include, exclude = excluded.exclude"
                " RETURNING *",
                values,
            ).fetchone()
        return _record(row)

    def mirrors(self) -> list[MirrorRecord]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM mirrors ORDER BY id").fetchall()
        return [_record(r) for r in rows]

    def remove_mirror(self, mirror_id: int) -> bool:
        with self._lock, self._conn:
            gone = self._conn.execute("DELETE FROM mirrors WHERE id = ?", (mirror_id,))
        return gone.rowcount > 0

    def due_mirrors(self) -> list[MirrorRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM mirrors WHERE next_run_at <= ? ORDER BY next_run_at, id",
                (self._clock(),),
            ).fetchall()
        return [_record(r) for r in rows]

    def mirror_ran(self, mirror_id: int, sync_id: int | None, next_run_at: float) -> None:
        with self._lock, self._conn:
            self._conn.execute(
                "UPDATE mirrors SET last_sync_id = COALESCE(?, last_sync_id), next_run_at = ?"
                " WHERE id = ?",
                (sync_id, next_run_at, mirror_id),
            )
