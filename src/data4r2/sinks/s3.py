"""ObjectSink for Cloudflare R2 and any S3-compatible store.

Two paths (docs/design.md §6): control calls go through a botocore client set
up per docs/r2.md §5 (s3_config.py); the two calls that carry file bytes — PutObject and
UploadPart — go through s3_wire.py, raw signed PUTs of memoryviews. Every write carries a
checksum header the store verifies: SHA-256 for a single PUT (the file's own hash, so a
corrupt body is refused and never visible), CRC32C per part (R2 cannot check a whole-file
hash of a multipart upload; the engine checks sha256 before Complete).

Thread-safe: botocore clients are, S3Wire pools its connections, nothing else is mutated.
"""

from __future__ import annotations

import binascii
import builtins
import logging
import mimetypes
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import botocore.session
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from ..domain import (
    BucketNotFound,
    CredentialsError,
    DestinationError,
    InvalidDestination,
    ObjectInfo,
    ObjectMeta,
    OpenUpload,
    PartInfo,
    SinkLimits,
    TransientError,
    UploadGone,
)
from .checksums import composite_crc32c, crc32c_b64, sha256_b64
from .s3_config import control_config, resolve_ca_bundle
from .s3_errors import (
    BUCKET_HINT,
    CREDENTIALS_HINT,
    classify,
    error_code,
    http_status,
    translate,
)
from .s3_wire import S3Wire

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
    from types_boto3_s3.type_defs import CompletedPartTypeDef

    from ..ports import ObjectSink

log = logging.getLogger(__name__)

DEFAULT_CONTENT_TYPE = "application/octet-stream"


class S3Sink:
    """Objects in `bucket` at an S3 endpoint; keys arrive already joined with `prefix`."""

    def __init__(
        self,
        endpoint_url: str,
        bucket: str,
        prefix: str = "",
        *,
        access_key: str,
        secret_key: str,
        session_token: str | None = None,
        region: str = "auto",
        ca_bundle: str | None = None,
        pool_size: int = 16,
    ) -> None:
        url = urlsplit(endpoint_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise InvalidDestination(
                f"invalid S3 endpoint {endpoint_url!r}: expected https://host[:port] "
                "(for R2: https://<ACCOUNT_ID>.r2.cloudflarestorage.com)"
            )
        if url.path not in ("", "/") or url.query:
            raise InvalidDestination(
                f"invalid S3 endpoint {endpoint_url!r}: put the bucket and prefix in the "
                "destination, not in the endpoint URL"
            )
        if not bucket:
            raise InvalidDestination("no bucket given for the S3 destination")
        self.limits = SinkLimits()  # R2's rules: the strictest store we target
        self._bucket = bucket
        self._prefix = prefix.strip("/")
        # Shown in messages: scheme://host[:port] only, never userinfo.
        netloc = url.hostname if url.port is None else f"{url.hostname}:{url.port}"
        self._endpoint = urlunsplit((url.scheme, netloc, "", "", ""))
        ca_file = resolve_ca_bundle(ca_bundle)
        # A Session per sink: no process-wide default session (not thread-safe to create).
        # botocore's, not boto3's: the control calls are plain client methods, and boto3's
        # session imports s3transfer and its own resource models on top (≈ 0.08 CPU s of
        # every run's start-up here, for nothing we call).
        session = botocore.session.Session()
        self._client: S3Client = session.create_client(  # type: ignore[assignment]
            "s3",
            region_name=region,
            endpoint_url=self._endpoint,
            verify=ca_file if url.scheme == "https" else None,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            config=control_config(pool_size),
        )
        self._wire = S3Wire(
            self._endpoint,
            bucket,
            Credentials(access_key, secret_key, session_token),
            region,
            ca_file,
            pool_size,
        )
        # A private table, loaded once here: the module-level mimetypes db initialises
        # lazily on first use, which is not safe when many threads get there at once.
        self._mime = mimetypes.MimeTypes()

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        self._wire.close()
        self._client.close()

    def __enter__(self) -> S3Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ description

    def describe(self) -> str:
        where = f"s3://{self._bucket}/{self._prefix}" if self._prefix else f"s3://{self._bucket}"
        return f"{where} at {self._endpoint}"

    @property
    def bucket(self) -> str:
        """The bucket name, for probes that call the client directly (`data4r2 doctor`)."""
        return self._bucket

    @property
    def client(self) -> S3Client:
        """The botocore client of the control calls, set up per docs/r2.md §5.

        For `data4r2 doctor` (s3_doctor/) only: it reads the `Date` header of an answer and
        the raw metadata of a HEAD, which no port method returns. Transfers use the methods.
        """
        return self._client

    def check(self) -> None:
        where = f"{self.describe()}: HeadBucket"
        try:
            self._client.head_bucket(Bucket=self._bucket)
        except ClientError as exc:
            # HEAD answers carry no body, so the status is all there is to go on.
            status = http_status(exc)
            if status == 404 or error_code(exc) == "NoSuchBucket":
                raise BucketNotFound(
                    f"bucket {self._bucket!r} not found at {self._endpoint}", BUCKET_HINT
                ) from exc
            if status in (401, 403):
                raise CredentialsError(
                    f"{self._endpoint} refused access to bucket {self._bucket!r} (HTTP {status})",
                    CREDENTIALS_HINT,
                ) from exc
            raise classify(exc, where) from exc
        except (BotoCoreError, OSError) as exc:
            raise classify(exc, where) from exc

    # ------------------------------------------------------------------ reads

    def head(self, key: str) -> ObjectInfo | None:
        with translate(self._where("HeadObject", key)):
            try:
                response = self._client.head_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if http_status(exc) == 404:
                    return None
                raise
        meta = response.get("Metadata", {})  # botocore lower-cases the names
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            sha256=meta.get("sha256"),
            git_sha1=meta.get("git-sha1"),
        )

    def read(self, key: str) -> bytes | None:
        with translate(self._where("GetObject", key)):
            try:
                response = self._client.get_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if http_status(exc) == 404 or error_code(exc) == "NoSuchKey":
                    return None
                raise
            return response["Body"].read()

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        paginator = self._client.get_paginator("list_objects_v2")
        with translate(self._where("ListObjectsV2", prefix)):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(key=item["Key"], size=item["Size"])

    # ------------------------------------------------------------------ single PUT

    def put(self, key: str, body: memoryview, meta: ObjectMeta) -> None:
        headers = {
            "Content-Type": self._content_type(key),
            # The store hashes what it receives and refuses a mismatch (BadDigest), so a
            # corrupt body is never published.
            "x-amz-checksum-sha256": sha256_b64(meta.sha256),
            **{f"x-amz-meta-{name}": value for name, value in meta.to_headers().items()},
        }
        with translate(self._where("PutObject", key)):
            self._wire.put(key, body, headers)

    # ------------------------------------------------------------------ multipart

    def create_multipart(self, key: str, meta: ObjectMeta, part_size: int) -> str:
        # `part_size` is the engine's to keep (R2 checks equal parts at Complete); S3 has no
        # place for it. CRC32C is declared so the store keeps per-part checksums: R2 offers
        # it as COMPOSITE (the default type), SeaweedFS verifies it per part.
        with translate(self._where("CreateMultipartUpload", key)):
            response = self._client.create_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                ContentType=self._content_type(key),
                Metadata=meta.to_headers(),
                ChecksumAlgorithm="CRC32C",
            )
        return response["UploadId"]

    def part_checksum(self, body: memoryview) -> str:
        return crc32c_b64(body)

    def upload_part(self, key: str, upload_id: str, number: int, body: memoryview) -> PartInfo:
        checksum = crc32c_b64(body)
        with translate(self._where(f"UploadPart {number}", key)):
            response = self._wire.put(
                key,
                body,
                {"x-amz-checksum-crc32c": checksum},
                query={"partNumber": str(number), "uploadId": upload_id},
                operation="UploadPart",
            )
        etag = response.headers.get("etag")
        if not etag:  # Complete needs it; a proxy that strips it breaks multipart
            raise DestinationError(f"{self._where(f'UploadPart {number}', key)}: no ETag")
        return PartInfo(number=number, size=body.nbytes, etag=etag, checksum=checksum)

    # builtins.list: inside this class `list` names the method above.
    def list_parts(self, key: str, upload_id: str) -> builtins.list[PartInfo]:
        paginator = self._client.get_paginator("list_parts")
        parts: builtins.list[PartInfo] = []
        with translate(self._where("ListParts", key)):
            for page in paginator.paginate(Bucket=self._bucket, Key=key, UploadId=upload_id):
                parts.extend(
                    PartInfo(
                        number=p["PartNumber"],
                        size=p["Size"],
                        etag=p["ETag"],
                        # SeaweedFS lists no part checksums; R2 may. "" = unknown.
                        checksum=p.get("ChecksumCRC32C", ""),
                    )
                    for p in page.get("Parts", [])
                )
        return sorted(parts, key=lambda p: p.number)

    def complete(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> None:
        where = self._where("CompleteMultipartUpload", key)
        ordered = sorted(parts, key=lambda p: p.number)
        if missing := [p.number for p in ordered if not p.checksum]:
            # CRC32C was declared at Create, so AWS and SeaweedFS refuse a Complete without
            # every part's checksum (InvalidRequest). Pass the parts upload_part returned
            # (as recorded), not a listing, which may carry none.
            raise DestinationError(f"{where}: parts {missing} have no CRC32C to complete with")
        completed: builtins.list[CompletedPartTypeDef] = [
            {"PartNumber": p.number, "ETag": p.etag, "ChecksumCRC32C": p.checksum} for p in ordered
        ]
        try:
            self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": completed},
            )
        except (ClientError, BotoCoreError, OSError) as exc:
            error = classify(exc, where)
            # The answer was lost (timeout, reset, 5xx) or an earlier attempt whose answer
            # was lost already completed it (NoSuchUpload): the object may be there now.
            if isinstance(error, TransientError | UploadGone) and self._completed_anyway(
                key, upload_id, ordered
            ):
                log.info("%s: no answer, but the object is complete; carrying on", where)
                return
            raise error from exc

    def abort(self, key: str, upload_id: str) -> None:
        try:
            with translate(self._where("AbortMultipartUpload", key)):
                self._client.abort_multipart_upload(
                    Bucket=self._bucket, Key=key, UploadId=upload_id
                )
        except UploadGone:
            pass  # already aborted or expired: what abort wanted

    def list_uploads(self, prefix: str) -> Iterator[OpenUpload]:
        """ListMultipartUploads under `prefix`; idle since the newest part (ListParts) or start.

        One ListParts per open upload: there are few, and a live upload of a huge file may
        have been started days ago yet received a part a minute ago.
        """
        now = datetime.now(UTC)
        paginator = self._client.get_paginator("list_multipart_uploads")
        with translate(self._where("ListMultipartUploads", prefix)):
            pages = builtins.list(paginator.paginate(Bucket=self._bucket, Prefix=prefix))
        for page in pages:
            for upload in page.get("Uploads", []):
                key, upload_id = upload.get("Key"), upload.get("UploadId")
                if not key or not upload_id:
                    continue
                latest = upload.get("Initiated", now)
                try:
                    latest = max([latest, *self._part_times(key, upload_id)])
                except UploadGone:
                    continue  # finished or aborted since the listing
                yield OpenUpload(key, upload_id, max(0.0, (now - latest).total_seconds()))

    def _part_times(self, key: str, upload_id: str) -> builtins.list[datetime]:
        paginator = self._client.get_paginator("list_parts")
        with translate(self._where("ListParts", key)):
            return [
                part["LastModified"]
                for page in paginator.paginate(Bucket=self._bucket, Key=key, UploadId=upload_id)
                for part in page.get("Parts", [])
                if "LastModified" in part
            ]

    def delete(self, key: str) -> None:
        with translate(self._where("DeleteObject", key)):
            self._client.delete_object(Bucket=self._bucket, Key=key)

    # ------------------------------------------------------------------ helpers

    def _completed_anyway(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> bool:
        """Whether this upload became the object at `key` although Complete did not say so.

        Proof needed: the upload is gone (ListParts → NoSuchUpload), and the object has the
        upload's size and a multipart ETag of as many parts; when the store returns a
        composite CRC32C, it must equal ours. Any doubt → False, and the caller raises.
        """
        try:
            self.list_parts(key, upload_id)
            return False  # the upload still exists: Complete did not happen
        except UploadGone:
            pass
        except DestinationError:
            return False
        try:
            response = self._client.head_object(
                Bucket=self._bucket, Key=key, ChecksumMode="ENABLED"
            )
        except (ClientError, BotoCoreError, OSError):  # any failure means "not proven"
            return False
        return _matches_upload(response, parts)

    def _content_type(self, key: str) -> str:
        # R2 infers a type only on PutObject (not multipart): always send one (docs/r2.md §3).
        return self._mime.guess_type(key, strict=False)[0] or DEFAULT_CONTENT_TYPE

    def _where(self, operation: str, key: str) -> str:
        return f"{operation} s3://{self._bucket}/{key}"


def _matches_upload(head: Any, parts: Sequence[PartInfo]) -> bool:
    size = sum(p.size for p in parts)
    if head.get("ContentLength") != size:
        return False
    etag = str(head.get("ETag", "")).strip('"')
    if not etag.endswith(f"-{len(parts)}"):
        return False
    stored = head.get("ChecksumCRC32C")
    checksums = [p.checksum for p in parts]
    if stored and all(checksums):
        try:
            return bool(stored == composite_crc32c(checksums))
        except binascii.Error:
            return False
    return True


if TYPE_CHECKING:

    def _conforms(sink: S3Sink) -> ObjectSink:
        """mypy proves here that S3Sink implements the port."""
        return sink
