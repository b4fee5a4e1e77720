"""Throwaway databases on the PostgreSQL already running for the tests (never a new server).

`DATA4R2_TEST_POSTGRES` names the server (default: the CI one, trust auth, database `test`);
each test session creates uniquely named databases there and drops them at its end
(`DROP DATABASE … WITH (FORCE)`, so a killed worker's open connection cannot keep one alive).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from data4r2.state.pg_schema import upgrade
from data4r2.state.postgres import PostgresJobStore

ADMIN_URL = os.environ.get("DATA4R2_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")

# Everything a store writes, ours and procrastinate's: emptied between contract tests.
_TABLES = (
    "data4r2.syncs, data4r2.files, data4r2.leases, data4r2.workers, data4r2.uploads, "
    "data4r2.parts, procrastinate.procrastinate_jobs, procrastinate.procrastinate_events, "
    "procrastinate.procrastinate_workers, procrastinate.procrastinate_periodic_defers"
)


def create_database() -> str:
    """A new empty database; its URL."""
    name = f"data4r2_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return make_conninfo(ADMIN_URL, dbname=name)


def drop_database(url: str) -> None:
    name = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(str(name)))
        )


@contextmanager
def temp_database(*, upgraded: bool = True) -> Iterator[str]:
    """A database for one test (or session), dropped afterwards."""
    url = create_database()
    try:
        if upgraded:
            upgrade(url)
        yield url
    finally:
        drop_database(url)


class SessionDatabase:
    """One upgraded database for the contract suite, made on first use, emptied for each
    test (a new `tmp` folder means a new test) and dropped by the root conftest at the end."""

    def __init__(self) -> None:
        self.url: str | None = None
        self._test: Path | None = None

    def store(self, tmp: Path, clock: Callable[[], float]) -> PostgresJobStore:
        if self.url is None:
            self.url = create_database()
            upgrade(self.url)
        if tmp != self._test:  # the first store of a test: start from empty tables
            self._test = tmp
            with psycopg.connect(self.url, autocommit=True) as conn:
                conn.execute(f"TRUNCATE {_TABLES} RESTART IDENTITY CASCADE")  # type: ignore[arg-type]
        return PostgresJobStore(self.url, clock=clock)

    def drop(self) -> None:
        if self.url is not None:
            drop_database(self.url)
            self.url = None


SESSION = SessionDatabase()
