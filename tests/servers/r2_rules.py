"""What Cloudflare R2 refuses that SeaweedFS accepts (docs/r2.md §2–§5, checklist §8).

Pure functions over one parsed request: no sockets, no state. The proxy in `r2proxy.py`
calls `check_request` before it forwards anything, and `check_part_layout` at
CompleteMultipartUpload; the stateful rules (one write per key per second, upload age,
uploads killed by a failed conditional Complete) live in the proxy.
"""

from __future__ import annotations

import email.header
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

MiB = 1024**2
GiB = 1024**3
MAX_BODY = 5 * GiB - 5 * MiB  # one PutObject / UploadPart body [docs/r2.md §2]
MIN_PART = 5 * MiB  # every part but the last
MAX_PARTS = 10_000
MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 8192
REGIONS = frozenset({"auto", "us-east-1", ""})  # SigV4 scope regions R2 accepts [docs/r2.md §1]
EQUAL_PARTS = "All non-trailing parts must have the same length."

# x-amz-checksum-<name> headers that carry a value (not algorithm/type/mode selectors).
CHECKSUM_VALUES = frozenset({"crc32", "crc32c", "crc64nvme", "sha1", "sha256"})
CHECKSUM_SELECTORS = frozenset({"algorithm", "type", "mode"})
# The only checksum type R2 allows per algorithm on a multipart upload [docs/r2.md §3].
MULTIPART_TYPE = {
    "CRC64NVME": "FULL_OBJECT",
    "CRC32": "COMPOSITE",
    "CRC32C": "COMPOSITE",
    "SHA1": "COMPOSITE",
    "SHA256": "COMPOSITE",
}
WRITES = frozenset({"PutObject", "CompleteMultipartUpload", "CopyObject", "DeleteObject"})
BODY_METHODS = frozenset({"PUT", "POST"})


@dataclass(frozen=True)
class R2Error:
    """An answer R2 would give instead of doing the request."""

    status: int
    code: str
    message: str

    def xml(self) -> bytes:
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(self.code)}</Code>"
            f"<Message>{escape(self.message)}</Message></Error>"
        ).encode()


@dataclass(frozen=True)
class S3Request:
    """The parts of a path-style S3 request the rules look at."""

    method: str
    target: str  # as received: path and query, still percent-encoded
    headers: Mapping[str, str]  # lower-cased names; repeated headers joined with ","
    bucket: str
    key: str  # decoded object key, "" for bucket or service requests
    query: Mapping[str, list[str]] = field(default_factory=dict)
    op: str = ""

    @property
    def upload_id(self) -> str | None:
        values = self.query.get("uploadId")
        return values[0] if values else None

    @property
    def part_number(self) -> int | None:
        values = self.query.get("partNumber")
        try:
            return int(values[0]) if values else None
        except ValueError:
            return None

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.strip().isdigit() else None

    @property
    def access_key(self) -> str | None:
        """The key id of the SigV4 credential (header or presigned query), if any."""
        found = _CREDENTIAL.search(self.headers.get("authorization", ""))
        scope = found.group(1) if found else (self.query.get("X-Amz-Credential") or [""])[0]
        return scope.split("/", 1)[0] or None

    @property
    def is_write(self) -> bool:
        return self.op in WRITES


def parse_request(method: str, target: str, headers: Mapping[str, str]) -> S3Request:
    """Split a path-style target into bucket, key and S3 operation name."""
    parts = urlsplit(target)
    query = parse_qs(parts.query, keep_blank_values=True)
    bucket, _, raw_key = parts.path.lstrip("/").partition("/")
    key = unquote(raw_key)
    request = S3Request(method, target, headers, unquote(bucket), key, query)
    return S3Request(method, target, headers, request.bucket, key, query, _operation(request))


def _operation(r: S3Request) -> str:
    q, m = r.query, r.method
    if not r.bucket:
        return "ListBuckets"
    if not r.key:
        if m == "POST" and "delete" in q:
            return "DeleteObjects"
        if m == "GET" and "uploads" in q:
            return "ListMultipartUploads"
        if q and m in ("GET", "PUT", "DELETE") and "list-type" not in q and "prefix" not in q:
            return f"{m.title()}BucketConfig"
        return {
            "PUT": "CreateBucket",
            "DELETE": "DeleteBucket",
            "HEAD": "HeadBucket",
            "GET": "ListObjects",
        }.get(m, m)
    copy = "x-amz-copy-source" in r.headers
    table: dict[tuple[str, bool], str] = {
        ("PUT", True): "UploadPartCopy" if copy else "UploadPart",
        ("PUT", False): "CopyObject" if copy else "PutObject",
        ("POST", True): "CompleteMultipartUpload",
        ("DELETE", True): "AbortMultipartUpload",
        ("DELETE", False): "DeleteObject",
        ("GET", True): "ListParts",
        ("GET", False): "GetObject",
        ("HEAD", False): "HeadObject",
    }
    if m == "POST" and "uploads" in q:
        return "CreateMultipartUpload"
    if q.keys() & {"tagging", "acl", "retention", "legal-hold", "attributes", "restore"}:
        return f"{m.title()}ObjectConfig"
    return table.get((m, "uploadId" in q), m)


# -- the rules, in the order R2's front end would meet them ---------------------------------

Rule = Callable[[S3Request], "R2Error | None"]
_CREDENTIAL = re.compile(r"Credential=([^,\s]+)")


def check_auth(r: S3Request) -> R2Error | None:
    """SigV4 only, with a credential scope region R2 knows; no credentials at all → 401."""
    auth = r.headers.get("authorization")
    if auth is None:
        presigned = r.query.get("X-Amz-Credential")
        if not presigned:
            return R2Error(401, "Unauthorized", "No credentials: R2 has no anonymous S3 access.")
        scope = presigned[0]
    else:
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return R2Error(400, "AuthorizationHeaderMalformed", "Only SigV4 is supported.")
        found = _CREDENTIAL.search(auth)
        if found is None:
            return R2Error(400, "AuthorizationHeaderMalformed", "No Credential= in Authorization.")
        scope = found.group(1)
    fields = scope.split("/")
    if len(fields) != 5:
        return R2Error(400, "AuthorizationHeaderMalformed", f"Bad credential scope {scope!r}.")
    if fields[2] not in REGIONS:
        return R2Error(
            400,
            "AuthorizationHeaderMalformed",
            f"The authorization header is malformed; the region '{fields[2]}' is wrong; "
            "expecting 'auto' (or 'us-east-1' / empty).",
        )
    return None


def check_framing(r: S3Request) -> R2Error | None:
    """No aws-chunked bodies (signed, unsigned or with trailers), no 100-continue, a length."""
    sha = r.headers.get("x-amz-content-sha256", "")
    if any(v.strip().upper().startswith("STREAMING-") for v in sha.split(",")):
        return R2Error(
            501,
            "NotImplemented",
            f"x-amz-content-sha256 {sha} (aws-chunked payload) is not implemented: send "
            "UNSIGNED-PAYLOAD or the body's hash, and checksums as plain headers.",
        )
    encodings = [e.strip().lower() for e in r.headers.get("content-encoding", "").split(",")]
    if "aws-chunked" in encodings or "x-amz-trailer" in r.headers:
        return R2Error(501, "NotImplemented", "aws-chunked encoding and trailers: not implemented.")
    if "expect" in r.headers:
        return R2Error(
            400,
            "InvalidRequest",
            f"Expect: {r.headers['expect']} is not supported (Cloudflare sends no 100 "
            "Continue): hand botocore a bytearray body so it adds no Expect header.",
        )
    if r.method in BODY_METHODS and (r.content_length is None or "transfer-encoding" in r.headers):
        return R2Error(411, "MissingContentLength", "You must provide the Content-Length header.")
    return None


def check_names(r: S3Request) -> R2Error | None:
    """Key ≤ 1,024 bytes; all custom metadata (names without prefix + values) ≤ 8,192 bytes."""
    if len(r.key.encode()) > MAX_KEY_BYTES:
        return R2Error(
            400, "InvalidObjectName", f"Object key is {len(r.key.encode())} bytes, over 1,024."
        )
    size = sum(
        len(name[len("x-amz-meta-") :].encode()) + len(_decoded(value).encode())
        for name, value in r.headers.items()
        if name.startswith("x-amz-meta-")
    )
    if size > MAX_METADATA_BYTES:
        return R2Error(
            400, "MetadataTooLarge", f"Your metadata headers are {size} bytes, over 8,192."
        )
    return None


def _decoded(value: str) -> str:
    """RFC 2047 text decoded (R2 counts the decoded value); raw header bytes otherwise."""
    raw = value.encode("latin-1", errors="replace")  # http.server decoded the wire as latin-1
    if "=?" not in value:
        return raw.decode("utf-8", errors="replace")
    try:
        return str(email.header.make_header(email.header.decode_header(value)))
    except (ValueError, LookupError):
        return raw.decode("utf-8", errors="replace")


def check_checksums(r: S3Request) -> R2Error | None:
    """One checksum per request; only the algorithm/type pairs of R2's matrix."""
    named = [n for n in r.headers if n.startswith("x-amz-checksum-")]
    values = [n.removeprefix("x-amz-checksum-") for n in named]
    values = [v for v in values if v not in CHECKSUM_SELECTORS]
    unknown = [v for v in values if v not in CHECKSUM_VALUES]
    if unknown:
        return R2Error(400, "InvalidRequest", f"Unsupported checksum x-amz-checksum-{unknown[0]}.")
    if len(values) + ("content-md5" in r.headers) > 1:
        return R2Error(
            400, "InvalidRequest", "You can only specify one non-default checksum at a time."
        )
    algorithm = r.headers.get("x-amz-checksum-algorithm", "").upper()
    if algorithm and algorithm not in MULTIPART_TYPE:
        return R2Error(400, "InvalidRequest", f"Unsupported checksum algorithm {algorithm}.")
    if r.op == "CopyObject" and algorithm:
        return R2Error(501, "NotImplemented", "x-amz-checksum-algorithm on CopyObject.")
    kind = r.headers.get("x-amz-checksum-type", "").upper()
    if r.op in ("CreateMultipartUpload", "CompleteMultipartUpload") and (algorithm or kind):
        algorithm = algorithm or (values[0].upper() if values else "")
        if not algorithm:
            return R2Error(400, "InvalidRequest", "x-amz-checksum-type without an algorithm.")
        allowed = MULTIPART_TYPE[algorithm]
        if (kind or allowed) != allowed:
            return R2Error(
                400,
                "InvalidRequest",
                f"Checksum type {kind} is not supported for {algorithm} on multipart uploads "
                f"(R2 allows only {allowed}).",
            )
    return None


_UNSUPPORTED_HEADERS = ("x-amz-tagging", "x-amz-object-lock-", "x-amz-grant-")


def check_unsupported(r: S3Request) -> R2Error | None:
    """Headers for features R2's S3 API lacks: tagging, ACL grants, object lock, SSE-KMS."""
    for name in r.headers:
        if name.startswith(_UNSUPPORTED_HEADERS):
            return R2Error(501, "NotImplemented", f"Header '{name}' is not implemented.")
    if r.headers.get("x-amz-server-side-encryption", "").lower().startswith("aws:kms"):
        return R2Error(501, "NotImplemented", "SSE-KMS is not implemented.")
    return None


def check_sizes(r: S3Request) -> R2Error | None:
    """One body ≤ 5 GiB − 5 MiB; part numbers 1..10,000. Only Content-Length is needed."""
    if r.op in ("UploadPart", "UploadPartCopy"):
        number = r.part_number
        if number is None or not 1 <= number <= MAX_PARTS:
            return R2Error(
                400, "InvalidArgument", "Part number must be an integer between 1 and 10000."
            )
    length = r.content_length or 0
    if r.op in ("PutObject", "UploadPart") and length > MAX_BODY:
        return R2Error(
            400,
            "EntityTooLarge",
            f"Your proposed upload of {length} bytes exceeds the maximum allowed object size "
            f"({MAX_BODY} bytes for one request).",
        )
    return None


RULES: Sequence[Rule] = (
    check_auth,
    check_framing,
    check_names,
    check_checksums,
    check_unsupported,
    check_sizes,
)


def check_request(r: S3Request) -> R2Error | None:
    """The first rule the request breaks, or None."""
    for rule in RULES:
        error = rule(r)
        if error is not None:
            return error
    return None


def check_part_layout(sizes: Sequence[int]) -> R2Error | None:
    """R2 at Complete: ≤ 10,000 parts, each ≥ 5 MiB but the last, all equal but the last,
    the last not larger (sizes in part-number order)."""
    if not sizes:
        return R2Error(400, "MalformedXML", "CompleteMultipartUpload lists no parts.")
    if len(sizes) > MAX_PARTS:
        return R2Error(400, "InvalidArgument", f"{len(sizes)} parts; at most 10,000.")
    head, last = sizes[:-1], sizes[-1]
    small = [s for s in head if s < MIN_PART]
    if small:
        return R2Error(
            400,
            "EntityTooSmall",
            f"Your proposed upload is smaller than the minimum allowed object size "
            f"(a non-last part of {small[0]} bytes; minimum 5 MiB).",
        )
    if head and (any(s != head[0] for s in head) or last > head[0]):
        return R2Error(400, "InvalidPart", EQUAL_PARTS)
    return None
