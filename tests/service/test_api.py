"""The HTTP API of a real `data4r2 serve`: auth, validation, destinations, errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fakehub import FakeHub
from servers.r2_fixtures import open_double
from servers.seaweed import SeaweedServer

from .conftest import TOKEN, Service, configured, started_hub


@pytest.fixture(scope="module")
def module_hub() -> Iterator[FakeHub]:
    with started_hub() as h:
        yield h


@pytest.fixture(scope="module")
def api(
    module_hub: FakeHub, seaweed: SeaweedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    """One API-only server for this module's tests (each only reads, or writes its own
    sync): starting a server per test would cost seconds each."""
    with (
        open_double(seaweed) as r2,
        configured(module_hub, r2, seaweed.create_bucket(), tmp_path_factory.mktemp("api")) as svc,
    ):
        yield svc.start("--workers", "0")


@pytest.fixture
def hub(module_hub: FakeHub) -> FakeHub:
    return module_hub


def test_healthz_needs_no_token_and_says_the_version(api: Service) -> None:
    from data4r2 import __version__

    r = api.http(token=None).get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok", "version": __version__}


def test_readyz_checks_state_and_destination(api: Service) -> None:
    r = api.http(token=None).get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"ready": True, "checks": {"state": "ok", "destination": "ok"}}


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", TOKEN[:-1]])
def test_every_other_route_needs_the_token(api: Service, token: str | None) -> None:
    with api.http(token=token) as http:
        for method, path in [("GET", "/v1/syncs"), ("GET", "/metrics"), ("POST", "/v1/syncs")]:
            r = http.request(method, path, json={"repo_id": "acme/tiny-model"})
            assert r.status_code == 401, (method, path, r.text)
            assert r.json()["error"] == "unauthorized"
            assert TOKEN not in r.text


def test_the_right_token_is_let_in(api: Service) -> None:
    r = api.http().get("/v1/syncs")
    assert r.status_code == 200 and set(r.json()) == {"syncs", "next_cursor"}
    assert TOKEN not in api.log()


def test_submit_plans_on_the_server(api: Service) -> None:
    r = api.http().post("/v1/syncs", json={"repo_id": "acme/tiny-model", "repo_type": "model"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["files"] == 7 and body["skipped"] == 0 and len(body["commit"]) == 40
    assert body["destination"] == "default"
    status = api.http().get(f"/v1/syncs/{body['sync_id']}").json()
    assert status["state"] == "queued" and status["counts"]["pending"] == 7
    jobs = api.http().get(f"/v1/syncs/{body['sync_id']}/jobs", params={"limit": 3}).json()
    assert len(jobs["jobs"]) == 3 and jobs["next_cursor"] is not None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"repo_id": "../etc"}, "repo_id"),
        ({"repo_id": "a/b/c"}, "repo_id"),
        ({"repo_id": "acme/tiny-model", "extra": 1}, "extra"),
        ({"repo_id": "acme/tiny-model", "force": "yes"}, "force"),
        ({"repo_id": "acme/tiny-model", "repo_type": "bucket"}, "repo_type"),
        ({"repo_id": "acme/tiny-model", "revision": "../main"}, "revision"),
        ({"repo_id": 7}, "repo_id"),
        ({"repo_id": "acme/日本"}, "repo_id"),  # the Hub takes ASCII ids only
    ],
)
def test_bad_bodies_are_422_with_the_field(
    api: Service, body: dict[str, object], field: str
) -> None:
    r = api.http().post("/v1/syncs", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request" and field in r.json()["message"]


@pytest.mark.parametrize("dest", ["archive", "s3://other-bucket", "/etc", "file:///tmp"])
def test_a_foreign_destination_is_refused_with_the_allowed_names(api: Service, dest: str) -> None:
    r = api.http().post("/v1/syncs", json={"repo_id": "acme/tiny-model", "dest": dest})
    assert r.status_code == 422, r.text
    assert "default" in r.json()["message"] and r.json()["error"] == "invalid_request"


def test_malformed_json_unknown_routes_and_methods_are_json_errors(api: Service) -> None:
    http = api.http()
    r = http.post("/v1/syncs", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and set(r.json()) == {"error", "message"}
    r = http.get("/v1/nothing")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = http.put("/v1/syncs")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    r = http.get("/v1/syncs/99")
    assert r.status_code == 404 and r.json()["error"] == "sync_not_found"


def test_a_body_over_one_mib_is_413(api: Service) -> None:
    r = api.http().post(
        "/v1/jobs/batch", content=b"x" * (1024**2 + 1), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["error"] == "body_too_large"


def test_a_batch_over_1000_is_refused(api: Service) -> None:
    job = {"repo_id": "acme/tiny-model", "path": "config.json"}
    r = api.http().post("/v1/jobs/batch", json={"jobs": [job] * 1001})
    assert r.status_code == 422 and "jobs" in r.json()["message"]


def test_unknown_repo_and_gated_repo_are_4xx_with_the_hubs_reason(
    api: Service, hub: FakeHub
) -> None:
    from fakehub import Repo

    r = api.http().post("/v1/syncs", json={"repo_id": "acme/nope"})
    assert r.status_code == 404 and r.json()["error"] == "repo_not_found", r.text
    gated = Repo(repo_id="acme/gated", gated="manual")
    gated.add_file("model.bin", b"secret weights", lfs=True)
    gated.commit("gated")
    hub.add(gated)
    r = api.http().post("/v1/syncs", json={"repo_id": "acme/gated"})
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "gated_repo" and "accept its terms" in r.json()["message"]


def test_per_file_jobs_are_idempotent(api: Service) -> None:
    http = api.http()
    job = {"repo_id": "acme/tiny-model", "path": "config.json"}
    first = http.post("/v1/jobs", json=job).json()
    again = http.post("/v1/jobs", json=job).json()
    assert first["created"] and not again["created"]
    assert (
        first["job_id"] == again["job_id"]
        and first["key"] == "mirror/models/acme/tiny-model/config.json"
    )
    r = http.post("/v1/jobs", json={**job, "path": "missing.bin"})
    assert r.status_code == 404 and r.json()["error"] == "file_not_found"
    got = http.get(f"/v1/jobs/{first['job_id']}").json()
    assert got["path"] == "config.json" and got["state"] == "pending"


def test_the_original_clients_body(api: Service, hub) -> None:  # type: ignore[no-untyped-def]
    http = api.http()
    url = f"{hub.url}/datasets/acme/tiny-data/resolve/main/data/test/part-00000.parquet"
    r = http.post("/", json={"hf_url": url, "r2_path": "datasets/tiny/test.parquet"})
    assert r.status_code == 202, r.text
    assert r.json()["key"] == "mirror/datasets/tiny/test.parquet"


@pytest.mark.parametrize(
    "hf_url",
    [
        "https://evil.example/acme/tiny-model/resolve/main/config.json",
        "{hub}/api/models/acme/tiny-model",
        "{hub}/acme/tiny-model/blob/main/config.json",
        "{hub}/acme/tiny-model/resolve/main/../../etc/passwd",
        "{hub}/acme/tiny-model/resolve/main/config.json?x=1",
        "{hub}/acme/tiny-model/resolve/main/",
        "file:///etc/passwd",
    ],
)
def test_hostile_original_urls_are_422(api: Service, hub, hf_url: str) -> None:  # type: ignore[no-untyped-def]
    r = api.http().post("/", json={"hf_url": hf_url.format(hub=hub.url), "r2_path": "x/y"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_request"


@pytest.mark.parametrize("r2_path", ["../x", "/abs", "a/../../b", "a\x00b", "a\\b", "", "a\x9bb"])
def test_hostile_original_keys_are_422(api: Service, hub, r2_path: str) -> None:  # type: ignore[no-untyped-def]
    url = f"{hub.url}/acme/tiny-model/resolve/main/config.json"
    r = api.http().post("/", json={"hf_url": url, "r2_path": r2_path})
    assert r.status_code == 422, r.text


def test_metrics_are_prometheus_text(api: Service) -> None:
    r = api.http().get("/metrics")
    assert r.status_code == 200 and "data4r2_queue_depth" in r.text


def test_serve_refuses_an_open_host_without_a_token(service: Service) -> None:
    env = {k: v for k, v in service.env.items() if k != "DATA4R2_API_TOKEN"}
    res = service.cli(
        "serve", "--host", "0.0.0.0", "--dest", "/tmp/x", env={**env, "DATA4R2_API_TOKEN": ""}
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert "API token" in res.stderr


def test_cancel_drops_pending_jobs_and_retry_has_nothing_to_do(api: Service) -> None:
    http = api.http()
    sync_id = http.post("/v1/syncs", json={"repo_id": "acme/tiny-model"}).json()["sync_id"]
    r = http.delete(f"/v1/syncs/{sync_id}")
    assert r.status_code == 200 and r.json() == {"sync_id": sync_id, "jobs": 7}
    status = http.get(f"/v1/syncs/{sync_id}").json()
    assert status["state"] == "cancelled" and status["counts"]["cancelled"] == 7
    assert http.post(f"/v1/syncs/{sync_id}/retry").json()["jobs"] == 0
    listed = http.get("/v1/syncs", params={"limit": 1}).json()
    assert listed["syncs"][0]["sync_id"] == sync_id  # newest first


def test_status_and_jobs_commands_read_the_service(api: Service) -> None:
    sync_id = (
        api.http()
        .post("/v1/syncs", json={"repo_id": "acme/tiny-data", "repo_type": "dataset"})
        .json()["sync_id"]
    )
    status = api.cli("status", str(sync_id))
    assert (
        status.returncode == 0 and "queued" in status.stdout and "acme/tiny-data" in status.stdout
    )
    jobs = api.cli("jobs", str(sync_id), "--state", "pending")
    assert jobs.returncode == 0 and len(jobs.stdout.strip().splitlines()) == 3
    gone = api.cli("status", "999999")
    assert gone.returncode == 2 and "no sync 999999" in gone.stderr


def test_a_batch_is_one_sync_and_a_repeated_file_is_one_job(api: Service) -> None:
    # Files no other test of this module submits one by one (the server is shared).
    jobs = [
        {"repo_id": "acme/tiny-data", "repo_type": "dataset", "path": "README.md"},
        {
            "repo_id": "acme/tiny-data",
            "repo_type": "dataset",
            "path": "data/train/part-00000.parquet",
        },
        {"repo_id": "acme/tiny-data", "repo_type": "dataset", "path": "README.md"},
    ]
    r = api.http().post("/v1/jobs/batch", json={"jobs": jobs})
    assert r.status_code == 202, r.text
    got = r.json()["jobs"]
    assert [j["created"] for j in got] == [True, True, False]
    assert got[0]["job_id"] == got[2]["job_id"] and len({j["sync_id"] for j in got}) == 1
    before = api.http().get(f"/v1/syncs/{got[0]['sync_id']}").json()["files"]
    fresh = {
        "repo_id": "acme/tiny-data",
        "repo_type": "dataset",
        "path": "data/test/part-00000.parquet",
    }
    bad = [fresh, {"repo_id": "acme/tiny-data", "repo_type": "dataset", "path": "nope"}]
    r = api.http().post("/v1/jobs/batch", json={"jobs": bad})
    assert r.status_code == 404  # all or nothing: the good file was not queued either
    assert api.http().get(f"/v1/syncs/{got[0]['sync_id']}").json()["files"] == before
