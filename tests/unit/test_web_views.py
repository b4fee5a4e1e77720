"""The dashboard's view code, pure: numbers and names as the pages write them, table rows,
throughput from samples and the chart drawn from it."""

from __future__ import annotations

import time

import pytest

from data4r2.domain import JobState, RepoType
from data4r2.service.models import JobOut, SyncStatus
from data4r2.service.web import chart, rows
from data4r2.service.web import format as fmt
from data4r2.service.web.throughput import Sample, rates, thin

from .test_layers import SRC, imports

NOON = time.mktime((2026, 12, 4, 12, 0, 0, 0, 0, 0)) - time.timezone  # 2026-12-04 12:00 UTC


@pytest.mark.parametrize(
    ("nbytes", "text"),
    [(0, "0 B"), (999, "999 B"), (1000, "1.0 KB"), (1_500_000, "1.5 MB"), (2.5e12, "2.5 TB")],
)
def test_sizes_are_decimal_like_the_hub(nbytes: float, text: str) -> None:
    assert fmt.size(nbytes) == text


def test_a_rate_of_nothing_is_a_dash_not_zero() -> None:
    assert fmt.rate(0) == "–" and fmt.rate(None) == "–"
    assert fmt.rate(12_345_678) == "12.3 MB/s"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (0.4, "0 s"),
        (59, "59 s"),
        (200, "3 min 20 s"),
        (7500, "2 h 05 min"),
        (90000, "1 d 01 h"),
        (-3, "0 s"),
    ],
)
def test_durations_read_at_a_human_precision(seconds: float | None, text: str) -> None:
    assert fmt.duration(seconds) == text


def test_short_sha_is_eight_digits() -> None:
    assert fmt.short_sha("0123456789abcdef" * 2 + "01234567") == "01234567"


@pytest.mark.parametrize(
    ("done", "total", "pct"),
    [(0, 10, 0), (5, 10, 50), (999, 1000, 99), (9999, 10000, 99), (10, 10, 100), (0, 0, 100)],
)
def test_percent_is_100_only_when_everything_is_done(done: int, total: int, pct: int) -> None:
    assert fmt.percent(done, total) == pct


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("model", "https://hub.example/acme/m"),
        ("dataset", "https://hub.example/datasets/acme/m"),
        (RepoType.SPACE, "https://hub.example/spaces/acme/m"),
    ],
)
def test_repo_links_point_at_the_servers_hub(kind: str, url: str) -> None:
    assert fmt.hub_url("https://hub.example/", "acme/m", kind) == url


def test_timestamps_show_the_date_only_when_not_today() -> None:
    assert fmt.timestamp(NOON + 5, now=NOON + 60) == "12:00:05"
    assert fmt.timestamp(NOON - 86400, now=NOON) == "2026-12-03 12:00"
    assert fmt.timestamp(None) == "–"


def status(state: str = "running", **over: object) -> SyncStatus:
    counts = dict.fromkeys(JobState, 0) | {JobState.DONE: 3, JobState.PENDING: 2}
    values: dict[str, object] = {
        "sync_id": 7,
        "repo_id": "acme/data",
        "repo_type": RepoType.DATASET,
        "revision": "main",
        "commit": "a" * 40,
        "destination": "archive",
        "state": state,
        "counts": counts,
        "files": 5,
        "bytes_total": 4_000_000,
        "bytes_done": 1_000_000,
        "rate": 250_000.0,
        "eta_s": 12.0,
        "created_at": NOON,
        "finished_at": None,
    }
    return SyncStatus.model_validate(values | over)


def test_a_sync_row_says_progress_rate_and_eta() -> None:
    row = rows.sync_row(status(), "https://hub.example", now=NOON + 10)
    assert row.repo_url == "https://hub.example/datasets/acme/data"
    assert row.commit == "aaaaaaaa" and row.percent == 25
    assert row.progress == "1.0 MB of 4.0 MB · 3 of 5 files"
    assert (row.rate, row.eta, row.started, row.finished) == ("250.0 KB/s", "12 s", "12:00:00", "–")
    assert not row.ended


def test_a_running_sync_shows_parts_in_flight_and_its_current_rate() -> None:
    row = rows.sync_row(status(), "https://h", in_flight=1_000_000, current_rate=500_000.0)
    assert row.percent == 50 and row.progress.startswith("2.0 MB of 4.0 MB")
    assert (row.rate, row.eta) == ("500.0 KB/s", "4 s")  # 2 MB left at 500 KB/s
    stalled = rows.sync_row(status(), "https://h", current_rate=0.0)
    assert (stalled.rate, stalled.eta) == ("–", "–")


def test_an_ended_sync_has_no_eta() -> None:
    row = rows.sync_row(status("cancelled", eta_s=30.0), "https://hub.example")
    assert row.ended and row.eta == "–"


def test_a_file_row_keeps_the_last_error() -> None:
    job = JobOut(
        job_id=1,
        sync_id=7,
        path="a.bin",
        size=2000,
        key="k",
        state=JobState.FAILED,
        attempts=4,
        error="sha256 mismatch",
    )
    row = rows.file_row(job)
    assert (row.state, row.size, row.attempts, row.error) == ("failed", "2.0 KB", 4, job.error)


def test_counts_list_failed_first() -> None:
    assert [s for s, _ in rows.state_counts(status())][:2] == ["failed", "running"]
    assert dict(rows.state_counts(status()))["done"] == 3


def test_rates_are_measured_over_a_trailing_window() -> None:
    samples = [Sample(float(t), b) for t, b in [(0, 0), (1, 100), (2, 100), (3, 400)]]
    assert rates(samples, window=1.0) == [(0, 100), (1, 100), (2, 0), (3, 300)]
    # Over 2 s, the step at t=3 is averaged with the quiet second before it.
    assert rates(samples, window=2.0)[-1] == (3, 150)
    assert rates(samples[:1]) == []


def test_thinning_keeps_the_whole_span() -> None:
    samples = [Sample(float(t), t) for t in range(11)]
    kept = thin(samples, limit=6)
    assert kept[0] == samples[0] and kept[-1] == samples[-1] and len(kept) == 6
    assert thin(samples, limit=20) is samples


def test_the_chart_scales_to_a_readable_axis() -> None:
    drawn = chart.throughput_chart([(0.0, 0.0), (5.0, 3_000_000.0), (10.0, 1_500_000.0)])
    assert drawn.peak == "5.0 MB/s" and drawn.span == "10 s"  # 3 MB/s rounds up to 5
    first, middle, last = drawn.points.split()
    assert first == f"0.0,{chart.HEIGHT}.0" and last.startswith(f"{chart.WIDTH}.0,")
    assert middle == f"300.0,{chart.HEIGHT * (1 - 3 / 5):.1f}"
    assert drawn.area.startswith(f"0.0,{chart.HEIGHT} ") and "peak 3.0 MB/s" in drawn.summary


def test_the_chart_says_when_it_has_nothing_to_draw() -> None:
    drawn = chart.throughput_chart([(0.0, 10.0)])
    assert drawn.points == "" and "Not enough samples" in drawn.summary


def test_the_dashboard_builds_no_adapter() -> None:
    """web/ is an edge of the service: it reads the store through the port and calls the
    service's functions; it never imports hub/, sinks/, state/ or the composition root."""
    files = sorted((SRC / "service" / "web").glob("*.py"))
    assert len(files) >= 8
    for path in files:
        for level, module in imports(path):
            if level == 3:  # `...x`: a sibling of service/ in the package
                assert module.split(".")[0] in {"domain", "ports"}, (path.name, module)
            if level == 0:
                assert not module.startswith("data4r2."), (path.name, module)
