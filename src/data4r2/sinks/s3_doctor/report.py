"""What a check concludes (a Verdict), and the report `data4r2 doctor` prints."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ...domain import (
    BucketNotFound,
    CredentialsError,
    Data4r2Error,
    EndpointUnreachable,
    TransientError,
)
from ..s3_errors import BUCKET_HINT, CREDENTIALS_HINT, ENDPOINT_HINT

TODO_TRANSIENT = "a passing server-side problem: run doctor again; if it stays, check the store"
TODO_REFUSED = (
    "the store refused a request every sync sends: see the detail "
    "(run with --debug for the full exchange)"
)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"  # works, with a caveat; does not fail the run
    FAIL = "FAIL"  # a sync would fail or lose a guarantee: exit 1
    SKIP = "skip"  # not run: a check it depends on failed


@dataclass(frozen=True, slots=True)
class Verdict:
    status: Status
    detail: str
    todo: str = ""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    status: Status
    detail: str
    todo: str = ""


@dataclass(frozen=True, slots=True)
class DoctorReport:
    destination: str
    endpoint: str
    probe_prefix: str  # where the probe objects went (and were deleted from)
    checks: tuple[CheckResult, ...]

    @property
    def ok(self) -> bool:
        """Every check a sync needs passed (warnings allowed)."""
        return all(c.status is not Status.FAIL for c in self.checks)


def ok(detail: str) -> Verdict:
    return Verdict(Status.OK, detail)


def warn(detail: str, todo: str) -> Verdict:
    return Verdict(Status.WARN, detail, todo)


def fail(detail: str, todo: str) -> Verdict:
    return Verdict(Status.FAIL, detail, todo)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def verdict_from_error(exc: Data4r2Error) -> Verdict:
    """A failed request → FAIL, with the error's own hint (else one by its kind) as what to do."""
    if exc.hint:
        return fail(exc.message, exc.hint)
    if isinstance(exc, CredentialsError):
        return fail(exc.message, CREDENTIALS_HINT)
    if isinstance(exc, BucketNotFound):
        return fail(exc.message, BUCKET_HINT)
    if isinstance(exc, EndpointUnreachable):
        return fail(exc.message, ENDPOINT_HINT)
    if isinstance(exc, TransientError):
        return fail(exc.message, TODO_TRANSIENT)
    return fail(exc.message, TODO_REFUSED)
