"""HubClient against the fake hub: resolve, list, stream, and every error of docs/hub.md §3."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import huggingface_hub
import pytest
import trustme
from fakehub import FakeHub, Repo
from fakehub.faults import Fault
from huggingface_hub import get_session

from data4r2.domain import (
    DisabledRepo,
    EntryNotFound,
    GatedRepo,
    HubAuthError,
    HubError,
    IntegrityError,
    RateLimited,
    RemoteFile,
    RepoNotFound,
    RepoRef,
    RepoType,
    RevisionNotFound,
    TransientError,
)
from data4r2.engine import retry
from data4r2.hub.client import HubClient, TimeoutFloor
from data4r2.ports import ByteStream

TOKEN = "hf_alice_valid_token"
OTHER = "hf_bob_valid_token"
WEIGHTS = os.urandom(300_000) + b"tail"
CONFIG = b'{"model_type": "fake", "hidden_size": 8}\n'
ODD_NAMES = {
    "dir with space/file name.txt": b"space\n",
    "hash#tag.txt": b"hash\n",
    "100%.txt": b"percent\n",
    "ünïcødé/файл 文件.txt": "unicode ✓\n".encode(),
    "deep/a/b/c/d.txt": b"deep\n",
    "empty.txt": b"",
}


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def read_all(stream: ByteStream, chunk: int = 64 * 1024) -> bytes:
    """Drain a stream through one reused buffer, the way the engine reads."""
    out = bytearray()
    buf = memoryview(bytearray(chunk))
    try:
        while n := stream.readinto(buf):
            out += buf[:n]
    finally:
        stream.close()
    return bytes(out)


@pytest.fixture(scope="module")
def repos() -> dict[str, Repo]:
    model = Repo(repo_id="acme/model", repo_type="model")
    model.add_file("config.json", CONFIG)
    model.add_file("weights/model.safetensors", WEIGHTS, lfs=True)
    for path, data in ODD_NAMES.items():
        model.add_file(path, data)
    private = Repo(repo_id="acme/private", private=True)
    private.add_file("a.txt", b"secret\n")
    dataset = Repo(repo_id="acme/data", repo_type="dataset")
    dataset.add_file("train/part-0.parquet", WEIGHTS[:50_000], lfs=True)
    dataset.add_file("README.md", b"# data\n")
    gated = Repo(repo_id="acme/gated", repo_type="model", gated="auto")
    gated.add_file("w.bin", WEIGHTS[:1000], lfs=True)
    disabled = Repo(repo_id="acme/disabled", disabled=True)
    disabled.add_file("a.txt", b"gone\n")
    return {r.repo_id: r for r in (model, dataset, gated, private, disabled)}


@pytest.fixture(scope="module")
def hub_server(repos: dict[str, Repo]) -> Iterator[FakeHub]:
    fake = FakeHub(
        page_size=3,
        tokens={
            TOKEN: {"user": "alice", "repos": ["acme/private"]},
            OTHER: {"user": "bob", "approved": ["acme/gated"]},
        },
    )
    for repo in repos.values():
        fake.add(repo)
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(autouse=True)
def _no_env_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """token=None lets huggingface_hub look for one (HF_TOKEN, then the token file): make
    "anonymous" mean anonymous here."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)


@pytest.fixture
def hub(hub_server: FakeHub) -> Iterator[FakeHub]:
    """The module's fake hub with an empty journal and no faults left from another test."""
    hub_server.journal.reset()
    yield hub_server
    hub_server.faults.clear()


def client(hub: FakeHub, token: str | None = TOKEN, timeout: float = 5.0) -> HubClient:
    if token is None and huggingface_hub.get_token() is not None:
        pytest.skip("a Hugging Face token file on this machine makes anonymous tests moot")
    return HubClient(hub.url, token, timeout=timeout)


MODEL = RepoRef("acme/model")
DATASET = RepoRef("acme/data", RepoType.DATASET)


# --------------------------------------------------------------------------- resolve + list


def test_resolve_gives_the_commit_of_the_branch(hub: FakeHub, repos: dict[str, Repo]) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    assert len(sha) == 40
    assert sha == repos["acme/model"].head()
    assert hc.resolve(RepoRef("acme/model", revision=sha)) == sha


def test_list_files_pages_and_describes_every_file(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    files = {f.path: f for f in hc.list_files(MODEL, sha)}
    expected = {"config.json": CONFIG, "weights/model.safetensors": WEIGHTS, **ODD_NAMES}
    assert set(files) == set(expected)  # files only, nested, no directory entries
    for path, data in expected.items():
        assert files[path].size == len(data)
    assert files["config.json"].git_sha1 == git_sha1(CONFIG)
    assert files["config.json"].sha256 is None
    lfs = files["weights/model.safetensors"]
    assert lfs.sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert lfs.git_sha1 != git_sha1(WEIGHTS)  # the pointer's sha1, never the bytes'
    tree_pages = hub.journal.where(route="tree")
    assert len(tree_pages) >= 3  # 14 entries (files + dirs) at 3 a page
    assert all(sha in e.path for e in tree_pages)  # listed at the sha, not the branch
    assert all(e.token == TOKEN for e in tree_pages)


def test_list_files_of_a_dataset(hub: FakeHub) -> None:
    hc = client(hub)
    files = {f.path for f in hc.list_files(DATASET, hc.resolve(DATASET))}
    assert files == {"train/part-0.parquet", "README.md"}


# --------------------------------------------------------------------------- open


def test_open_regular_file_follows_the_relative_redirect_with_the_token(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    file = RemoteFile("config.json", len(CONFIG), git_sha1(CONFIG))
    assert read_all(hc.open(MODEL, sha, file)) == CONFIG
    hops = [e for e in hub.journal if e.route != "info"]
    assert [(e.route, e.status) for e in hops] == [("resolve", 307), ("resolve_cache", 200)]
    assert all(e.origin == "hub" and e.token == TOKEN for e in hops)
    assert f"/acme/model/resolve/{sha}/config.json" == hops[0].path
    assert hops[0].headers["accept-encoding"] == "identity"  # raw bytes, true offsets
    assert hops[0].headers["user-agent"].startswith("data4r2/")


def test_after_one_redirect_each_regular_file_takes_one_request(hub: FakeHub) -> None:
    """The first regular file teaches the resolve-cache location; every later one of the
    same commit goes there at once, with the token, odd names included."""
    hc = client(hub)
    sha = hc.resolve(MODEL)
    files = {f.path: f for f in hc.list_files(MODEL, sha)}
    hub.journal.reset()
    names = ["config.json", *sorted(ODD_NAMES)]

    for name in names:
        expected = CONFIG if name == "config.json" else ODD_NAMES[name]
        assert read_all(hc.open(MODEL, sha, files[name])) == expected

    hops = [(e.route, e.status) for e in hub.journal]
    assert hops == [("resolve", 307), ("resolve_cache", 200)] + [("resolve_cache", 200)] * (
        len(names) - 1
    )
    assert all(e.token == TOKEN for e in hub.journal)
    assert all(e.origin == "hub" for e in hub.journal)


def test_a_predicted_location_the_hub_refuses_falls_back_to_resolve(hub: FakeHub) -> None:
    """If the Hub stops answering the learned location (404 here), that file goes through
    /resolve/ as before and the shortcut is off for the rest of the run."""
    hc = client(hub)
    sha = hc.resolve(MODEL)
    files = {f.path: f for f in hc.list_files(MODEL, sha)}
    assert read_all(hc.open(MODEL, sha, files["config.json"])) == CONFIG
    hub.journal.reset()
    hub.faults.add(kind=404, route="resolve_cache", count=1)

    assert read_all(hc.open(MODEL, sha, files["hash#tag.txt"])) == ODD_NAMES["hash#tag.txt"]
    assert read_all(hc.open(MODEL, sha, files["100%.txt"])) == ODD_NAMES["100%.txt"]

    hops = [(e.route, e.status) for e in hub.journal]
    assert hops == [
        ("resolve_cache", 404),  # the prediction, refused
        ("resolve", 307),
        ("resolve_cache", 200),
        ("resolve", 307),  # off from then on
        ("resolve_cache", 200),
    ]


def test_a_busy_hub_on_a_predicted_location_is_that_file_s_error(hub: FakeHub) -> None:
    """A 503 (or 429) is about the request, not the layout: it is raised as from /resolve/
    (so retries and the pacer see it, and no second request doubles the load), and the
    shortcut stays on."""
    hc = client(hub)
    sha = hc.resolve(MODEL)
    files = {f.path: f for f in hc.list_files(MODEL, sha)}
    assert read_all(hc.open(MODEL, sha, files["config.json"])) == CONFIG
    hub.journal.reset()
    hub.faults.add(kind=503, route="resolve_cache", count=1)

    with pytest.raises(TransientError):
        hc.open(MODEL, sha, files["hash#tag.txt"])
    assert read_all(hc.open(MODEL, sha, files["hash#tag.txt"])) == ODD_NAMES["hash#tag.txt"]
    assert read_all(hc.open(MODEL, sha, files["100%.txt"])) == ODD_NAMES["100%.txt"]

    hops = [(e.route, e.status) for e in hub.journal]
    assert hops == [("resolve_cache", 503), ("resolve_cache", 200), ("resolve_cache", 200)]


def test_open_lfs_file_drops_the_token_at_the_cdn(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    files = {f.path: f for f in hc.list_files(MODEL, sha)}
    assert read_all(hc.open(MODEL, sha, files["weights/model.safetensors"])) == WEIGHTS
    assert [e.token for e in hub.journal.where(route="resolve")] == [TOKEN]
    cdn = hub.journal.where(origin="cdn")
    assert len(cdn) == 1
    assert cdn[0].status == 200
    assert not cdn[0].authorization


@pytest.mark.parametrize("path", sorted(ODD_NAMES))
def test_open_odd_names(hub: FakeHub, path: str) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    data = ODD_NAMES[path]
    assert read_all(hc.open(MODEL, sha, RemoteFile(path, len(data), git_sha1(data)))) == data


def test_open_dataset_file_uses_the_prefixed_route(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(DATASET)
    files = {f.path: f for f in hc.list_files(DATASET, sha)}
    got = read_all(hc.open(DATASET, sha, files["train/part-0.parquet"]))
    assert got == WEIGHTS[:50_000]
    assert hub.journal.where(route="resolve")[0].path.startswith("/datasets/acme/data/resolve/")


@pytest.mark.parametrize("path", ["weights/model.safetensors", "config.json"])
def test_offset_sends_range_everywhere(hub: FakeHub, path: str) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    files = {f.path: f for f in hc.list_files(MODEL, sha)}
    data = WEIGHTS if path.startswith("weights") else CONFIG
    offset = len(data) // 3
    hub.journal.reset()
    assert read_all(hc.open(MODEL, sha, files[path], offset)) == data[offset:]
    gets = hub.journal.where(method="GET")
    assert gets
    assert all(e.range == f"bytes={offset}-" for e in gets)
    assert gets[-1].status == 206


def test_offset_at_the_end_reads_nothing(hub: FakeHub) -> None:
    hc = client(hub)
    file = RemoteFile("config.json", len(CONFIG), git_sha1(CONFIG))
    assert read_all(hc.open(MODEL, hc.resolve(MODEL), file, len(CONFIG))) == b""


def test_range_ignored_is_skipped_not_appended(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    file = RemoteFile("weights/model.safetensors", len(WEIGHTS), "", "x")
    hub.faults.add(kind="ignore_range", route="cdn")
    assert read_all(hc.open(MODEL, sha, file, 1000)) == WEIGHTS[1000:]
    assert hub.journal.where(origin="cdn")[-1].status == 200


def test_wrong_content_range_is_refused(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    file = RemoteFile("weights/model.safetensors", len(WEIGHTS), "", "x")
    hub.faults.add(kind="wrong_content_range", route="cdn")
    with pytest.raises(TransientError, match="asked for bytes 1000-"):
        hc.open(MODEL, sha, file, 1000)


def test_size_disagreeing_with_the_listing_is_an_integrity_error(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    wrong = RemoteFile("config.json", len(CONFIG) + 1, git_sha1(CONFIG))
    with pytest.raises(IntegrityError):
        read_all(hc.open(MODEL, sha, wrong))


def test_mid_body_disconnect_is_transient_and_resumable(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    file = RemoteFile("weights/model.safetensors", len(WEIGHTS), "", "x")
    hub.faults.add(kind="disconnect", route="cdn", after_bytes=100_000)
    stream = hc.open(MODEL, sha, file)
    got = bytearray()
    buf = memoryview(bytearray(32 * 1024))
    with pytest.raises(TransientError, match=r"connection closed|network error"):
        while n := stream.readinto(buf):
            got += buf[:n]
    stream.close()
    assert 0 < len(got) <= 100_000
    assert got == WEIGHTS[: len(got)]
    # what the engine does next: re-open at the offset it has
    assert read_all(hc.open(MODEL, sha, file, len(got))) == WEIGHTS[len(got) :]


def test_stall_times_out_as_transient(hub: FakeHub) -> None:
    hc = client(hub, timeout=0.5)
    sha = hc.resolve(MODEL)
    file = RemoteFile("weights/model.safetensors", len(WEIGHTS), "", "x")
    fault = hub.faults.add(kind="stall", route="cdn", after_bytes=1000)
    try:
        with pytest.raises(TransientError):
            read_all(hc.open(MODEL, sha, file))
    finally:
        fault.release()


@pytest.mark.parametrize("page", ["first", "later"])
def test_stalled_tree_page_times_out_and_is_retried(hub: FakeHub, page: str) -> None:
    """huggingface_hub's pagination passes timeout=None per request, which used to override
    the client's timeout: a page stalled mid-body hung the listing for as long as the server
    kept silent (bug 5). Now the page times out and is fetched again: by huggingface_hub's own
    backoff (2.x), or — where it has none, as 1.x for the first page — by the engine's request
    retry, which wraps every listing the same way (engine/sync.py `_call`)."""
    hc = client(hub, timeout=0.5)
    policy = retry.RetryPolicy(attempts=3, base_delay=0.05, max_delay=0.1)
    sha = hc.resolve(MODEL)
    # page_size=3 pages the listing; the stall (once) never ends by itself. "later" arms it
    # only after page 1 was answered: huggingface_hub 1.x fetched page 1 and the rest differently.
    stalls: list[Fault] = []

    def arm() -> None:
        stalls.append(hub.faults.add(kind="stall", route="tree", after_bytes=20))

    if page == "first":
        arm()
    else:
        hub.faults.on(route="tree", action=arm, after=1)
    try:
        done = threading.Event()
        got: list[RemoteFile] = []
        worker = threading.Thread(
            target=lambda: (
                got.extend(retry.call(lambda: hc.list_files(MODEL, sha), policy)),
                done.set(),
            ),
            daemon=True,
        )
        worker.start()
        assert done.wait(20), "the listing still hangs on a stalled page"
    finally:
        for stall in stalls:
            stall.release()
    assert {f.path for f in got} >= {"config.json", "weights/model.safetensors"}
    assert [stall.hits for stall in stalls] == [1]


def test_each_client_leaves_one_timeout_floor_on_the_shared_session(hub: FakeHub) -> None:
    """huggingface_hub's session is process-wide: building clients again must not pile up
    hooks, and the newest client's timeout is the one in force."""
    for timeout in (3.0, 2.0, 1.5):
        client(hub, timeout=timeout)
    floors = [h for h in get_session().event_hooks["request"] if isinstance(h, TimeoutFloor)]
    assert [f.timeout for f in floors] == [1.5]


def test_too_long_body_never_delivers_extra_bytes(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    file = RemoteFile("weights/model.safetensors", len(WEIGHTS), "", "x")
    hub.faults.add(kind="too_long", route="cdn", extra=100)
    # The fake declares the right Content-Length, then sends 100 more bytes: they are not
    # part of the body, http.client never reads them, and the file is exact.
    assert read_all(hc.open(MODEL, sha, file)) == WEIGHTS
    # The connection they poisoned is not reused for anything that would read them.
    assert read_all(hc.open(MODEL, sha, file)) == WEIGHTS


def test_body_longer_than_the_listing_is_an_integrity_error(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    short = RemoteFile("config.json", len(CONFIG) - 5, git_sha1(CONFIG))
    with pytest.raises(IntegrityError):
        read_all(hc.open(MODEL, sha, short))


def test_connections_are_reused_per_thread(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    file = RemoteFile("config.json", len(CONFIG), git_sha1(CONFIG))
    for _ in range(3):
        assert read_all(hc.open(MODEL, sha, file)) == CONFIG
    results: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: results.append(read_all(hc.open(MODEL, sha, file))))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [CONFIG] * 4
    hc.close()


# ---------------------------------------------------------------- errors (docs/hub.md §3, §4)


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    assert text
    return text


def test_unknown_repo(hub: FakeHub) -> None:
    with pytest.raises(RepoNotFound) as info:
        client(hub).resolve(RepoRef("acme/nope"))
    assert "HF_TOKEN" in one_line(info.value)


def test_dataset_asked_as_model_is_not_found(hub: FakeHub) -> None:
    with pytest.raises(RepoNotFound):
        client(hub).resolve(RepoRef("acme/data"))


@pytest.mark.parametrize("token", [None, OTHER])
def test_private_repo_without_access(hub: FakeHub, token: str | None) -> None:
    with pytest.raises(RepoNotFound) as info:
        client(hub, token).resolve(RepoRef("acme/private"))
    one_line(info.value)


def test_private_repo_with_access(hub: FakeHub, repos: dict[str, Repo]) -> None:
    hc = client(hub)
    repo = RepoRef("acme/private")
    sha = hc.resolve(repo)
    assert sha == repos["acme/private"].head()
    (file,) = hc.list_files(repo, sha)
    assert read_all(hc.open(repo, sha, file)) == b"secret\n"


def test_token_from_the_environment(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    """token=None follows huggingface_hub: HF_TOKEN is used, for the API and downloads."""
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hc = HubClient(hub.url, None)
    repo = RepoRef("acme/private")
    sha = hc.resolve(repo)
    (file,) = hc.list_files(repo, sha)
    assert read_all(hc.open(repo, sha, file)) == b"secret\n"
    assert {e.token for e in hub.journal} == {TOKEN}


def test_invalid_token(hub: FakeHub) -> None:
    with pytest.raises(HubAuthError) as info:
        client(hub, "hf_revoked").resolve(MODEL)
    one_line(info.value)


def test_disabled_repo(hub: FakeHub) -> None:
    with pytest.raises(DisabledRepo) as info:
        client(hub).resolve(RepoRef("acme/disabled"))
    one_line(info.value)


def test_unknown_revision(hub: FakeHub) -> None:
    with pytest.raises(RevisionNotFound, match="'no-such-branch'") as info:
        client(hub).resolve(RepoRef("acme/model", revision="no-such-branch"))
    one_line(info.value)


def test_unknown_file(hub: FakeHub) -> None:
    hc = client(hub)
    with pytest.raises(EntryNotFound, match=r"missing\.bin") as info:
        hc.open(MODEL, hc.resolve(MODEL), RemoteFile("missing.bin", 1, ""))
    one_line(info.value)


@pytest.mark.parametrize(("token", "authenticated"), [(None, False), (TOKEN, True)])
def test_gated_repo_lists_but_refuses_content(
    hub: FakeHub, token: str | None, authenticated: bool
) -> None:
    hc = client(hub, token)
    repo = RepoRef("acme/gated")
    sha = hc.resolve(repo)  # metadata of a gated repo is public
    files = hc.list_files(repo, sha)
    assert [f.path for f in files] == ["w.bin"]
    with pytest.raises(GatedRepo) as info:
        hc.open(repo, sha, files[0])
    text = one_line(info.value)
    assert f"{hub.url}/acme/gated" in text
    assert ("authorized list" in text) is authenticated
    assert not hub.journal.where(origin="cdn")


def test_gated_repo_with_approved_token(hub: FakeHub) -> None:
    hc = client(hub, OTHER)
    repo = RepoRef("acme/gated")
    sha = hc.resolve(repo)
    (file,) = hc.list_files(repo, sha)
    assert read_all(hc.open(repo, sha, file)) == WEIGHTS[:1000]


def test_rate_limited_on_resolve(hub: FakeHub) -> None:
    hub.faults.add(kind="rate_limit", route="info", retry_after=42)
    with pytest.raises(RateLimited) as info:
        client(hub).resolve(MODEL)
    assert info.value.retry_after == 42
    one_line(info.value)


@pytest.mark.parametrize("fmt", ["seconds", "http-date"])
def test_rate_limited_on_download(hub: FakeHub, fmt: str) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    hub.faults.add(kind="rate_limit", route="resolve", retry_after=30, retry_after_format=fmt)
    with pytest.raises(RateLimited) as info:
        hc.open(MODEL, sha, RemoteFile("config.json", len(CONFIG), git_sha1(CONFIG)))
    assert info.value.retry_after is not None
    assert 25 <= info.value.retry_after <= 31


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_transient(hub: FakeHub, status: int) -> None:
    hc = client(hub)
    hub.faults.add(kind=status, route="info")
    with pytest.raises(TransientError) as info:
        hc.resolve(MODEL)
    assert str(status) in one_line(info.value)
    sha = hc.resolve(MODEL)  # the fault fired once
    hub.faults.add(kind=status, route="resolve", retry_after=2)
    with pytest.raises(TransientError) as info:
        hc.open(MODEL, sha, RemoteFile("config.json", len(CONFIG), git_sha1(CONFIG)))
    assert info.value.retry_after == 2


def test_non_json_500(hub: FakeHub) -> None:
    hub.faults.add(kind="non_json_500", route="info")
    with pytest.raises(TransientError):
        client(hub).resolve(MODEL)


def test_expired_cdn_url_is_transient(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    file = RemoteFile("weights/model.safetensors", len(WEIGHTS), "", "x")
    hub.faults.add(kind="expired_cdn", route="resolve")
    with pytest.raises(TransientError) as info:
        hc.open(MODEL, sha, file)
    assert "Signature" not in one_line(info.value)
    assert read_all(hc.open(MODEL, sha, file)) == WEIGHTS  # a fresh resolve works


def test_redirect_loop_is_an_error(hub: FakeHub) -> None:
    hc = client(hub)
    sha = hc.resolve(MODEL)
    hub.faults.add(kind="redirect_loop", route="resolve", count=None)
    with pytest.raises(HubError, match="redirects"):
        hc.open(MODEL, sha, RemoteFile("config.json", len(CONFIG), git_sha1(CONFIG)))


def test_unreachable_hub_is_transient() -> None:
    hc = HubClient("http://127.0.0.1:9", TOKEN, timeout=2)
    with pytest.raises(TransientError):
        hc.resolve(MODEL)
    with pytest.raises(TransientError):
        hc.open(MODEL, "0" * 40, RemoteFile("config.json", 1, ""))


# --------------------------------------------------------------------------- TLS (ca_bundle)

TLS_SHA = "c0ffee" + "0" * 34
TLS_BODY = b"over tls\n"


class _TLSHub(BaseHTTPRequestHandler):
    """Just enough Hub for one repo: the trust store of both HTTP paths, chunked bodies."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/api/models/acme/tls/revision/main"):
            body, status = json.dumps({"id": "acme/tls", "sha": TLS_SHA}).encode(), 200
        elif self.path == f"/acme/tls/resolve/{TLS_SHA}/a.txt":
            body, status = TLS_BODY, 200
        elif self.path == f"/acme/tls/resolve/{TLS_SHA}/chunked.txt":
            self.send_response(200)  # no Content-Length: only the end of the chunks ends it
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (TLS_BODY[:4], TLS_BODY[4:], b""):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            return
        else:
            body, status = b'{"error": "nope"}', 404
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def tls_hub(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(https endpoint, CA bundle path) of a TLS server with a certificate from a private CA."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _TLSHub)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", str(bundle)
    finally:
        server.shutdown()
        server.server_close()


def test_ca_bundle_is_trusted_by_metadata_and_downloads(tls_hub: tuple[str, str]) -> None:
    url, bundle = tls_hub
    hc = HubClient(url, TOKEN, ca_bundle=bundle, timeout=5)
    repo = RepoRef("acme/tls")
    assert hc.resolve(repo) == TLS_SHA
    file = RemoteFile("a.txt", len(TLS_BODY), git_sha1(TLS_BODY))
    assert read_all(hc.open(repo, TLS_SHA, file)) == TLS_BODY


def test_untrusted_certificate_is_a_clear_error(tls_hub: tuple[str, str]) -> None:
    url, _ = tls_hub
    hc = HubClient(url, TOKEN, timeout=5)
    repo = RepoRef("acme/tls")
    with pytest.raises(HubError, match="not trusted"):
        hc.resolve(repo)
    with pytest.raises(HubError, match="not trusted"):
        hc.open(repo, TLS_SHA, RemoteFile("a.txt", len(TLS_BODY), git_sha1(TLS_BODY)))


@pytest.mark.parametrize("declared", [len(TLS_BODY), len(TLS_BODY) - 3])
def test_chunked_body_is_checked_against_the_listing(
    tls_hub: tuple[str, str], declared: int
) -> None:
    url, bundle = tls_hub
    hc = HubClient(url, TOKEN, ca_bundle=bundle, timeout=5)
    file = RemoteFile("chunked.txt", declared, "")
    stream = hc.open(RepoRef("acme/tls"), TLS_SHA, file)
    if declared == len(TLS_BODY):
        assert read_all(stream) == TLS_BODY
    else:
        with pytest.raises(IntegrityError, match="more than"):
            read_all(stream)
