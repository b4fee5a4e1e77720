"""The checks, in the order they run; each returns a Verdict or raises a Data4r2Error."""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from ...domain import Data4r2Error, IntegrityError, UploadGone
from ...engine.reclaim import STALE_AFTER_S
from ..s3_config import CONNECT_TIMEOUT, resolve_ca_bundle, ssl_context
from ..s3_errors import ENDPOINT_HINT, translate
from .probe import PART, TAIL, Probe, meta_for
from .report import Verdict, count, fail, ok, warn

SKEW_WARN = 60.0  # seconds: harmless, but a sign the clock is not synced
SKEW_FAIL = 15 * 60.0  # SigV4 refuses requests signed further off (RequestTimeTooSkewed)
TODO_CLOCK = "sync the system clock (NTP: `timedatectl set-ntp true`, chrony or w32tm)"


def check_credentials(p: Probe) -> Verdict:
    p.sink_ = p.make_sink()  # raises CredentialsError when the key or the secret is missing
    return ok("an access key and a secret are set (whether they work: see bucket access)")


def check_endpoint(p: Probe) -> Verdict:
    url = urlsplit(p.endpoint)
    https = url.scheme == "https"
    host = url.hostname or ""
    port = url.port or (443 if https else 80)
    started = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT) as sock:
            if not https:
                return warn(
                    f"{host}:{port} answers over plain http (TLS not tested)",
                    "fine for a local test server; R2 and AWS S3 are https only",
                )
            context = ssl_context(resolve_ca_bundle(p.ca_bundle))
            with context.wrap_socket(sock, server_hostname=host) as tls:
                version = tls.version()
    except ssl.SSLCertVerificationError as exc:
        return fail(
            f"the TLS certificate of {host}:{port} is not trusted ({exc.verify_message})",
            "for a private CA pass --ca-bundle FILE (or set AWS_CA_BUNDLE); for R2, check "
            "that nothing on this network intercepts TLS",
        )
    except ssl.SSLError as exc:
        return fail(f"TLS handshake with {host}:{port} failed: {exc}", ENDPOINT_HINT)
    except socket.gaierror as exc:
        return fail(f"cannot resolve {host} ({exc.strerror or exc})", ENDPOINT_HINT)
    except OSError as exc:
        return fail(f"cannot connect to {host}:{port} ({exc.strerror or exc})", ENDPOINT_HINT)
    took = (time.monotonic() - started) * 1000
    return ok(f"{host}:{port} reached, {version} with a trusted certificate, {took:.0f} ms")


def check_bucket(p: Probe) -> Verdict:
    p.sink.check()  # HeadBucket, exactly as sync starts
    return ok(f"HeadBucket {p.sink.bucket!r} answered 200")


def check_clock(p: Probe) -> Verdict:
    sent = time.time()
    with translate(f"HeadBucket {p.sink.bucket}"):
        try:
            answer = p.sink.client.head_bucket(Bucket=p.sink.bucket)
            headers = answer["ResponseMetadata"]["HTTPHeaders"]
        except ClientError as exc:  # an error answer carries a Date too
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    local = (sent + time.time()) / 2
    date = headers.get("date")
    if not date:
        return warn(
            "the endpoint sent no Date header: skew not measured",
            f"make sure the clock is synced; {TODO_CLOCK}",
        )
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return warn(f"unreadable Date header {date!r}: skew not measured", TODO_CLOCK)
    return judge_skew(local - server)


def judge_skew(skew: float) -> Verdict:
    """Local time minus the server's, in seconds → a verdict (the Date header has 1 s steps)."""
    if abs(skew) < 2:
        return ok("the local clock agrees with the server's Date (to its 1 s resolution)")
    side = "ahead of" if skew > 0 else "behind"
    text = f"the local clock is {abs(skew):.0f} s {side} the server's"
    if abs(skew) > SKEW_FAIL:
        return fail(f"{text}: SigV4 refuses requests more than 15 min off", TODO_CLOCK)
    if abs(skew) > SKEW_WARN:
        return warn(f"{text}: signed requests will fail past 15 min", TODO_CLOCK)
    return ok(text)


def check_put(p: Probe) -> Verdict:
    key = p.key("small.txt")
    p.touched = True
    p.metas["small.txt"] = meta_for("small.txt", p.small)
    p.sink.put(key, memoryview(p.small), p.metas["small.txt"])
    p.wrote(key)
    return ok(f"PutObject of {len(p.small)} B with x-amz-checksum-sha256 accepted")


def check_bad_checksum(p: Probe) -> Verdict:
    key = p.key("bad-checksum.txt")
    wrong = meta_for("bad-checksum.txt", p.small + b"!")  # a sha256 of other bytes
    p.touched = True
    try:
        p.sink.put(key, memoryview(p.small), wrong)
    except IntegrityError as exc:
        if p.sink.head(key) is not None:
            return fail(
                f"the store refused the body ({exc.message}) yet published it",
                "this store cannot be trusted with checksums: use another endpoint",
            )
        return ok("a PUT whose x-amz-checksum-sha256 does not match its body was refused")
    p.wrote(key)
    return warn(
        "the store published a body that does not match its x-amz-checksum-sha256: "
        "it does not verify checksums",
        "data4r2 still checks every file's hash before publishing, but corruption in "
        "transit would go unnoticed; R2, AWS S3 and SeaweedFS do verify",
    )


def check_multipart(p: Probe) -> Verdict:
    key = p.key("multipart.bin")
    body = memoryview(bytearray(os.urandom(PART + TAIL)))
    p.touched = True
    p.metas["multipart.bin"] = meta_for("multipart.bin", bytes(body))
    p.upload_id = p.sink.create_multipart(key, p.metas["multipart.bin"], PART)
    p.uploads[p.upload_id] = key
    p.parts = [
        p.sink.upload_part(key, p.upload_id, 1, body[:PART]),
        p.sink.upload_part(key, p.upload_id, 2, body[PART:]),
    ]
    return ok("CreateMultipartUpload, then parts of 5 MiB and 1 KiB, each with its CRC32C")


def check_list_parts(p: Probe) -> Verdict:
    listed = p.sink.list_parts(p.key("multipart.bin"), p.upload_id)
    got = [(x.number, x.size, x.etag.strip('"')) for x in listed]
    want = [(x.number, x.size, x.etag.strip('"')) for x in p.parts]
    if got != want:
        return fail(
            f"ListParts returned {_parts_text(got)}, expected {_parts_text(want)}",
            "a resumed sync reconciles with ListParts: it would re-send or lose parts "
            "on this store",
        )
    return ok("both parts listed with their numbers, sizes and ETags")


def _parts_text(parts: Sequence[tuple[int, int, str]]) -> str:
    return ", ".join(f"#{n} ({size} B)" for n, size, _ in parts) or "no parts"


def check_complete(p: Probe) -> Verdict:
    key = p.key("multipart.bin")
    p.sink.complete(key, p.upload_id, p.parts)
    p.uploads.pop(p.upload_id, None)
    p.completed = True
    p.wrote(key)
    info = p.sink.head(key)
    size = PART + TAIL
    if info is None or info.size != size:
        got = "nothing" if info is None else f"{info.size} B"
        return fail(
            f"Complete answered success, yet HEAD shows {got} instead of {size} B",
            "the store does not assemble multipart uploads correctly: use another endpoint",
        )
    return ok(f"CompleteMultipartUpload assembled {size} B (equal parts, smaller last)")


def check_abort(p: Probe) -> Verdict:
    key = p.key("aborted.bin")
    p.touched = True
    upload_id = p.sink.create_multipart(key, meta_for("aborted.bin", p.small), PART)
    p.uploads[upload_id] = key
    p.sink.upload_part(key, upload_id, 1, memoryview(bytearray(p.small)))
    p.sink.abort(key, upload_id)
    try:
        p.sink.list_parts(key, upload_id)
    except UploadGone:
        p.uploads.pop(upload_id, None)
        return ok("AbortMultipartUpload; ListParts then answered NoSuchUpload")
    return fail(
        "the upload still lists its parts after AbortMultipartUpload",
        "a sync aborts uploads whose bytes failed verification; on this store they would "
        "linger (and cost storage): use another endpoint or add a lifecycle rule",
    )


def check_metadata(p: Probe) -> Verdict:
    names = ["small.txt", "multipart.bin"] if p.completed else ["small.txt"]
    problems: list[str] = []
    for name in names:
        key, sent = p.key(name), p.metas[name]
        info = p.sink.head(key)  # what sync's skip logic reads
        with translate(f"HeadObject {key}"):
            back = p.sink.client.head_object(Bucket=p.sink.bucket, Key=key).get("Metadata", {})
        lost = sorted(k for k, v in sent.to_headers().items() if back.get(k) != v)
        if lost or info is None or info.sha256 != sent.sha256:
            problems.append(
                f"{name}: x-amz-meta-{{{','.join(lost or ['sha256'])}}} lost or changed"
            )
    if problems:
        return fail(
            "; ".join(problems),
            "a sync skips and verifies by this metadata: without it every run copies "
            "everything again and `verify` reports differences",
        )
    return ok(
        "x-amz-meta-* (repo, commit, path, sha256, git-sha1) came back on HEAD"
        + (" for the PUT and the multipart object" if p.completed else "")
    )


def check_stale_uploads(p: Probe) -> Verdict:
    """Unfinished multipart uploads under the destination: killed runs' leftovers hold storage."""
    where = f"s3://{p.sink.bucket}/{p.prefix}"
    try:
        found = [u for u in p.sink.list_uploads(p.prefix) if not u.key.startswith(p.root)]
    except Data4r2Error as exc:
        return warn(
            f"cannot list multipart uploads: {exc.message}",
            "a sync still works, but cannot abort what killed runs left open",
        )
    if not found:
        return ok(f"no unfinished multipart uploads under {where}")
    stale = [u for u in found if u.idle_s >= STALE_AFTER_S]
    if not stale:
        return ok(f"{count(len(found), 'unfinished multipart upload')}, active within a day")
    oldest = max(stale, key=lambda u: u.idle_s)
    return warn(
        f"{count(len(stale), 'unfinished multipart upload')} idle for over a day under {where}, "
        f"e.g. {oldest.key} ({oldest.idle_s / 86400:.0f} days): they hold storage",
        "a sync aborts those under its repo's keys that its state file does not resume; "
        "abort others by hand (aws s3api list-multipart-uploads / abort-multipart-upload)",
    )


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    run: Callable[[Probe], Verdict]
    needs: tuple[str, ...] = ()


CHECKS: tuple[Check, ...] = (
    Check("credentials", check_credentials),
    Check("endpoint", check_endpoint),
    Check("bucket access", check_bucket, ("credentials", "endpoint")),
    Check("clock skew", check_clock, ("credentials", "endpoint")),
    Check("PUT + sha256", check_put, ("bucket access",)),
    Check("bad checksum refused", check_bad_checksum, ("bucket access",)),
    Check("multipart upload", check_multipart, ("bucket access",)),
    Check("ListParts", check_list_parts, ("multipart upload",)),
    Check("complete multipart", check_complete, ("multipart upload",)),
    Check("abort", check_abort, ("bucket access",)),
    Check("stale uploads", check_stale_uploads, ("bucket access",)),
    Check("HEAD metadata", check_metadata, ("PUT + sha256",)),
)
CLEANUP = "cleanup"
