"""The event bus: every subscriber sees every event, none can break or slow the engine."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from data4r2 import app
from data4r2.cli.progress import Tally
from data4r2.domain import (
    BytesMoved,
    Event,
    FileDone,
    FileFailed,
    FileStarted,
    PlanReady,
    SyncFinished,
    SyncSummary,
)
from data4r2.engine.events import EventBus
from data4r2.settings import load_settings
from data4r2.state.memory import MemoryJobStore

from .hub_twin import MemoryHub

SUMMARY = SyncSummary(repo="model acme/m", commit="c" * 40, destination="mem")


class Gated:
    """A subscriber that blocks on its first event until `gate` opens: a stuck display."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.seen: list[Event] = []

    def __call__(self, event: Event) -> None:
        if not self.seen:
            assert self.gate.wait(10), "the test never opened the gate"
        self.seen.append(event)


def test_every_subscriber_gets_every_event_in_order() -> None:
    a: list[Event] = []
    b: list[Event] = []
    events: list[Event] = [FileStarted("x", 3, 1), FileDone("x", 3), SyncFinished(SUMMARY)]
    with EventBus() as bus:
        bus.subscribe(a.append)
        bus.subscribe(b.append)
        for event in events:
            bus.publish(event)
    assert a == events and b == events  # close() delivered everything before returning


def test_a_raising_subscriber_is_logged_and_isolated(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("display bug")

    with caplog.at_level(logging.WARNING, logger="data4r2.engine.events"), EventBus() as bus:
        bus.subscribe(broken)
        bus.subscribe(seen.append)
        bus.publish(FileStarted("x", 3, 1))  # publish itself never raises
        bus.publish(FileDone("x", 3))
    assert seen == [FileStarted("x", 3, 1), FileDone("x", 3)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "display bug" in warnings[0].getMessage()  # once, not per event


def test_a_stuck_subscriber_does_not_hold_up_publish_and_loses_no_byte() -> None:
    stuck, fast = Gated(), []
    with EventBus() as bus:
        bus.subscribe(stuck)
        bus.subscribe(fast.append)
        bus.publish(FileStarted("a", 0, 1))  # `stuck` now blocks on this one
        for _ in range(10_000):  # would hang here if publish waited for `stuck`
            bus.publish(BytesMoved("a", 1))
            bus.publish(BytesMoved("b", 2))
        bus.publish(FileDone("b", 20_000))
        bus.publish(FileFailed("a", "boom"))
        bus.publish(SyncFinished(SUMMARY))
        assert not stuck.gate.is_set() and len(stuck.seen) == 0
        stuck.gate.set()
    for seen in (stuck.seen, fast):
        assert sum(e.nbytes for e in seen if isinstance(e, BytesMoved)) == 30_000
    moved = [e for e in stuck.seen if isinstance(e, BytesMoved)]
    assert sum(e.nbytes for e in moved if e.path == "a") == 10_000
    assert sum(e.nbytes for e in moved if e.path == "b") == 20_000
    assert len(moved) == 2  # one per file while the subscriber was stuck
    others = [e for e in stuck.seen if not isinstance(e, BytesMoved)]
    assert others == [
        FileStarted("a", 0, 1),
        FileDone("b", 20_000),
        FileFailed("a", "boom"),
        SyncFinished(SUMMARY),
    ]
    # Progress is never moved across another event of its file.
    assert stuck.seen.index(moved[1]) < stuck.seen.index(FileDone("b", 20_000))


def test_progress_is_not_merged_across_a_retry_of_the_same_file() -> None:
    stuck = Gated()
    with EventBus() as bus:
        bus.subscribe(stuck)
        bus.publish(FileStarted("a", 9, 1))
        bus.publish(BytesMoved("a", 4))
        bus.publish(BytesMoved("a", 1))
        bus.publish(FileStarted("a", 9, 2))  # the retry starts again from zero
        bus.publish(BytesMoved("a", 5))
        bus.publish(BytesMoved("a", 4))
        bus.publish(FileDone("a", 9))
        stuck.gate.set()
    assert stuck.seen == [
        FileStarted("a", 9, 1),
        BytesMoved("a", 5),
        FileStarted("a", 9, 2),
        BytesMoved("a", 9),
        FileDone("a", 9),
    ]
    tally = Tally()
    for event in stuck.seen:
        tally.apply(event)
    assert tally.bytes_done == 9 and tally.files_done == 1


def test_run_sync_fans_out_to_every_subscriber(tmp_path: Path) -> None:
    hub = MemoryHub()
    hub.add("a.txt", b"a" * 100)
    hub.add("b.txt", b"b" * 200)
    first: list[Event] = []
    second: list[Event] = []
    settings = load_settings(repo_id="acme/m", dest=str(tmp_path / "out"))
    overrides = app.Overrides(hub=hub, store=MemoryJobStore())
    summary = app.run_sync(settings, first.append, second.append, overrides=overrides)
    assert summary.copied == 2
    assert first == second
    assert isinstance(first[0], PlanReady) and first[-1] == SyncFinished(summary)
