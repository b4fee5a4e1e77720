"""What the R2 double saw and answered, for test assertions (thread-safe)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

# Credentials never go into the journal; everything else a test may want to assert on does.
_SECRET_HEADERS = frozenset({"authorization", "x-amz-security-token"})

Source = Literal["upstream", "double", "fault"]


@dataclass(frozen=True)
class Exchange:
    """One request and the answer the client got.

    `source` says who answered: SeaweedFS ("upstream"), a rule of the double ("double") or an
    injected fault ("fault"). `status` is None when the client got no answer at all (a cut
    body or a lost response).
    """

    method: str
    target: str
    op: str
    bucket: str
    key: str
    headers: dict[str, str]  # lower-cased names, credentials removed
    status: int | None
    code: str | None  # the S3 error code, for errors
    source: Source
    body_bytes: int  # request body bytes the double received
    part_number: int | None = None
    upload_id: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def interesting(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in _SECRET_HEADERS}


@dataclass
class Journal:
    """Every exchange in arrival order of its answer."""

    _entries: list[Exchange] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self._entries.append(exchange)

    def entries(self) -> list[Exchange]:
        with self._lock:
            return list(self._entries)

    def where(
        self,
        *,
        op: str | None = None,
        key: str | None = None,
        status: int | None = None,
        source: Source | None = None,
    ) -> list[Exchange]:
        """The entries matching every filter given."""
        return [
            e
            for e in self.entries()
            if (op is None or e.op == op)
            and (key is None or e.key == key)
            and (status is None or e.status == status)
            and (source is None or e.source == source)
        ]

    def ops(self) -> list[str]:
        return [e.op for e in self.entries()]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
