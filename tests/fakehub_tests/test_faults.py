"""docs/hub.md §7 items 19–27: injected faults, seen with raw httpx and raw sockets."""

from __future__ import annotations

import email.utils
import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import httpx
import pytest
from fakehub import FakeHub

from .corpus import README, WEIGHTS, Corpus

LFS_PATH = "weights/model.safetensors"


def resolve(hub: FakeHub, path: str, rev: str = "main") -> str:
    return f"{hub.url}/acme/model/resolve/{rev}/{quote(path)}"


def cdn_url(hub: FakeHub, http: httpx.Client) -> str:
    return http.head(resolve(hub, LFS_PATH)).headers["location"]


def origin_url(hub: FakeHub, http: httpx.Client) -> str:
    """README.md served by the Hub origin itself (the resolve-cache hop)."""
    return hub.url + http.head(resolve(hub, "README.md")).headers["location"]


@pytest.fixture(params=["origin", "cdn"])
def target(
    request: pytest.FixtureRequest, hub: FakeHub, http: httpx.Client
) -> tuple[str, str, bytes]:
    """(fault route, URL, bytes) for a body served by the Hub origin or by the CDN."""
    if request.param == "cdn":
        return "cdn", cdn_url(hub, http), WEIGHTS
    return "resolve", origin_url(hub, http), README


IDENTITY = {"Accept-Encoding": "identity"}

# --------------------------------------------------------------------------- 19. 5xx


@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize("route", ["info", "api", "resolve", "cdn"])
def test_status_before_headers_then_success(
    hub: FakeHub, http: httpx.Client, status: int, route: str
) -> None:
    url = cdn_url(hub, http) if route == "cdn" else resolve(hub, LFS_PATH)
    if route in ("info", "api"):
        url = f"{hub.url}/api/models/acme/model"
    fault = hub.faults.add(kind=status, route=route, count=2)
    assert [http.get(url).status_code for _ in range(3)][:2] == [status, status]
    assert fault.hits == 2 and fault.exhausted
    assert http.get(url).status_code in (200, 302)
    assert [e.fault for e in hub.journal if e.fault] == [str(status)] * 2


def test_503_with_retry_after(hub: FakeHub, http: httpx.Client) -> None:
    hub.faults.add(kind=503, route="resolve", retry_after=7)
    r = http.head(resolve(hub, "config.json"))
    assert r.status_code == 503 and r.headers["retry-after"] == "7"
    assert r.headers["x-request-id"] and r.headers["ratelimit"].startswith('"resolvers"')


# --------------------------------------------------------------------------- 20. 429 storms


def test_rate_limit_storm_then_success(hub: FakeHub, http: httpx.Client) -> None:
    hub.faults.add(kind="rate_limit", route="tree", count=3, retry_after=12)
    url = f"{hub.url}/api/models/acme/model/tree/main"
    answers = [http.get(url) for _ in range(4)]
    assert [r.status_code for r in answers] == [429, 429, 429, 200]
    assert answers[0].headers["ratelimit"] == '"api";r=0;t=12'
    assert answers[0].headers["retry-after"] == "12"
    assert answers[3].headers["ratelimit"].startswith('"api";r=')


def test_rate_limit_http_date_and_forever(hub: FakeHub, http: httpx.Client) -> None:
    fault = hub.faults.add(
        kind="rate_limit",
        route="resolve",
        count=None,
        retry_after=30,
        retry_after_format="http-date",
    )
    for _ in range(10):
        r = http.head(resolve(hub, "config.json"))
        assert r.status_code == 429
    when = email.utils.parsedate_to_datetime(r.headers["retry-after"]).timestamp()
    assert 25 <= when - time.time() <= 31
    assert fault.hits == 10
    cdn = hub.faults.add(kind="rate_limit", route="cdn", retry_after_format=None)
    hub.faults.remove(fault)
    r = http.get(cdn_url(hub, http))
    assert r.status_code == 429 and "retry-after" not in r.headers and "ratelimit" not in r.headers
    assert cdn.hits == 1


# --------------------------------------------------------------------------- 21. disconnect


def read_until_error(
    http: httpx.Client, url: str, headers: dict[str, str]
) -> tuple[bytes, Exception | None]:
    got = bytearray()
    try:
        with http.stream("GET", url, headers=headers) as r:
            for chunk in r.iter_raw():
                got += chunk
    except httpx.HTTPError as e:
        return bytes(got), e
    return bytes(got), None


def test_disconnect_after_k_bytes_then_resume(
    hub: FakeHub, http: httpx.Client, target: tuple[str, str, bytes]
) -> None:
    route, url, data = target
    k = 700
    hub.faults.add(kind="disconnect", route=route, after_bytes=k)
    got, err = read_until_error(http, url, IDENTITY)
    assert isinstance(err, httpx.RemoteProtocolError)
    assert got == data[:k]
    rest = http.get(url, headers={**IDENTITY, "Range": f"bytes={len(got)}-"})
    assert rest.status_code == 206 and got + rest.content == data
    assert hub.journal[-1].range == f"bytes={k}-"


def test_body_faults_never_fire_on_head(hub: FakeHub, http: httpx.Client) -> None:
    fault = hub.faults.add(kind="disconnect", route="cdn")
    url = cdn_url(hub, http)
    assert http.head(url).status_code == 200
    assert fault.hits == 0
    assert read_until_error(http, url, {})[1] is not None


# --------------------------------------------------------------------------- 22. stall, trickle


def test_stall_past_the_read_timeout(hub: FakeHub, target: tuple[str, str, bytes]) -> None:
    route, url, data = target
    fault = hub.faults.add(kind="stall", route=route, after_bytes=100)
    with httpx.Client(timeout=httpx.Timeout(5, read=0.3)) as c:
        got, err = read_until_error(c, url, IDENTITY)
        assert isinstance(err, httpx.ReadTimeout)
        assert got == data[:100]
        fault.release()
        assert c.get(url, headers=IDENTITY).content == data  # count=1: the next one is fine


def test_stall_with_a_duration_then_the_rest(hub: FakeHub, http: httpx.Client) -> None:
    hub.faults.add(kind="stall", route="cdn", after_bytes=10, duration=0.3)
    url = cdn_url(hub, http)
    t0 = time.monotonic()
    assert http.get(url).content == WEIGHTS
    assert time.monotonic() - t0 >= 0.3


def test_trickle_caps_the_rate(hub: FakeHub, http: httpx.Client) -> None:
    hub.faults.add(kind="trickle", route="cdn", rate=200_000)
    url = cdn_url(hub, http)
    t0 = time.monotonic()
    r = http.get(url, headers={"Range": "bytes=0-99999"})
    elapsed = time.monotonic() - t0
    assert r.content == WEIGHTS[:100_000]
    assert 0.4 <= elapsed < 3


def test_stop_ends_a_stalled_response(make_hub: Callable[..., FakeHub], http: httpx.Client) -> None:
    hub = make_hub()
    hub.faults.add(kind="stall", route="cdn", after_bytes=10)
    url = cdn_url(hub, http)
    result: list[Exception | None] = []
    reader = threading.Thread(target=lambda: result.append(read_until_error(http, url, {})[1]))
    reader.start()
    hub.journal.wait_for(lambda e: e.origin == "cdn")
    t0 = time.monotonic()
    hub.stop()
    reader.join(5)
    assert time.monotonic() - t0 < 3
    assert isinstance(result[0], httpx.RemoteProtocolError)


# --------------------------------------------------------------------------- 23. corruption


def test_corrupt_flips_one_byte_headers_stay_right(
    hub: FakeHub, http: httpx.Client, target: tuple[str, str, bytes]
) -> None:
    route, url, data = target
    hub.faults.add(kind="corrupt", route=route, offset=123)
    r = http.get(url, headers=IDENTITY)
    assert r.status_code == 200 and len(r.content) == len(data)
    assert r.headers["content-length"] == str(len(data))
    diff = [i for i, (a, b) in enumerate(zip(r.content, data, strict=True)) if a != b]
    assert diff == [123] and r.content[123] == data[123] ^ 0xFF
    # a range that does not cover the offset is intact
    hub.faults.add(kind="corrupt", route=route, offset=123)
    assert http.get(url, headers={**IDENTITY, "Range": "bytes=200-299"}).content == data[200:300]


def test_corrupt_lfs_keeps_the_linked_etag(hub: FakeHub, http: httpx.Client) -> None:
    hub.faults.add(kind="corrupt", route="cdn", offset=0)
    with httpx.Client(follow_redirects=True) as c:
        r = c.get(resolve(hub, LFS_PATH))
    assert r.history[0].headers["x-linked-etag"] == f'"{hashlib.sha256(WEIGHTS).hexdigest()}"'
    assert r.history[0].headers["x-linked-size"] == str(len(r.content))
    assert hashlib.sha256(r.content).hexdigest() != hashlib.sha256(WEIGHTS).hexdigest()


def test_too_long_sends_more_than_declared(hub: FakeHub, http: httpx.Client) -> None:
    hub.faults.add(kind="too_long", route="cdn", extra=50)
    url = urlsplit(cdn_url(hub, http))
    with socket.create_connection((url.hostname, url.port), timeout=5) as s:
        s.sendall(f"GET {url.path}?{url.query} HTTP/1.1\r\nHost: {url.netloc}\r\n\r\n".encode())
        raw = b""
        while chunk := s.recv(1 << 20):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert f"Content-Length: {len(WEIGHTS)}".encode() in head
    assert len(body) == len(WEIGHTS) + 50 and body[: len(WEIGHTS)] == WEIGHTS


# --------------------------------------------------------------------------- 24. ranges


def test_ignore_range_answers_200_with_the_whole_body(
    hub: FakeHub, http: httpx.Client, target: tuple[str, str, bytes]
) -> None:
    route, url, data = target
    fault = hub.faults.add(kind="ignore_range", route=route)
    full = http.get(url, headers=IDENTITY)  # no Range: the fault waits
    assert full.status_code == 200 and fault.hits == 0
    r = http.get(url, headers={**IDENTITY, "Range": "bytes=10-"})
    assert r.status_code == 200 and r.content == data and "content-range" not in r.headers
    assert http.get(url, headers={**IDENTITY, "Range": "bytes=10-"}).status_code == 206


def test_wrong_content_range(
    hub: FakeHub, http: httpx.Client, target: tuple[str, str, bytes]
) -> None:
    route, url, data = target
    hub.faults.add(kind="wrong_content_range", route=route, shift=5)
    r = http.get(url, headers={**IDENTITY, "Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes 15-24/{len(data)}"
    assert r.content == data[10:20]


# --------------------------------------------------------------------------- 25. redirects


def test_expired_cdn_url(hub: FakeHub, http: httpx.Client) -> None:
    hub.faults.add(kind="expired_cdn", route="resolve")
    stale = http.head(resolve(hub, LFS_PATH)).headers["location"]
    r = http.get(stale)
    assert r.status_code == 403 and b"expired" in r.content
    assert http.get(http.head(resolve(hub, LFS_PATH)).headers["location"]).content == WEIGHTS


def test_redirect_to_a_404(hub: FakeHub, http: httpx.Client) -> None:
    hub.faults.add(kind="redirect_404", route="resolve", count=2)
    lfs = http.head(resolve(hub, LFS_PATH))
    assert lfs.status_code == 302 and http.get(lfs.headers["location"]).status_code == 404
    regular = http.head(resolve(hub, "config.json"))
    assert regular.status_code == 307
    assert http.get(hub.url + regular.headers["location"]).status_code == 404


@pytest.mark.parametrize("path", [LFS_PATH, "config.json"])
def test_redirect_loop(hub: FakeHub, path: str) -> None:
    hub.faults.add(kind="redirect_loop", route="resolve", count=None)
    with (
        httpx.Client(follow_redirects=True, max_redirects=5) as c,
        pytest.raises(httpx.TooManyRedirects),
    ):
        c.get(resolve(hub, path))
    assert len(hub.journal.where(route="resolve")) == 6


# --------------------------------------------------------------------------- 26. drift


def test_branch_moves_between_repo_info_and_download(
    hub: FakeHub, http: httpx.Client, corpus: Corpus
) -> None:
    hub.faults.move_branch(corpus.model, to=corpus.first, after=1)
    info = http.get(f"{hub.url}/api/models/acme/model").json()
    assert info["sha"] == corpus.head
    by_branch = http.head(resolve(hub, "config.json"))
    assert by_branch.headers["x-repo-commit"] == corpus.first  # moved
    by_sha = http.head(resolve(hub, "config.json", info["sha"]))
    assert by_sha.headers["x-repo-commit"] == corpus.head  # the pinned sha still serves
    assert http.get(f"{hub.url}/api/models/acme/model").json()["sha"] == corpus.first


def test_file_turns_xet_backed_at_the_same_commit(
    hub: FakeHub, http: httpx.Client, corpus: Corpus
) -> None:
    hub.faults.on(route="tree", action=lambda: corpus.model.set_xet(LFS_PATH), after=1)
    url = f"{hub.url}/api/models/acme/model/tree/{corpus.head}/weights"
    before, after = http.get(url).json()[0], http.get(url).json()[0]
    assert "xetHash" not in before and "xetHash" in after
    assert before["oid"] == after["oid"] and before["lfs"] == after["lfs"]
    r = http.head(resolve(hub, LFS_PATH, corpus.head))
    assert r.headers["x-xet-hash"] == after["xetHash"]


# --------------------------------------------------------------------------- 27. broken JSON


def test_truncated_json(hub: FakeHub, http: httpx.Client) -> None:
    hub.faults.add(kind="truncated_json", route="tree")
    url = f"{hub.url}/api/models/acme/model/tree/main"
    r = http.get(url)
    assert r.status_code == 200 and r.headers["content-length"] == str(len(r.content))
    with pytest.raises(json.JSONDecodeError):
        r.json()
    assert isinstance(http.get(url).json(), list)


def test_non_json_500(hub: FakeHub, http: httpx.Client) -> None:
    hub.faults.add(kind="non_json_500", route="info")
    r = http.get(f"{hub.url}/api/models/acme/model")
    assert r.status_code == 500 and r.headers["content-type"] == "text/html"
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_link_whose_next_page_answers_500(
    make_hub: Callable[..., FakeHub], http: httpx.Client
) -> None:
    hub = make_hub(page_size=3)
    hub.faults.add(kind="link_500", route="tree")
    first = http.get(f"{hub.url}/api/models/acme/model/tree/main")
    assert first.status_code == 200  # page 1 has no cursor: untouched
    nxt = first.links["next"]["url"]
    assert http.get(nxt).status_code == 500
    assert http.get(nxt).status_code == 200


# --------------------------------------------------------------------------- selection


def test_seeded_probability_is_reproducible(
    make_hub: Callable[..., FakeHub], http: httpx.Client
) -> None:
    patterns = []
    for _ in range(2):
        hub = make_hub()
        hub.faults.add(kind=503, route="info", count=None, probability=0.5, seed=7)
        patterns.append(
            [http.get(f"{hub.url}/api/models/acme/model").status_code for _ in range(20)]
        )
    assert patterns[0] == patterns[1]
    assert set(patterns[0]) == {200, 503}


def test_path_glob_repo_and_method_select(hub: FakeHub, http: httpx.Client) -> None:
    fault = hub.faults.add(
        kind=500, route="resolve", path_glob="*.safetensors", method="GET", count=None
    )
    other_repo = hub.faults.add(kind=502, route="any", repo="other/*", count=None)
    assert http.head(resolve(hub, LFS_PATH)).status_code == 302
    assert http.get(resolve(hub, "config.json")).status_code == 307
    assert http.get(resolve(hub, LFS_PATH)).status_code == 500
    assert http.get(f"{hub.url}/api/models/other/public").status_code == 502
    assert (fault.hits, other_repo.hits) == (1, 1)
    hub.faults.clear()
    assert len(hub.faults) == 0 and http.get(resolve(hub, LFS_PATH)).status_code == 302


def test_bad_fault_specs_are_refused(hub: FakeHub) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        hub.faults.add(kind="explode")
    with pytest.raises(ValueError, match="unknown route"):
        hub.faults.add(kind=500, route="everywhere")
    with pytest.raises(ValueError, match="4xx/5xx"):
        hub.faults.add(kind=200)
