"""Copy one large file as a multipart upload: read parts in order, upload them in parallel.

`transfer.py` decides single PUT or multipart; everything about parts lives here: reusing a
recorded upload, where a resume starts reading (resume_point.py), proving recorded parts
read again, the parts in flight, Complete.
(Parallel ranged downloads, one GET per part in flight, belong here too when they come.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, wait

from ..domain import (
    BytesMoved,
    IntegrityError,
    ObjectMeta,
    PartInfo,
    RemoteFile,
    UploadGone,
    UploadRecord,
)
from . import resume_point
from .context import RunContext
from .parts import choose_part_size, part_count, part_length
from .reader import ResumingReader
from .resume_point import ChecksumChain, ResumePoint
from .retry import Caller
from .verify_bytes import FileHasher


class PartsInFlight:
    """The part uploads of one attempt: none of them may outlive it.

    A retry of the file reuses the same recorded upload, so a part of this attempt still
    running when the retry starts would race the retry's own part of that number. Every way
    out of an attempt therefore goes through `settle` (all read; a part may have failed) or
    `abandon` (reading failed or was cancelled).
    """

    def __init__(
        self, ctx: RunContext, upload: Callable[[int, memoryview, bytes | None], PartInfo]
    ) -> None:
        self._ctx = ctx
        self._upload = upload
        self._futures: dict[Future[PartInfo], tuple[bytearray, int]] = {}
        self.failed = threading.Event()  # a part failed: stop reading at the next boundary

    def submit(
        self, number: int, buf: bytearray, length: int, hash_state: bytes | None = None
    ) -> None:
        """Upload `buf[:length]` as part `number` (recorded with `hash_state`); the buffer
        is released when it is done."""
        future = self._ctx.uploads.submit(self._run, number, buf, length, hash_state)
        self._futures[future] = (buf, length)

    def _run(self, number: int, buf: bytearray, length: int, hash_state: bytes | None) -> PartInfo:
        try:
            return self._upload(number, memoryview(buf)[:length], hash_state)
        except BaseException:
            self.failed.set()
            raise
        finally:
            self._ctx.buffers.release(buf, length)

    def settle(self) -> list[PartInfo]:
        """Wait for every part; raise the first failure once all have landed.

        The others are waited for even after a failure: each is recorded as it lands, and a
        resume reuses recorded parts.
        """
        futures = list(self._futures)
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        if any(f.exception() is not None for f in done):
            wait(futures)
        for future in futures:
            if future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return [f.result() for f in futures]

    def abandon(self) -> None:
        """The attempt failed: drop parts not started yet, wait for the running ones."""
        for future, (buf, length) in self._futures.items():
            if future.cancel():  # never ran, so `_run` will not release its buffer
                self._ctx.buffers.release(buf, length)
        wait(self._futures)


class MultipartCopy:
    """One attempt at one file through a multipart upload. Raises on failure."""

    def __init__(
        self,
        ctx: RunContext,
        file: RemoteFile,
        key: str,
        *,
        call: Caller,
        reader: ResumingReader,
        hasher: FileHasher,
    ) -> None:
        self.ctx = ctx
        self.file = file
        self.key = key
        self._call = call
        self._reader = reader  # hashes every byte it reads into `hasher`
        self._hasher = hasher

    def run(self, meta: ObjectMeta) -> None:
        ctx, file, key = self.ctx, self.file, self.key
        record = self._open_upload(meta)
        total = part_count(file.size, record.part_size)
        done = {p.number: p for p in record.parts}
        start = self._resume_point(record, done)
        parts = PartsInFlight(
            ctx, lambda n, body, state: self._upload_part(record.upload_id, n, body, state)
        )
        try:
            try:
                self._read_parts(record, done, parts, start)
            finally:
                self._reader.close()
        except BaseException:
            # Stop reading, let no part of this attempt outlive it, then report the failure.
            parts.abandon()
            raise
        for part in parts.settle():
            done[part.number] = part
        try:
            self._hasher.verify()
        except IntegrityError:
            # The bytes read differ from the Hub's: every part of this upload is suspect.
            self._drop(record)
            raise
        ordered = [done[n] for n in range(1, total + 1)]
        self._call(lambda: ctx.sink.complete(key, record.upload_id, ordered))
        ctx.store.forget_upload(ctx.destination, key)

    def _resume_point(self, record: UploadRecord, done: dict[int, PartInfo]) -> ResumePoint:
        """Skip the leading recorded parts whose saved hash state belongs to them: hashing
        continues from that state and the Hub is asked only for the bytes after them."""
        nothing = ResumePoint(0, None, ChecksumChain())
        if not self._hasher.resumable:
            return nothing  # hashlib only (no libcrypto): every byte is read again
        point = resume_point.find(done, part_count(self.file.size, record.part_size))
        if point.sha256_state is None:
            return nothing
        offset = point.parts * record.part_size
        try:
            self._hasher.restore(point.sha256_state, offset)
        except ValueError:
            return nothing  # a damaged record: read from the first byte, proving parts by CRC
        self._reader.start_at(offset)
        self.ctx.emit(BytesMoved(self.file.path, offset))
        return point

    def _read_parts(
        self,
        record: UploadRecord,
        done: dict[int, PartInfo],
        parts: PartsInFlight,
        start: ResumePoint,
    ) -> None:
        ctx, file = self.ctx, self.file
        chain = start.chain
        for number in range(start.parts + 1, part_count(file.size, record.part_size) + 1):
            if parts.failed.is_set():
                return  # settle() raises the part's error
            length = part_length(file.size, record.part_size, number)
            buf = ctx.buffers.acquire(length)
            handed_over = False
            try:
                view = memoryview(buf)[:length]
                # Every byte after the resume point is read and hashed, recorded parts too:
                # the whole-file sha256 needs them, and re-reading proves a recorded part
                # holds these very bytes.
                self._reader.read_exact(view)
                old = done.get(number)
                checksum = ctx.sink.part_checksum(view) if self._hasher.resumable or old else ""
                chain.add(checksum)
                state = chain.seal(self._hasher.save())
                if old is not None and self._recorded(old, length, checksum):
                    if state is not None and old.hash_state != state:
                        # Proven by its checksum: give it this attempt's state for next time.
                        ctx.store.record_part(
                            ctx.destination, self.key, dataclasses.replace(old, hash_state=state)
                        )
                    ctx.emit(BytesMoved(file.path, length))
                    continue
                parts.submit(number, buf, length, state)
                handed_over = True  # the upload releases it
            finally:
                if not handed_over:
                    ctx.buffers.release(buf, length)
        if not parts.failed.is_set():
            self._reader.expect_end()

    @staticmethod
    def _recorded(old: PartInfo, length: int, checksum: str) -> bool:
        """This part is already stored with exactly these bytes (checked by its checksum)."""
        return old.size == length and checksum == old.checksum

    def _upload_part(
        self, upload_id: str, number: int, body: memoryview, hash_state: bytes | None
    ) -> PartInfo:
        ctx = self.ctx
        part = self._call(lambda: ctx.sink.upload_part(self.key, upload_id, number, body))
        part = dataclasses.replace(part, hash_state=hash_state)
        ctx.store.record_part(ctx.destination, self.key, part)
        ctx.emit(BytesMoved(self.file.path, len(body)))
        return part

    def _open_upload(self, meta: ObjectMeta) -> UploadRecord:
        """The recorded upload for this exact content if the store still has it, else a new one."""
        ctx, file, key = self.ctx, self.file, self.key
        identity = file.sha256 or file.git_sha1
        record = ctx.store.upload(ctx.destination, key)
        if record is not None and record.identity != identity:
            self._drop(record)
            record = None
        if record is not None:
            rec_id = record.upload_id
            try:
                held = {p.number: p for p in self._call(lambda: ctx.sink.list_parts(key, rec_id))}
            except UploadGone:
                ctx.store.forget_upload(ctx.destination, key)
            else:
                # Keep only parts the store still holds with the same ETag.
                kept = tuple(
                    p for p in record.parts if p.number in held and held[p.number].etag == p.etag
                )
                return UploadRecord(record.upload_id, record.part_size, identity, kept)
        part_size = choose_part_size(file.size, ctx.options.part_size, ctx.sink.limits)
        upload_id = self._call(lambda: ctx.sink.create_multipart(key, meta, part_size))
        record = UploadRecord(upload_id, part_size, identity)
        ctx.store.record_upload(ctx.destination, key, record)
        return record

    def _drop(self, record: UploadRecord) -> None:
        with contextlib.suppress(Exception):  # already gone or unreachable: it expires anyway
            self.ctx.sink.abort(self.key, record.upload_id)
        self.ctx.store.forget_upload(self.ctx.destination, self.key)
