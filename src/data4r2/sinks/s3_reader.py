"""MirrorReader for a bucket: small reads and listings through the S3 sink's own boto3
client, and presigned GET URLs, so file bytes go from the bucket straight to the client
(the server only answers the Hub-style redirect; docs/mirror-api.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from ..domain import ObjectInfo
from .s3_errors import http_status, translate

if TYPE_CHECKING:
    from ..ports import MirrorReader
    from .s3 import S3Sink

_CHUNK = 1024 * 1024


class S3Reader:
    """Reads `sink`'s bucket with `sink`'s client (its endpoint, credentials and CA)."""

    def __init__(self, sink: S3Sink) -> None:
        self._sink = sink
        self._client = sink.client
        self._bucket = sink.bucket

    def read(self, key: str) -> bytes | None:
        with translate(f"GetObject {key}"):
            try:
                response = self._client.get_object(Bucket=self._bucket, Key=key)
            except ClientError as exc:
                if http_status(exc) == 404:
                    return None
                raise
            return response["Body"].read()

    def head(self, key: str) -> ObjectInfo | None:
        return self._sink.head(key)

    def keys(self, prefix: str) -> Iterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        with translate(f"ListObjectsV2 {prefix}"):
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield item["Key"]

    def link(self, key: str, *, expires_in: int) -> str:
        # Signing is local (no request): the URL carries the client's endpoint, so it works
        # for whoever can reach that endpoint — R2's public S3 host in production.
        with translate(f"presign {key}"):
            return self._client.generate_presigned_url(
                "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=expires_in
            )

    def stream(self, key: str, start: int, end: int) -> Iterator[bytes]:
        if end <= start:
            return
        with translate(f"GetObject {key}"):
            response = self._client.get_object(
                Bucket=self._bucket, Key=key, Range=f"bytes={start}-{end - 1}"
            )
            yield from response["Body"].iter_chunks(_CHUNK)


if TYPE_CHECKING:

    def _conforms(reader: S3Reader) -> MirrorReader:
        return reader
