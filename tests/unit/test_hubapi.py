"""The Hub-compatible read API's parts: raw-path parsing, ranges, the manifest reader, and the
routes on a folder mirror (pagination, paths-info, conditional and ranged reads)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from data4r2.service.auth import BearerToken
from data4r2.service.hubapi.errors import install
from data4r2.service.hubapi.manifest import BadManifest, parse_manifest, parse_refs
from data4r2.service.hubapi.mirror import Mirror, RepoAddress
from data4r2.service.hubapi.paths import ApiCall, ResolveCall, parse_api, parse_resolve
from data4r2.service.hubapi.ranges import Unsatisfiable, byte_range
from data4r2.service.hubapi.routes import HubApi, router
from data4r2.sinks.folder import FolderSink
from data4r2.sinks.folder_reader import FolderReader

MODEL = RepoAddress("model", "acme/m")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/api/models/acme/m", ApiCall(MODEL, "info", None, "")),
        ("/api/models/gpt2", ApiCall(RepoAddress("model", "gpt2"), "info", None, "")),
        (
            "/api/models/acme/m/revision/refs%2Fpr%2F1",
            ApiCall(MODEL, "revision", "refs/pr/1", ""),
        ),
        ("/api/models/acme/m/revision/refs/pr/1", ApiCall(MODEL, "revision", "refs/pr/1", "")),
        ("/api/models/acme/m/tree/main/a%2Fb", ApiCall(MODEL, "tree", "main", "a/b")),
        ("/api/models/acme/m/tree/main/a/b", ApiCall(MODEL, "tree", "main", "a/b")),
        ("/api/models/gpt2/tree/v1", ApiCall(RepoAddress("model", "gpt2"), "tree", "v1", "")),
        (
            "/api/datasets/acme/d/paths-info/main",
            ApiCall(RepoAddress("dataset", "acme/d"), "paths-info", "main", ""),
        ),
        ("/api/models/acme/m/commits/main", None),  # not served by the mirror
        ("/api/buckets/acme/m", None),
        ("/api/models/acme/../m", None),
    ],
)
def test_api_paths(raw: str, expected: ApiCall | None) -> None:
    assert parse_api(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/acme/m/resolve/main/config.json", ResolveCall(MODEL, "main", "config.json")),
        (
            "/gpt2/resolve/abc1234/a/b.bin",
            ResolveCall(RepoAddress("model", "gpt2"), "abc1234", "a/b.bin"),
        ),
        (
            "/datasets/acme/d/resolve/refs%2Fconvert%2Fparquet/my%20notes%20%231.txt",
            ResolveCall(
                RepoAddress("dataset", "acme/d"), "refs/convert/parquet", "my notes #1.txt"
            ),
        ),
        ("/acme/m/resolve/main/", None),
        ("/v1/syncs/resolve/x", None),  # 'v1/syncs' is a repo id, but no file path follows
    ],
)
def test_resolve_paths(raw: str, expected: ResolveCall | None) -> None:
    assert parse_resolve(raw) == expected


def test_ranges() -> None:
    assert byte_range(None, 10) is None
    assert byte_range("bytes=2-4", 10) == (2, 5)
    assert byte_range("bytes=2-", 10) == (2, 10)
    assert byte_range("bytes=-3", 10) == (7, 10)
    assert byte_range("bytes=-30", 10) == (0, 10)
    assert byte_range("bytes=5-100", 10) == (5, 10)
    assert byte_range("bytes=0-1,4-5", 10) is None  # several ranges: the whole file
    assert byte_range("bytes=4-2", 10) is None
    for past in ("bytes=10-", "bytes=-0"):
        with pytest.raises(Unsatisfiable):
            byte_range(past, 10)
    with pytest.raises(Unsatisfiable):
        byte_range("bytes=0-", 0)  # nothing to send from an empty file


def _manifest(
    commit: str, files: dict[str, bytes], lfs: frozenset[str] = frozenset()
) -> dict[str, Any]:
    entries = []
    for path, data in sorted(files.items()):
        sha256 = hashlib.sha256(data).hexdigest()
        git = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        entries.append(
            {
                "path": path,
                "size": len(data),
                "git_sha1": git,
                "sha256": sha256 if path in lfs else None,
                "lfs": path in lfs,
                "key": f"models/acme/m/{path}",
            }
        )
    return {
        "format": "data4r2-manifest",
        "version": 1,
        "repo_id": "acme/m",
        "repo_type": "model",
        "commit": commit,
        "revision": "main",
        "created_at": "2026-12-04T17:00:00Z",
        "files": entries,
    }


def test_manifest_reader_refuses_what_is_not_the_agreed_format() -> None:
    good = _manifest("a" * 40, {"x": b"1"})
    assert parse_manifest(json.dumps(good).encode()).files[0].path == "x"
    for broken in (
        b"not json",
        json.dumps({**good, "format": "other"}).encode(),
        json.dumps({**good, "commit": "main"}).encode(),
        json.dumps({**good, "files": [{**good["files"][0], "size": -1}]}).encode(),
        json.dumps({**good, "files": [{**good["files"][0], "lfs": True}]}).encode(),  # no sha256
    ):
        with pytest.raises(BadManifest):
            parse_manifest(broken)
    with pytest.raises(BadManifest):
        parse_refs(
            json.dumps({"format": "data4r2-refs", "version": 1, "refs": {"main": "x"}}).encode()
        )


FILES = {
    "a.txt": b"alpha\n",
    "b/one.bin": bytes(range(256)) * 4,
    "b/two.txt": b"two\n",
    "b/c/three.txt": b"three\n",
    "z.txt": b"",
}
OLD, NEW = "1" * 40, "2" * 40


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    base = tmp_path / "models/acme/m"
    for path, data in FILES.items():
        (base / path).parent.mkdir(parents=True, exist_ok=True)
        (base / path).write_bytes(data)
    meta = base / ".data4r2"
    (meta / "manifests").mkdir(parents=True)
    (meta / "manifests" / f"{NEW}.json").write_text(
        json.dumps(_manifest(NEW, FILES, lfs=frozenset({"b/one.bin"})))
    )
    (meta / "manifests" / f"{OLD}.json").write_text(
        json.dumps(_manifest(OLD, {"a.txt": b"alpha, before\n", "b/two.txt": FILES["b/two.txt"]}))
    )
    (meta / "refs.json").write_text(
        json.dumps(
            {
                "format": "data4r2-refs",
                "version": 1,
                "refs": {"main": NEW, "v0": OLD},
                "latest": NEW,
            }
        )
    )
    app = FastAPI()
    app.state.hubapi = HubApi(
        Mirror(FolderReader(FolderSink(tmp_path)), ""), BearerToken(None), page_size=2
    )
    install(app)
    app.include_router(router)
    with TestClient(app) as c:
        yield c


def test_tree_pages_follow_link_to_the_end(client: TestClient) -> None:
    url: str | None = "/api/models/acme/m/tree/main?recursive=true"
    paths: list[str] = []
    while url:
        page = client.get(url)
        assert page.status_code == 200
        assert len(page.json()) <= 2
        paths += [e["path"] for e in page.json()]
        link = page.headers.get("link")
        url = link.split(";")[0].strip("<>") if link else None
        if url:
            assert url.startswith("http://testserver/"), "Link must be absolute"
    assert sorted(paths) == sorted([*FILES, "b", "b/c"])


def test_a_forged_cursor_is_a_400(client: TestClient) -> None:
    assert client.get("/api/models/acme/m/tree/main?cursor=bm9wZQ==").status_code == 400


def test_tree_of_a_missing_folder_is_entry_not_found(client: TestClient) -> None:
    answer = client.get("/api/models/acme/m/tree/main/nope")
    assert answer.status_code == 404
    assert answer.headers["X-Error-Code"] == "EntryNotFound"


def test_revisions_resolve_by_ref_full_and_short_sha(client: TestClient) -> None:
    for rev, sha in (("main", NEW), ("v0", OLD), (OLD, OLD), (NEW[:7], NEW)):
        assert client.get(f"/api/models/acme/m/revision/{rev}").json()["sha"] == sha
    answer = client.get("/api/models/acme/m/revision/" + "3" * 40)
    assert (answer.status_code, answer.headers["X-Error-Code"]) == (404, "RevisionNotFound")
    absent = client.get("/api/models/acme/other")
    assert (absent.status_code, absent.headers["X-Error-Code"]) == (404, "RepoNotFound")


def test_paths_info_by_form_and_json(client: TestClient) -> None:
    url = "/api/models/acme/m/paths-info/main"
    form = client.post(url, data={"paths": ["a.txt", "b", "missing"], "expand": "false"})
    assert [(e["type"], e["path"]) for e in form.json()] == [("file", "a.txt"), ("directory", "b")]
    as_json = client.post(url, json={"paths": ["b/one.bin"]})
    (entry,) = as_json.json()
    assert entry["lfs"]["oid"] == hashlib.sha256(FILES["b/one.bin"]).hexdigest()
    assert entry["lfs"]["pointerSize"] == 125 + len(str(len(FILES["b/one.bin"])))


def test_streamed_reads_head_range_and_if_none_match(client: TestClient) -> None:
    url = "/acme/m/resolve/main/b/one.bin"
    head = client.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Length"] == "1024"
    assert head.headers["X-Repo-Commit"] == NEW
    ranged = client.get(url, headers={"Range": "bytes=-4"})
    assert (ranged.status_code, ranged.content) == (206, FILES["b/one.bin"][-4:])
    assert ranged.headers["Content-Range"] == "bytes 1020-1023/1024"
    again = client.get(url, headers={"If-None-Match": head.headers["X-Linked-Etag"]})
    assert again.status_code == 304
    old = client.get("/acme/m/resolve/v0/b/one.bin")  # not in the older commit
    assert (old.status_code, old.headers["X-Repo-Commit"]) == (404, OLD)
    empty = client.get("/acme/m/resolve/main/z.txt")
    assert (empty.status_code, empty.content) == (200, b"")


def test_an_older_commit_serves_only_the_files_its_keys_still_hold(client: TestClient) -> None:
    """Keys carry no commit: the sync of NEW rewrote a.txt, so v0's a.txt is gone, while
    b/two.txt, the same in both, is still served under v0."""
    replaced = client.get("/acme/m/resolve/v0/a.txt")
    assert (replaced.status_code, replaced.headers["X-Error-Code"]) == (404, "EntryNotFound")
    assert "replaced" in replaced.json()["error"]
    same = client.get("/acme/m/resolve/v0/b/two.txt")
    assert (same.status_code, same.content) == (200, FILES["b/two.txt"])
    assert same.headers["X-Repo-Commit"] == OLD


def test_a_token_is_required_when_the_server_has_one(tmp_path: Path) -> None:
    app = FastAPI()
    app.state.hubapi = HubApi(Mirror(FolderReader(FolderSink(tmp_path)), ""), BearerToken("s3cret"))
    install(app)
    app.include_router(router)
    with TestClient(app) as c:
        refused = c.get("/api/models/acme/m")
        assert refused.status_code == 401
        assert "X-Error-Code" not in refused.headers  # as the Hub answers a bad token
        allowed = c.get("/api/models/acme/m", headers={"Authorization": "Bearer s3cret"})
        assert allowed.headers["X-Error-Code"] == "RepoNotFound"


def test_a_moved_branch_is_seen_once_the_refs_cache_expires(tmp_path: Path) -> None:
    meta = tmp_path / "models/acme/m/.data4r2"
    (meta / "manifests").mkdir(parents=True)
    for commit in (OLD, NEW):
        (meta / "manifests" / f"{commit}.json").write_text(json.dumps(_manifest(commit, {})))

    def point_main_at(commit: str) -> None:
        refs = {"format": "data4r2-refs", "version": 1, "refs": {"main": commit}, "latest": commit}
        (meta / "refs.json").write_text(json.dumps(refs))

    now = [0.0]
    mirror = Mirror(FolderReader(FolderSink(tmp_path)), "", refs_ttl=1.0, clock=lambda: now[0])
    point_main_at(OLD)
    assert mirror.snapshot(MODEL, "main").manifest.commit == OLD
    point_main_at(NEW)
    now[0] = 0.5
    assert mirror.snapshot(MODEL, "main").manifest.commit == OLD  # within the second
    now[0] = 1.01
    moved = mirror.snapshot(MODEL, "main")
    assert (moved.manifest.commit, moved.current) == (NEW, True)
