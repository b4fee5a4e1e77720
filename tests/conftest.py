"""Root fixtures shared by every test folder; each server's code lives in tests/servers/."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# Every cache and state path of the tools under test points into one throw-away home, set
# here, at import, before anything imports huggingface_hub (it reads HF_HOME once, at import)
# and inherited by every CLI subprocess. A test must never write into the real home.
ISOLATED_HOME = Path(tempfile.mkdtemp(prefix="data4r2-tests-home-"))
os.environ.update(
    HOME=str(ISOLATED_HOME),
    XDG_DATA_HOME=str(ISOLATED_HOME / ".local/share"),
    XDG_CACHE_HOME=str(ISOLATED_HOME / ".cache"),
    XDG_CONFIG_HOME=str(ISOLATED_HOME / ".config"),
    XDG_STATE_HOME=str(ISOLATED_HOME / ".local/state"),
    HF_HOME=str(ISOLATED_HOME / ".cache/huggingface"),
)
for _name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ASSETS_CACHE", "HF_TOKEN_PATH"):
    os.environ.pop(_name, None)

# `import fakehub` / `import servers` from any test folder, whatever pytest's import mode.
sys.path.insert(0, str(Path(__file__).parent))

# (after the home is isolated, hence E402)
from servers.r2_fixtures import r2, r2_http  # noqa: E402, F401 - the strict R2 double (docs/r2.md §8)
from servers.seaweed import SeaweedServer, start_seaweed  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _isolated_home() -> Iterator[Path]:
    yield ISOLATED_HOME
    shutil.rmtree(ISOLATED_HOME, ignore_errors=True)


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
