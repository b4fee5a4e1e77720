"""S3Sink against a real SeaweedFS (`weed mini`), over http and https, bytes read back by boto3."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import pytest
from servers.proxy import RecordingProxy, Request
from servers.seaweed import SeaweedServer

from data4r2.domain import (
    BucketNotFound,
    CredentialsError,
    DestinationError,
    EndpointUnreachable,
    IntegrityError,
    ObjectMeta,
    PartInfo,
    TransientError,
    UploadGone,
    UploadRecord,
)
from data4r2.engine.reclaim import reclaim_stale_uploads
from data4r2.sinks.s3 import S3Sink, composite_crc32c
from data4r2.state.memory import MemoryJobStore

MiB = 1024 * 1024
COMMIT = "c" * 40
NON_ASCII_PATH = "données/über model+v1 (final).json"

SinkFactory = Callable[..., S3Sink]


def meta_for(data: bytes, path: str = "weights.bin", git_sha1: str = "") -> ObjectMeta:
    return ObjectMeta(
        repo_id="org/repo",
        repo_type="model",
        commit=COMMIT,
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        git_sha1=git_sha1,
    )


@pytest.fixture
def make_sink(seaweed: SeaweedServer, bucket: str) -> Iterator[SinkFactory]:
    """Build sinks on the fresh bucket (http by default); all closed after the test."""
    made: list[S3Sink] = []

    def make(endpoint: str | None = None, **overrides: object) -> S3Sink:
        kwargs: dict[str, object] = {
            "access_key": seaweed.access_key,
            "secret_key": seaweed.secret_key,
            "region": seaweed.region,
        }
        kwargs.update(overrides)
        sink = S3Sink(
            endpoint or seaweed.endpoint,
            str(kwargs.pop("bucket", bucket)),
            **kwargs,  # type: ignore[arg-type]
        )
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.close()


@pytest.fixture
def https_sink(seaweed: SeaweedServer, make_sink: SinkFactory) -> S3Sink:
    assert seaweed.tls is not None
    return make_sink(seaweed.https_endpoint, ca_bundle=str(seaweed.tls.ca))


def read_back(seaweed: SeaweedServer, bucket: str, key: str) -> bytes:
    return seaweed.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def three_parts() -> list[bytes]:
    return [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(1 * MiB)]


def multipart_round_trip(sink: S3Sink, key: str, parts: list[bytes]) -> list[PartInfo]:
    data = b"".join(parts)
    upload_id = sink.create_multipart(key, meta_for(data, key), 5 * MiB)
    infos = [sink.upload_part(key, upload_id, n, memoryview(p)) for n, p in enumerate(parts, 1)]
    listed = sink.list_parts(key, upload_id)
    assert [(p.number, p.size, p.etag) for p in listed] == [
        (p.number, p.size, p.etag) for p in infos
    ]
    sink.complete(key, upload_id, list(reversed(infos)))  # the sink sorts them
    return infos


# ----------------------------------------------------------------------------- single PUT


def test_put_and_head_round_trip_with_metadata(
    seaweed: SeaweedServer, bucket: str, make_sink: SinkFactory
) -> None:
    sink = make_sink()
    data = os.urandom(70_000)
    key = f"models/org/repo/{NON_ASCII_PATH}"
    meta = meta_for(data, NON_ASCII_PATH, git_sha1="a" * 40)

    sink.put(key, memoryview(data), meta)

    info = sink.head(key)
    assert info is not None
    assert (info.key, info.size, info.sha256, info.git_sha1) == (
        key,
        len(data),
        meta.sha256,
        "a" * 40,
    )
    raw = seaweed.client().head_object(Bucket=bucket, Key=key)
    assert ObjectMeta.from_headers(raw["Metadata"]) == meta
    assert unquote(raw["Metadata"]["path"]) == NON_ASCII_PATH
    assert raw["ContentType"] == "application/json"
    assert read_back(seaweed, bucket, key) == data


def test_put_of_empty_body(seaweed: SeaweedServer, bucket: str, make_sink: SinkFactory) -> None:
    sink = make_sink()
    sink.put("empty/.gitkeep", memoryview(b""), meta_for(b"", ".gitkeep"))
    info = sink.head("empty/.gitkeep")
    assert info is not None and info.size == 0
    assert read_back(seaweed, bucket, "empty/.gitkeep") == b""


def test_head_of_missing_key_is_none(make_sink: SinkFactory) -> None:
    assert make_sink().head("nothing/here") is None


def test_put_with_wrong_sha256_is_refused_and_invisible(
    seaweed: SeaweedServer, bucket: str, make_sink: SinkFactory
) -> None:
    sink = make_sink()
    data = os.urandom(4096)
    wrong = meta_for(data + b"x")

    with pytest.raises(IntegrityError, match="BadDigest"):
        sink.put("bad/file.bin", memoryview(data), wrong)

    assert sink.head("bad/file.bin") is None
    assert seaweed.client().list_objects_v2(Bucket=bucket).get("KeyCount") == 0


# ----------------------------------------------------------------------------- multipart


def test_multipart_round_trip(seaweed: SeaweedServer, bucket: str, make_sink: SinkFactory) -> None:
    sink = make_sink()
    parts = three_parts()
    key = "models/org/repo/model-00001.safetensors"

    infos = multipart_round_trip(sink, key, parts)

    assert [p.size for p in infos] == [5 * MiB, 5 * MiB, 1 * MiB]
    assert [p.checksum for p in infos] == [sink.part_checksum(memoryview(p)) for p in parts]
    assert read_back(seaweed, bucket, key) == b"".join(parts)
    info = sink.head(key)
    assert info is not None and info.sha256 == hashlib.sha256(b"".join(parts)).hexdigest()
    stored = seaweed.client().head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    # The store kept our per-part CRC32Cs: its composite equals the one we compute.
    assert stored["ChecksumCRC32C"] == composite_crc32c([p.checksum for p in infos])


def test_parts_uploaded_from_many_threads(
    seaweed: SeaweedServer, bucket: str, make_sink: SinkFactory
) -> None:
    sink = make_sink(pool_size=4)  # fewer pooled connections than threads: extra ones close
    parts = [os.urandom(5 * MiB) for _ in range(8)]
    key = "threads/big.bin"
    upload_id = sink.create_multipart(key, meta_for(b"".join(parts), key), 5 * MiB)

    with ThreadPoolExecutor(8) as pool:
        infos = list(
            pool.map(
                lambda n: sink.upload_part(key, upload_id, n, memoryview(parts[n - 1])),
                range(1, 9),
            )
        )
    sink.complete(key, upload_id, infos)

    assert read_back(seaweed, bucket, key) == b"".join(parts)


def test_part_corrupted_in_transit_is_refused(
    seaweed: SeaweedServer, bucket: str, make_sink: SinkFactory
) -> None:
    def is_part_two(r: Request) -> bool:
        return "partNumber=2" in r.target

    proxy = RecordingProxy(("127.0.0.1", seaweed.ports["s3.port"]), corrupt=is_part_two).start()
    try:
        sink = make_sink(proxy.endpoint)
        parts = three_parts()
        key = "corrupt/file.bin"
        upload_id = sink.create_multipart(key, meta_for(b"".join(parts)), 5 * MiB)
        one = sink.upload_part(key, upload_id, 1, memoryview(parts[0]))

        with pytest.raises(IntegrityError, match="BadDigest"):
            sink.upload_part(key, upload_id, 2, memoryview(parts[1]))

        assert [p.number for p in sink.list_parts(key, upload_id)] == [1]
        proxy.corrupt = None
        two = sink.upload_part(key, upload_id, 2, memoryview(parts[1]))
        three = sink.upload_part(key, upload_id, 3, memoryview(parts[2]))
        sink.complete(key, upload_id, [one, two, three])
        assert read_back(seaweed, bucket, key) == b"".join(parts)
    finally:
        proxy.stop()


def test_abort_then_list_parts_raises_upload_gone(make_sink: SinkFactory) -> None:
    sink = make_sink()
    data = os.urandom(5 * MiB)
    upload_id = sink.create_multipart("gone/file.bin", meta_for(data), 5 * MiB)
    sink.upload_part("gone/file.bin", upload_id, 1, memoryview(data))

    sink.abort("gone/file.bin", upload_id)

    with pytest.raises(UploadGone) as caught:
        sink.list_parts("gone/file.bin", upload_id)
    assert caught.value.retryable
    sink.abort("gone/file.bin", upload_id)  # a second abort is harmless
    assert sink.head("gone/file.bin") is None


def test_complete_of_a_gone_upload_without_object_raises(make_sink: SinkFactory) -> None:
    sink = make_sink()
    data = os.urandom(5 * MiB)
    upload_id = sink.create_multipart("gone2/file.bin", meta_for(data), 5 * MiB)
    part = sink.upload_part("gone2/file.bin", upload_id, 1, memoryview(data))
    sink.abort("gone2/file.bin", upload_id)

    with pytest.raises(UploadGone):
        sink.complete("gone2/file.bin", upload_id, [part])


def test_complete_repeated_after_success_is_accepted(
    seaweed: SeaweedServer, bucket: str, make_sink: SinkFactory
) -> None:
    # An engine retry of a Complete whose answer was lost finds NoSuchUpload: the object
    # is there with this upload's size, parts and checksum, so it is a success.
    sink = make_sink()
    parts = three_parts()
    upload_id = sink.create_multipart("twice/file.bin", meta_for(b"".join(parts)), 5 * MiB)
    infos = [
        sink.upload_part("twice/file.bin", upload_id, n, memoryview(p))
        for n, p in enumerate(parts, 1)
    ]
    sink.complete("twice/file.bin", upload_id, infos)

    sink.complete("twice/file.bin", upload_id, infos)

    assert read_back(seaweed, bucket, "twice/file.bin") == b"".join(parts)


def test_complete_whose_answer_is_lost_is_confirmed_by_head(
    seaweed: SeaweedServer, bucket: str, make_sink: SinkFactory
) -> None:
    def is_complete(r: Request) -> bool:
        return r.method == "POST" and "uploadId=" in r.target

    proxy = RecordingProxy(("127.0.0.1", seaweed.ports["s3.port"]), swallow=is_complete).start()
    try:
        sink = make_sink(proxy.endpoint)
        parts = three_parts()
        upload_id = sink.create_multipart("lost/file.bin", meta_for(b"".join(parts)), 5 * MiB)
        infos = [
            sink.upload_part("lost/file.bin", upload_id, n, memoryview(p))
            for n, p in enumerate(parts, 1)
        ]

        sink.complete("lost/file.bin", upload_id, infos)  # no answer, yet no error

        assert sum(is_complete(r) for r in proxy.requests) == 1
        assert read_back(seaweed, bucket, "lost/file.bin") == b"".join(parts)
    finally:
        proxy.stop()


def test_complete_with_a_wrong_etag_fails(make_sink: SinkFactory) -> None:
    sink = make_sink()
    parts = three_parts()
    upload_id = sink.create_multipart("wrong/file.bin", meta_for(b"".join(parts)), 5 * MiB)
    infos = [
        sink.upload_part("wrong/file.bin", upload_id, n, memoryview(p))
        for n, p in enumerate(parts, 1)
    ]
    bad = PartInfo(2, infos[1].size, '"00000000000000000000000000000000"', infos[1].checksum)

    with pytest.raises(DestinationError) as caught:
        sink.complete("wrong/file.bin", upload_id, [infos[0], bad, infos[2]])
    assert not caught.value.retryable
    assert sink.head("wrong/file.bin") is None


def test_complete_needs_every_part_checksum(make_sink: SinkFactory) -> None:
    sink = make_sink()
    data = os.urandom(5 * MiB)
    upload_id = sink.create_multipart("nocrc/file.bin", meta_for(data), 5 * MiB)
    sink.upload_part("nocrc/file.bin", upload_id, 1, memoryview(data))
    listed = sink.list_parts("nocrc/file.bin", upload_id)  # SeaweedFS lists no checksums

    with pytest.raises(DestinationError, match=r"parts \[1\] have no CRC32C"):
        sink.complete("nocrc/file.bin", upload_id, listed)


def test_complete_with_a_wrong_part_checksum_is_an_integrity_error(
    make_sink: SinkFactory,
) -> None:
    sink = make_sink()
    data = os.urandom(5 * MiB)
    upload_id = sink.create_multipart("badcrc/file.bin", meta_for(data), 5 * MiB)
    part = sink.upload_part("badcrc/file.bin", upload_id, 1, memoryview(data))
    forged = PartInfo(1, part.size, part.etag, sink.part_checksum(memoryview(b"other")))

    with pytest.raises(IntegrityError):
        sink.complete("badcrc/file.bin", upload_id, [forged])
    assert sink.head("badcrc/file.bin") is None


# ----------------------------------------------------------------------------- listing, delete


def test_list_with_a_prefix(make_sink: SinkFactory) -> None:
    sink = make_sink()
    sizes = {"a/one.txt": 1, "a/two/three.txt": 30, "ab/other.txt": 5, "b/four.txt": 7}
    for key, size in sizes.items():
        data = os.urandom(size)
        sink.put(key, memoryview(data), meta_for(data, key))

    listed = {(o.key, o.size) for o in sink.list("a/")}

    assert listed == {("a/one.txt", 1), ("a/two/three.txt", 30)}
    assert {o.key for o in sink.list("")} == set(sizes)
    assert list(sink.list("zzz/")) == []


def test_delete(make_sink: SinkFactory) -> None:
    sink = make_sink()
    sink.put("d/x.txt", memoryview(b"x"), meta_for(b"x"))
    sink.delete("d/x.txt")
    assert sink.head("d/x.txt") is None


# ----------------------------------------------------------------------------- failures


def test_bad_secret_is_a_credentials_error(make_sink: SinkFactory) -> None:
    sink = make_sink(secret_key="not-the-secret")
    with pytest.raises(CredentialsError, match="AWS_SECRET_ACCESS_KEY"):
        sink.check()
    with pytest.raises(CredentialsError):  # the hot path classifies the same way
        sink.put("k", memoryview(b"x"), meta_for(b"x"))
    with pytest.raises(CredentialsError):
        sink.head("k")


def test_missing_bucket(make_sink: SinkFactory) -> None:
    sink = make_sink(bucket="no-such-bucket-here")
    with pytest.raises(BucketNotFound, match="no-such-bucket-here"):
        sink.check()
    with pytest.raises(BucketNotFound):
        sink.put("k", memoryview(b"x"), meta_for(b"x"))


def test_closed_port_is_unreachable(make_sink: SinkFactory) -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nobody listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sink = make_sink(f"http://127.0.0.1:{port}")
    with pytest.raises(EndpointUnreachable, match="AWS_ENDPOINT_URL"):
        sink.check()
    with pytest.raises(EndpointUnreachable):
        sink.put("k", memoryview(b"x"), meta_for(b"x"))


def test_check_passes_on_a_good_destination(
    seaweed: SeaweedServer, bucket: str, make_sink: SinkFactory
) -> None:
    sink = make_sink(prefix="mirror/")
    sink.check()
    assert sink.describe() == f"s3://{bucket}/mirror at {seaweed.endpoint}"
    assert seaweed.secret_key not in sink.describe()


# ----------------------------------------------------------------------------- TLS


def test_https_put_and_multipart_round_trip(
    seaweed: SeaweedServer, bucket: str, https_sink: S3Sink
) -> None:
    data = os.urandom(100_000)
    https_sink.put("tls/small.bin", memoryview(data), meta_for(data))
    parts = three_parts()
    multipart_round_trip(https_sink, "tls/large.bin", parts)

    assert read_back(seaweed, bucket, "tls/small.bin") == data
    assert read_back(seaweed, bucket, "tls/large.bin") == b"".join(parts)
    https_sink.check()


def test_https_without_the_ca_is_refused_not_retried(
    seaweed: SeaweedServer, make_sink: SinkFactory
) -> None:
    sink = make_sink(seaweed.https_endpoint)  # trusts only the public CAs
    with pytest.raises(DestinationError, match="ca_bundle") as caught:
        sink.put("k", memoryview(b"x"), meta_for(b"x"))
    assert not caught.value.retryable
    with pytest.raises(DestinationError, match="ca_bundle"):
        sink.check()


# ----------------------------------------------------------------------------- wire format


@pytest.fixture(params=["http", "https"])
def recorded(
    request: pytest.FixtureRequest, seaweed: SeaweedServer, make_sink: SinkFactory
) -> Iterator[tuple[S3Sink, RecordingProxy]]:
    """A sink talking through a recording proxy; https terminates TLS at the proxy."""
    tls_context = None
    ca = None
    if request.param == "https":
        assert seaweed.tls is not None
        tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls_context.load_cert_chain(seaweed.tls.cert, seaweed.tls.key)
        ca = str(seaweed.tls.ca)
    proxy = RecordingProxy(("127.0.0.1", seaweed.ports["s3.port"]), server_tls=tls_context)
    proxy.start()
    try:
        yield make_sink(proxy.endpoint, ca_bundle=ca), proxy
    finally:
        proxy.stop()


def test_wire_format_has_no_expect_and_no_chunking(
    recorded: tuple[S3Sink, RecordingProxy],
) -> None:
    sink, proxy = recorded
    data = os.urandom(3000)
    sink.put("wire/small.json", memoryview(data), meta_for(data))
    multipart_round_trip(sink, "wire/large.bin", three_parts())
    sink.head("wire/small.json")
    list(sink.list("wire/"))
    sink.delete("wire/small.json")

    puts = [r for r in proxy.requests if r.method == "PUT"]
    assert len(puts) == 4  # one PutObject, three UploadPart
    for r in proxy.requests:
        assert r.header("expect") is None, r
        assert r.header("transfer-encoding") is None, r
        assert "aws-chunked" not in (r.header("content-encoding") or ""), r
        assert not (r.header("x-amz-content-sha256") or "").startswith("STREAMING-"), r
        assert r.header("x-amz-trailer") is None, r
    for r in puts:
        assert r.header("content-length") is not None
        assert r.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
        assert r.header("content-md5") is None  # R2: one checksum per request
        checksums = [h for h in r.headers if h.startswith("x-amz-checksum-")]
        assert checksums == (
            ["x-amz-checksum-crc32c"] if "partNumber" in r.target else ["x-amz-checksum-sha256"]
        )


def test_connections_are_reused_and_stale_ones_replaced(
    recorded: tuple[S3Sink, RecordingProxy],
) -> None:
    sink, proxy = recorded
    for i in range(5):
        sink.put(f"reuse/{i}", memoryview(b"data"), meta_for(b"data"))
    hot_path = {r.connection for r in proxy.requests if r.method == "PUT"}
    assert len(hot_path) == 1  # one thread, sequential: one persistent connection

    proxy.drop_client_connections()  # as an idle timeout on the server would
    sink.put("reuse/after", memoryview(b"data"), meta_for(b"data"))

    after = [r for r in proxy.requests if r.target.endswith("/reuse/after")]
    assert len(after) == 1 and after[0].connection not in hot_path
    assert sink.head("reuse/after") is not None


def test_a_reused_connection_cut_on_send_is_resent_once(
    seaweed: SeaweedServer, bucket: str, make_sink: SinkFactory
) -> None:
    cuts: list[Request] = []

    def first_put_of_victim(r: Request) -> bool:
        if r.target.endswith("/victim") and not cuts:
            cuts.append(r)
            return True
        return False

    proxy = RecordingProxy(("127.0.0.1", seaweed.ports["s3.port"]), hang_up=first_put_of_victim)
    proxy.start()
    try:
        sink = make_sink(proxy.endpoint)
        sink.put("warm", memoryview(b"1"), meta_for(b"1"))  # leaves a pooled connection

        sink.put("victim", memoryview(b"2"), meta_for(b"2"))  # cut, then resent fresh

        victims = [r for r in proxy.requests if r.target.endswith("/victim")]
        assert len(victims) == 2 and victims[0].connection != victims[1].connection
        assert read_back(seaweed, bucket, "victim") == b"2"
    finally:
        proxy.stop()


def test_a_fresh_connection_cut_is_a_transient_error(
    seaweed: SeaweedServer, make_sink: SinkFactory
) -> None:
    proxy = RecordingProxy(("127.0.0.1", seaweed.ports["s3.port"]), hang_up=lambda r: True)
    proxy.start()
    try:
        sink = make_sink(proxy.endpoint)
        with pytest.raises(TransientError) as caught:
            sink.put("k", memoryview(b"x"), meta_for(b"x"))
        assert caught.value.retryable
        assert len(proxy.requests) == 1  # no resend on a connection that was never good
    finally:
        proxy.stop()


def test_a_killed_runs_upload_no_state_file_records_is_reclaimed(
    make_sink: SinkFactory, seaweed: SeaweedServer, bucket: str
) -> None:
    """Issue 15 bug 11: interrupted, then re-run with a lost state file: the upload was kept."""
    sink = make_sink()
    prefix = "mirror/models/acme/m/"
    body = os.urandom(5 * MiB)
    killed = sink.create_multipart(f"{prefix}a.bin", meta_for(body), 5 * MiB)
    sink.upload_part(f"{prefix}a.bin", killed, 1, memoryview(body))
    resumed = sink.create_multipart(f"{prefix}b.bin", meta_for(body), 5 * MiB)
    store = MemoryJobStore()  # the new state file: it knows only b.bin's upload
    store.record_upload("dest", f"{prefix}b.bin", UploadRecord(resumed, 5 * MiB, ""))
    idle = {u.upload_id: u.idle_s for u in sink.list_uploads(prefix)}
    assert set(idle) == {killed, resumed} and all(0 <= s < 600 for s in idle.values())

    # Fresh uploads may be another run's, at work now: the default leaves them alone...
    assert reclaim_stale_uploads(sink, store, "dest", prefix) == []
    # ...and once idle long enough (here: at once), only the unrecorded one goes.
    aborted = reclaim_stale_uploads(sink, store, "dest", prefix, stale_after=0)
    assert [(u.key, u.upload_id) for u in aborted] == [(f"{prefix}a.bin", killed)]
    uploads = seaweed.client().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["UploadId"] for u in uploads] == [resumed]
    sink.abort(f"{prefix}b.bin", resumed)
