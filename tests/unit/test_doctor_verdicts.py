"""`data4r2 doctor`'s pure judgements: clock skew thresholds and errors turned into advice."""

from __future__ import annotations

import pytest

from data4r2.domain import BucketNotFound, DestinationError, RateLimited
from data4r2.sinks.s3_doctor import (
    CheckResult,
    DoctorReport,
    Status,
    judge_skew,
    verdict_from_error,
)


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
