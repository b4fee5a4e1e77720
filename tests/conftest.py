"""Root fixtures shared by every test folder; each server's code lives in tests/servers/."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# `import fakehub` / `import servers` from any test folder, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))

from servers.r2_fixtures import r2, r2_http  # noqa: F401 - the strict R2 double (r2.md §8)
from servers.seaweed import SeaweedServer, start_seaweed  # works thanks to the line above


@pytest.fixture(scope="session")
def seaweed() -> Iterator[SeaweedServer]:
    """One `weed mini` (http and https) for the whole session; its data dir goes with it."""
    server = start_seaweed(tls=True)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def bucket(seaweed: SeaweedServer) -> str:
    """A fresh, empty bucket on the session's SeaweedFS."""
    return seaweed.create_bucket()


@pytest.fixture(scope="session", autouse=True)
def _drop_postgres_session_database() -> Iterator[None]:
    """The contract suite's PostgreSQL database (made on first use) goes with the session."""
    yield
    from servers.postgres import SESSION

    SESSION.drop()
