"""A sync submitted from the CLI to a real `serve`: API → queue → workers → SeaweedFS."""

from __future__ import annotations

import json

from servers.seaweed import SeaweedServer

from tests.e2e.conftest import DATASET_FILES, MODEL_FILES

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


def test_a_named_destination_from_the_file_with_its_own_credentials(
    service: Service, seaweed: SeaweedServer
) -> None:
    archive = seaweed.create_bucket()
    file = service.tmp / "destinations.toml"
    file.write_text(
        f'[destinations.archive]\nurl = "s3://{archive}/keep"\n'
        'access_key_id_env = "ARCHIVE_KEY"\nsecret_access_key_env = "ARCHIVE_SECRET"\n'
    )
    env = {
        "ARCHIVE_KEY": service.env["AWS_ACCESS_KEY_ID"],
        "ARCHIVE_SECRET": service.env["AWS_SECRET_ACCESS_KEY"],
    }
    service.start("--workers", "2", "--destinations", str(file), env=env)
    res = service.cli("sync", "acme/tiny-data", "dataset", "--dest", "archive", "--json")
    assert res.returncode == 0, res.stderr + service.log()
    assert json.loads(res.stdout)["copied"] == 3
    listed = service.r2.client().list_objects_v2(Bucket=archive)  # type: ignore[union-attr]
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(
        f"keep/datasets/acme/tiny-data/{p}" for p in DATASET_FILES
    )


def test_serve_names_a_missing_credentials_variable_in_one_line(service: Service) -> None:
    file = service.tmp / "destinations.toml"
    file.write_text(
        '[destinations.archive]\nurl = "s3://archive/x"\naccess_key_id_env = "NOPE_KEY"\n'
    )
    res = service.cli("serve", *service.args, "--destinations", str(file), "--port", "0")
    assert res.returncode == 6 and "NOPE_KEY" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
