"""The PostgreSQL schema: procrastinate's tables in schema `procrastinate`, ours in `data4r2`.

`upgrade(dsn)` (the `data4r2 db upgrade` command) brings a database to SCHEMA_VERSION: in one
transaction, under an advisory lock, so two hosts upgrading at once serialise and the second
finds the work done — safe to run any number of times. procrastinate's own `schema --apply`
is a plain script that fails on a second run, so it is applied only when its tables are
absent. `check_schema(dsn)` is what `serve` and `worker` call before they start: an older
schema is refused with the command to run, a newer one with "upgrade data4r2".
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import version as installed_version
from typing import Any

import psycopg
from procrastinate.schema import SchemaManager
from psycopg.rows import dict_row

from ..domain import Data4r2Error
from .sql import load_queries

SCHEMA_VERSION = 2
# Every connection resolves names in our schema, then procrastinate's: its functions name
# their tables unqualified, so they must find them on the search path.
SEARCH_PATH = "data4r2,procrastinate"
CONNECT_OPTIONS = f"-c search_path={SEARCH_PATH}"
_UPGRADE_LOCK = 0x6461_7461_3472_7367  # "data4r2" + "sg": one upgrader at a time
_Q = load_queries("postgres_schema")


class DatabaseError(Data4r2Error):
    """The PostgreSQL database cannot be used: unreachable, refused, read-only, wrong schema."""


class SchemaTooOld(DatabaseError):
    pass


class SchemaTooNew(DatabaseError):
    pass


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What `upgrade` did: the versions before and after, and whether it created
    procrastinate's tables."""

    before: int
    after: int
    created_procrastinate: bool

    @property
    def changed(self) -> bool:
        return self.before != self.after or self.created_procrastinate


def describe(dsn: str) -> str:
    """The database a DSN names, without its password: for messages."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the database in DATA4R2_DB"
    host, port, db = info.get("host", "localhost"), info.get("port", "5432"), info.get("dbname")
    return f"postgresql://{host}:{port}/{db or ''}"


def connect(dsn: str, **kwargs: Any) -> psycopg.Connection[dict[str, Any]]:
    """A connection with our search path; any failure becomes one DatabaseError line."""
    try:
        return psycopg.connect(
            dsn, options=CONNECT_OPTIONS, row_factory=dict_row, connect_timeout=10, **kwargs
        )
    except psycopg.ProgrammingError as e:  # a malformed URL
        raise DatabaseError(f"DATA4R2_DB is not a valid PostgreSQL URL: {e}") from e
    except psycopg.OperationalError as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise DatabaseError(f"cannot connect to {describe(dsn)}: {reason}") from e


def schema_version(conn: psycopg.Connection[dict[str, Any]]) -> int:
    """The data4r2 schema version of the database; 0 when it has none."""
    present = conn.execute(_Q["versioned"]).fetchone()
    if not (present and present["present"]):
        return 0
    row = conn.execute(_Q["version"]).fetchone()
    return int(row["version"]) if row else 0


def check_schema(dsn: str) -> None:
    """Refuse a database whose schema this data4r2 cannot run on, with what to do."""
    with connect(dsn) as conn:
        _check_version(dsn, schema_version(conn))


def _check_version(dsn: str, version: int) -> None:
    if version < SCHEMA_VERSION:
        what = "has no data4r2 schema" if version == 0 else f"has schema version {version}"
        raise SchemaTooOld(
            f"{describe(dsn)} {what}; this data4r2 needs version {SCHEMA_VERSION}: "
            "run `data4r2 db upgrade` (with the same DATA4R2_DB)"
        )
    if version > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"{describe(dsn)} has schema version {version}, newer than this data4r2 knows "
            f"({SCHEMA_VERSION}): upgrade data4r2 on this host"
        )


def upgrade(dsn: str) -> Upgrade:
    """Create or migrate the schema; idempotent. Raises DatabaseError (read-only, refused)."""
    with connect(dsn) as conn:
        try:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (_UPGRADE_LOCK,))
                before = schema_version(conn)  # re-read under the lock: a racer may be done
                if before > SCHEMA_VERSION:
                    _check_version(dsn, before)
                created = _ensure_procrastinate(conn)
                for version in range(before + 1, SCHEMA_VERSION + 1):
                    conn.execute(_Q[f"migration_{version}"])
                    conn.execute(
                        _Q["record_version"],
                        {"version": version, "procrastinate": installed_version("procrastinate")},
                    )
        except psycopg.errors.ReadOnlySqlTransaction as e:
            raise DatabaseError(
                f"{describe(dsn)} is read-only: point DATA4R2_DB at the primary"
            ) from e
        except psycopg.errors.InsufficientPrivilege as e:
            raise DatabaseError(
                f"{describe(dsn)} refused the schema change ({e.diag.message_primary}): "
                "run `data4r2 db upgrade` as a role that may create schemas"
            ) from e
    return Upgrade(before, SCHEMA_VERSION, created)


def _ensure_procrastinate(conn: psycopg.Connection[dict[str, Any]]) -> bool:
    """Apply procrastinate's schema into schema `procrastinate` unless it is there already."""
    row = conn.execute(_Q["procrastinate_present"]).fetchone()
    if row and row["present"]:
        return False
    conn.execute("CREATE SCHEMA IF NOT EXISTS procrastinate")
    conn.execute("SET LOCAL search_path = procrastinate")  # its script names nothing qualified
    conn.execute(SchemaManager.get_schema())
    conn.execute("SET LOCAL search_path = data4r2, procrastinate")  # SEARCH_PATH
    return True
