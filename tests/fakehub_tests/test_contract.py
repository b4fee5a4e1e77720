"""docs/hub.md §7 items 3–18 against the fake hub, with raw httpx (no redirects followed)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
from fakehub import FakeHub, RateLimits, git_blob_sha1

from .corpus import CONFIG_V1, CONFIG_V2, ODD_NAMES, PARQUET, README, WEIGHTS, XET_DATA, Corpus

LFS_PATH = "weights/model.safetensors"
XET_PATH = "xet/big.bin"


def enc(x: str) -> str:
    return quote(x, safe="")


def assert_error(r: httpx.Response, status: int, code: str | None, message: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers.get("x-error-code") == code
    assert r.headers["x-error-message"] == message
    assert r.json() == {"error": message}
    assert r.headers["x-request-id"]


def resolve_url(hub: FakeHub, repo_id: str, rev: str, path: str, prefix: str = "") -> str:
    return f"{hub.url}/{prefix}{repo_id}/resolve/{enc(rev)}/{quote(path)}"


def follow(http: httpx.Client, r: httpx.Response, **kw: object) -> httpx.Response:
    """Follow one redirect by hand (relative or absolute)."""
    assert r.is_redirect
    return http.request(r.request.method, r.request.url.join(r.headers["location"]), **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- 3. repo info


def test_repo_info_default_branch(hub: FakeHub, http: httpx.Client, corpus: Corpus) -> None:
    r = http.get(f"{hub.url}/api/models/acme/model")
    assert r.status_code == 200
    info = r.json()
    assert info["id"] == "acme/model"
    assert info["sha"] == corpus.head
    assert (info["private"], info["gated"], info["disabled"]) == (False, False, False)
    assert [s["rfilename"] for s in info["siblings"]] == sorted(corpus.files_v2)
    assert all(set(s) == {"rfilename"} for s in info["siblings"])


@pytest.mark.parametrize(
    ("rev", "expected"),
    [("main", "head"), ("dev", "first"), ("v1", "first"), ("refs/pr/1", "pr"), ("SHA", "first")],
)
def test_repo_info_at_revision(
    hub: FakeHub, http: httpx.Client, corpus: Corpus, rev: str, expected: str
) -> None:
    rev = corpus.first if rev == "SHA" else rev
    r = http.get(f"{hub.url}/api/models/acme/model/revision/{enc(rev)}")
    assert r.status_code == 200
    assert r.json()["sha"] == getattr(corpus, expected)


def test_repo_info_blobs_true_adds_sizes_and_hashes(hub: FakeHub, http: httpx.Client) -> None:
    r = http.get(f"{hub.url}/api/models/acme/model", params={"blobs": "true"})
    siblings = {s["rfilename"]: s for s in r.json()["siblings"]}
    config = siblings["config.json"]
    assert config == {"rfilename": "config.json", "size": 31, "blobId": git_blob_sha1(CONFIG_V2)}
    lfs = siblings[LFS_PATH]
    assert lfs["size"] == len(WEIGHTS)
    assert lfs["lfs"] == {
        "sha256": hashlib.sha256(WEIGHTS).hexdigest(),  # key `sha256` here, `oid` in the tree
        "size": len(WEIGHTS),
        "pointerSize": 131,
    }
    assert lfs["blobId"] != git_blob_sha1(WEIGHTS)


def test_repo_info_of_gated_private_disabled_flags(hub: FakeHub, http: httpx.Client) -> None:
    auth = {"Authorization": "Bearer hf_alice"}
    assert http.get(f"{hub.url}/api/models/acme/gated-manual").json()["gated"] == "manual"
    assert http.get(f"{hub.url}/api/models/acme/gated-auto").json()["gated"] == "auto"
    assert http.get(f"{hub.url}/api/models/acme/private", headers=auth).json()["private"] is True


def test_repo_info_expand_keeps_only_what_was_asked(hub: FakeHub, http: httpx.Client) -> None:
    r = http.get(
        f"{hub.url}/api/models/acme/model", params=[("expand", "sha"), ("expand", "gated")]
    )
    assert set(r.json()) == {"_id", "id", "sha", "gated"}


# --------------------------------------------------------------------------- 4. tree


def tree(hub: FakeHub, http: httpx.Client, sub: str = "", **params: str) -> list[dict[str, Any]]:
    r = http.get(f"{hub.url}/api/models/acme/model/tree/main{sub}", params=params)
    assert r.status_code == 200, r.text
    assert "link" not in r.headers
    entries: list[dict[str, Any]] = r.json()
    return entries


def test_tree_root_is_not_recursive(hub: FakeHub, http: httpx.Client) -> None:
    entries = tree(hub, http)
    paths = {e["path"]: e["type"] for e in entries}
    assert paths["weights"] == "directory" and paths["config.json"] == "file"
    assert not any("/" in p for p in paths)


def test_tree_recursive_mixes_directories_and_files(
    hub: FakeHub, http: httpx.Client, corpus: Corpus
) -> None:
    entries = tree(hub, http, recursive="true", expand="false")
    files = {e["path"] for e in entries if e["type"] == "file"}
    dirs = {e["path"] for e in entries if e["type"] == "directory"}
    assert files == set(corpus.files_v2)
    assert {"deep", "deep/a", "deep/a/b", "deep/a/b/c", "weights", "xet", "ünïcødé"} <= dirs
    commit = corpus.model.get_commit(corpus.head)
    for e in entries:
        if e["type"] == "directory":
            assert e == {
                "type": "directory",
                "oid": commit.trees[e["path"]],
                "size": 0,
                "path": e["path"],
            }


def test_tree_entries_regular_lfs_and_xet(hub: FakeHub, http: httpx.Client) -> None:
    by_path = {e["path"]: e for e in tree(hub, http, recursive="true")}
    assert by_path["config.json"] == {
        "type": "file",
        "oid": git_blob_sha1(CONFIG_V2),
        "size": len(CONFIG_V2),
        "path": "config.json",
    }
    lfs = by_path[LFS_PATH]
    assert list(lfs) == ["type", "oid", "size", "lfs", "path"]
    assert lfs["lfs"] == {
        "oid": hashlib.sha256(WEIGHTS).hexdigest(),
        "size": len(WEIGHTS),
        "pointerSize": 131,
    }
    assert "xetHash" not in lfs
    xet = by_path[XET_PATH]
    assert re.fullmatch(r"[0-9a-f]{64}", xet["xetHash"])
    assert xet["lfs"]["oid"] == hashlib.sha256(XET_DATA).hexdigest()
    assert by_path["empty.txt"]["size"] == 0


@pytest.mark.parametrize("form", ["encoded", "raw"])
def test_tree_subdirectory_encoded_or_raw(hub: FakeHub, http: httpx.Client, form: str) -> None:
    sub = "/" + (enc("deep/a") if form == "encoded" else "deep/a")
    entries = tree(hub, http, sub)
    assert entries == [
        {"type": "directory", "oid": entries[0]["oid"], "size": 0, "path": "deep/a/b"}
    ]
    assert [e["path"] for e in tree(hub, http, sub, recursive="true")] == [
        "deep/a/b",
        "deep/a/b/c",
        "deep/a/b/c/d.txt",
    ]
    unicode = tree(hub, http, "/" + enc("ünïcødé"))
    assert [e["path"] for e in unicode] == ["ünïcødé/файл 文件.txt"]


def test_tree_missing_directory_is_entry_not_found(hub: FakeHub, http: httpx.Client) -> None:
    r = http.get(f"{hub.url}/api/models/acme/model/tree/main/{enc('no/such')}")
    assert_error(r, 404, "EntryNotFound", "Entry not found")


def test_tree_expand_adds_last_commit(hub: FakeHub, http: httpx.Client, corpus: Corpus) -> None:
    entries = {e["path"]: e for e in tree(hub, http, expand="true")}
    assert entries["config.json"]["lastCommit"]["id"] == corpus.head
    assert entries["README.md"]["lastCommit"]["id"] == corpus.first
    assert entries["README.md"]["lastCommit"]["title"] == "initial commit"
    assert entries["README.md"]["securityFileStatus"]["status"] == "safe"
    assert "securityFileStatus" not in entries["weights"]


# --------------------------------------------------------------------------- 5. paging


def pages(http: httpx.Client, url: str, **kw: object) -> list[httpx.Response]:
    out = [http.get(url, **kw)]  # type: ignore[arg-type]
    while "next" in out[-1].links:
        assert out[-1].status_code == 200
        out.append(http.get(out[-1].links["next"]["url"], headers=kw.get("headers")))  # type: ignore[arg-type]
        assert len(out) < 100
    return out


def test_paging_follows_absolute_links_until_the_last_page(
    make_hub: Callable[..., FakeHub], http: httpx.Client, corpus: Corpus
) -> None:
    hub = make_hub(page_size=4)
    url = f"{hub.url}/api/models/acme/model/tree/main?recursive=true&expand=false"
    got = pages(http, url)
    entries = [e for r in got for e in r.json()]
    assert all(len(r.json()) == 4 for r in got[:-1]) and 1 <= len(got[-1].json()) <= 4
    assert len(entries) == len({e["path"] for e in entries})  # no duplicate
    assert {e["path"] for e in entries if e["type"] == "file"} == set(corpus.files_v2)
    link = got[0].headers["link"]
    m = re.fullmatch(r'<(http://127\.0\.0\.1:\d+/[^>]+)>; rel="next"', link)
    assert m, link
    assert m.group(1).startswith(url + "&cursor=")
    assert "link" not in got[-1].headers


def test_paging_link_is_built_from_the_host_header(
    make_hub: Callable[..., FakeHub], http: httpx.Client
) -> None:
    hub = make_hub(page_size=2)
    port = urlsplit(hub.url).port
    headers = {"Host": f"localhost:{port}"}
    r = http.get(f"{hub.url}/api/models/acme/model/tree/main", headers=headers)
    assert r.links["next"]["url"].startswith(
        f"http://localhost:{port}/api/models/acme/model/tree/main?cursor="
    )
    assert r.links["next"]["url"].count("cursor=") == 1
    r2 = http.get(r.links["next"]["url"].replace("localhost", "127.0.0.1"), headers=headers)
    assert r2.status_code == 200 and r2.links["next"]["url"].count("cursor=") == 1


def test_expand_pages_are_smaller(make_hub: Callable[..., FakeHub], http: httpx.Client) -> None:
    hub = make_hub(page_size=1000, expand_page_size=3)
    plain = pages(http, f"{hub.url}/api/models/acme/model/tree/main?recursive=true")
    expanded = pages(http, f"{hub.url}/api/models/acme/model/tree/main?recursive=true&expand=true")
    assert len(plain) == 1 and len(expanded) > 3
    assert [len(r.json()) for r in expanded[:-1]] == [3] * (len(expanded) - 1)


def test_forged_or_misplaced_cursor_is_400(
    make_hub: Callable[..., FakeHub], http: httpx.Client
) -> None:
    hub = make_hub(page_size=2)
    r = http.get(f"{hub.url}/api/models/acme/model/tree/main")
    cursor = parse_qs(urlsplit(r.links["next"]["url"]).query)["cursor"][0]
    base = f"{hub.url}/api/models/acme/model/tree/main"
    assert_error(http.get(base, params={"cursor": cursor + "x"}), 400, None, "Invalid cursor")
    assert_error(http.get(base, params={"cursor": "eyJvIjogMn0"}), 400, None, "Invalid cursor")
    elsewhere = http.get(f"{base}?recursive=true&cursor={cursor}")
    assert_error(elsewhere, 400, None, "Invalid cursor")
    assert http.get(base, params={"cursor": cursor}).status_code == 200


# --------------------------------------------------------------------------- 6. paths-info


def test_paths_info_form_and_json(hub: FakeHub, http: httpx.Client, corpus: Corpus) -> None:
    url = f"{hub.url}/api/models/acme/model/paths-info/{enc(corpus.first)}"
    wanted = ["config.json", "nope.txt", "weights", LFS_PATH]
    form = http.post(url, data={"paths": wanted, "expand": "false"})
    as_json = http.post(url, json={"paths": wanted, "expand": False})
    assert form.status_code == as_json.status_code == 200
    assert form.json() == as_json.json()
    entries = {e["path"]: e for e in form.json()}
    assert set(entries) == {"config.json", "weights", LFS_PATH}  # unknown silently omitted
    assert entries["config.json"]["oid"] == git_blob_sha1(CONFIG_V1)
    assert entries["weights"]["type"] == "directory"
    assert entries[LFS_PATH]["lfs"]["oid"] == hashlib.sha256(WEIGHTS).hexdigest()
    expanded = http.post(url, data={"paths": ["config.json"], "expand": "true"}).json()
    assert expanded[0]["lastCommit"]["id"] == corpus.first
    assert http.post(url, data={"nothing": "x"}).status_code == 400


# --------------------------------------------------------------------------- 7. refs, commits


def test_refs_with_and_without_pull_requests(
    hub: FakeHub, http: httpx.Client, corpus: Corpus
) -> None:
    refs = http.get(f"{hub.url}/api/models/acme/model/refs").json()
    assert "pullRequests" not in refs
    assert refs["branches"] == [
        {"name": "dev", "ref": "refs/heads/dev", "targetCommit": corpus.first},
        {"name": "main", "ref": "refs/heads/main", "targetCommit": corpus.head},
    ]
    assert refs["tags"] == [{"name": "v1", "ref": "refs/tags/v1", "targetCommit": corpus.first}]
    assert refs["converts"] == []
    with_prs = http.get(f"{hub.url}/api/models/acme/model/refs", params={"include_prs": 1}).json()
    assert with_prs["pullRequests"] == [
        {"name": "refs/pr/1", "ref": "refs/pr/1", "targetCommit": corpus.pr}
    ]
    data = http.get(f"{hub.url}/api/datasets/acme/data/refs").json()
    assert [c["ref"] for c in data["converts"]] == ["refs/convert/parquet"]


def test_commits_are_paged_newest_first(
    make_hub: Callable[..., FakeHub], http: httpx.Client, corpus: Corpus
) -> None:
    hub = make_hub(commits_page_size=1)
    got = pages(http, f"{hub.url}/api/models/acme/model/commits/main")
    commits = [c for r in got for c in r.json()]
    assert len(got) == 2
    assert [c["id"] for c in commits] == [corpus.head, corpus.first]
    assert commits[0]["title"] == "second commit" and commits[0]["message"] == "With a body."
    assert commits[0]["authors"][0]["user"] == "alice"
    pr = http.get(f"{hub.url}/api/models/acme/model/commits/{enc('refs/pr/1')}").json()
    assert [c["id"] for c in pr] == [corpus.pr]


# --------------------------------------------------------------------------- 8. revisions


@pytest.mark.parametrize("rev_in_path", ["refs%2Fpr%2F1", "refs/pr/1"])
def test_pr_revision_encoded_or_raw(
    hub: FakeHub, http: httpx.Client, corpus: Corpus, rev_in_path: str
) -> None:
    r = http.head(f"{hub.url}/acme/model/resolve/{rev_in_path}/pr-only.txt")
    assert r.status_code == 307 and r.headers["x-repo-commit"] == corpus.pr
    t = http.get(f"{hub.url}/api/models/acme/model/tree/{rev_in_path}/deep")
    assert t.status_code == 200 and t.json()[0]["path"] == "deep/a"
    info = http.get(f"{hub.url}/api/models/acme/model/revision/{rev_in_path}")
    assert info.json()["sha"] == corpus.pr


def test_convert_revision_raw_on_a_dataset(hub: FakeHub, http: httpx.Client) -> None:
    r = http.head(
        f"{hub.url}/datasets/acme/data/resolve/refs/convert/parquet/default/train/0000.parquet"
    )
    assert r.status_code == 302
    assert r.headers["x-linked-etag"] == f'"{hashlib.sha256(PARQUET[:1000]).hexdigest()}"'


def test_short_sha(hub: FakeHub, http: httpx.Client, corpus: Corpus) -> None:
    r = http.head(f"{hub.url}/acme/model/resolve/{corpus.first[:7]}/config.json")
    assert r.headers["x-repo-commit"] == corpus.first


@pytest.mark.parametrize(
    ("url", "rev"),
    [
        ("/api/models/acme/model/revision/nope", "nope"),
        ("/api/models/acme/model/tree/nope", "nope"),
        ("/api/models/acme/model/tree/refs/pr/9/deep", "refs/pr/9"),
        ("/acme/model/resolve/refs%2Fpr%2F9/config.json", "refs/pr/9"),
        ("/acme/model/resolve/0000000/config.json", "0000000"),
        ("/api/models/acme/model/commits/nope", "nope"),
    ],
)
def test_unknown_revision(hub: FakeHub, http: httpx.Client, url: str, rev: str) -> None:
    assert_error(http.get(hub.url + url), 404, "RevisionNotFound", f"Invalid rev id: {rev}")


# --------------------------------------------------------------------------- 9. resolve routes


@pytest.mark.parametrize(
    ("prefix", "repo_id", "path"),
    [
        ("", "acme/model", "config.json"),
        ("datasets/", "acme/data", "README.md"),
        ("spaces/", "acme/space", "app.py"),
        ("", "legacy", "config.json"),
    ],
)
def test_resolve_routes_by_type(
    hub: FakeHub, http: httpx.Client, prefix: str, repo_id: str, path: str
) -> None:
    r = http.head(resolve_url(hub, repo_id, "main", path, prefix))
    assert r.status_code == 307
    assert len(r.headers["x-repo-commit"]) == 40


def test_wrong_type_is_repo_not_found(hub: FakeHub, http: httpx.Client) -> None:
    msg = "Invalid username or password."
    assert_error(
        http.get(resolve_url(hub, "acme/data", "main", "README.md")), 401, "RepoNotFound", msg
    )
    assert_error(http.get(f"{hub.url}/api/models/acme/data"), 401, "RepoNotFound", msg)
    auth = {"Authorization": "Bearer hf_bob"}
    r = http.get(resolve_url(hub, "acme/model", "main", "config.json", "datasets/"), headers=auth)
    assert_error(r, 404, "RepoNotFound", "Repository not found")


# --------------------------------------------------------------------------- 10. regular files


@pytest.mark.parametrize("path", ["config.json", *ODD_NAMES])
def test_regular_file_307_then_200(
    hub: FakeHub, http: httpx.Client, corpus: Corpus, path: str
) -> None:
    data = corpus.files_v2[path]
    for method in ("HEAD", "GET"):
        r = http.request(method, resolve_url(hub, "acme/model", "main", path))
        assert r.status_code == 307
        loc = r.headers["location"]
        assert loc.startswith(f"/api/resolve-cache/models/acme/model/{corpus.head}/{enc(path)}?")
        assert r.headers["x-repo-commit"] == corpus.head
        final = follow(http, r, headers={"Accept-Encoding": "identity"})
        assert final.status_code == 200
        assert final.headers["x-repo-commit"] == corpus.head
        assert final.headers["etag"] == f'"{git_blob_sha1(data)}"'
        assert final.headers["content-length"] == str(len(data))
        assert final.headers["accept-ranges"] == "bytes"
        assert final.content == (data if method == "GET" else b"")


def test_resolve_cache_redirect_can_be_switched_off(
    make_hub: Callable[..., FakeHub], http: httpx.Client, corpus: Corpus
) -> None:
    hub = make_hub(resolve_cache_redirect=False)
    r = http.get(resolve_url(hub, "acme/model", corpus.first, "config.json"))
    assert r.status_code == 200 and r.content == CONFIG_V1
    assert r.headers["etag"] == f'"{git_blob_sha1(CONFIG_V1)}"'
    assert r.headers["x-repo-commit"] == corpus.first


# --------------------------------------------------------------------------- 11–13. LFS, Xet, CDN


def test_lfs_file_302_to_the_cdn(hub: FakeHub, http: httpx.Client, corpus: Corpus) -> None:
    for method in ("HEAD", "GET"):
        r = http.request(method, resolve_url(hub, "acme/model", "main", LFS_PATH))
        assert r.status_code == 302
        loc = urlsplit(r.headers["location"])
        assert f"{loc.scheme}://{loc.netloc}" == hub.cdn_url != hub.url
        q = parse_qs(loc.query)
        assert int(q["Expires"][0]) > hub.clock.now() and q["Signature"][0]
        assert r.headers["x-repo-commit"] == corpus.head
        assert r.headers["x-linked-etag"] == f'"{hashlib.sha256(WEIGHTS).hexdigest()}"'
        assert r.headers["x-linked-size"] == str(len(WEIGHTS))
        assert int(r.headers["content-length"]) < 1000  # the short text body, not the file
        assert "x-xet-hash" not in r.headers
    assert http.get(r.headers["location"]).content == WEIGHTS


def test_xet_file(hub: FakeHub, http: httpx.Client, corpus: Corpus) -> None:
    r = http.head(resolve_url(hub, "acme/model", corpus.head, XET_PATH))
    xet_hash = r.headers["x-xet-hash"]
    assert re.fullmatch(r"[0-9a-f]{64}", xet_hash)
    auth_url = r.links["xet-auth"]["url"]
    assert auth_url == f"{hub.url}/api/models/acme/model/xet-read-token/{corpus.head}"
    assert "xet-reconstruction-info" in r.links
    assert "/xet-bridge-us/" in r.headers["location"]
    cdn = http.get(r.headers["location"])
    assert cdn.content == XET_DATA and cdn.headers["etag"] == f'"{xet_hash}"'
    token = http.get(auth_url)
    assert token.status_code == 200
    assert set(token.json()) == {"accessToken", "exp", "casUrl"}
    assert token.headers["x-xet-access-token"] == token.json()["accessToken"]
    hub.faults.add(kind=500, route="xet_token")
    assert http.get(auth_url).status_code == 500
    gated = http.get(f"{hub.url}/api/models/acme/gated-auto/xet-read-token/main")
    assert gated.headers["x-error-code"] == "GatedRepo"


def test_cdn_has_no_hub_headers_and_head_works(hub: FakeHub, http: httpx.Client) -> None:
    loc = http.head(resolve_url(hub, "acme/model", "main", LFS_PATH)).headers["location"]
    head = http.head(loc)
    get = http.get(loc)
    for r in (head, get):
        assert r.status_code == 200
        assert r.headers["content-length"] == str(len(WEIGHTS))
        for name in (
            "x-repo-commit",
            "x-linked-etag",
            "x-linked-size",
            "x-xet-hash",
            "x-request-id",
            "ratelimit",
            "x-error-code",
        ):
            assert name not in r.headers
    assert head.content == b"" and get.content == WEIGHTS


def test_cdn_checks_signature_and_expiry(hub: FakeHub, http: httpx.Client) -> None:
    loc = http.head(resolve_url(hub, "acme/model", "main", LFS_PATH)).headers["location"]
    tampered = re.sub(
        r"Signature=([0-9a-f])", lambda m: "Signature=" + ("0" if m.group(1) != "0" else "1"), loc
    )
    assert http.get(tampered).status_code == 403
    assert http.get(loc.replace("Expires=", "Expires=1")).status_code == 403
    assert http.get(loc.split("?")[0]).status_code == 403
    hub.clock.advance(hub.cdn_ttl + 1)
    r = http.get(loc)
    assert r.status_code == 403 and b"expired" in r.content
    fresh = http.head(resolve_url(hub, "acme/model", "main", LFS_PATH)).headers["location"]
    assert http.get(fresh).status_code == 200


def test_cdn_rejects_an_authorization_header(hub: FakeHub, http: httpx.Client) -> None:
    loc = http.head(resolve_url(hub, "acme/model", "main", LFS_PATH)).headers["location"]
    r = http.get(loc, headers={"Authorization": "Bearer hf_alice"})
    assert r.status_code == 400 and b"InvalidArgument" in r.content
    entry = hub.journal.where(origin="cdn")[-1]
    assert entry.token == "hf_alice" and entry.status == 400


# --------------------------------------------------------------------------- 14. ranges


@pytest.fixture(params=["origin", "cdn"])
def file_url(request: pytest.FixtureRequest, hub: FakeHub, http: httpx.Client) -> tuple[str, bytes]:
    """A URL serving WEIGHTS bytes: the origin (regular file without redirect) or the CDN."""
    if request.param == "cdn":
        return http.head(resolve_url(hub, "acme/model", "main", LFS_PATH)).headers[
            "location"
        ], WEIGHTS
    loc = http.head(resolve_url(hub, "acme/model", "main", "README.md")).headers["location"]
    return hub.url + loc, README


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=10-19", 10, 19),
        ("bytes=100-", 100, None),
        ("bytes=-5", -5, None),
        ("bytes=0-99999999", 0, None),
    ],
)
def test_single_ranges(
    http: httpx.Client, file_url: tuple[str, bytes], spec: str, first: int, last: int | None
) -> None:
    url, data = file_url
    r = http.get(url, headers={"Range": spec, "Accept-Encoding": "identity"})
    start = first % len(data)
    end = len(data) - 1 if last is None else last
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert r.content == data[start : end + 1]
    assert r.headers["content-length"] == str(end + 1 - start)


def test_range_past_eof_and_multi_range(http: httpx.Client, file_url: tuple[str, bytes]) -> None:
    url, data = file_url
    r = http.get(url, headers={"Range": f"bytes={len(data)}-", "Accept-Encoding": "identity"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
    multi = http.get(url, headers={"Range": "bytes=0-1,5-6", "Accept-Encoding": "identity"})
    assert (
        multi.status_code == 200 and multi.content == data and "content-range" not in multi.headers
    )


def test_range_on_an_empty_file(hub: FakeHub, http: httpx.Client) -> None:
    loc = http.head(resolve_url(hub, "acme/model", "main", "empty.txt")).headers["location"]
    r = http.get(hub.url + loc, headers={"Range": "bytes=0-", "Accept-Encoding": "identity"})
    assert r.status_code == 416 and r.headers["content-range"] == "bytes */0"
    whole = http.get(hub.url + loc)
    assert (
        whole.status_code == 200 and whole.content == b"" and whole.headers["content-length"] == "0"
    )


# --------------------------------------------------------------------------- 15. gzip, 304


def test_gzip_for_text_when_asked_identity_raw(hub: FakeHub, http: httpx.Client) -> None:
    loc = (
        hub.url + http.head(resolve_url(hub, "acme/model", "main", "README.md")).headers["location"]
    )
    with http.stream("GET", loc, headers={"Accept-Encoding": "gzip"}) as r:
        raw = b"".join(r.iter_raw())
        assert r.headers["content-encoding"] == "gzip"
        assert r.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in r.headers
    assert gzip.decompress(raw) == README
    plain = http.get(loc, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["content-length"] == str(len(README)) and plain.content == README
    gz_range = http.get(loc, headers={"Accept-Encoding": "gzip", "Range": "bytes=5-"})
    assert (
        gz_range.status_code == 200 and gz_range.content == README
    )  # range ignored, as CloudFront does
    binary = http.head(resolve_url(hub, "acme/model", "main", LFS_PATH)).headers["location"]
    assert "content-encoding" not in http.get(binary, headers={"Accept-Encoding": "gzip"}).headers


def test_if_none_match_gives_304(hub: FakeHub, http: httpx.Client) -> None:
    url = resolve_url(hub, "acme/model", "main", "config.json")
    etag = f'"{git_blob_sha1(CONFIG_V2)}"'
    r = http.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.headers["etag"] == etag and r.content == b""
    assert http.get(url, headers={"If-None-Match": '"other"'}).status_code == 307
    lfs = http.get(
        resolve_url(hub, "acme/model", "main", LFS_PATH),
        headers={"If-None-Match": f'W/"{hashlib.sha256(WEIGHTS).hexdigest()}"'},
    )
    assert lfs.status_code == 304


# --------------------------------------------------------------------------- 16. auth matrix

MSG_401 = "Invalid username or password."
MSG_404 = "Repository not found"
MSG_BAD = "Invalid credentials in Authorization header"
MSG_DISABLED = "Access to this resource is disabled."
TOKEN = {
    "anon": None,
    "bob": "hf_bob",
    "alice": "hf_alice",
    "carol": "hf_carol",
    "bad": "hf_revoked",
}


def gated_msg(repo_id: str, who: str, url: str) -> str:
    if who == "anon":
        return (
            f"Access to model {repo_id} is restricted. You must have access to it and be "
            "authenticated to access it. Please log in."
        )
    return (
        f"Access to model {repo_id} is restricted and you are not in the authorized list. "
        f"Visit {url}/{repo_id} to ask for access."
    )


# (repo, caller) -> (status, code, message) for CONTENT (resolve); metadata differs for gated.
MATRIX = {
    ("other/public", "anon"): (200, None, None),
    ("other/public", "bob"): (200, None, None),
    ("other/public", "bad"): (401, None, MSG_BAD),
    ("acme/private", "anon"): (401, "RepoNotFound", MSG_401),
    ("acme/private", "bob"): (404, "RepoNotFound", MSG_404),
    ("acme/private", "alice"): (200, None, None),
    ("acme/private", "bad"): (401, None, MSG_BAD),
    ("acme/nope", "anon"): (401, "RepoNotFound", MSG_401),
    ("acme/nope", "bob"): (404, "RepoNotFound", MSG_404),
    ("acme/gated-auto", "anon"): (401, "GatedRepo", "GATED"),
    ("acme/gated-auto", "bob"): (403, "GatedRepo", "GATED"),
    ("acme/gated-auto", "carol"): (200, None, None),
    ("acme/gated-manual", "anon"): (401, "GatedRepo", "GATED"),
    ("acme/gated-manual", "bob"): (403, "GatedRepo", "GATED"),
    ("acme/gated-manual", "carol"): (200, None, None),
    ("acme/gated-manual", "alice"): (200, None, None),  # a member of the org
    ("acme/gated-manual", "bad"): (401, None, MSG_BAD),
    ("acme/disabled", "anon"): (403, None, MSG_DISABLED),
    ("acme/disabled", "bob"): (403, None, MSG_DISABLED),
}


@pytest.mark.parametrize(("repo_id", "who"), list(MATRIX))
def test_auth_matrix(hub: FakeHub, http: httpx.Client, repo_id: str, who: str) -> None:
    status, code, message = MATRIX[(repo_id, who)]
    if message == "GATED":
        message = gated_msg(repo_id, who, hub.url)
    headers = {"Authorization": f"Bearer {TOKEN[who]}"} if TOKEN[who] else {}
    content = http.get(resolve_url(hub, repo_id, "main", "a.txt"), headers=headers)
    info = http.get(f"{hub.url}/api/models/{repo_id}", headers=headers)
    listing = http.get(f"{hub.url}/api/models/{repo_id}/tree/main", headers=headers)
    if status == 200:
        assert content.status_code == 307 and info.status_code == listing.status_code == 200
        final = follow(http, content, headers=headers)
        assert final.status_code == 200 and final.content.startswith(b"content of")
        return
    assert message is not None
    assert_error(content, status, code, message)
    if code == "GatedRepo":  # metadata of gated repos is public
        assert info.status_code == listing.status_code == 200
    else:
        assert_error(info, status, code, message)
        assert_error(listing, status, code, message)


def test_entry_not_found_carries_the_commit(
    hub: FakeHub, http: httpx.Client, corpus: Corpus
) -> None:
    r = http.head(resolve_url(hub, "acme/model", "main", "missing.txt"))
    assert r.status_code == 404
    assert r.headers["x-error-code"] == "EntryNotFound"
    assert r.headers["x-repo-commit"] == corpus.head
    assert_error(
        http.get(resolve_url(hub, "acme/model", "v1", "missing.txt")),
        404,
        "EntryNotFound",
        "Entry not found",
    )


def test_whoami(hub: FakeHub, http: httpx.Client) -> None:
    me = http.get(f"{hub.url}/api/whoami-v2", headers={"Authorization": "Bearer hf_alice"})
    assert me.json()["name"] == "alice" and me.json()["orgs"] == [{"type": "org", "name": "acme"}]
    assert_error(
        http.get(f"{hub.url}/api/whoami-v2", headers={"Authorization": "Bearer x"}),
        401,
        None,
        MSG_BAD,
    )


# --------------------------------------------------------------------------- 17. journal


def test_journal_records_tokens_ranges_and_origins(hub: FakeHub, corpus: Corpus) -> None:
    with httpx.Client(follow_redirects=True, headers={"Authorization": "Bearer hf_alice"}) as c:
        sha = c.get(f"{hub.url}/api/models/acme/model").json()["sha"]
        r = c.get(resolve_url(hub, "acme/model", sha, LFS_PATH), headers={"Range": "bytes=5-9"})
        assert r.content == WEIGHTS[5:10]
    hub_get, cdn_get = hub.journal.where(route="resolve")[0], hub.journal.where(origin="cdn")[0]
    assert hub_get.token == "hf_alice" and hub_get.range == "bytes=5-9" and hub_get.status == 302
    assert cdn_get.token is None and not cdn_get.authorization and cdn_get.range == "bytes=5-9"
    assert cdn_get.status == 206 and cdn_get.method == "GET" and cdn_get.route == "cdn"
    assert all(
        sha in e.path for e in hub.journal.where(route="resolve")
    )  # "every GET used the sha"
    info = hub.journal.where(route="info")[0]
    assert (info.method, info.path, info.query, info.origin) == (
        "GET",
        "/api/models/acme/model",
        "",
        "hub",
    )
    assert [e.route for e in hub.journal] == ["info", "resolve", "cdn"]
    assert hub.journal.wait_for(lambda e: e.origin == "cdn") is cdn_get
    hub.journal.reset()
    assert len(hub.journal) == 0
    with pytest.raises(TimeoutError):
        hub.journal.wait_for(lambda e: True, timeout=0.05)


# --------------------------------------------------------------------------- 18. rate limits


def test_rate_limit_headers_count_down_in_a_fixed_window(
    make_hub: Callable[..., FakeHub], http: httpx.Client
) -> None:
    hub = make_hub(
        rate_limits=RateLimits(
            anonymous={"api": 3, "resolvers": 2}, user={"api": 10, "resolvers": 10}
        )
    )
    start = hub.clock.now()
    assert start % 300 == 0
    seen = []
    for _ in range(3):
        r = http.get(f"{hub.url}/api/models/acme/model")
        assert r.status_code == 200
        seen.append(r.headers["ratelimit"])
        assert r.headers["ratelimit-policy"] == '"fixed window";"api";q=3;w=300'
    assert seen == ['"api";r=2;t=300', '"api";r=1;t=300', '"api";r=0;t=300']
    hub.clock.advance(100)
    r = http.get(f"{hub.url}/api/models/acme/model")
    assert r.status_code == 429 and r.headers["ratelimit"] == '"api";r=0;t=200'
    assert r.json()["error"].startswith("Too many requests")
    # other buckets and other callers are counted apart; errors count and carry headers too
    res = http.head(resolve_url(hub, "acme/model", "main", "nope.txt"))
    assert res.status_code == 404 and res.headers["ratelimit"] == '"resolvers";r=1;t=200'
    alice = http.get(
        f"{hub.url}/api/models/acme/model", headers={"Authorization": "Bearer hf_alice"}
    )
    assert alice.status_code == 200 and alice.headers["ratelimit"] == '"api";r=9;t=200'
    cdn = http.get(http.head(resolve_url(hub, "acme/model", "main", LFS_PATH)).headers["location"])
    assert "ratelimit" not in cdn.headers
    hub.clock.advance(200)  # next window
    r = http.get(f"{hub.url}/api/models/acme/model")
    assert r.status_code == 200 and r.headers["ratelimit"] == '"api";r=2;t=300'


def test_rate_limits_can_be_disabled(make_hub: Callable[..., FakeHub], http: httpx.Client) -> None:
    hub = make_hub(rate_limits=None)
    r = http.get(f"{hub.url}/api/models/acme/model")
    assert r.status_code == 200 and "ratelimit" not in r.headers


def test_default_quotas_are_the_hub_figures(hub: FakeHub, http: httpx.Client) -> None:
    anon = http.get(f"{hub.url}/api/models/acme/model")
    assert anon.headers["ratelimit-policy"] == '"fixed window";"api";q=500;w=300'
    user = http.head(
        resolve_url(hub, "acme/model", "main", "config.json"),
        headers={"Authorization": "Bearer hf_bob"},
    )
    assert user.headers["ratelimit-policy"] == '"fixed window";"resolvers";q=5000;w=300'


def test_unknown_route_is_a_plain_404(hub: FakeHub, http: httpx.Client) -> None:
    r = http.get(f"{hub.url}/no/such/page")
    assert r.status_code == 404 and "x-error-code" not in r.headers
    assert hub.journal[-1].route == "unknown"


def test_json_bodies_are_valid(hub: FakeHub, http: httpx.Client) -> None:
    r = http.get(f"{hub.url}/api/models/acme/model/tree/main", params={"recursive": "1"})
    assert r.headers["content-type"].startswith("application/json")
    assert json.loads(r.content.decode("utf-8")) == r.json()


def test_journal_can_be_bounded(make_hub: Callable[..., FakeHub], http: httpx.Client) -> None:
    hub = make_hub(journal_limit=4)
    for i in range(10):
        http.get(f"{hub.url}/api/models/acme/model", params={"i": str(i)})
    assert 2 <= len(hub.journal) <= 4
    assert hub.journal[-1].query == "i=9"
