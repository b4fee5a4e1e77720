"""The pure rate-limit header parsers of the Hub adapter."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from data4r2.hub.headers import parse_ratelimit, parse_retry_after, ratelimit_wait

NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"api";r=0;t=55', (0, 55)),
        ('"resolvers";r=4999;t=300', (4999, 300)),
        ('"api" ; r = 12 ; t = 7', (12, 7)),  # spaces around ; and =
        ('"api";t=9;r=3', (3, 9)),  # parameters in another order
        ('"api";R=1;T=2', (1, 2)),
    ],
)
def test_parse_ratelimit(header: str, expected: tuple[int, int]) -> None:
    assert parse_ratelimit(header) == expected


@pytest.mark.parametrize("header", [None, "", "garbage", '"api";r=1', '"api";t=5', '"api";r=x;t=1'])
def test_parse_ratelimit_refuses_incomplete(header: str | None) -> None:
    assert parse_ratelimit(header) is None


def test_retry_after_seconds() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0


def test_retry_after_http_date() -> None:
    later = datetime(2026, 11, 26, 12, 0, 30, tzinfo=UTC)
    assert parse_retry_after(format_datetime(later, usegmt=True), now=NOW) == 30.0
    assert parse_retry_after("Thu, 26 Nov 2026 12:01:00 -0000", now=NOW) == 60.0


def test_retry_after_date_in_the_past_is_zero() -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5"])
def test_retry_after_unparseable(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_ratelimit_wait_uses_t_only_when_the_bucket_is_empty() -> None:
    assert ratelimit_wait('"api";r=0;t=42', "7") == 42.0
    # r > 0: the header is informational (it rides on every answer), Retry-After decides
    assert ratelimit_wait('"api";r=3;t=42', "7") == 7.0
    assert ratelimit_wait('"api";r=3;t=42', None) is None
    assert ratelimit_wait(None, "7") == 7.0
