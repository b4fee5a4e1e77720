"""`data4r2 mirror add --every` on a real `serve`: the first sync at once, then re-syncs on
the schedule that move only what changed on the Hub (issue 14, "Freshness")."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakehub import FakeHub, Repo

from tests.service.conftest import TOKEN, Service, wait_until

FILES = {"config.json": b'{"v": 1}\n', "README.md": b"# fresh\n", "w.bin": os.urandom(50_000)}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Service, Repo]]:
    repo = Repo(repo_id="acme/fresh", repo_type="model")
    for path, data in FILES.items():
        repo.add_file(path, data, lfs=path.endswith(".bin"))
    repo.commit("first")
    with FakeHub() as hub:
        hub.add(repo)
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
        env = {
            **keep,
            "HF_ENDPOINT": hub.url,
            "HF_HOME": str(tmp_path / "hf-home"),
            "DATA4R2_STATE": str(tmp_path / "state.sqlite3"),
            "DATA4R2_API_TOKEN": TOKEN,
            "PYTHONUNBUFFERED": "1",
        }
        dest = str(tmp_path / "mirror")
        service = Service(env=env, args=["--dest", dest, "--workers", "2"], tmp=tmp_path)
        try:
            yield service.start(), repo
        finally:
            if service.proc is not None:
                service.proc.kill()
                service.proc.wait()


def _syncs(http: httpx.Client) -> list[dict[str, Any]]:
    answer = http.get("/v1/syncs", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    syncs: list[dict[str, Any]] = answer.json()["syncs"]
    return syncs


def test_a_scheduled_mirror_moves_only_what_changed(
    served: tuple[Service, Repo], tmp_path: Path
) -> None:
    service, repo = served
    http = service.http(TOKEN)
    first = repo.head()
    added = service.cli("mirror", "add", "acme/fresh", "--every", "1s", "--json")
    assert added.returncode == 0, added.stderr
    wait_until(
        lambda: any(s["commit"] == first and s["state"] == "done" for s in _syncs(http)),
        "the first scheduled sync",
    )
    assert (tmp_path / "mirror/models/acme/fresh/w.bin").read_bytes() == FILES["w.bin"]

    repo.add_file("config.json", b'{"v": 2}\n')
    second = repo.commit("second")
    wait_until(
        lambda: any(s["commit"] == second and s["state"] == "done" for s in _syncs(http)),
        "a scheduled sync of the new commit",
    )
    syncs = _syncs(http)
    newest = next(s for s in syncs if s["commit"] == second)
    assert newest["counts"]["done"] == 1  # config.json, and nothing else, moved
    assert newest["counts"]["skipped"] == len(FILES) - 1
    # Re-syncs of the unchanged first commit copied nothing.
    first_runs = sorted((s for s in syncs if s["commit"] == first), key=lambda s: s["sync_id"])
    assert all(s["counts"]["done"] == 0 for s in first_runs[1:])
    assert (tmp_path / "mirror/models/acme/fresh/config.json").read_bytes() == b'{"v": 2}\n'

    listed = service.cli("mirror", "list", "--json")
    assert '"repo_id": "acme/fresh"' in listed.stdout
    mirror_id = http.get("/v1/mirrors").json()["mirrors"][0]["id"]
    assert service.cli("mirror", "remove", str(mirror_id)).returncode == 0
    assert http.get("/v1/mirrors").json() == {"mirrors": []}


def test_mirror_requests_are_checked(served: tuple[Service, Repo]) -> None:
    service, _ = served
    http = service.http(TOKEN)
    for body in (
        {"repo_id": "acme/fresh", "every": "soon"},
        {"repo_id": "acme/fresh", "every": "6h", "dest": "/etc"},
        {"repo_id": "../x", "every": "6h"},
        {"repo_id": "acme/fresh", "every": "6h", "unknown": 1},
    ):
        answer = http.post("/v1/mirrors", json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert http.delete("/v1/mirrors/99").status_code == 404
    assert service.http(None).get("/v1/mirrors").status_code == 401
