"""`data4r2 doctor`: prove a bucket takes every kind of request a sync sends, before a long run.

Each check is a small function over a `Probe` (the S3Sink `sync` would build, plus what the
earlier checks wrote) returning a `Verdict`. The writes go through the sink's own methods —
the same code path, headers and wire format as a sync — under a unique
`{prefix}/.data4r2-doctor/<uuid>/` key prefix, and `cleanup` deletes them whatever happened
before it. Checks run in order; one whose prerequisite failed is skipped, not run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from .domain import (
    BucketNotFound,
    CredentialsError,
    Data4r2Error,
    EndpointUnreachable,
    IntegrityError,
    ObjectMeta,
    PartInfo,
    TransientError,
    UploadGone,
    UsageError,
)
from .engine.retry import RetryPolicy, call
from .sinks.s3_config import CONNECT_TIMEOUT, resolve_ca_bundle, ssl_context
from .sinks.s3_errors import BUCKET_HINT, CREDENTIALS_HINT, ENDPOINT_HINT, translate

if TYPE_CHECKING:
    from .sinks.s3 import S3Sink

log = logging.getLogger(__name__)

KiB, MiB = 1024, 1024**2
PART = 5 * MiB  # R2's smallest non-trailing part: the cheapest legal 2-part layout
TAIL = KiB  # the last part, smaller than the others as R2 allows
WRITE_INTERVAL = 1.05  # R2 takes one write per key per second (docs/r2.md §2); a margin
SKEW_WARN = 60.0  # seconds: harmless, but a sign the clock is not synced
SKEW_FAIL = 15 * 60.0  # SigV4 refuses requests signed further off (RequestTimeTooSkewed)
PROBE_DIR = ".data4r2-doctor"
# Cleanup rides out R2's 429/503 like a sync would, briefly: it must not hang a CLI.
CLEANUP_RETRY = RetryPolicy(attempts=5, base_delay=0.5, max_delay=4.0, max_retry_after=10.0)

TODO_CLOCK = "sync the system clock (NTP: `timedatectl set-ntp true`, chrony or w32tm)"
TODO_TRANSIENT = "a passing server-side problem: run doctor again; if it stays, check the store"
TODO_REFUSED = (
    "the store refused a request every sync sends: see the detail "
    "(run with --debug for the full exchange)"
)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, with a caveat; does not fail the run
    FAIL = "FAIL"  # a sync would fail or lose a guarantee: exit 1
    SKIP = "skip"  # not run: a check it depends on failed


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    detail: str
    todo: str = ""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    todo: str = ""


@dataclass(frozen=True, slots=True)
class DoctorReport:
    destination: str
    endpoint: str
    probe_prefix: str  # where the probe objects went (and were deleted from)
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """Every check a sync needs passed (warnings allowed)."""
        return all(c.status is not Status.FAIL for c in self.checks)


def ok(detail: str) -> Verdict:
    return Verdict(Status.OK, detail)


def warn(detail: str, todo: str) -> Verdict:
    return Verdict(Status.WARN, detail, todo)


def fail(detail: str, todo: str) -> Verdict:
    return Verdict(Status.FAIL, detail, todo)


@dataclass
class Probe:
    """What the checks share: the sink, where they write, and what they left behind."""

    endpoint: str
    ca_bundle: str | None
    root: str  # key prefix of every probe object, ends with "/"
    make_sink: Callable[[], S3Sink]
    sink_: S3Sink | None = None
    written: dict[str, float] = field(default_factory=dict)  # key → monotonic time of write
    uploads: dict[str, str] = field(default_factory=dict)  # open upload id → key
    touched: bool = False  # a write was attempted: cleanup has work
    metas: dict[str, ObjectMeta] = field(default_factory=dict)  # name → what was sent
    parts: list[PartInfo] = field(default_factory=list)
    upload_id: str = ""
    completed: bool = False
    small: bytes = field(default_factory=lambda: b"data4r2 doctor probe " + os.urandom(32))

    @property
    def sink(self) -> S3Sink:
        if self.sink_ is None:  # the runner skips every check that needs one
            raise RuntimeError("no sink: the credentials check did not pass")
        return self.sink_

    def key(self, name: str) -> str:
        return self.root + name

    def wrote(self, key: str) -> None:
        self.written[key] = time.monotonic()

    def pace(self, key: str) -> None:
        """Wait until `key` may be written again (R2: one write per key per second)."""
        last = self.written.get(key)
        if last is not None:
            time.sleep(max(0.0, last + WRITE_INTERVAL - time.monotonic()))


def meta_for(name: str, body: bytes) -> ObjectMeta:
    """The metadata a sync records, for a probe object (a git blob sha1 as for non-LFS files)."""
    blob = hashlib.sha1(b"blob %d\0" % len(body) + body, usedforsecurity=False).hexdigest()
    return ObjectMeta(
        repo_id="data4r2/doctor",
        repo_type="model",
        commit="0" * 40,
        path=f"{PROBE_DIR}/{name}",
        sha256=hashlib.sha256(body).hexdigest(),
        git_sha1=blob,
    )


# --------------------------------------------------------------------------- the checks


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
    Check("HEAD metadata", check_metadata, ("PUT + sha256",)),
)
CLEANUP = "cleanup"


# --------------------------------------------------------------------------- cleanup


def cleanup(p: Probe) -> Verdict:
    """Abort every upload and delete every object under the probe prefix; then prove it."""
    if not p.touched or p.sink_ is None:
        return ok("nothing was written")
    sink = p.sink_
    where = f"s3://{sink.bucket}/{p.root}"
    try:
        aborted = 0
        open_uploads = dict(p.uploads)
        # Uploads whose Create answer was lost are not in `p.uploads`: ask the store.
        open_uploads.update(_listed_uploads(p))
        for upload_id, key in open_uploads.items():
            call(partial(sink.abort, key, upload_id), CLEANUP_RETRY)
            p.uploads.pop(upload_id, None)
            aborted += 1
        deleted = 0
        for obj in list(sink.list(p.root)):
            p.pace(obj.key)
            call(partial(sink.delete, obj.key), CLEANUP_RETRY)
            deleted += 1
        left = [obj.key for obj in sink.list(p.root)] + list(_listed_uploads(p).values())
    except Data4r2Error as exc:
        return warn(f"cleanup failed: {exc.message}", f"delete everything under {where} by hand")
    if left:
        return warn(
            f"{len(left)} probe objects or uploads remain: {', '.join(left[:3])}",
            f"delete everything under {where} by hand",
        )
    done = f"deleted {_count(deleted, 'object')}, aborted {_count(aborted, 'upload')}"
    return ok(f"{done}: {where} is empty")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _listed_uploads(p: Probe) -> dict[str, str]:
    """Open uploads under the probe prefix (upload id → key), as the store lists them.

    A store that cannot list them (no sync needs ListMultipartUploads) gives {}: cleanup
    then relies on the uploads it tracked itself.
    """
    sink = p.sink
    found: dict[str, str] = {}
    try:
        with translate(f"ListMultipartUploads s3://{sink.bucket}/{p.root}"):
            pages = sink.client.get_paginator("list_multipart_uploads")
            for page in pages.paginate(Bucket=sink.bucket, Prefix=p.root):
                for upload in page.get("Uploads", []):
                    if "UploadId" in upload and "Key" in upload:
                        found[upload["UploadId"]] = upload["Key"]
    except Data4r2Error as exc:
        log.info("cannot list multipart uploads, relying on the tracked ones: %s", exc)
    return found


# --------------------------------------------------------------------------- the runner


def diagnose(
    *,
    destination: str,
    endpoint: str,
    prefix: str,
    ca_bundle: str | None,
    make_sink: Callable[[], S3Sink],
) -> DoctorReport:
    """Run every check in order, then the cleanup (always); the sink is built and closed here.

    Errors that are the user's input (a bad endpoint URL) propagate with their exit code.
    """
    base = f"{prefix}/" if prefix else ""
    probe = Probe(endpoint, ca_bundle, f"{base}{PROBE_DIR}/{uuid.uuid4().hex}/", make_sink)
    results: dict[str, CheckResult] = {}
    try:
        for check in CHECKS:
            results[check.name] = _run(check, probe, results)
    finally:
        try:
            final = cleanup(probe)
            results[CLEANUP] = CheckResult(CLEANUP, final.status, final.detail, final.todo)
        finally:
            if probe.sink_ is not None:
                probe.sink_.close()
    return DoctorReport(destination, endpoint, probe.root, tuple(results.values()))


def _run(check: Check, probe: Probe, done: dict[str, CheckResult]) -> CheckResult:
    blocked = [n for n in check.needs if done[n].status not in (Status.OK, Status.WARN)]
    if blocked:
        return CheckResult(check.name, Status.SKIP, f"not run: needs {', '.join(blocked)}")
    try:
        verdict = check.run(probe)
    except CredentialsError as exc:
        if check.name == "credentials":  # missing: the only error this check is about
            return CheckResult(check.name, Status.FAIL, exc.message, CREDENTIALS_HINT)
        verdict = verdict_from_error(exc)
    except Data4r2Error as exc:
        if isinstance(exc, UsageError):  # a config error: usual exit code and message
            raise
        verdict = verdict_from_error(exc)
    # Error texts name the full probe key; its random folder only makes the table wider.
    detail = verdict.detail.replace(probe.root, "…/")
    return CheckResult(check.name, verdict.status, detail, verdict.todo)


def verdict_from_error(exc: Data4r2Error) -> Verdict:
    """A failed request → FAIL, with the error's own hint (after " — ") as what to do."""
    detail, _, hint = exc.message.partition(" — ")
    if hint:
        return fail(detail, hint)
    if isinstance(exc, CredentialsError):
        return fail(detail, CREDENTIALS_HINT)
    if isinstance(exc, BucketNotFound):
        return fail(detail, BUCKET_HINT)
    if isinstance(exc, EndpointUnreachable):
        return fail(detail, ENDPOINT_HINT)
    if isinstance(exc, TransientError):
        return fail(detail, TODO_TRANSIENT)
    return fail(detail, TODO_REFUSED)
