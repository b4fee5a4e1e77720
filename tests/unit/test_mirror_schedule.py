"""Scheduled mirrors: the interval syntax and the durable schedule table."""

from __future__ import annotations

from pathlib import Path

import pytest

from data4r2.domain import RepoRef, RepoType, UsageError
from data4r2.service.scheduler import parse_every
from data4r2.state.mirrors import SqliteMirrorSchedule


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), ("2", 2)]
)
def test_intervals(text: str, seconds: float) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "6 hours", "-1h", "0s", "0.5", "h"])
def test_bad_intervals_are_one_line_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--every"):
        parse_every(text)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_schedule_survives_a_restart_and_runs_what_is_due(tmp_path: Path) -> None:
    clock = Clock()
    state = tmp_path / "state.sqlite3"
    schedule = SqliteMirrorSchedule(state, clock=clock)
    model = RepoRef("acme/m")
    first = schedule.add_mirror(model, "default", 3600, include=["*.json"])
    data = schedule.add_mirror(RepoRef("acme/d", RepoType.DATASET), "default", 60)
    assert [m.id for m in schedule.due_mirrors()] == [first.id, data.id]  # due at once
    schedule.mirror_ran(first.id, 7, clock.now + 3600)
    schedule.mirror_ran(data.id, None, clock.now + 60)  # nothing queued: keeps its last sync
    schedule.close()

    again = SqliteMirrorSchedule(state, clock=clock)
    assert again.due_mirrors() == []
    clock.now += 61
    (due,) = again.due_mirrors()
    assert (due.repo, due.last_sync_id) == (RepoRef("acme/d", RepoType.DATASET), None)
    kept = next(m for m in again.mirrors() if m.id == first.id)
    assert (kept.last_sync_id, kept.include) == (7, ("*.json",))
    # The same repo, revision and destination is the same mirror, with the new interval.
    updated = again.add_mirror(model, "default", 600)
    assert (updated.id, updated.every, len(again.mirrors())) == (first.id, 600, 2)
    assert again.remove_mirror(first.id) is True
    assert again.remove_mirror(first.id) is False
    assert [m.id for m in again.mirrors()] == [data.id]
