"""`data4r2 doctor`'s pure judgements: clock skew thresholds and errors turned into advice."""

from __future__ import annotations

import pytest

from data4r2.domain import BucketNotFound, DestinationError, OpenUpload, RateLimited
from data4r2.sinks.s3_doctor import (
    CheckResult,
    DoctorReport,
    Status,
    Verdict,
    judge_skew,
    verdict_from_error,
)
from data4r2.sinks.s3_doctor.checks import check_stale_uploads
from data4r2.sinks.s3_doctor.probe import Probe


@pytest.mark.parametrize(
    ("skew", "status"),
    [
        (0.0, Status.OK),
        (-1.5, Status.OK),
        (60.0, Status.OK),
        (61.0, Status.WARN),
        (-14 * 60.0, Status.WARN),
        (15 * 60.0 + 1, Status.FAIL),
        (-3600.0, Status.FAIL),
    ],
)
def test_clock_skew_warns_past_a_minute_and_fails_past_sigv4s_15_minutes(
    skew: float, status: Status
) -> None:
    verdict = judge_skew(skew)
    assert verdict.status is status
    if status is not Status.OK:
        assert "NTP" in verdict.todo
        assert ("behind" if skew < 0 else "ahead of") in verdict.detail


def test_an_errors_own_hint_becomes_what_to_do() -> None:
    verdict = verdict_from_error(BucketNotFound("bucket 'b' not found at https://x", "create it"))
    assert verdict.status is Status.FAIL
    assert (verdict.detail, verdict.todo) == ("bucket 'b' not found at https://x", "create it")


def test_a_dash_in_a_message_is_not_taken_for_a_hint() -> None:
    # Before errors carried a hint field, doctor split messages on " — ": a key holding one
    # put half the error text in the "what to do" column.
    exc = DestinationError("PutObject s3://b/a — b.txt: NotImplemented")
    assert verdict_from_error(exc).detail == "PutObject s3://b/a — b.txt: NotImplemented"


def test_an_error_with_a_hint_is_still_one_line_with_both() -> None:
    exc = BucketNotFound("bucket 'b' not found", "create it")
    assert str(exc) == "bucket 'b' not found — create it"
    assert (exc.message, exc.hint) == ("bucket 'b' not found", "create it")


def test_errors_without_a_hint_get_one_by_kind() -> None:
    assert "run doctor again" in verdict_from_error(RateLimited("PutObject k", None)).todo
    assert "--debug" in verdict_from_error(DestinationError("PutObject k: NotImplemented")).todo


def test_warnings_and_skips_do_not_fail_the_report_but_a_fail_does() -> None:
    def report(*statuses: Status) -> DoctorReport:
        checks = tuple(CheckResult(f"c{i}", s, "") for i, s in enumerate(statuses))
        return DoctorReport("s3://b", "https://x", "p/", checks)

    assert report(Status.OK, Status.WARN).ok
    assert not report(Status.OK, Status.FAIL, Status.SKIP).ok


class ListingSink:
    """The two things the stale-uploads check asks of the S3 sink."""

    bucket = "b"

    def __init__(self, uploads: list[OpenUpload]) -> None:
        self.uploads = uploads

    def list_uploads(self, prefix: str) -> list[OpenUpload]:
        return [u for u in self.uploads if u.key.startswith(prefix)]


def stale_verdict(*uploads: OpenUpload) -> Verdict:
    sink = ListingSink(list(uploads))
    probe = Probe("https://x", None, "team/", "team/.data4r2-doctor/1/", lambda: sink)  # type: ignore[arg-type, return-value]
    probe.sink_ = sink  # type: ignore[assignment]
    return check_stale_uploads(probe)


def test_uploads_idle_for_over_a_day_are_a_warning_naming_the_oldest() -> None:
    day = 86400.0
    verdict = stale_verdict(
        OpenUpload("team/models/a/m/w.bin", "u1", 3 * day),
        OpenUpload("team/models/a/m/x.bin", "u2", 1.5 * day),
        OpenUpload("team/models/a/m/live.bin", "u3", 60.0),
        OpenUpload("elsewhere/models/a/m/w.bin", "u4", 9 * day),  # outside the destination
        OpenUpload("team/.data4r2-doctor/1/multipart.bin", "u5", 2 * day),  # doctor's own
    )
    assert verdict.status is Status.WARN
    assert verdict.detail.startswith("2 unfinished multipart uploads idle for over a day")
    assert "team/models/a/m/w.bin (3 days)" in verdict.detail
    assert "a sync aborts" in verdict.todo


def test_no_open_uploads_is_ok() -> None:
    assert stale_verdict().status is Status.OK
