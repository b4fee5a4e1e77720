"""Read a Hub file in order, re-opening at the current offset when the stream breaks."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

from ..domain import IntegrityError, TransientError
from ..ports import ByteStream
from .retry import RetryPolicy, as_domain_error
from .verify_bytes import FileHasher

# Hash in slices this big as they land, so hashing overlaps the part's arrival (docs/design.md §7).
HASH_SLICE = 1024**2


class Cancelled(Exception):
    """The run is stopping (Ctrl-C); leave resumable state as it is."""


class ResumingReader:
    """Fills caller buffers from `open_at(offset)`, hashing every byte exactly once.

    A cut connection, timeout or 5xx re-opens with `Range: bytes=<offset>-` after a backoff
    (the Hub client's own resume does the same); `policy.attempts` failures in a row without
    new bytes give up with the last error.
    """

    def __init__(
        self,
        open_at: Callable[[int], ByteStream],
        hasher: FileHasher,
        policy: RetryPolicy,
        cancel: threading.Event,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[int, BaseException], None] | None = None,
    ) -> None:
        self._open_at = open_at
        self._hasher = hasher
        self._policy = policy
        self._cancel = cancel
        self._sleep = sleep
        self._on_retry = on_retry
        self._stream: ByteStream | None = None
        self.offset = 0

    def start_at(self, offset: int) -> None:
        """Begin at `offset` instead of byte 0 (a resume whose hash state covers the rest)."""
        if self._stream is not None or self.offset:
            raise ValueError("start_at must come before the first read")
        self.offset = offset

    def read_exact(self, view: memoryview) -> None:
        """Fill `view` completely (and hash it), or raise."""
        filled = 0
        failures = 0
        while filled < len(view):
            if self._cancel.is_set():
                raise Cancelled
            try:
                if self._stream is None:
                    self._stream = self._open_at(self.offset)
                end = min(len(view), filled + HASH_SLICE)
                n = self._stream.readinto(view[filled:end])
                if n == 0:
                    raise TransientError(
                        f"{self._hasher.file.path}: stream ended at byte {self.offset}, "
                        f"expected {self._hasher.file.size}"
                    )
            except Exception as exc:
                self.close()
                err = as_domain_error(exc)
                if err is None or not err.retryable or isinstance(err, IntegrityError):
                    raise
                failures += 1
                if failures >= self._policy.attempts:
                    raise err from exc
                if self._on_retry is not None:
                    self._on_retry(failures, err)
                self._sleep(self._policy.delay(failures, err))
                continue
            self._hasher.update(view[filled : filled + n])
            filled += n
            self.offset += n
            failures = 0

    def expect_end(self) -> None:
        """The file must end here: a body longer than the Hub listed is corrupt."""
        if self._stream is not None and self.offset == self._hasher.file.size:
            probe = memoryview(bytearray(1))
            try:
                extra = self._stream.readinto(probe)
            except Exception:  # any failure here means no extra byte came
                extra = 0
            if extra:
                self.close()
                raise IntegrityError(
                    f"{self._hasher.file.path}: the Hub sent more than {self.offset} bytes"
                )

    def close(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            with contextlib.suppress(Exception):  # a broken stream may fail to close; it is dropped
                stream.close()
