"""`data4r2 db upgrade` and the schema checks `serve` and `worker` rely on, on real databases
(each test makes its own on the shared PostgreSQL and drops it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import psycopg
import pytest
from procrastinate.schema import SchemaManager
from servers.postgres import temp_database

from data4r2.cli.main import main
from data4r2.domain import PartInfo, UploadRecord
from data4r2.state.pg_schema import (
    SCHEMA_VERSION,
    DatabaseError,
    SchemaTooNew,
    SchemaTooOld,
    check_schema,
    upgrade,
)
from data4r2.state.postgres import PostgresJobStore
from data4r2.state.sql import load_queries


@pytest.fixture
def empty_db() -> Iterator[str]:
    with temp_database(upgraded=False) as url:
        yield url


def _catalog(url: str) -> dict[str, list[tuple[str, ...]]]:
    """Tables (with columns), functions and indexes of our two schemas: what an upgrade makes."""
    with psycopg.connect(url) as conn:
        return {
            "columns": conn.execute(
                "SELECT table_schema, table_name, column_name, data_type FROM "
                "information_schema.columns WHERE table_schema IN ('data4r2', 'procrastinate') "
                "ORDER BY 1, 2, 3"
            ).fetchall(),
            "functions": conn.execute(
                "SELECT n.nspname, p.proname FROM pg_proc p JOIN pg_namespace n "
                "ON n.oid = p.pronamespace WHERE n.nspname IN ('data4r2', 'procrastinate') "
                "ORDER BY 1, 2"
            ).fetchall(),
            "indexes": conn.execute(
                "SELECT schemaname, indexname FROM pg_indexes "
                "WHERE schemaname IN ('data4r2', 'procrastinate') ORDER BY 1, 2"
            ).fetchall(),
        }


def test_upgrade_creates_both_schemas_on_a_fresh_database(empty_db: str) -> None:
    result = upgrade(empty_db)

    assert (result.before, result.after, result.created_procrastinate) == (0, SCHEMA_VERSION, True)
    catalog = _catalog(empty_db)
    tables = {(schema, table) for schema, table, _, _ in catalog["columns"]}
    assert ("procrastinate", "procrastinate_jobs") in tables  # procrastinate's, in its schema
    assert {
        ("data4r2", t) for t in ("syncs", "files", "leases", "workers", "uploads", "parts")
    } <= (tables)
    assert not any(schema == "public" for schema, _ in tables)
    check_schema(empty_db)  # serve and worker accept it


def test_upgrade_twice_changes_nothing_the_second_time(empty_db: str) -> None:
    upgrade(empty_db)
    before = _catalog(empty_db)

    again = upgrade(empty_db)

    assert not again.changed and (again.before, again.after) == (SCHEMA_VERSION, SCHEMA_VERSION)
    assert _catalog(empty_db) == before
    with psycopg.connect(empty_db) as conn:
        assert conn.execute("SELECT count(*) FROM data4r2.schema_version").fetchone() == (
            SCHEMA_VERSION,
        )


def test_concurrent_upgrades_serialise_and_both_succeed(empty_db: str) -> None:
    results, errors = [], []
    barrier = threading.Barrier(3)

    def run() -> None:
        try:
            barrier.wait()
            results.append(upgrade(empty_db))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sorted(r.changed for r in results) == [False, False, True]  # one did the work


def test_procrastinate_tables_already_there_are_not_applied_again(empty_db: str) -> None:
    # An operator ran `procrastinate schema --apply` into the schema first: a second apply
    # would fail (CREATE TYPE … already exists); upgrade must see it and add only ours.
    with psycopg.connect(empty_db) as conn:
        conn.execute("CREATE SCHEMA procrastinate")
        conn.execute("SET search_path = procrastinate")
        conn.execute(SchemaManager.get_schema())

    result = upgrade(empty_db)

    assert (result.before, result.after, result.created_procrastinate) == (0, SCHEMA_VERSION, False)
    check_schema(empty_db)


def test_a_database_without_our_schema_is_refused_with_the_command_to_run(empty_db: str) -> None:
    with pytest.raises(SchemaTooOld, match=r"has no data4r2 schema.*run `data4r2 db upgrade`"):
        check_schema(empty_db)
    with pytest.raises(SchemaTooOld, match="data4r2 db upgrade"):
        PostgresJobStore(empty_db)  # what serve and worker build: they refuse to start


def test_a_newer_schema_is_refused_by_the_store_and_by_upgrade(empty_db: str) -> None:
    upgrade(empty_db)
    with psycopg.connect(empty_db) as conn:
        conn.execute(
            "INSERT INTO data4r2.schema_version (version, procrastinate) VALUES (%s, 'future')",
            (SCHEMA_VERSION + 1,),
        )
    with pytest.raises(SchemaTooNew, match="upgrade data4r2 on this host"):
        check_schema(empty_db)
    with pytest.raises(SchemaTooNew):
        upgrade(empty_db)  # never "downgrades"


def test_a_read_only_database_is_one_clear_error(empty_db: str) -> None:
    with psycopg.connect(empty_db, autocommit=True) as conn:
        name = conn.info.dbname
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    with pytest.raises(DatabaseError, match="is read-only: point DATA4R2_DB at the primary"):
        upgrade(empty_db)


def test_cli_db_upgrade_twice_then_errors_as_one_line(
    empty_db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATA4R2_DB", empty_db)
    assert main(["db", "upgrade"]) == 0
    assert f"schema version 0 -> {SCHEMA_VERSION}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "is current; nothing to do" in capsys.readouterr().out

    monkeypatch.setenv("DATA4R2_DB", "postgresql://postgres@127.0.0.1:1/nowhere")
    assert main(["db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("data4r2: error: cannot connect to postgresql://127.0.0.1:1/nowhere")
    assert err.count("\n") == 1 and "Traceback" not in err

    monkeypatch.delenv("DATA4R2_DB")
    assert main(["db", "upgrade"]) == 2
    assert "DATA4R2_DB is not set" in capsys.readouterr().err


def test_upgrade_from_version_1_keeps_recorded_parts_without_a_hash_state(empty_db: str) -> None:
    """Version 2 adds the parts' sha256 state; parts recorded under version 1 stay, with none
    (their resume re-reads from the first byte), and new parts record one."""
    queries = load_queries("postgres_schema")
    with psycopg.connect(empty_db) as conn, conn.transaction():
        conn.execute("CREATE SCHEMA procrastinate")
        conn.execute("SET LOCAL search_path = procrastinate")
        conn.execute(SchemaManager.get_schema())
        conn.execute("SET LOCAL search_path = data4r2, procrastinate")
        conn.execute(queries["migration_1"])
        conn.execute(queries["record_version"], {"version": 1, "procrastinate": "test"})
        conn.execute(
            "INSERT INTO data4r2.uploads VALUES ('d', 'k', 'up', 8, 'sha', now());"
            "INSERT INTO data4r2.parts VALUES ('d', 'k', 1, 8, 'e1', 'c1')"
        )

    result = upgrade(empty_db)

    assert (result.before, result.after) == (1, SCHEMA_VERSION)
    with PostgresJobStore(empty_db) as store:
        assert store.upload("d", "k") == UploadRecord("up", 8, "sha", (PartInfo(1, 8, "e1", "c1"),))
        store.record_part("d", "k", PartInfo(2, 8, "e2", "c2", hash_state=b"\x00state"))
        got = store.upload("d", "k")
        assert got is not None and [p.hash_state for p in got.parts] == [None, b"\x00state"]
