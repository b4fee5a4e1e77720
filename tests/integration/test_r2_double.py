"""The strict R2 double (tests/servers/r2proxy.py) in front of a real `weed mini`.

Each rule of docs/r2.md §8: a request that breaks it is refused with R2's status and code, and a
legal neighbour goes through to SeaweedFS. Clients use docs/r2.md §5's settings unless a test says
otherwise; most tests run over https, as R2 is reached.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import os
import ssl
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError
from servers.r2_fixtures import R2Double, open_double
from servers.r2_rules import (
    MAX_BODY,
    MiB,
    check_auth,
    check_part_layout,
    check_sizes,
    parse_request,
)
from servers.seaweed import SeaweedServer

pytestmark = pytest.mark.timeout(60)


# Stand-ins for the fixtures of the same names in servers/r2_fixtures.py, which ruff will not
# let this module import by name (F811); redundant once tests/conftest.py imports those.
@pytest.fixture(name="r2")
def _r2(seaweed: SeaweedServer) -> Iterator[R2Double]:
    with open_double(seaweed) as double:
        yield double


@pytest.fixture(name="r2_http")
def _r2_http(seaweed: SeaweedServer) -> Iterator[R2Double]:
    with open_double(seaweed, tls=False) as double:
        yield double


class FakeClock:
    """A monotonic clock the test steps by hand: no sleeping to cross R2's 1 s rule."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def bucket(seaweed: SeaweedServer) -> str:
    """One bucket for this module (every test uses keys of its own): making one per test
    costs more than most of these tests."""
    return seaweed.create_bucket()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed(seaweed: SeaweedServer, clock: FakeClock) -> Iterator[R2Double]:
    """The https double on a fake clock."""
    with open_double(seaweed, clock=clock) as double:
        yield double


def new_key(prefix: str = "k") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response: Any = exc.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def upload_parts(client: Any, bucket: str, key: str, sizes: list[int]) -> tuple[str, list[Any]]:
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, size in enumerate(sizes, 1):
        etag = client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=bytearray(os.urandom(size)),
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    return upload_id, parts


def raw_request(
    double: R2Double,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    *,
    body: bytes = b"",
    region: str = "auto",
    after_signing: dict[str, str] | None = None,
) -> tuple[int, str | None, http.client.HTTPResponse]:
    """A SigV4-signed request sent with http.client, framed exactly as given (a lying
    Content-Length, chunked, …) — what boto3 will not produce. Returns status, error code."""
    url = double.endpoint + path
    request = AWSRequest(method=method, url=url, data=b"", headers=dict(headers or {}))
    request.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    S3SigV4Auth(Credentials(double.access_key, double.secret_key), "s3", region).add_auth(request)
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    if double.ca_bundle is not None:
        context = ssl.create_default_context(cafile=str(double.ca_bundle))
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, int(port), context=context, timeout=10
        )
    else:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", f"{host}:{port}")
    replaced = {name.lower() for name in after_signing or {}}
    for name, value in request.headers.items():
        if name.lower() not in replaced:
            conn.putheader(name, value)
    for name, value in (after_signing or {}).items():
        conn.putheader(name, value)
    conn.endheaders(body or None)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    code = None
    if b"<Code>" in data:
        code = data.split(b"<Code>", 1)[1].split(b"</Code>", 1)[0].decode()
    return response.status, code, response


# -- part layout at CompleteMultipartUpload ---------------------------------------------------


def test_a_last_part_one_byte_larger_is_refused_at_complete(r2: R2Double, bucket: str) -> None:
    """The repro of cloudflare-docs PR #9549: 5,242,880 then 5,242,881 bytes."""
    client, key = r2.client(), new_key()
    upload_id, parts = upload_parts(client, bucket, key, [5 * MiB, 5 * MiB + 1])  # accepted …

    with pytest.raises(ClientError) as exc:  # … and refused at Complete
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )

    assert error_of(exc) == (400, "InvalidPart")
    assert "All non-trailing parts must have the same length" in str(exc.value)
    assert r2.proxy.journal.where(op="CompleteMultipartUpload")[-1].source == "double"
    with pytest.raises(ClientError):
        r2.direct_client().head_object(Bucket=bucket, Key=key)  # nothing became visible


def test_equal_parts_and_a_smaller_last_are_accepted(r2: R2Double, bucket: str) -> None:
    client, key = r2.client(), new_key()
    sizes = [5 * MiB, 5 * MiB, 1 * MiB]
    upload_id, parts = upload_parts(client, bucket, key, sizes)

    done = client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )

    assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == sum(sizes)
    # R2's multipart ETag, MD5 of the binary part MD5s + "-N", is what weed gives too.
    digests = b"".join(bytes.fromhex(p["ETag"].strip('"')) for p in parts)
    assert done["ETag"].strip('"') == f"{hashlib.md5(digests).hexdigest()}-3"


def test_the_double_bites_where_seaweedfs_does_not(r2: R2Double, bucket: str) -> None:
    """A deliberately wrong layout (unequal non-trailing parts, as a resume that changed the
    part size would make): SeaweedFS alone completes it, the double refuses it."""
    sizes = [6 * MiB, 5 * MiB, 1]
    direct = r2.direct_client()
    bare, proxied = new_key("bare-weed"), new_key("through-double")
    upload_id, parts = upload_parts(direct, bucket, bare, sizes)
    direct.complete_multipart_upload(
        Bucket=bucket, Key=bare, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )
    assert direct.head_object(Bucket=bucket, Key=bare)["ContentLength"] == sum(sizes)

    client = r2.client()
    upload_id, parts = upload_parts(client, bucket, proxied, sizes)
    with pytest.raises(ClientError) as exc:
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=proxied,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
        )
    assert error_of(exc) == (400, "InvalidPart")


def test_small_non_last_part_is_refused(r2: R2Double, bucket: str) -> None:
    client, key = r2.client(), new_key()
    upload_id, parts = upload_parts(client, bucket, key, [1 * MiB, 1 * MiB])
    with pytest.raises(ClientError) as exc:
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    assert error_of(exc) == (400, "EntityTooSmall")


def test_a_part_the_double_never_saw_fails_complete_loudly(r2: R2Double, bucket: str) -> None:
    key = new_key()
    direct = r2.direct_client()
    upload_id = direct.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    etag = direct.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"x")[
        "ETag"
    ]
    with pytest.raises(ClientError) as exc:
        r2.client().complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
        )
    assert error_of(exc) == (400, "InvalidPart")
    assert "never saw it" in str(exc.value)


def test_part_layout_rule() -> None:
    assert check_part_layout([5 * MiB] * 3 + [1]) is None
    assert check_part_layout([5 * MiB, 5 * MiB]) is None
    assert check_part_layout([1]) is None  # a single part may be tiny
    too_many = check_part_layout([5 * MiB] * 10_001)
    assert too_many is not None and too_many.code == "InvalidArgument"
    assert check_part_layout([5 * MiB] * 10_000) is None


# -- sizes and part numbers --------------------------------------------------------------------


@pytest.mark.parametrize("query", ["", "?partNumber=1&uploadId=u"])
def test_a_body_over_5gib_minus_5mib_is_refused_from_its_length(
    r2: R2Double, bucket: str, query: str
) -> None:
    # The double only reads Content-Length: nothing is sent, the answer comes at once.
    status, code, response = raw_request(
        r2, "PUT", f"/{bucket}/{new_key()}{query}", {"Content-Length": str(MAX_BODY + 1)}
    )
    assert (status, code) == (400, "EntityTooLarge")
    assert response.getheader("Connection") == "close"


def test_size_rule_boundaries() -> None:
    auth = {"authorization": "AWS4-HMAC-SHA256 Credential=a/20260101/auto/s3/aws4_request"}
    at_limit = parse_request("PUT", "/b/k", {**auth, "content-length": str(MAX_BODY)})
    assert check_sizes(at_limit) is None
    over = parse_request("PUT", "/b/k", {**auth, "content-length": str(MAX_BODY + 1)})
    error = check_sizes(over)
    assert error is not None and error.code == "EntityTooLarge"


def test_part_number_over_10000_is_refused(r2: R2Double, bucket: str) -> None:
    client, key = r2.client(), new_key()
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    with pytest.raises(ClientError) as exc:
        client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=10_001, Body=bytearray(b"x")
        )
    assert error_of(exc) == (400, "InvalidArgument")
    client.upload_part(
        Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=10_000, Body=bytearray(b"x")
    )


# -- one write per key per second ----------------------------------------------------------------


def test_a_second_write_to_a_key_within_a_second_is_429(
    timed: R2Double, bucket: str, clock: FakeClock
) -> None:
    client, key = timed.client(), new_key()
    client.put_object(Bucket=bucket, Key=key, Body=bytearray(b"one"))
    clock.advance(0.999)
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key=key, Body=bytearray(b"two"))
    assert error_of(exc) == (429, "TooManyRequests")
    client.put_object(Bucket=bucket, Key=new_key(), Body=bytearray(b"other key"))  # unaffected

    clock.advance(0.001)
    client.put_object(Bucket=bucket, Key=key, Body=bytearray(b"three"))
    assert r2_body(timed, bucket, key) == b"three"


def r2_body(double: R2Double, bucket: str, key: str) -> bytes:
    body: bytes = double.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_delete_copy_and_complete_count_as_writes(
    timed: R2Double, bucket: str, clock: FakeClock
) -> None:
    client, key, source = timed.client(), new_key(), new_key("src")
    client.put_object(Bucket=bucket, Key=source, Body=bytearray(b"src"))
    client.copy_object(Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": source})
    with pytest.raises(ClientError) as exc:
        client.delete_object(Bucket=bucket, Key=key)
    assert error_of(exc) == (429, "TooManyRequests")
    clock.advance(1)
    client.delete_object(Bucket=bucket, Key=key)

    clock.advance(1)
    upload_id, parts = upload_parts(client, bucket, key, [1 * MiB])
    client.put_object(Bucket=bucket, Key=key, Body=bytearray(b"x"))
    with pytest.raises(ClientError) as exc:
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    assert error_of(exc) == (429, "TooManyRequests")


@pytest.mark.parametrize("counts", [False, True])
def test_upload_part_counts_as_a_write_only_when_configured(
    seaweed: SeaweedServer, bucket: str, clock: FakeClock, counts: bool
) -> None:
    with open_double(seaweed, clock=clock, upload_part_is_write=counts) as double:
        client, key = double.client(), new_key()
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=bytearray(b"a")
        )
        second = {"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": 2}
        if counts:
            with pytest.raises(ClientError) as exc:
                client.upload_part(**second, Body=bytearray(b"b"))
            assert error_of(exc) == (429, "TooManyRequests")
        else:
            client.upload_part(**second, Body=bytearray(b"b"))
        assert double.proxy.part_uploads[(key, 2)] == 1


# -- checksums -----------------------------------------------------------------------------------


def test_content_md5_with_a_checksum_header_is_refused(r2: R2Double, bucket: str) -> None:
    client, body = r2.client(), b"payload"
    md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    with pytest.raises(ClientError) as exc:
        client.put_object(
            Bucket=bucket, Key=new_key(), Body=bytearray(body), ContentMD5=md5, ChecksumSHA256=sha
        )
    assert error_of(exc) == (400, "InvalidRequest")
    assert "one non-default checksum" in str(exc.value)

    key = new_key()
    client.put_object(Bucket=bucket, Key=key, Body=bytearray(body), ChecksumSHA256=sha)
    client.put_object(Bucket=bucket, Key=new_key(), Body=bytearray(body), ContentMD5=md5)
    assert r2_body(r2, bucket, key) == body


@pytest.mark.parametrize(
    ("algorithm", "kind", "legal"),
    [
        ("CRC64NVME", "FULL_OBJECT", True),
        ("CRC64NVME", "COMPOSITE", False),
        ("CRC32", "COMPOSITE", True),
        ("CRC32", "FULL_OBJECT", False),
        ("CRC32C", "FULL_OBJECT", False),
        ("SHA256", "COMPOSITE", True),
        ("SHA1", "FULL_OBJECT", False),
    ],
)
def test_multipart_checksum_matrix(
    r2: R2Double, bucket: str, algorithm: str, kind: str, legal: bool
) -> None:
    create = {"Bucket": bucket, "Key": new_key(), "ChecksumAlgorithm": algorithm}
    client = r2.client()
    if legal:
        assert client.create_multipart_upload(**create, ChecksumType=kind)["UploadId"]
    else:
        with pytest.raises(ClientError) as exc:
            client.create_multipart_upload(**create, ChecksumType=kind)
        assert error_of(exc) == (400, "InvalidRequest")


# -- framing: aws-chunked, Expect, Content-Length ------------------------------------------------


def test_boto3_default_checksums_over_https_get_501(r2: R2Double, bucket: str) -> None:
    """boto3's defaults (when_supported) stream an aws-chunked body with a trailing CRC32
    over https; R2 does not take it. This is the wire check only https can make."""
    client = r2.client(
        request_checksum_calculation="when_supported",
        response_checksum_validation="when_supported",
        s3={"addressing_style": "path"},
    )
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key=new_key(), Body=bytearray(b"payload"))

    assert error_of(exc) == (501, "NotImplemented")
    sent = r2.proxy.journal.where(op="PutObject")[-1]
    assert sent.header("x-amz-content-sha256") == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert sent.header("content-encoding") == "aws-chunked"
    assert sent.header("content-length") is None


def test_boto3_default_checksums_over_http_pass(r2_http: R2Double, bucket: str) -> None:
    """The same client over plain http sends a plain CRC32 header: why http tests miss it."""
    client = r2_http.client(
        request_checksum_calculation="when_supported",
        response_checksum_validation="when_supported",
        s3={"addressing_style": "path"},
    )
    client.put_object(Bucket=bucket, Key=new_key(), Body=bytearray(b"payload"))
    sent = r2_http.proxy.journal.where(op="PutObject")[-1]
    assert sent.header("x-amz-checksum-crc32") is not None
    assert sent.header("content-encoding") is None


@pytest.mark.parametrize(
    "headers",
    [
        {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
        {"x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"},
        {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"},
        {"Content-Encoding": "aws-chunked"},
    ],
    ids=["signed", "signed-trailer", "unsigned-trailer", "content-encoding"],
)
def test_aws_chunked_payloads_get_501(r2: R2Double, bucket: str, headers: dict[str, str]) -> None:
    status, code, _ = raw_request(
        r2,
        "PUT",
        f"/{bucket}/{new_key()}",
        {"Content-Length": "5"},
        body=b"hello",
        after_signing=headers,
    )
    assert (status, code) == (501, "NotImplemented")


def test_expect_100_continue_is_refused(r2: R2Double, bucket: str) -> None:
    client, key = r2.client(), new_key()
    with pytest.raises(ClientError) as exc:  # a file-like body makes botocore add Expect
        client.put_object(Bucket=bucket, Key=key, Body=io.BytesIO(b"payload"))
    assert error_of(exc) == (400, "InvalidRequest")
    assert r2.proxy.journal.where(op="PutObject")[-1].header("expect") == "100-continue"

    client.put_object(Bucket=bucket, Key=key, Body=bytearray(b"payload"))  # no Expect
    assert r2.proxy.journal.where(op="PutObject")[-1].header("expect") is None


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "no-length"])
def test_a_body_without_content_length_is_411(r2: R2Double, bucket: str, chunked: bool) -> None:
    headers = {"Transfer-Encoding": "chunked"} if chunked else {}
    body = b"5\r\nhello\r\n0\r\n\r\n" if chunked else b""
    status, code, _ = raw_request(r2, "PUT", f"/{bucket}/{new_key()}", headers, body=body)
    assert (status, code) == (411, "MissingContentLength")

    status, _, _ = raw_request(
        r2, "PUT", f"/{bucket}/{new_key()}", {"Content-Length": "5"}, body=b"hello"
    )
    assert status == 200


# -- auth ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "status"), [("auto", 200), ("us-east-1", 200), ("", 200), ("eu-west-1", 400)]
)
def test_sigv4_region_must_be_auto_us_east_1_or_empty(
    r2: R2Double, bucket: str, region: str, status: int
) -> None:
    got, code, _ = raw_request(
        r2, "PUT", f"/{bucket}/{new_key()}", {"Content-Length": "2"}, body=b"hi", region=region
    )
    assert got == status
    if status == 400:
        assert code == "AuthorizationHeaderMalformed"


def test_region_rule_reads_presigned_urls_too() -> None:
    scope = "X-Amz-Credential=a%2F20260101%2Feu-west-1%2Fs3%2Faws4_request"
    error = check_auth(parse_request("GET", f"/b/k?{scope}", {}))
    assert error is not None and error.status == 400
    good = scope.replace("eu-west-1", "auto")
    assert check_auth(parse_request("GET", f"/b/k?{good}", {})) is None


def test_a_bad_access_key_is_401_unauthorized(r2: R2Double, bucket: str) -> None:
    client = r2.client(access_key="NOSUCHKEY")
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key=new_key(), Body=bytearray(b"x"))
    assert error_of(exc) == (401, "Unauthorized")
    with pytest.raises(ClientError) as exc:
        client.head_object(Bucket=bucket, Key="anything")
    assert error_of(exc)[0] == 401


def test_upstream_invalid_access_key_id_is_translated(seaweed: SeaweedServer, bucket: str) -> None:
    """Without a list of known keys the double relies on weed's InvalidAccessKeyId."""
    with open_double(seaweed, access_keys=None) as double:
        client = double.client(access_key="NOSUCHKEY")
        with pytest.raises(ClientError) as exc:
            client.get_object(Bucket=bucket, Key="anything")
        assert error_of(exc) == (401, "Unauthorized")
        assert double.proxy.journal.entries()[-1].source == "upstream"


def test_wrong_secret_stays_403_signature_does_not_match(r2: R2Double, bucket: str) -> None:
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=r2.endpoint,
        aws_access_key_id=r2.access_key,
        aws_secret_access_key="wrong-secret",
        region_name="auto",
        verify=str(r2.ca_bundle),
        config=Config(
            s3={"addressing_style": "path", "payload_signing_enabled": False},
            request_checksum_calculation="when_required",
            retries={"total_max_attempts": 1},
        ),
    )
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key=new_key(), Body=bytearray(b"x"))
    assert error_of(exc) == (403, "SignatureDoesNotMatch")


# -- names and metadata --------------------------------------------------------------------------


def test_metadata_over_8192_bytes_is_refused(r2: R2Double, bucket: str) -> None:
    client = r2.client()
    big = {f"m{i}": "v" * 3000 for i in range(3)}  # 9,006 bytes
    with pytest.raises(ClientError) as exc:
        client.put_object(Bucket=bucket, Key=new_key(), Body=bytearray(b"x"), Metadata=big)
    assert error_of(exc) == (400, "MetadataTooLarge")

    fits = {"m0": "v" * 4000, "m1": "v" * (8192 - 4000 - 4)}  # exactly 8,192 bytes
    key = new_key()
    client.put_object(Bucket=bucket, Key=key, Body=bytearray(b"x"), Metadata=fits)
    assert client.head_object(Bucket=bucket, Key=key)["Metadata"] == fits


def test_a_key_over_1024_bytes_is_refused(r2: R2Double, bucket: str) -> None:
    client = r2.client()
    # weed refuses a path segment over 255 bytes (KeyTooLongError; R2 has no such rule).
    legal = "/".join(["d" * 255] * 3 + ["d" * 254, "x"])
    assert len(legal.encode()) == 1024
    with pytest.raises(ClientError) as exc:  # 1,024 characters but 1,025 bytes
        client.put_object(Bucket=bucket, Key=legal[:-1] + "é", Body=bytearray(b"x"))
    assert error_of(exc) == (400, "InvalidObjectName")

    client.put_object(Bucket=bucket, Key=legal, Body=bytearray(b"x"))
    assert client.head_object(Bucket=bucket, Key=legal)["ContentLength"] == 1


def test_features_r2_lacks_are_501(r2: R2Double, bucket: str) -> None:
    with pytest.raises(ClientError) as exc:
        r2.client().put_object(Bucket=bucket, Key=new_key(), Body=bytearray(b"x"), Tagging="a=b")
    assert error_of(exc) == (501, "NotImplemented")


# -- uploads R2 destroys -------------------------------------------------------------------------


def test_a_failed_conditional_complete_destroys_the_upload(
    timed: R2Double, bucket: str, clock: FakeClock
) -> None:
    client, key = timed.client(), new_key()
    client.put_object(Bucket=bucket, Key=key, Body=bytearray(b"exists"))
    upload_id, parts = upload_parts(client, bucket, key, [1 * MiB])
    clock.advance(1)
    with pytest.raises(ClientError) as exc:
        client.complete_multipart_upload(
            Bucket=bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": parts},
            IfNoneMatch="*",
        )
    assert error_of(exc) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as exc:
        client.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=2, Body=bytearray(b"x")
        )
    assert error_of(exc) == (404, "NoSuchUpload")


def test_an_upload_older_than_7_days_is_gone(
    timed: R2Double, bucket: str, clock: FakeClock
) -> None:
    client, key = timed.client(), new_key()
    upload_id, _ = upload_parts(client, bucket, key, [1])
    clock.advance(7 * 24 * 3600 + 1)
    with pytest.raises(ClientError) as exc:
        client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
    assert error_of(exc) == (404, "NoSuchUpload")


# -- faults, journal, counters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "status"),
    [("ServiceUnavailable", 503), ("TooManyRequests", 429), ("InternalError", 500)],
)
def test_injected_errors_fire_the_given_number_of_times(
    r2: R2Double, bucket: str, kind: str, status: int
) -> None:
    client, key = r2.client(), new_key("faulty")
    fault = r2.proxy.faults.add(kind, op="PutObject", key="faulty-*", times=2)
    client.put_object(Bucket=bucket, Key=new_key("other"), Body=bytearray(b"x"))  # not matched
    for _ in range(2):
        with pytest.raises(ClientError) as exc:
            client.put_object(Bucket=bucket, Key=key, Body=bytearray(b"x"))
        assert error_of(exc) == (status, kind)
    assert fault.remaining == 0
    client.put_object(Bucket=bucket, Key=key, Body=bytearray(b"x"))
    assert [e.source for e in r2.proxy.journal.where(key=key)] == ["fault", "fault", "upstream"]


def test_a_cut_body_never_reaches_the_store(r2: R2Double, bucket: str) -> None:
    client, key = r2.client(), new_key()
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    r2.proxy.faults.add("cut-body", op="UploadPart", cut_after=1 * MiB)  # of 4 MiB
    part = {"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": 1}
    with pytest.raises(BotoCoreError):
        client.upload_part(**part, Body=bytearray(4 * MiB))

    entry = r2.proxy.journal.where(op="UploadPart")[-1]
    assert (entry.status, entry.source, entry.body_bytes) == (None, "fault", 1 * MiB)
    assert (
        r2.direct_client()
        .list_parts(**{k: part[k] for k in ("Bucket", "Key", "UploadId")})
        .get("Parts", [])
        == []
    )
    client.upload_part(**part, Body=bytearray(4 * MiB))  # the retry goes through
    assert r2.proxy.part_uploads[(key, 1)] == 2


def test_a_lost_response_hides_a_complete_that_happened(r2: R2Double, bucket: str) -> None:
    client, key = r2.client(), new_key()
    upload_id, parts = upload_parts(client, bucket, key, [1 * MiB])
    r2.proxy.faults.add("lose-response", op="CompleteMultipartUpload")
    with pytest.raises(BotoCoreError):
        client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == 1 * MiB


def test_journal_records_without_credentials_and_checksums_stay_hidden(
    r2: R2Double, bucket: str
) -> None:
    client, key, body = r2.client(), new_key(), b"journal"
    sha = base64.b64encode(hashlib.sha256(body).digest()).decode()
    client.put_object(Bucket=bucket, Key=key, Body=bytearray(body), ChecksumSHA256=sha)
    head = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")

    put = r2.proxy.journal.where(op="PutObject", key=key)[0]
    assert (put.method, put.status, put.bucket, put.body_bytes) == ("PUT", 200, bucket, len(body))
    assert put.header("x-amz-checksum-sha256") == sha
    assert put.header("x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
    assert put.header("authorization") is None
    assert "ChecksumSHA256" not in head  # whether R2 returns it is undocumented …
    direct = r2.direct_client().head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    assert direct["ChecksumSHA256"] == sha  # … weed does, and the double hides it
    assert r2.proxy.journal.ops()[-2:] == ["PutObject", "HeadObject"]

    r2.proxy.reset()
    assert len(r2.proxy.journal) == 0
