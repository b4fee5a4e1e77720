"""The fake hub against the real `huggingface_hub` client (docs/hub.md §7, "with
huggingface_hub"). hf_xet is installed but the fake has no CAS: Xet is disabled by patching the
constant `is_xet_available()` reads at call time (equivalent to HF_HUB_DISABLE_XET=1)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from pathlib import Path

import huggingface_hub
import pytest
from fakehub import FakeHub, Repo
from huggingface_hub import HfApi, constants, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from .corpus import CONFIG_V1, PARQUET, WEIGHTS, Corpus

LFS_PATH = "weights/model.safetensors"
XET_PATH = "xet/big.bin"


@pytest.fixture(autouse=True)
def _hf_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)


def test_client_version_and_xet_disabled() -> None:
    assert int(huggingface_hub.__version__.split(".")[0]) in (1, 2)
    from huggingface_hub.utils._runtime import is_xet_available

    assert not is_xet_available()


def api(hub: FakeHub, token: str | bool = False) -> HfApi:
    return HfApi(endpoint=hub.url, token=token)


# --------------------------------------------------------------------------- metadata


def test_repo_info_for_each_type(hub: FakeHub, corpus: Corpus) -> None:
    a = api(hub)
    info = a.model_info("acme/model")
    assert info.sha == corpus.head and info.private is False and info.gated is False
    assert sorted(s.rfilename for s in info.siblings or []) == sorted(corpus.files_v2)
    assert a.model_info("acme/model", revision="refs/pr/1").sha == corpus.pr
    assert a.model_info("acme/model", revision=corpus.first[:7]).sha == corpus.first
    detailed = {
        s.rfilename: s for s in a.model_info("acme/model", files_metadata=True).siblings or []
    }
    lfs = detailed[LFS_PATH].lfs
    assert lfs is not None and lfs.sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert lfs.size == len(WEIGHTS) and lfs.pointer_size == 131
    assert detailed["config.json"].lfs is None and detailed["config.json"].size == 31
    assert a.dataset_info("acme/data").id == "acme/data"
    assert a.space_info("acme/space").id == "acme/space"
    assert a.model_info("legacy").id == "legacy"
    assert a.model_info("acme/gated-manual").gated == "manual"


def test_list_repo_tree(make_hub: Callable[..., FakeHub], corpus: Corpus) -> None:
    hub = make_hub(page_size=3, expand_page_size=2)
    a = api(hub)
    entries = list(a.list_repo_tree("acme/model", recursive=True, revision=corpus.head))
    files = {e.path: e for e in entries if isinstance(e, RepoFile)}
    assert set(files) == set(corpus.files_v2)
    assert any(isinstance(e, RepoFolder) and e.path == "deep/a/b" for e in entries)
    lfs = files[LFS_PATH].lfs
    assert lfs is not None and lfs.sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert files[LFS_PATH].xet_hash is None and files[XET_PATH].xet_hash is not None
    assert files["config.json"].lfs is None
    pages = hub.journal.where(route="tree")
    assert len(pages) == -(-len(entries) // 3) and all("cursor=" in e.query for e in pages[1:])
    root = {e.path for e in a.list_repo_tree("acme/model")}
    assert "weights" in root and LFS_PATH not in root
    sub = [e.path for e in a.list_repo_tree("acme/model", path_in_repo="ünïcødé")]
    assert sub == ["ünïcødé/файл 文件.txt"]
    expanded = list(a.list_repo_tree("acme/model", expand=True))
    assert all(e.last_commit is not None for e in expanded)
    by_path = {e.path: e for e in expanded}
    assert by_path["README.md"].last_commit.oid == corpus.first  # type: ignore[union-attr]
    with pytest.raises(RemoteEntryNotFoundError):
        list(a.list_repo_tree("acme/model", path_in_repo="no/such/dir"))


def test_get_paths_info(hub: FakeHub, corpus: Corpus) -> None:
    got = api(hub).get_paths_info(
        "acme/model", ["config.json", "weights", "nope.txt"], revision="v1"
    )
    assert [type(e).__name__ for e in got] == ["RepoFile", "RepoFolder"]
    assert got[0].blob_id == hashlib.sha1(b"blob 31\0" + CONFIG_V1).hexdigest()  # type: ignore[union-attr]


def test_list_repo_refs_and_commits(hub: FakeHub, corpus: Corpus) -> None:
    a = api(hub)
    refs = a.list_repo_refs("acme/model", include_pull_requests=True)
    assert {b.name: b.target_commit for b in refs.branches} == {
        "main": corpus.head,
        "dev": corpus.first,
    }
    assert [t.name for t in refs.tags] == ["v1"]
    assert [p.ref for p in refs.pull_requests or []] == ["refs/pr/1"]
    assert a.list_repo_refs("acme/model").pull_requests is None
    assert [c.ref for c in a.list_repo_refs("acme/data", repo_type="dataset").converts] == [
        "refs/convert/parquet"
    ]
    commits = a.list_repo_commits("acme/model")
    assert [c.commit_id for c in commits] == [corpus.head, corpus.first]
    assert commits[0].title == "second commit"


# --------------------------------------------------------------------------- downloads


@pytest.mark.parametrize(
    ("filename", "revision"),
    [
        ("config.json", None),
        (LFS_PATH, None),
        (XET_PATH, None),
        ("empty.txt", None),
        ("ünïcødé/файл 文件.txt", None),
        ("hash#tag.txt", None),
        ("100%.txt", None),
        ("config.json", "v1"),
        ("pr-only.txt", "refs/pr/1"),
    ],
)
def test_hf_hub_download(
    hub: FakeHub, corpus: Corpus, tmp_path: Path, filename: str, revision: str | None
) -> None:
    path = hf_hub_download(
        "acme/model",
        filename,
        revision=revision,
        endpoint=hub.url,
        cache_dir=tmp_path,
        token="hf_bob",
    )
    expected = {**corpus.files_v2, "pr-only.txt": b"only in the PR\n"}[filename]
    if revision == "v1":
        expected = CONFIG_V1
    assert Path(path).read_bytes() == expected
    cdn = hub.journal.where(origin="cdn")
    assert all(not e.authorization for e in cdn)  # the token never reaches the CDN
    assert all(e.token == "hf_bob" for e in hub.journal.where(origin="hub"))
    if filename in (LFS_PATH, XET_PATH):
        assert [e.method for e in cdn] == ["GET"] and cdn[0].status == 200
    heads = hub.journal.where(method="HEAD")
    assert heads and all(e.headers["accept-encoding"] == "identity" for e in heads)


def test_hf_hub_download_dataset(hub: FakeHub, tmp_path: Path) -> None:
    path = hf_hub_download(
        "acme/data",
        "data/train-0.parquet",
        repo_type="dataset",
        endpoint=hub.url,
        cache_dir=tmp_path,
        token=False,
    )
    assert Path(path).read_bytes() == PARQUET
    assert hub.journal.where(route="resolve")[0].path.startswith("/datasets/acme/data/resolve/")


@pytest.mark.parametrize("target", ["cache_dir", "local_dir"])
def test_snapshot_download_uses_the_sha(
    hub: FakeHub, corpus: Corpus, tmp_path: Path, target: str
) -> None:
    where = tmp_path / target
    if target == "cache_dir":
        got = snapshot_download("acme/model", endpoint=hub.url, token=False, cache_dir=where)
    else:
        got = snapshot_download("acme/model", endpoint=hub.url, token=False, local_dir=where)
    folder = Path(got)
    assert folder == where or folder.is_relative_to(where)
    for path, data in corpus.files_v2.items():
        assert (folder / path).read_bytes() == data, path
    resolves = hub.journal.where(route="resolve")
    assert len(resolves) >= len(corpus.files_v2)
    assert all(f"/resolve/{corpus.head}/" in e.path for e in resolves)
    assert [e.route for e in hub.journal][:2] == ["info", "tree"]


def test_snapshot_download_survives_a_branch_moving(
    hub: FakeHub, corpus: Corpus, tmp_path: Path
) -> None:
    hub.faults.move_branch(corpus.model, to=corpus.first, after=1)
    folder = Path(
        snapshot_download("acme/model", endpoint=hub.url, token=False, cache_dir=tmp_path)
    )
    assert (folder / "config.json").read_bytes() == corpus.files_v2["config.json"]
    assert corpus.model.head() == corpus.first  # it did move, after the info answer


def test_resume_after_a_cdn_disconnect(hub: FakeHub, tmp_path: Path) -> None:
    """huggingface_hub resumes with `Range: bytes=<written>-`, but it writes 10 MiB chunks
    (DOWNLOAD_CHUNK_SIZE): bytes of an unfinished chunk are lost and fetched again."""
    data = random.Random(9).randbytes(12 * 1024 * 1024)
    big = Repo(repo_id="acme/big")
    big.add_file("big.bin", data, lfs=True)
    hub.add(big)
    hub.faults.add(kind="disconnect", route="cdn", after_bytes=11 * 1024 * 1024)
    path = hf_hub_download("acme/big", "big.bin", endpoint=hub.url, cache_dir=tmp_path, token=False)
    assert Path(path).read_bytes() == data
    cdn = hub.journal.where(origin="cdn")
    assert [(e.range, e.status) for e in cdn] == [
        (None, 200),
        (f"bytes={constants.DOWNLOAD_CHUNK_SIZE}-", 206),
    ]


def test_corruption_is_not_detected_by_huggingface_hub(hub: FakeHub, tmp_path: Path) -> None:
    """docs/hub.md §2: it checks the byte count only; data4r2 must hash."""
    hub.faults.add(kind="corrupt", route="cdn", offset=5)
    path = hf_hub_download(
        "acme/model", LFS_PATH, endpoint=hub.url, cache_dir=tmp_path, token=False
    )
    got = Path(path).read_bytes()
    assert len(got) == len(WEIGHTS) and got != WEIGHTS


def test_later_tree_pages_are_retried(make_hub: Callable[..., FakeHub]) -> None:
    hub = make_hub(page_size=5)
    hub.faults.add(kind="link_500", route="tree")
    entries = list(api(hub).list_repo_tree("acme/model", recursive=True))
    assert len(entries) > 10
    assert [e.status for e in hub.journal.where(route="tree")][:3] == [200, 500, 200]


def test_rate_limit_message(hub: FakeHub) -> None:
    hub.faults.add(kind="rate_limit", route="info", retry_after=42)
    with pytest.raises(HfHubHTTPError) as info:
        api(hub).model_info("acme/model")
    assert info.value.response.status_code == 429
    assert "reached your 'api' rate limit" in str(info.value)
    assert "Retry after 42 seconds" in str(info.value)


# --------------------------------------------------------------------------- errors

CASES = [
    # repo, token, error from model_info (None = works), error from hf_hub_download
    ("acme/private", False, RepositoryNotFoundError, RepositoryNotFoundError),
    ("acme/private", "hf_bob", RepositoryNotFoundError, RepositoryNotFoundError),
    ("acme/private", "hf_alice", None, None),
    ("acme/nope", False, RepositoryNotFoundError, RepositoryNotFoundError),
    ("acme/nope", "hf_bob", RepositoryNotFoundError, RepositoryNotFoundError),
    ("other/public", "hf_revoked", HfHubHTTPError, HfHubHTTPError),
    ("acme/gated-auto", False, None, GatedRepoError),
    ("acme/gated-auto", "hf_bob", None, GatedRepoError),
    ("acme/gated-manual", "hf_carol", None, None),
    ("acme/disabled", False, DisabledRepoError, LocalEntryNotFoundError),  # hf hides it as offline
]


@pytest.mark.parametrize(("repo_id", "token", "info_error", "download_error"), CASES)
def test_error_classes(
    hub: FakeHub,
    tmp_path: Path,
    repo_id: str,
    token: str | bool,
    info_error: type[Exception] | None,
    download_error: type[Exception] | None,
) -> None:
    if info_error is None:
        assert api(hub, token).model_info(repo_id).id == repo_id
    else:
        with pytest.raises(info_error) as raised:
            api(hub, token).model_info(repo_id)
        assert hub.journal[-1].status == raised.value.response.status_code  # type: ignore[attr-defined]
        request_id = raised.value.response.headers["x-request-id"]  # type: ignore[attr-defined]
        assert request_id in str(raised.value)
        if token == "hf_revoked":
            assert not isinstance(raised.value, RepositoryNotFoundError)
            assert raised.value.response.status_code == 401  # type: ignore[attr-defined]
    if download_error is None:
        path = hf_hub_download(repo_id, "a.txt", endpoint=hub.url, cache_dir=tmp_path, token=token)
        assert Path(path).read_bytes().startswith(b"content of")
    else:
        with pytest.raises(download_error):
            hf_hub_download(repo_id, "w.bin", endpoint=hub.url, cache_dir=tmp_path, token=token)
        assert not hub.journal.where(origin="cdn")


def test_revision_and_entry_not_found(hub: FakeHub, corpus: Corpus, tmp_path: Path) -> None:
    with pytest.raises(RevisionNotFoundError):
        api(hub).model_info("acme/model", revision="nope")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(
            "acme/model",
            "config.json",
            revision="nope",
            endpoint=hub.url,
            cache_dir=tmp_path,
            token=False,
        )
    with pytest.raises(RemoteEntryNotFoundError):
        hf_hub_download(
            "acme/model", "missing.txt", endpoint=hub.url, cache_dir=tmp_path, token=False
        )
    # the absence is cached per commit thanks to X-Repo-Commit on the 404
    assert (tmp_path / "models--acme--model" / ".no_exist" / corpus.head / "missing.txt").exists()
