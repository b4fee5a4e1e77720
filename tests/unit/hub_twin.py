"""An in-memory HubSource for engine unit tests, with faults injectable per path."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field

from data4r2.domain import RateLimited, RemoteFile, RepoRef, TransientError


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Fault:
    kind: str  # "cut" (stream ends early at `at`), "corrupt" (flip byte `at`), "503", "429"
    at: int = 0
    times: int = 1
    retry_after: float | None = None  # "429": the Hub's Retry-After


@dataclass
class MemoryHub:
    files: dict[str, bytes] = field(default_factory=dict)
    lfs: set[str] = field(default_factory=set)
    commit: str = "c" * 40
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    opens: list[tuple[str, int]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, data: bytes, lfs: bool = False) -> None:
        self.files[path] = data
        if lfs:
            self.lfs.add(path)

    def resolve(self, repo: RepoRef) -> str:
        return self.commit

    def list_files(self, repo: RepoRef, commit: str) -> list[RemoteFile]:
        return [
            RemoteFile(
                path,
                len(data),
                git_sha1(data),
                hashlib.sha256(data).hexdigest() if path in self.lfs else None,
            )
            for path, data in self.files.items()
        ]

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            queue = self.faults.get(path, [])
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    def open(self, repo: RepoRef, commit: str, file: RemoteFile, offset: int = 0) -> _Stream:
        with self._lock:
            self.opens.append((file.path, offset))
        fault = self._take_fault(file.path)
        if fault is not None and fault.kind == "503":
            raise TransientError("hub answered 503")
        if fault is not None and fault.kind == "429":
            raise RateLimited("the Hub", retry_after=fault.retry_after)
        data = self.files[file.path]
        if fault is not None and fault.kind == "corrupt":
            data = data[: fault.at] + bytes([data[fault.at] ^ 0xFF]) + data[fault.at + 1 :]
        end = fault.at if fault is not None and fault.kind == "cut" else len(data)
        return _Stream(data, offset, max(end, offset))


class _Stream:
    def __init__(self, data: bytes, offset: int, end: int) -> None:
        self._data = memoryview(data)
        self._pos = offset
        self._end = end
        self._cut = end < len(data)

    def readinto(self, buf: memoryview) -> int:
        n = min(len(buf), self._end - self._pos)
        if n <= 0:
            if self._cut:
                raise TransientError("connection reset mid-body")
            return 0
        buf[:n] = self._data[self._pos : self._pos + n]
        self._pos += n
        return n

    def close(self) -> None:
        pass
