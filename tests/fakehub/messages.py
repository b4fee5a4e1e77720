"""Transport-neutral request and reply values, and byte-range parsing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from .faults import Fault
    from .repo import Blob

JSON_TYPE = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # raw
    query: str  # raw
    headers: dict[str, str]  # lower-case names
    body: bytes
    client_ip: str

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        values = self.params.get(name)
        return values[-1] if values else None

    def flag(self, name: str) -> bool:
        return (self.param(name) or "").lower() in ("1", "true", "yes")

    @property
    def range(self) -> str | None:
        return self.headers.get("range")

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    def accepts_gzip(self) -> bool:
        for part in self.headers.get("accept-encoding", "").split(","):
            token, _, q = part.strip().partition(";")
            if token.strip().lower() == "gzip":
                return q.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
        return False


@dataclass(frozen=True)
class FileSlice:
    blob: Blob
    start: int
    end: int  # exclusive

    def __len__(self) -> int:
        return self.end - self.start


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes | FileSlice = b""
    chunked: bool = False  # Transfer-Encoding: chunked, no Content-Length
    close: bool = False
    body_fault: Fault | None = None
    fault: str | None = None  # name of the fault that shaped this reply (journal)
    route: str = ""  # route kind (journal)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # exclusive

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end - 1}/{size}"


UNSATISFIABLE: Literal["unsatisfiable"] = "unsatisfiable"
_SPEC = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


def parse_range(header: str | None, size: int) -> ByteRange | Literal["unsatisfiable"] | None:
    """One `bytes=a-b` / `a-` / `-n` range; None = send the whole body (no, bad or multi range)."""
    if header is None:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    m = _SPEC.fullmatch(spec)
    if not m or m.group(1) == m.group(2) == "":
        return None
    first, last = m.groups()
    if first == "":
        n = int(last)
        if n == 0 or size == 0:
            return UNSATISFIABLE
        return ByteRange(max(0, size - n), size)
    start = int(first)
    if last != "" and int(last) < start:
        return None
    if start >= size:
        return UNSATISFIABLE
    end = size if last == "" else min(int(last) + 1, size)
    return ByteRange(start, end)
