"""A multipart attempt that fails lets none of its part uploads outlive it (issue 15, bug 2).

A retry of the file reuses the recorded upload: a part of the failed attempt still running
would race the retry's part of the same number. Real threads and real time: the part upload
is slow on purpose, because the bug is about what is still running when the attempt ends.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from doubles.memory_sink import MemorySink

from data4r2.domain import (
    PartInfo,
    RemoteFile,
    RepoRef,
    Snapshot,
    TransientError,
)
from data4r2.engine.buffers import BufferPool
from data4r2.engine.context import RunContext
from data4r2.engine.options import SyncOptions
from data4r2.engine.retry import RetryPolicy
from data4r2.engine.transfer import FileTransfer
from data4r2.state.memory import MemoryJobStore

from .hub_twin import Fault, MemoryHub

MiB = 1024**2
REPO = RepoRef("acme/model")
KEY = "models/acme/model/big.bin"
HOLD = 0.3  # how long a part upload keeps running after the download failed


class SlowPartSink:
    """A sink whose part uploads are slow: each holds until the download failed, then HOLD more.

    `log` orders part starts and ends against the moment the attempt raised.
    """

    def __init__(self, download_failed: threading.Event) -> None:
        self.inner = MemorySink()
        self.download_failed = download_failed
        self.lock = threading.Lock()
        self.running = 0
        self.log: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def note(self, what: str) -> None:
        with self.lock:
            self.log.append(what)

    def upload_part(self, key: str, upload_id: str, number: int, body: memoryview) -> PartInfo:
        with self.lock:
            self.running += 1
            self.log.append(f"start {number}")
        try:
            assert self.download_failed.wait(10), "the download never failed"
            threading.Event().wait(HOLD)  # a slow upload, still running after the failure
            return self.inner.upload_part(key, upload_id, number, body)
        finally:
            with self.lock:
                self.running -= 1
                self.log.append(f"end {number}")


class CutHub(MemoryHub):
    """Cuts the stream at a fault's offset and says when it did."""

    def __init__(self) -> None:
        super().__init__()
        self.cut = threading.Event()

    def open(self, repo: RepoRef, commit: str, file: RemoteFile, offset: int = 0) -> Any:
        stream = super().open(repo, commit, file, offset)
        read = stream.readinto

        def readinto(buf: memoryview) -> int:
            try:
                return read(buf)
            except TransientError:
                self.cut.set()
                raise

        stream.readinto = readinto
        return stream


def test_a_failed_download_waits_for_or_cancels_its_part_uploads() -> None:
    data = os.urandom(3 * 5 * MiB + 100)  # four parts of 5 MiB
    hub = CutHub()
    hub.add("big.bin", data, lfs=True)
    hub.faults["big.bin"] = [Fault("cut", at=11 * MiB)]  # inside part 3
    file = RemoteFile("big.bin", len(data), "0" * 40, hashlib.sha256(data).hexdigest())
    sink = SlowPartSink(hub.cut)
    store = MemoryJobStore()
    buffers = BufferPool(4 * 5 * MiB)
    # One uploader: part 1 runs (slowly) while part 2 waits in the queue.
    uploads = ThreadPoolExecutor(max_workers=1)
    ctx = RunContext(
        hub=hub,
        sink=sink,  # type: ignore[arg-type]
        store=store,
        destination="mem://test",
        options=SyncOptions(part_size=5 * MiB),
        emit=lambda event: None,
        buffers=buffers,
        uploads=uploads,
        policy=RetryPolicy(attempts=1),  # the cut fails the attempt at once
    )
    snap = Snapshot(REPO, hub.commit, (file,))
    try:
        with pytest.raises(TransientError):
            FileTransfer(ctx, snap, file, KEY).run()
        sink.note("raised")
        running_when_raised = sink.running
    finally:
        uploads.shutdown(wait=True)

    assert running_when_raised == 0, sink.log
    # Nothing of the attempt ran after it raised: part 1 landed before, part 2 never started.
    assert sink.log[-1] == "raised", sink.log
    assert "start 2" not in sink.log
    assert buffers._in_use == 0  # the cancelled part's buffer came back too
    record = store.upload("mem://test", KEY)
    assert record is not None and [p.number for p in record.parts] == [1]  # kept for a resume
