"""A sync submitted from the CLI to a real `serve`: API → queue → workers → SeaweedFS."""

from __future__ import annotations

import json

from tests.e2e.conftest import MODEL_FILES

from .conftest import TOKEN, Service

MODEL_KEY = "mirror/models/acme/tiny-model/"


def test_remote_sync_copies_every_byte_and_exits_like_a_local_one(
    service: Service,
) -> None:
    service.start("--workers", "4")
    res = service.cli("sync", "acme/tiny-model", "--json")
    assert res.returncode == 0, res.stderr + service.log()
    summary = json.loads(res.stdout)
    assert summary["copied"] == len(MODEL_FILES) and summary["failed"] == 0
    assert service.objects(MODEL_KEY) == {p: d for p, (d, _) in MODEL_FILES.items()}

    again = service.cli("sync", "acme/tiny-model", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == len(MODEL_FILES)

    status = service.cli("status")
    assert status.returncode == 0 and "done" in status.stdout, status.stderr
    assert TOKEN not in service.log()


def test_no_wait_returns_the_sync_id(service: Service) -> None:
    service.start("--workers", "0")
    res = service.cli("sync", "acme/tiny-data", "dataset", "--no-wait", "--json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["sync_id"] >= 1 and doc["files"] == 3


def test_client_errors_are_one_line_with_the_local_exit_code(service: Service) -> None:
    service.start("--workers", "0")
    wrong = service.cli("sync", "acme/tiny-model", env={"DATA4R2_API_TOKEN": "nope"})
    assert wrong.returncode == 2 and "refused the API token" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    missing = service.cli("sync", "acme/nope")
    assert missing.returncode == 3 and "not found" in missing.stderr, missing.stderr
    foreign = service.cli("sync", "acme/tiny-model", "--dest", "s3://elsewhere")
    assert foreign.returncode == 2 and "default" in foreign.stderr, foreign.stderr
    down = service.cli("status", env={"WORKER_URL": "http://127.0.0.1:9"})
    assert down.returncode == 4 and "cannot reach" in down.stderr, down.stderr
