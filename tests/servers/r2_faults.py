"""Faults the R2 double injects on demand: R2's retryable errors and broken connections.

A fault matches by method, S3 operation name and a glob on the object key, and fires for
the next `times` matching requests that pass the double's rules (a request R2 would refuse
anyway does not use one up).
"""

from __future__ import annotations

import fnmatch
import threading
from dataclasses import dataclass, field
from enum import StrEnum

from .r2_rules import R2Error, S3Request


class FaultKind(StrEnum):
    TOO_MANY_REQUESTS = "TooManyRequests"  # 429, R2 10058
    SERVICE_UNAVAILABLE = "ServiceUnavailable"  # 503, R2 10043
    INTERNAL_ERROR = "InternalError"  # 500, R2 10001
    CUT_BODY = "cut-body"  # forward part of the body, then drop both connections
    LOSE_RESPONSE = "lose-response"  # the store acts; the client's connection drops unanswered


_ERRORS = {
    FaultKind.TOO_MANY_REQUESTS: R2Error(429, "TooManyRequests", "Reduce your request rate."),
    FaultKind.SERVICE_UNAVAILABLE: R2Error(
        503, "ServiceUnavailable", "Please try again (injected by the R2 double)."
    ),
    FaultKind.INTERNAL_ERROR: R2Error(
        500, "InternalError", "We encountered an internal error (injected by the R2 double)."
    ),
}


@dataclass
class Fault:
    kind: FaultKind
    method: str | None = None
    op: str | None = None
    key: str = "*"
    times: int = 1
    cut_after: int | None = None  # CUT_BODY: bytes forwarded first (default: half the body)
    fired: int = 0

    @property
    def error(self) -> R2Error | None:
        return _ERRORS.get(self.kind)

    @property
    def remaining(self) -> int:
        return self.times - self.fired

    def matches(self, r: S3Request) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method.upper() == r.method)
            and (self.op is None or self.op == r.op)
            and fnmatch.fnmatchcase(r.key, self.key)
        )


@dataclass
class Faults:
    """The faults still to fire, oldest first."""

    _items: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        kind: FaultKind | str,
        *,
        method: str | None = None,
        op: str | None = None,
        key: str = "*",
        times: int = 1,
        cut_after: int | None = None,
    ) -> Fault:
        """Make the next `times` requests matching (method, op, key glob) fail with `kind`."""
        fault = Fault(FaultKind(kind), method, op, key, times, cut_after)
        with self._lock:
            self._items.append(fault)
        return fault

    def take(self, r: S3Request) -> Fault | None:
        """The first pending fault matching `r`, used up by one; None if none matches."""
        with self._lock:
            for fault in self._items:
                if fault.matches(r):
                    fault.fired += 1
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._items if f.remaining > 0]

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
