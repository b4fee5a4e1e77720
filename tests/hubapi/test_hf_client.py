"""The real huggingface_hub client, pointed at `data4r2 serve` with HF_ENDPOINT, reads the
mirror as it reads the Hub: same files, same bytes, same exceptions (issue 14)."""

from __future__ import annotations

import hashlib

import httpx

from tests.e2e.conftest import DATASET_FILES, MODEL_FILES

from .conftest import DATASET, MODEL, TOKEN, Mirror


def _digests(files: dict[str, tuple[bytes, bool]]) -> dict[str, str]:
    return {p: hashlib.sha256(data).hexdigest() for p, (data, _) in files.items()}


READ_BACK = """
def digests(root):
    import hashlib
    out = {}
    for p in sorted(Path(root).rglob('*')):
        if p.is_file():
            out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
"""


def test_snapshot_download_gets_every_file_byte_for_byte(mirror: Mirror) -> None:
    result = mirror.client(
        READ_BACK
        + f"root = hh.snapshot_download({MODEL!r})\n"
        + "result = {'files': digests(root), 'commit': Path(root).name}"
    )
    assert result["files"] == _digests(MODEL_FILES)
    assert result["commit"] == mirror.hub.get_repo("model", MODEL).head()


def test_a_dataset_downloads_with_allow_patterns(mirror: Mirror) -> None:
    result = mirror.client(
        READ_BACK
        + f"root = hh.snapshot_download({DATASET!r}, repo_type='dataset', "
        + "allow_patterns=['data/train/*'])\n"
        + "result = digests(root)"
    )
    wanted = {p: d for p, d in _digests(DATASET_FILES).items() if p.startswith("data/train/")}
    assert result == wanted


def test_hf_hub_download_of_one_lfs_file_and_one_regular_file(mirror: Mirror) -> None:
    result = mirror.client(
        "import hashlib\n"
        f"a = hh.hf_hub_download({MODEL!r}, 'weights/model.safetensors')\n"
        f"b = hh.hf_hub_download({MODEL!r}, 'docs/my notes #1 \\u00e9.txt')\n"
        "result = [hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in (a, b)]"
    )
    digests = _digests(MODEL_FILES)
    assert result == [digests["weights/model.safetensors"], digests["docs/my notes #1 é.txt"]]


def test_model_info_with_files_metadata(mirror: Mirror) -> None:
    result = mirror.client(
        f"info = HfApi().model_info({MODEL!r}, files_metadata=True)\n"
        "result = {'sha': info.sha, 'files': {s.rfilename: [s.size, s.blob_id, "
        "s.lfs.sha256 if s.lfs else None] for s in info.siblings}}"
    )
    repo = mirror.hub.get_repo("model", MODEL)
    commit = repo.get_commit(repo.head())
    assert result["sha"] == commit.sha
    assert result["files"] == {
        p: [b.size, b.oid, b.sha256 if b.lfs else None] for p, b in commit.files.items()
    }


def test_list_repo_tree_and_paths_info_match_the_hub(mirror: Mirror) -> None:
    """The same listing the fake Hub gives for the same commit: paths, oids, sizes, lfs."""
    code = (
        "api = HfApi()\n"
        "def entries(items):\n"
        "    return sorted([type(e).__name__, e.path, e.size if hasattr(e, 'size') else 0,\n"
        "                   getattr(e, 'blob_id', None) or getattr(e, 'tree_id', None),\n"
        "                   e.lfs.sha256 if getattr(e, 'lfs', None) else None] for e in items)\n"
        f"tree = entries(api.list_repo_tree({MODEL!r}, recursive=True))\n"
        f"top = entries(api.list_repo_tree({MODEL!r}))\n"
        f"sub = entries(api.list_repo_tree({MODEL!r}, path_in_repo='weights'))\n"
        f"info = entries(api.get_paths_info({MODEL!r}, ['config.json', 'weights', 'nope']))\n"
        "result = [tree, top, sub, info]"
    )
    from_mirror = mirror.client(code)
    # The fake Hub computes git tree oids from its files; ours come from the manifest's.
    from_hub = mirror.client(code, token=None, endpoint=mirror.hub.url)
    assert from_mirror == from_hub
    assert len(from_mirror[0]) == len(MODEL_FILES) + 3  # + docs/, tokenizer/, weights/


def test_missing_repo_revision_and_file_raise_the_hub_errors(mirror: Mirror) -> None:
    result = mirror.client(
        "from huggingface_hub import errors\n"
        "def kind(call):\n"
        "    try:\n"
        "        call()\n"
        "    except Exception as e:\n"
        "        return type(e).__name__\n"
        "api = HfApi()\n"
        "result = [\n"
        "    kind(lambda: api.model_info('acme/absent')),\n"
        f"    kind(lambda: api.model_info({DATASET!r})),\n"  # a dataset asked as a model
        f"    kind(lambda: api.model_info({MODEL!r}, revision='no-such-branch')),\n"
        f"    kind(lambda: hh.hf_hub_download({MODEL!r}, 'config.json', revision='v9')),\n"
        f"    kind(lambda: hh.hf_hub_download({MODEL!r}, 'absent.bin')),\n"
        f"    kind(lambda: api.list_repo_tree({MODEL!r}, path_in_repo='nope').__next__()),\n"
        "]"
    )
    assert result == [
        "RepositoryNotFoundError",
        "RepositoryNotFoundError",
        "RevisionNotFoundError",
        "RevisionNotFoundError",
        "RemoteEntryNotFoundError",
        "RemoteEntryNotFoundError",
    ]


def test_without_the_token_the_client_is_refused(mirror: Mirror) -> None:
    result = mirror.client(f"HfApi().model_info({MODEL!r})", token=None)
    assert result["raised"] == "HfHubHTTPError"
    assert "401" in result["message"]
    bad = mirror.client(f"HfApi().model_info({MODEL!r})", token="wrong")
    assert bad["raised"] == "HfHubHTTPError"


def test_resolve_answers_like_the_hub(mirror: Mirror) -> None:
    repo = mirror.hub.get_repo("model", MODEL)
    commit = repo.get_commit(repo.head())
    blob = commit.files["weights/small.safetensors"]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    url = f"{mirror.url}/{MODEL}/resolve/main/weights/small.safetensors"
    head = httpx.head(url, headers=auth)
    assert head.headers["X-Repo-Commit"] == commit.sha
    assert head.headers["X-Linked-Etag"] == f'"{blob.sha256}"'
    assert head.headers["X-Linked-Size"] == str(blob.size)
    data = MODEL_FILES["weights/small.safetensors"][0]
    ranged = httpx.get(url, headers={**auth, "Range": "bytes=10-19"}, follow_redirects=True)
    assert ranged.status_code == 206
    assert ranged.content == data[10:20]
    if mirror.kind == "s3":
        assert head.status_code == 302
        assert (
            "Signature=" in head.headers["Location"]
            or "X-Amz-Signature=" in head.headers["Location"]
        )
    else:
        assert head.status_code == 200
        assert head.headers["Content-Length"] == str(blob.size)
        past = httpx.get(url, headers={**auth, "Range": f"bytes={blob.size}-"})
        assert past.status_code == 416
        assert past.headers["Content-Range"] == f"bytes */{blob.size}"
    missing = httpx.get(f"{mirror.url}/{MODEL}/resolve/main/absent", headers=auth)
    assert missing.status_code == 404
    assert missing.headers["X-Error-Code"] == "EntryNotFound"
    assert missing.headers["X-Repo-Commit"] == commit.sha


def test_the_service_routes_keep_their_own_answers(mirror: Mirror) -> None:
    """The Hub routes match only `/api/…` and `…/resolve/…`: a wrong method on a /v1 route is
    still a 405, an unknown path the service's JSON 404."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert httpx.get(f"{mirror.url}/", headers=auth).status_code == 405  # POST / only
    unknown = httpx.get(f"{mirror.url}/no/such/page", headers=auth)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
    assert httpx.get(f"{mirror.url}/healthz").status_code == 200
