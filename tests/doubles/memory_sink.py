"""An in-memory ObjectSink: the twin for unit tests and the strict R2 double.

No S3 server we can run enforces R2's rules (docs/r2.md §8, docs/testing.md §3), so this one
does, with R2's error codes in the messages, when `strict_r2` is on:

- non-trailing parts all the same size, the last not larger (checked at Complete);
- key ≤ 1,024 bytes, custom metadata ≤ 8,192 bytes;
- at most one write (PUT, Complete) per key per second, else a retryable 429; a write
  refused for another reason does not count. DELETE is a write on R2 too, but is not
  limited here (the engine deletes only for `sync --delete`, once per key);
- an unfinished upload is gone 7 days after it was created.

Always, whatever `strict_r2` says: the `limits` given (part sizes, part count, PUT size —
pass small ones to test with small files), PUT verified against `meta.sha256`, unknown or
aborted uploads raise UploadGone. Tests inject faults with `fail_next()` and read what
happened with `get()`, `objects`, `count()` and `calls`.
"""

from __future__ import annotations

import builtins
import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from data4r2.domain import (
    DestinationError,
    IntegrityError,
    ObjectInfo,
    ObjectMeta,
    OpenUpload,
    PartInfo,
    RateLimited,
    SinkLimits,
    UploadGone,
)
from data4r2.ports import ObjectSink
from data4r2.sinks.checksums import crc32c_b64

Op = Literal[
    "check",
    "head",
    "read",
    "list",
    "put",
    "create_multipart",
    "upload_part",
    "list_parts",
    "complete",
    "abort",
    "list_uploads",
    "delete",
]

T = TypeVar("T")

MAX_KEY_BYTES = 1024
MAX_METADATA_BYTES = 8192
UPLOAD_LIFETIME_S = 7 * 24 * 3600  # R2's default lifecycle rule aborts older uploads
WRITE_INTERVAL_S = 1.0  # R2: one write per key per second, else 429
EQUAL_PARTS = "InvalidPart: All non-trailing parts must have the same length"
R2_LIMITS = SinkLimits()


class StoreRejected(DestinationError):
    """A request R2 refuses outright (4xx): a bug to fix, not something to retry."""

    retryable = False

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


@dataclass(frozen=True, slots=True)
class SinkCall:
    """One call the sink received, for assertions; `ok` is False when it raised."""

    op: Op
    key: str
    number: int | None
    ok: bool


@dataclass(slots=True)
class _Fault:
    exc: Exception
    times: int
    key: str | None
    after: bool


@dataclass(slots=True)
class _Upload:
    key: str
    meta: ObjectMeta
    part_size: int
    created: float
    touched: float  # the clock at Create or at the last part received
    parts: dict[int, tuple[bytes, PartInfo]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Object:
    body: bytes
    meta: ObjectMeta


class MemorySink:
    """Objects in a dict, guarded by one lock; bodies are copied, never kept as views."""

    def __init__(
        self,
        limits: SinkLimits = R2_LIMITS,
        strict_r2: bool = True,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.strict_r2 = strict_r2
        self._clock = clock
        self._lock = threading.Lock()
        self._objects: dict[str, _Object] = {}
        self._uploads: dict[str, _Upload] = {}
        self._last_write: dict[str, float] = {}
        self._faults: dict[Op, builtins.list[_Fault]] = {}
        self._calls: builtins.list[SinkCall] = []

    # -- test hooks ------------------------------------------------------------------------

    def fail_next(
        self, op: Op, exc: Exception, times: int = 1, *, key: str | None = None, after: bool = False
    ) -> None:
        """Make the next `times` calls of `op` (on `key`, if given) raise `exc`.

        With `after=True` the call takes effect first and then raises: a response lost on
        the way back (e.g. a Complete that timed out but succeeded).
        """
        with self._lock:
            self._faults.setdefault(op, []).append(_Fault(exc, times, key, after))

    def get(self, key: str) -> bytes:
        """The stored body; KeyError when there is none."""
        with self._lock:
            return self._objects[key].body

    def meta(self, key: str) -> ObjectMeta:
        with self._lock:
            return self._objects[key].meta

    @property
    def objects(self) -> dict[str, bytes]:
        """A snapshot: key → body."""
        with self._lock:
            return {k: o.body for k, o in self._objects.items()}

    @property
    def open_uploads(self) -> dict[str, str]:
        """Unfinished uploads: upload id → key (to assert nothing was left behind)."""
        with self._lock:
            return {uid: u.key for uid, u in self._uploads.items()}

    @property
    def calls(self) -> builtins.list[SinkCall]:
        with self._lock:
            return builtins.list(self._calls)

    def count(
        self, op: Op, key: str | None = None, *, number: int | None = None, ok: bool | None = True
    ) -> int:
        """Calls of `op` (on `key`, for part `number`); by default only those that succeeded."""
        return sum(
            1
            for c in self.calls
            if c.op == op
            and (key is None or c.key == key)
            and (number is None or c.number == number)
            and (ok is None or c.ok == ok)
        )

    def _take_fault(self, op: Op, key: str, after: bool) -> Exception | None:
        with self._lock:
            for fault in self._faults.get(op, []):
                if fault.after == after and fault.times > 0 and fault.key in (None, key):
                    fault.times -= 1
                    return fault.exc
        return None

    def _call(self, op: Op, key: str, fn: Callable[[], T], number: int | None = None) -> T:
        """Run one operation: injected faults before/after, and the call recorded."""
        try:
            if (exc := self._take_fault(op, key, after=False)) is not None:
                raise exc
            result = fn()
        except Exception:
            with self._lock:
                self._calls.append(SinkCall(op, key, number, ok=False))
            raise
        with self._lock:
            self._calls.append(SinkCall(op, key, number, ok=True))
        if (exc := self._take_fault(op, key, after=True)) is not None:
            raise exc
        return result

    # -- rules -----------------------------------------------------------------------------

    def _check_key_and_meta(self, key: str, meta: ObjectMeta) -> None:
        if not self.strict_r2:
            return
        if len(key.encode()) > MAX_KEY_BYTES:
            raise StoreRejected("InvalidObjectName", f"key longer than {MAX_KEY_BYTES} bytes")
        size = sum(len(k.encode()) + len(v.encode()) for k, v in meta.to_headers().items())
        if size > MAX_METADATA_BYTES:
            raise StoreRejected("MetadataTooLarge", f"{size} bytes of metadata, over 8,192")

    def _check_write_rate(self, key: str, now: float) -> None:
        """Called with the lock held, just before a write lands."""
        last = self._last_write.get(key)
        if self.strict_r2 and last is not None and now - last < WRITE_INTERVAL_S:
            raise RateLimited(f"the store (TooManyRequests: one write per second to {key})", None)

    def _upload(self, key: str, upload_id: str) -> _Upload:
        """Called with the lock held."""
        up = self._uploads.get(upload_id)
        if up is not None and self.strict_r2 and self._clock() - up.created > UPLOAD_LIFETIME_S:
            del self._uploads[upload_id]
            up = None
        if up is None or up.key != key:
            raise UploadGone(f"NoSuchUpload: no multipart upload {upload_id} for {key!r}")
        return up

    def _check_layout(self, sizes: builtins.list[int]) -> None:
        for size in sizes[:-1]:
            if size < self.limits.min_part_size:
                raise StoreRejected("EntityTooSmall", f"a non-trailing part has {size} bytes")
        if self.strict_r2 and sizes and (len(set(sizes[:-1])) > 1 or sizes[-1] > sizes[0]):
            raise StoreRejected("InvalidPart", EQUAL_PARTS.removeprefix("InvalidPart: "))

    # -- ObjectSink ------------------------------------------------------------------------

    def describe(self) -> str:
        return "memory" + (" (strict R2 rules)" if self.strict_r2 else "")

    def check(self) -> None:
        self._call("check", "", lambda: None)

    def head(self, key: str) -> ObjectInfo | None:
        def run() -> ObjectInfo | None:
            with self._lock:
                obj = self._objects.get(key)
            if obj is None:
                return None
            return ObjectInfo(key, len(obj.body), obj.meta.sha256, obj.meta.git_sha1 or None)

        return self._call("head", key, run)

    def read(self, key: str) -> bytes | None:
        def run() -> bytes | None:
            with self._lock:
                obj = self._objects.get(key)
            return None if obj is None else obj.body

        return self._call("read", key, run)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Sorted like S3; no hashes, as an S3 listing carries no metadata."""

        def run() -> builtins.list[ObjectInfo]:
            with self._lock:
                return [
                    ObjectInfo(k, len(self._objects[k].body))
                    for k in sorted(self._objects)
                    if k.startswith(prefix)
                ]

        return iter(self._call("list", prefix, run))

    def put(self, key: str, body: memoryview, meta: ObjectMeta) -> None:
        """Verifies the body against `meta.sha256` (R2: x-amz-checksum-sha256 → BadDigest)."""

        def run() -> None:
            self._check_key_and_meta(key, meta)
            if len(body) > self.limits.max_single_put:
                raise StoreRejected("EntityTooLarge", f"a PUT of {len(body)} bytes")
            data = bytes(body)
            if hashlib.sha256(data).hexdigest() != meta.sha256:
                raise IntegrityError(f"BadDigest: {key}: the body does not match its sha256")
            with self._lock:
                now = self._clock()
                self._check_write_rate(key, now)
                self._objects[key] = _Object(data, meta)
                self._last_write[key] = now

        self._call("put", key, run)

    def delete(self, key: str) -> None:
        def run() -> None:
            with self._lock:
                self._objects.pop(key, None)

        self._call("delete", key, run)

    def create_multipart(self, key: str, meta: ObjectMeta, part_size: int) -> str:
        def run() -> str:
            self._check_key_and_meta(key, meta)
            upload_id = uuid.uuid4().hex
            with self._lock:
                now = self._clock()
                self._uploads[upload_id] = _Upload(key, meta, part_size, now, now)
            return upload_id

        return self._call("create_multipart", key, run)

    def part_checksum(self, body: memoryview) -> str:
        return crc32c_b64(body)

    def upload_part(self, key: str, upload_id: str, number: int, body: memoryview) -> PartInfo:
        """Checks the part number and the maximum size; records the part's CRC32C."""

        def run() -> PartInfo:
            if not 1 <= number <= self.limits.max_parts:
                raise StoreRejected("InvalidArgument", f"part number {number} out of range")
            if len(body) > self.limits.max_part_size:
                raise StoreRejected("EntityTooLarge", f"part {number} has {len(body)} bytes")
            data = bytes(body)
            # S3's part ETag is the body's MD5 (an identifier here, not a security check).
            etag = f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"'
            info = PartInfo(number, len(data), etag, crc32c_b64(data))
            with self._lock:
                up = self._upload(key, upload_id)
                up.parts[number] = (data, info)
                up.touched = self._clock()
            return info

        return self._call("upload_part", key, run, number)

    def list_parts(self, key: str, upload_id: str) -> builtins.list[PartInfo]:
        def run() -> builtins.list[PartInfo]:
            with self._lock:
                up = self._upload(key, upload_id)
                return [up.parts[n][1] for n in sorted(up.parts)]

        return self._call("list_parts", key, run)

    def complete(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> None:
        """Like R2: listed parts must match what was uploaded, then the layout rules apply."""

        def run() -> None:
            with self._lock:
                up = self._upload(key, upload_id)
                numbers = sorted(p.number for p in parts)  # R2 sorts the list itself
                if not numbers or len(set(numbers)) != len(numbers):
                    raise StoreRejected("MalformedXML", "no parts, or a part listed twice")
                chunks = []
                for p in sorted(parts, key=lambda p: p.number):
                    held = up.parts.get(p.number)
                    if held is None or held[1].etag.strip('"') != p.etag.strip('"'):
                        raise StoreRejected("InvalidPart", f"part {p.number} was not uploaded")
                    chunks.append(held[0])
                self._check_layout([len(c) for c in chunks])
                now = self._clock()
                self._check_write_rate(key, now)
                self._objects[key] = _Object(b"".join(chunks), up.meta)
                self._last_write[key] = now
                del self._uploads[upload_id]

        self._call("complete", key, run)

    def abort(self, key: str, upload_id: str) -> None:
        def run() -> None:
            with self._lock:
                self._upload(key, upload_id)
                del self._uploads[upload_id]

        self._call("abort", key, run)

    def list_uploads(self, prefix: str) -> Iterator[OpenUpload]:
        def run() -> builtins.list[OpenUpload]:
            with self._lock:
                now = self._clock()
                return [
                    OpenUpload(up.key, uid, now - up.touched)
                    for uid, up in sorted(self._uploads.items(), key=lambda i: i[1].key)
                    if up.key.startswith(prefix)
                    and not (self.strict_r2 and now - up.created > UPLOAD_LIFETIME_S)
                ]

        return iter(self._call("list_uploads", prefix, run))


def _conforms(sink: MemorySink) -> ObjectSink:  # mypy proves MemorySink implements the port
    return sink
