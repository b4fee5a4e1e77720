"""Copy one file Hub → sink: stream, verify before publishing, resume from recorded parts."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from typing import TypeVar

from ..domain import (
    BytesMoved,
    FileRetrying,
    IntegrityError,
    ObjectMeta,
    PartInfo,
    RemoteFile,
    Snapshot,
    UploadGone,
    UploadRecord,
)
from . import retry
from .context import RunContext
from .parts import choose_part_size, part_count, part_length
from .reader import ResumingReader
from .verify_bytes import FileHasher

T = TypeVar("T")


def _meta(snapshot: Snapshot, file: RemoteFile, sha256: str) -> ObjectMeta:
    return ObjectMeta(
        repo_id=snapshot.repo.repo_id,
        repo_type=snapshot.repo.repo_type.value,
        commit=snapshot.commit,
        path=file.path,
        sha256=sha256,
        git_sha1="" if file.is_lfs else file.git_sha1,
    )


class FileTransfer:
    """One attempt at one file. Raises on failure; the pool decides whether to try again."""

    def __init__(self, ctx: RunContext, snapshot: Snapshot, file: RemoteFile, key: str) -> None:
        self.ctx = ctx
        self.snapshot = snapshot
        self.file = file
        self.key = key

    # -- helpers ---------------------------------------------------------------------------

    def _retrying(self, attempt: int, err: BaseException) -> None:
        self.ctx.emit(FileRetrying(self.file.path, attempt, f"request retry: {err}"))

    def _call(self, fn: Callable[[], T]) -> T:
        return retry.call(fn, self.ctx.policy, self.ctx.sleep, self._retrying)

    def _reader(self, hasher: FileHasher) -> ResumingReader:
        ctx, snap, file = self.ctx, self.snapshot, self.file
        return ResumingReader(
            lambda offset: ctx.hub.open(snap.repo, snap.commit, file, offset),
            hasher,
            ctx.policy,
            ctx.cancel,
            ctx.sleep,
            self._retrying,
        )

    def uses_multipart(self) -> bool:
        # Non-LFS files stay single-PUT whatever their size (the Hub keeps them under 10 MB):
        # their sha256 is unknown until read, and multipart metadata is fixed at Create.
        return self.file.is_lfs and self.file.size > self.ctx.options.part_size

    def run(self) -> None:
        if self.uses_multipart():
            self._multipart()
        else:
            self._single()

    # -- one PUT ---------------------------------------------------------------------------

    def _single(self) -> None:
        ctx, size = self.ctx, self.file.size
        buf = ctx.buffers.acquire(size)
        try:
            view = memoryview(buf)[:size]
            hasher = FileHasher(self.file)
            reader = self._reader(hasher)
            try:
                reader.read_exact(view)
                reader.expect_end()
            finally:
                reader.close()
            sha256 = hasher.verify()  # before the object exists: a bad body is never published
            meta = _meta(self.snapshot, self.file, sha256)
            self._call(lambda: ctx.sink.put(self.key, view, meta))
            ctx.emit(BytesMoved(self.file.path, size))
        finally:
            ctx.buffers.release(buf, size)

    # -- multipart -------------------------------------------------------------------------

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
                record = None
            else:
                # Keep only parts the store still holds with the same ETag.
                parts = tuple(
                    p for p in record.parts if p.number in held and held[p.number].etag == p.etag
                )
                return UploadRecord(record.upload_id, record.part_size, identity, parts)
        part_size = choose_part_size(file.size, ctx.options.part_size, ctx.sink.limits)
        upload_id = self._call(lambda: ctx.sink.create_multipart(key, meta, part_size))
        record = UploadRecord(upload_id, part_size, identity)
        ctx.store.record_upload(ctx.destination, key, record)
        return record

    def _drop(self, record: UploadRecord) -> None:
        with contextlib.suppress(Exception):  # already gone or unreachable: it expires anyway
            self.ctx.sink.abort(self.key, record.upload_id)
        self.ctx.store.forget_upload(self.ctx.destination, self.key)

    def _multipart(self) -> None:
        ctx, file, key = self.ctx, self.file, self.key
        assert file.sha256 is not None  # multipart is for LFS files only (uses_multipart)
        meta = _meta(self.snapshot, file, file.sha256)
        record = self._open_upload(meta)
        part_size = record.part_size
        done = {p.number: p for p in record.parts}
        total = part_count(file.size, part_size)
        hasher = FileHasher(file)
        reader = self._reader(hasher)
        pending: list[Future[PartInfo]] = []
        failed = threading.Event()
        try:
            for number in range(1, total + 1):
                length = part_length(file.size, part_size, number)
                buf = ctx.buffers.acquire(length)
                handed_over = False
                try:
                    view = memoryview(buf)[:length]
                    # Every byte is read and hashed, recorded parts too: the whole-file sha256
                    # needs them, and re-reading proves a recorded part holds these very bytes.
                    reader.read_exact(view)
                    old = done.get(number)
                    if (
                        old is not None
                        and old.size == length
                        and ctx.sink.part_checksum(view) == old.checksum
                    ):
                        ctx.emit(BytesMoved(file.path, length))
                        continue
                    pending.append(
                        ctx.uploads.submit(
                            self._upload_part, record.upload_id, number, buf, length, failed
                        )
                    )
                    handed_over = True
                finally:
                    if not handed_over:
                        ctx.buffers.release(buf, length)
                if failed.is_set():
                    break
            if not failed.is_set():
                reader.expect_end()
        finally:
            reader.close()
        finished, _ = wait(pending, return_when=FIRST_EXCEPTION)
        for fut in finished:
            if fut.exception() is not None:
                wait(pending)  # let the others land and be recorded: a resume reuses them
                raise fut.exception()  # type: ignore[misc]
        for fut in pending:
            done[fut.result().number] = fut.result()
        try:
            hasher.verify()
        except IntegrityError:
            # The bytes read differ from the Hub's: every part of this upload is suspect.
            self._drop(record)
            raise
        parts = [done[n] for n in range(1, total + 1)]
        self._call(lambda: ctx.sink.complete(key, record.upload_id, parts))
        ctx.store.forget_upload(ctx.destination, key)

    def _upload_part(
        self, upload_id: str, number: int, buf: bytearray, length: int, failed: threading.Event
    ) -> PartInfo:
        ctx = self.ctx
        try:
            view = memoryview(buf)[:length]
            part = self._call(lambda: ctx.sink.upload_part(self.key, upload_id, number, view))
            ctx.store.record_part(ctx.destination, self.key, part)
            ctx.emit(BytesMoved(self.file.path, length))
            return part
        except BaseException:
            failed.set()
            raise
        finally:
            ctx.buffers.release(buf, length)
