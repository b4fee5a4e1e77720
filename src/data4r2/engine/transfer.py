"""Copy one file Hub → sink: one verified PUT, or a multipart upload (multipart.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..domain import BytesMoved, FileRetrying, ObjectMeta, RemoteFile, Snapshot
from . import retry
from .context import RunContext
from .multipart import MultipartCopy
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

    # -- multipart ------------------------------------------------------------------------

    def _multipart(self) -> None:
        assert self.file.sha256 is not None  # multipart is for LFS files only (uses_multipart)
        hasher = FileHasher(self.file, resumable=True)
        MultipartCopy(
            self.ctx,
            self.file,
            self.key,
            call=self._call,
            reader=self._reader(hasher),
            hasher=hasher,
        ).run(_meta(self.snapshot, self.file, self.file.sha256))
