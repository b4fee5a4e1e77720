"""The Hub pacer on an injected clock: closed windows, the rate, and how it is wired."""

from __future__ import annotations

import pytest

from data4r2 import app
from data4r2.cli.main import main
from data4r2.domain import RateLimited, RepoRef, TransientError
from data4r2.engine.pacer import PacedHub, Pacer
from data4r2.settings import InvalidSetting, load_settings

from .hub_twin import MemoryHub


class Clock:
    """Time that moves only when someone sleeps; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.during_sleep: list[object] = []  # callables run at the first sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        while self.during_sleep:
            self.during_sleep.pop(0)()  # type: ignore[operator]


def pacer(clock: Clock, rps: float | None = None) -> Pacer:
    return Pacer(rps, clock=clock, sleep=clock.sleep)


def test_without_limit_or_429_nothing_waits() -> None:
    clock = Clock()
    p = pacer(clock)
    for _ in range(100):
        p.wait()
    assert clock.sleeps == [] and p.pauses == 0


def test_a_pause_holds_every_caller_until_the_window_ends_once() -> None:
    clock = Clock()
    p = pacer(clock)
    p.pause(55)
    clock.now = 5.0
    p.pause(50)  # another caller's 429 of the same window: not a second wait
    p.wait()
    assert clock.now == 55.0 and p.pauses == 1
    p.wait()  # the window is over
    assert clock.now == 55.0 and len(clock.sleeps) == 1


def test_a_later_window_is_a_new_pause_and_a_longer_one_extends() -> None:
    clock = Clock()
    p = pacer(clock)
    p.pause(10)
    p.pause(20)  # longer, while the first is open: extends it, still one pause
    p.wait()
    assert clock.now == 20.0 and p.pauses == 1
    p.pause(3)
    p.wait()
    assert clock.now == 23.0 and p.pauses == 2


def test_a_pause_beyond_the_cap_is_capped() -> None:
    clock = Clock()
    p = Pacer(max_pause=60, clock=clock, sleep=clock.sleep)
    p.pause(10_000)
    p.wait()
    assert clock.now == 60.0


def test_rate_spaces_requests_evenly() -> None:
    clock = Clock()
    p = pacer(clock, rps=4)
    sent = []
    for _ in range(5):
        p.wait()
        sent.append(clock.now)
    assert sent == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_a_window_closing_while_a_caller_sleeps_for_its_slot_is_waited_out() -> None:
    clock = Clock()
    p = pacer(clock, rps=1)
    p.wait()  # t=0, next slot at 1
    clock.during_sleep.append(lambda: p.pause(30))  # a 429 arrives at t=1 on another thread
    p.wait()
    assert clock.now == 31.0
    p.wait()
    assert clock.now == 32.0  # the rate resumes after the window, no burst


def test_paced_hub_pauses_on_a_429_with_a_window_and_not_on_other_errors() -> None:
    class Flaky(MemoryHub):
        def __init__(self, errors: list[Exception]) -> None:
            super().__init__()
            self.errors = errors

        def resolve(self, repo: RepoRef) -> str:
            if self.errors:
                raise self.errors.pop(0)
            return super().resolve(repo)

    clock = Clock()
    hub = Flaky([RateLimited("the Hub", None), TransientError("503"), RateLimited("the Hub", 7)])
    paced = PacedHub(hub, pacer(clock))
    for _ in range(3):
        with pytest.raises(TransientError):
            paced.resolve(RepoRef("acme/m"))
    assert clock.now == 0.0 and paced.pacer.pauses == 1  # type: ignore[attr-defined]
    assert paced.resolve(RepoRef("acme/m")) == hub.commit
    assert clock.now == 7.0


def test_hub_rps_setting_flag_and_env_twin(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(hub_rps="2.5").hub_rps == 2.5
    monkeypatch.setenv("DATA4R2_HUB_RPS", "3")
    assert load_settings().hub_rps == 3.0
    with pytest.raises(InvalidSetting, match=r"--hub-rps \(DATA4R2_HUB_RPS\)"):
        load_settings(hub_rps="0")


def test_the_built_hub_is_paced_at_the_set_rate() -> None:
    hub = app.build_hub(load_settings(hub_rps=4, hf_endpoint="http://127.0.0.1:9"))
    try:
        assert isinstance(hub, PacedHub) and isinstance(hub.pacer, Pacer)
        assert hub.pacer._interval == 0.25
    finally:
        hub.close()


def test_sync_help_shows_hub_rps(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sync", "--help"]) == 0
    assert "DATA4R2_HUB_RPS" in " ".join(capsys.readouterr().out.split())
