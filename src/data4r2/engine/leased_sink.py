"""A sink that lets one job write only while its lease holds: nothing published after a loss.

The pool's renewer sets `lost` when a renewal fails (lease expired and taken, sync cancelled),
but only every lease/3 seconds. So every write that sends bytes — CreateMultipartUpload, each
part, a single PUT, CompleteMultipartUpload — first renews the lease in the store (one small
write per part of ≥ 5 MiB): a cancelled job stops at its next part boundary, however long
its read was stalled when the cancel came, and an object is only ever published by the job's
current holder (issue 15 bug 6) — the per-object lease in the store is what stops two runs
from racing for one key. The store's renew and cancel are each one atomic update, so a renew
after the cancel fails. What no check can stop is a publishing request already sent when the
cancel lands: that one may still complete.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterator, Sequence

from ..domain import LeaseLost, ObjectInfo, ObjectMeta, OpenUpload, PartInfo
from ..ports import ObjectSink


class LeasedSink:
    """`ObjectSink` for one leased job: writes pass through while the lease holds."""

    def __init__(
        self, inner: ObjectSink, lost: threading.Event, confirm: Callable[[], None]
    ) -> None:
        self._inner = inner
        self._lost = lost
        self._confirm = confirm  # renews the lease now; raises LeaseLost if it is gone
        self.limits = inner.limits

    def _check(self) -> None:
        if self._lost.is_set():
            raise LeaseLost("the job's lease was lost: stopping before the next write")

    def _confirmed(self) -> None:
        self._check()
        try:
            self._confirm()
        except LeaseLost:
            self._lost.set()
            raise

    # -- writes: guarded ------------------------------------------------------------------

    def put(self, key: str, body: memoryview, meta: ObjectMeta) -> None:
        self._confirmed()
        self._inner.put(key, body, meta)

    def create_multipart(self, key: str, meta: ObjectMeta, part_size: int) -> str:
        self._confirmed()
        return self._inner.create_multipart(key, meta, part_size)

    def upload_part(self, key: str, upload_id: str, number: int, body: memoryview) -> PartInfo:
        self._confirmed()
        return self._inner.upload_part(key, upload_id, number, body)

    def complete(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> None:
        self._confirmed()
        self._inner.complete(key, upload_id, parts)

    def delete(self, key: str) -> None:
        self._check()
        self._inner.delete(key)

    # -- reads and clean-up: unguarded ----------------------------------------------------

    def describe(self) -> str:
        return self._inner.describe()

    def check(self) -> None:
        self._inner.check()

    def head(self, key: str) -> ObjectInfo | None:
        return self._inner.head(key)

    def read(self, key: str) -> bytes | None:
        return self._inner.read(key)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        return self._inner.list(prefix)

    def list_uploads(self, prefix: str) -> Iterator[OpenUpload]:
        return self._inner.list_uploads(prefix)

    def part_checksum(self, body: memoryview) -> str:
        return self._inner.part_checksum(body)

    def list_parts(self, key: str, upload_id: str) -> builtins.list[PartInfo]:
        return self._inner.list_parts(key, upload_id)

    def abort(self, key: str, upload_id: str) -> None:
        self._inner.abort(key, upload_id)
