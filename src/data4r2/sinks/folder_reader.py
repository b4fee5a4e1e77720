"""MirrorReader for a folder destination: files under its root, read with the same path
rules the folder sink writes with (no key may reach outside the root, even by a symlink).
A folder cannot sign a URL, so the service streams its bytes itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..domain import DestinationError, ObjectInfo, UnsafePath, safe_relative_path
from .folder import FolderSink

if TYPE_CHECKING:
    from ..ports import MirrorReader

_CHUNK = 1024 * 1024


class FolderReader:
    def __init__(self, sink: FolderSink) -> None:
        self._sink = sink
        self.root = sink.root

    def head(self, key: str) -> ObjectInfo | None:
        return self._sink.head(key)

    def _path(self, key: str) -> Path:
        path = self.root / safe_relative_path(key)
        if not path.resolve().is_relative_to(self.root):
            raise UnsafePath(key, "a symlink in it leads outside the destination folder")
        return path

    def read(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as e:
            raise DestinationError(f"cannot read {path}: {e.strerror}") from e

    def keys(self, prefix: str) -> Iterator[str]:
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._path(base) if base else self.root
        if not start.is_dir():
            return
        for path in start.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix) and path.is_file():
                yield key

    def link(self, key: str, *, expires_in: int) -> None:
        return None

    def stream(self, key: str, start: int, end: int) -> Iterator[bytes]:
        path = self._path(key)
        try:
            with path.open("rb") as f:
                f.seek(start)
                left = end - start
                while left > 0:
                    chunk = f.read(min(_CHUNK, left))
                    if not chunk:
                        raise DestinationError(f"{path} is shorter than its manifest says")
                    left -= len(chunk)
                    yield chunk
        except OSError as e:
            raise DestinationError(f"cannot read {path}: {e.strerror}") from e


if TYPE_CHECKING:

    def _conforms(reader: FolderReader) -> MirrorReader:
        return reader
