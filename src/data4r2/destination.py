"""Parse `--dest` into where the mirror goes: an R2 or S3 bucket prefix, or a local folder.

Pure: no network, no file system access — the same text and environment give the same
`Destination`, whose `id` keys the resumable state.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote, urlsplit

from .domain import InvalidDestination, UnsafePath, safe_relative_path

JURISDICTIONS = ("eu", "fedramp", "us")
# docs/r2.md §1: 3–63 characters of [a-z0-9-], alphanumeric at both ends.
_R2_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
# S3's general-purpose rule adds dots (MinIO and SeaweedFS follow it).
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # 2+ letters, so `C:\…` is no scheme
_FORMS = "use r2://bucket[/prefix], s3://bucket[/prefix], a folder path or file:///abs/path"


class Kind(StrEnum):
    R2 = "r2"
    S3 = "s3"
    FOLDER = "folder"


@dataclass(frozen=True, slots=True)
class Destination:
    """Where objects go. For buckets `endpoint_url` None means AWS's regional default."""

    kind: Kind
    bucket: str = ""
    prefix: str = ""  # no leading or trailing '/'; '' for the bucket root and for folders
    endpoint_url: str | None = None
    root: Path | None = None  # folders only, absolute

    @property
    def is_bucket(self) -> bool:
        return self.kind is not Kind.FOLDER

    @property
    def id(self) -> str:
        """A stable key for the state store: the same physical place gives the same id.

        r2://b and s3://b at R2's endpoint are one bucket, so both ids use the s3:// form.
        """
        if self.root is not None:
            return self.root.as_uri()
        path = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"s3://{path}@{self.endpoint_url or 'aws'}"

    def __str__(self) -> str:
        if self.root is not None:
            return str(self.root)
        path = f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket
        return f"{self.kind.value}://{path}"


def r2_endpoint(account_id: str, jurisdiction: str | None = None) -> str:
    """`https://<ACCOUNT_ID>[.<J>].r2.cloudflarestorage.com` (docs/r2.md §1)."""
    if not re.fullmatch(r"[A-Za-z0-9]{1,64}", account_id):
        raise InvalidDestination(
            f"R2_ACCOUNT_ID {account_id!r} is not an account id "
            "(the hex id shown in the Cloudflare dashboard's R2 overview)"
        )
    if jurisdiction is not None and jurisdiction not in JURISDICTIONS:
        raise InvalidDestination(
            f"R2_JURISDICTION {jurisdiction!r} is unknown: use one of {', '.join(JURISDICTIONS)}"
        )
    middle = f".{jurisdiction}" if jurisdiction else ""
    return f"https://{account_id.lower()}{middle}.r2.cloudflarestorage.com"


def _normal_endpoint(url: str, flag: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidDestination(f"{flag} {url!r} is not an http(s) URL")
    return f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def _bucket_and_prefix(text: str, scheme: str) -> tuple[str, str]:
    parts = urlsplit(text)
    if parts.query or parts.fragment:
        raise InvalidDestination(f"--dest {text!r}: no '?' or '#' parts allowed; {_FORMS}")
    bucket = parts.netloc
    rule = _R2_BUCKET if scheme == "r2" else _S3_BUCKET
    if not bucket:
        raise InvalidDestination(f"--dest {text!r} names no bucket; {_FORMS}")
    if not rule.match(bucket) or ".." in bucket:
        allowed = "a-z, 0-9, '-'" if scheme == "r2" else "a-z, 0-9, '-', '.'"
        raise InvalidDestination(
            f"bucket name {bucket!r} is invalid: 3-63 characters of {allowed}, "
            "starting and ending with a letter or digit"
        )
    prefix = unquote(parts.path).strip("/")
    if prefix:
        try:
            safe_relative_path(prefix)
        except UnsafePath as exc:
            raise InvalidDestination(f"unsafe prefix in --dest: {exc}") from None
    return bucket, prefix


def _folder(text: str, cwd: Path | None) -> Path:
    if "\0" in text:
        raise InvalidDestination("--dest folder path contains NUL")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (cwd if cwd is not None else Path.cwd()) / path
    # normpath, not resolve(): stay pure (no symlink lookups); the sink resolves at open.
    return Path(os.path.normpath(path))


def parse_destination(
    text: str | None,
    *,
    r2_account_id: str | None = None,
    r2_jurisdiction: str | None = None,
    endpoint_url: str | None = None,
    aws_endpoint_url: str | None = None,
    cwd: Path | None = None,
) -> Destination:
    """Parse `--dest`. `endpoint_url` is an explicit --endpoint-url (it overrides R2's endpoint,
    e.g. for a test double); `aws_endpoint_url` is AWS_ENDPOINT_URL(_S3), for s3:// only."""
    if text is None or not text.strip():
        raise InvalidDestination(f"missing --dest (or DATA4R2_DEST): {_FORMS}")
    text = text.strip()
    match = _SCHEME.match(text)
    scheme = match.group(1).lower() if match else ""

    if scheme == "file":
        parts = urlsplit(text)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            raise InvalidDestination(f"--dest {text!r}: only local file:///absolute/path URLs")
        path = unquote(parts.path)
        if not posixpath.isabs(path):
            raise InvalidDestination(f"--dest {text!r}: file:// needs an absolute path")
        return Destination(Kind.FOLDER, root=_folder(path, cwd))
    if not scheme:
        return Destination(Kind.FOLDER, root=_folder(text, cwd))
    if scheme not in ("r2", "s3") or not text[len(scheme) :].startswith("://"):
        raise InvalidDestination(f"--dest {text!r} is not a destination: {_FORMS}")

    bucket, prefix = _bucket_and_prefix(text, scheme)
    if endpoint_url:
        return Destination(
            Kind(scheme), bucket, prefix, _normal_endpoint(endpoint_url, "--endpoint-url")
        )
    if scheme == "r2":
        if not r2_account_id:
            raise InvalidDestination(
                "r2:// destinations need R2_ACCOUNT_ID: export R2_ACCOUNT_ID=<your Cloudflare "
                "account id> (or use s3:// with --endpoint-url)"
            )
        return Destination(Kind.R2, bucket, prefix, r2_endpoint(r2_account_id, r2_jurisdiction))
    endpoint = _normal_endpoint(aws_endpoint_url, "AWS_ENDPOINT_URL") if aws_endpoint_url else None
    return Destination(Kind.S3, bucket, prefix, endpoint)
