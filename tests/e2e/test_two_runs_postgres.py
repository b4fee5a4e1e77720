"""test_two_runs.py again with DATA4R2_DB set: two real `data4r2 sync` processes share one
PostgreSQL database (procrastinate's queue) instead of a state file, and still publish each
object once, one waiting for the other's lease, no multipart upload left open."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from servers.postgres import temp_database

from . import test_two_runs as two_runs
from .conftest import Env, R2Double


@pytest.fixture
def cli_on_postgres(cli: Env) -> Iterator[Env]:
    with temp_database() as url:
        cli.base_env["DATA4R2_DB"] = url
        yield cli


def test_two_runs_on_postgres_publish_each_object_once(
    cli_on_postgres: Env, r2: R2Double, bucket: str
) -> None:
    two_runs.test_two_runs_publish_each_object_once_and_leave_no_upload_open(
        cli_on_postgres, r2, bucket
    )
    assert not cli_on_postgres.state.exists()  # the state lived in PostgreSQL
