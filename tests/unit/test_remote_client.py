"""The remote client and the follow loop, in-process: httpx2's MockTransport stands in for
the server (the transport is the swappable part, as in httpx's own tests)."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from data4r2.cli.remote_view import JobDiff, follow
from data4r2.domain import FileDone, FileFailed, FileRetrying, FileStarted, PlanReady
from data4r2.service.client import ServiceClient, ServiceError, ServiceUnreachable


def client(handler: Any) -> ServiceClient:
    return ServiceClient("http://svc", "secret", transport=httpx2.MockTransport(handler))


def answer(status: int, body: dict[str, Any]) -> Any:
    return lambda request: httpx2.Response(status, json=body)


def test_the_token_is_sent_as_a_bearer_header() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["authorization"])
        return httpx2.Response(200, json={"status": "ok", "version": "9.9.9"})

    assert client(handler).check_version() == "9.9.9"
    assert seen == ["Bearer secret"]


@pytest.mark.parametrize(
    ("status", "code", "exit_code"),
    [
        (401, "unauthorized", 2),
        (422, "invalid_request", 2),
        (404, "repo_not_found", 3),
        (403, "gated_repo", 3),
        (503, "destination_unavailable", 6),
        (500, "internal_error", 4),
    ],
)
def test_refusals_keep_the_exit_code_of_the_local_failure(
    status: int, code: str, exit_code: int
) -> None:
    api = client(answer(status, {"error": code, "message": "why"}))
    with pytest.raises(ServiceError) as err:
        api.submit_sync({"repo_id": "a/b"})
    assert err.value.exit_code == exit_code
    assert "secret" not in err.value.message


def test_a_server_older_than_the_client_is_named() -> None:
    api = client(answer(200, {"status": "ok", "version": "0.0.9"}))
    with pytest.raises(ServiceError, match="upgrade the server"):
        api.check_version()


def test_an_unreachable_service_is_one_line() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused")

    with pytest.raises(ServiceUnreachable, match="cannot reach the service at http://svc"):
        client(handler).sync(1)


def test_a_non_http_url_is_a_usage_error() -> None:
    with pytest.raises(Exception, match="not an http"):
        ServiceClient("svc:8787", None)


def job(job_id: int, state: str, attempts: int = 0, error: str | None = None) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "path": f"f{job_id}",
        "size": 10,
        "key": f"k{job_id}",
        "state": state,
        "attempts": attempts,
        "error": error,
    }


def test_job_states_become_the_engines_events() -> None:
    diff = JobDiff([job(1, "pending"), job(2, "pending"), job(3, "pending")])
    events = diff.events([job(1, "running", 1), job(2, "done", 1), job(3, "pending")])
    assert events == [FileStarted("f1", 10, 1), FileStarted("f2", 10, 1), FileDone("f2", 10)]
    events = diff.events(
        [job(1, "running", 2, "boom"), job(2, "done", 1), job(3, "failed", 2, "x")]
    )
    assert events == [
        FileRetrying("f1", 1, "boom"),
        FileStarted("f1", 10, 2),
        FileFailed("f3", "x"),
    ]
    assert diff.events([job(1, "running", 2, "boom")]) == []  # nothing changed, nothing said


def test_follow_polls_until_the_sync_ends() -> None:
    status = {
        "repo_id": "a/b",
        "repo_type": "model",
        "revision": "main",
        "commit": "c" * 40,
        "state": "running",
    }
    polls = iter(
        [
            ({**status, "state": "queued"}, [job(1, "pending"), job(2, "skipped")]),
            ({**status, "state": "running"}, [job(1, "running", 1), job(2, "skipped")]),
            ({**status, "state": "done"}, [job(1, "done", 1), job(2, "skipped")]),
        ]
    )
    current: list[Any] = []

    def status_of() -> dict[str, Any]:
        current[:] = next(polls)
        return dict(current[0])

    events: list[Any] = []
    last, jobs = follow(status_of, lambda: list(current[1]), events.append, sleep=lambda s: None)
    assert last["state"] == "done" and [j["state"] for j in jobs] == ["done", "skipped"]
    assert isinstance(events[0], PlanReady) and len(events[0].plan.to_copy) == 1
    assert events[1:] == [
        FileDone("f2", 10, skipped=True),
        FileStarted("f1", 10, 1),
        FileDone("f1", 10),
    ]
    json.dumps(last)  # the follow loop keeps the server's plain JSON
