"""The cluster as an operator runs it (README "Running a cluster"): `db upgrade`, an API-only
`serve` and two `worker` processes on one PostgreSQL database, the fake Hub, SeaweedFS as the
bucket, and a laptop's `sync --worker-url`."""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from servers.postgres import temp_database
from servers.r2_fixtures import R2Double

from tests.e2e.conftest import MODEL_FILES
from tests.service.conftest import Service, configured, started_hub

MODEL_KEY = "mirror/models/acme/tiny-model/"


@pytest.fixture
def cluster(r2: R2Double, bucket: str, tmp_path: Path) -> Iterator[Service]:
    """A service configured on a new, empty database (not upgraded: the test does that)."""
    with (
        started_hub() as hub,
        temp_database(upgraded=False) as db,
        configured(hub, r2, bucket, tmp_path) as svc,
    ):
        svc.env["DATA4R2_DB"] = db
        del svc.env["DATA4R2_STATE"]  # the queue is the database's, no state file
        yield svc


def _rows(db: str, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(db) as conn:
        return conn.execute(query).fetchall()  # type: ignore[arg-type]


def test_db_upgrade_then_an_api_node_and_two_workers_complete_a_remote_sync(
    cluster: Service,
) -> None:
    db = cluster.env["DATA4R2_DB"]
    refused = cluster.cli("serve", *cluster.args, "--workers", "0", "--port", "0", timeout=60)
    lines = refused.stderr.strip().splitlines()
    assert refused.returncode == 1 and len(lines) == 1, refused.stderr
    assert "no data4r2 schema" in lines[0] and "run `data4r2 db upgrade`" in lines[0]

    upgraded = cluster.cli("db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr

    cluster.start("--workers", "0")  # the API only: it must claim nothing
    workers = [cluster.popen("worker", *cluster.args, "--workers", "2") for _ in range(2)]
    try:
        res = cluster.cli("sync", "acme/tiny-model", "--json")
        assert res.returncode == 0, res.stderr + cluster.log()
        summary = json.loads(res.stdout.splitlines()[-1])
        assert summary["copied"] == len(MODEL_FILES) and summary["failed"] == 0
        assert cluster.objects(MODEL_KEY) == {p: d for p, (d, _) in MODEL_FILES.items()}

        # Every job was run by a worker process, none by the API-only node.
        ran = {name for (name,) in _rows(db, "SELECT name FROM data4r2.workers")}
        host = socket.gethostname()
        assert ran and ran <= {f"{host}:{w.pid}" for w in workers}, ran
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        codes = [w.wait(timeout=60) for w in workers]
    assert codes == [0, 0], cluster.log()
    # Leaving cleanly, each worker retired its heartbeat row: none is left for the reaper.
    assert _rows(db, "SELECT id FROM procrastinate.procrastinate_workers") == []
    assert cluster.stop() == 0
