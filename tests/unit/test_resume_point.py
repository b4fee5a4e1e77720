"""A resumed multipart file continues its sha256 from the last recorded part (issue 13, item 1).

The saved sha256 state is checked against hashlib; the engine, driven with in-memory
twins, must open the Hub at the first byte after the recorded parts, still verify the whole
file, never trust a state whose parts were replaced since, and fall back to re-reading from
byte 0 where libcrypto's SHA256_* functions are missing.
"""

from __future__ import annotations

import ctypes.util
import dataclasses
import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from doubles.memory_sink import MemorySink

from data4r2.domain import IntegrityError, PartInfo, RemoteFile, RepoRef, Snapshot, TransientError
from data4r2.engine import resume_point, sha256_midstate
from data4r2.engine.buffers import BufferPool
from data4r2.engine.context import RunContext
from data4r2.engine.options import SyncOptions
from data4r2.engine.retry import RetryPolicy
from data4r2.engine.sha256_midstate import Sha256Midstate
from data4r2.engine.transfer import FileTransfer
from data4r2.state.memory import MemoryJobStore

from .hub_twin import Fault, MemoryHub

MiB = 1024**2
PART = 5 * MiB
DEST = "mem://test"
KEY = "models/acme/model/big.bin"
DATA = os.urandom(4 * PART + 1234)  # five parts, the last short
FILE = RemoteFile("big.bin", len(DATA), "0" * 40, hashlib.sha256(DATA).hexdigest())


# ------------------------------------------------------------------------- the sha256 state


@pytest.mark.parametrize("split", [0, 64, 4096, 1024**2, 1024**2 + 640])
def test_a_saved_state_continues_to_hashlibs_digest(split: int) -> None:
    data = os.urandom(2 * 1024**2 + 17)
    first = Sha256Midstate()
    first.update(memoryview(bytearray(data[:split])))  # writable: hashed in place
    state = first.save()

    resumed = Sha256Midstate.restore(state)
    resumed.update(memoryview(data[split:]))  # read-only: hashed from a copy

    assert resumed.nbytes == len(data)
    assert resumed.hexdigest() == hashlib.sha256(data).hexdigest()
    assert first.hexdigest() == hashlib.sha256(data[:split]).hexdigest()  # still usable


def test_a_state_is_saved_only_at_a_block_boundary_and_restored_only_from_one() -> None:
    h = Sha256Midstate()
    h.update(memoryview(b"x" * 100))
    with pytest.raises(ValueError, match="64-byte"):
        h.save()
    with pytest.raises(ValueError, match="not a saved sha256 state"):
        Sha256Midstate.restore(b"\x01" + b"\x00" * 10)
    good = Sha256Midstate().save()
    with pytest.raises(ValueError, match="not a saved sha256 state"):
        Sha256Midstate.restore(b"\x09" + good[1:])  # an unknown format version


@pytest.fixture
def no_libcrypto(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Probe again with a library that has no SHA256_* symbols (libc), as on a Python built
    without OpenSSL's low-level API."""
    libc = ctypes.util.find_library("c")
    assert libc is not None
    monkeypatch.setattr(sha256_midstate, "_loaded_libcrypto_path", lambda: libc)
    monkeypatch.setattr(sha256_midstate, "_probed", False)
    monkeypatch.setattr(sha256_midstate, "_lib", None)
    yield
    monkeypatch.setattr(sha256_midstate, "_probed", False)  # the next user probes for real


def test_missing_symbols_make_it_unavailable_not_an_error(no_libcrypto: None) -> None:
    assert not sha256_midstate.available()
    with pytest.raises(RuntimeError, match="not available"):
        Sha256Midstate()


# ------------------------------------------------------------------------- the engine


class Run:
    """One FileTransfer of DATA over in-memory twins sharing a store and a sink."""

    def __init__(self) -> None:
        self.hub = MemoryHub()
        self.hub.add(FILE.path, DATA, lfs=True)
        self.sink = MemorySink()
        self.store = MemoryJobStore()

    def attempt(self, file: RemoteFile = FILE, *, cut_at: int | None = None) -> None:
        if cut_at is not None:
            self.hub.faults[file.path] = [Fault("cut", at=cut_at)]
        uploads = ThreadPoolExecutor(max_workers=2)
        ctx = RunContext(
            hub=self.hub,
            sink=self.sink,
            store=self.store,
            destination=DEST,
            options=SyncOptions(part_size=PART),
            emit=lambda event: None,
            buffers=BufferPool(4 * PART),
            uploads=uploads,
            policy=RetryPolicy(attempts=1),  # a cut fails the attempt at once
        )
        try:
            FileTransfer(
                ctx, Snapshot(RepoRef("acme/model"), self.hub.commit, (file,)), file, KEY
            ).run()
        finally:
            uploads.shutdown(wait=True)

    def parts(self) -> tuple[PartInfo, ...]:
        record = self.store.upload(DEST, KEY)
        assert record is not None
        return record.parts

    def cut_after_two_parts(self) -> int:
        """Cut the Hub's stream just inside part 3; how many leading parts were recorded (2,
        or 1 when part 2's upload had not started when the cut came: it is then dropped)."""
        with pytest.raises(TransientError):
            self.attempt(cut_at=2 * PART + 100)
        recorded = [p.number for p in self.parts()]
        assert recorded in ([1, 2], [1])
        self.hub.opens.clear()
        return len(recorded)


def test_a_resume_opens_the_hub_after_the_recorded_parts_and_verifies() -> None:
    run = Run()
    recorded = run.cut_after_two_parts()
    assert all(p.hash_state is not None for p in run.parts())

    run.attempt()

    assert run.hub.opens == [(FILE.path, recorded * PART)]  # only the tail
    assert run.sink.get(KEY) == DATA
    assert run.store.upload(DEST, KEY) is None
    parts_sent = [c.number for c in run.sink.calls if c.op == "upload_part"]
    assert sorted(parts_sent) == [1, 2, 3, 4, 5]  # 1 and 2 once, in the first attempt


def test_a_state_whose_earlier_part_was_replaced_is_not_used() -> None:
    """Parts finish out of order: part 2's state must not be trusted over a part 1 that is
    not the part 1 its state was computed after."""
    run = Run()
    run.cut_after_two_parts()
    p1 = run.parts()[0]
    run.store.record_part(DEST, KEY, dataclasses.replace(p1, checksum="AAAAAA==", hash_state=None))

    assert resume_point.find({p.number: p for p in run.parts()}, 5).parts == 0

    run.attempt()

    assert run.hub.opens == [(FILE.path, 0)]  # from the first byte, not from part 2's state
    assert run.sink.get(KEY) == DATA


def test_a_state_that_does_not_match_the_hub_is_caught_by_the_whole_file_check() -> None:
    run = Run()
    run.cut_after_two_parts()
    p2 = run.parts()[-1]
    assert p2.hash_state is not None
    forged = bytearray(p2.hash_state)
    forged[1] ^= 0xFF  # a chaining word of the sha256 state
    run.store.record_part(DEST, KEY, dataclasses.replace(p2, hash_state=bytes(forged)))

    with pytest.raises(IntegrityError, match="sha256"):
        run.attempt()
    assert KEY not in run.sink.objects  # nothing unverified became visible
    assert run.store.upload(DEST, KEY) is None  # and the suspect upload is gone

    run.attempt()  # the retry starts over from byte 0
    assert run.hub.opens[-1] == (FILE.path, 0)
    assert run.sink.get(KEY) == DATA


def test_a_damaged_state_record_means_reading_from_the_first_byte() -> None:
    """A state that is not one (wrong length inside, unknown version) is not an error: the
    resume proves the recorded parts by reading them again, as before."""
    run = Run()
    run.cut_after_two_parts()
    p2 = run.parts()[-1]
    assert p2.hash_state is not None
    damaged = b"\x09" + p2.hash_state[1:]  # an unknown format version, same chain digest
    run.store.record_part(DEST, KEY, dataclasses.replace(p2, hash_state=damaged))

    run.attempt()

    assert run.hub.opens == [(FILE.path, 0)]
    assert run.sink.get(KEY) == DATA


def test_without_libcrypto_a_resume_reads_from_the_first_byte(no_libcrypto: None) -> None:
    run = Run()
    run.cut_after_two_parts()
    assert {p.hash_state for p in run.parts()} == {None}

    run.attempt()

    assert run.hub.opens == [(FILE.path, 0)]  # today's path: every byte read again
    assert run.sink.get(KEY) == DATA
    sent = [c.number for c in run.sink.calls if c.op == "upload_part"]
    assert sent.count(1) == 1 and sent.count(2) == 1  # recorded parts proven, not re-sent


def test_every_part_recorded_then_killed_before_complete_needs_no_hub_bytes() -> None:
    """A file of whole parts: the last part's state covers the whole file, so the resume
    completes from the records alone — and still checks the sha256 first."""
    data = os.urandom(2 * PART)
    file = RemoteFile("even.bin", len(data), "0" * 40, hashlib.sha256(data).hexdigest())
    run = Run()
    run.hub.add(file.path, data, lfs=True)
    run.sink.fail_next("complete", TransientError("killed before Complete"))
    with pytest.raises(TransientError):
        run.attempt(file)
    assert all(p.hash_state is not None for p in run.parts())
    run.hub.opens.clear()

    run.attempt(file)

    assert run.hub.opens == []
    assert run.sink.get(KEY) == data
