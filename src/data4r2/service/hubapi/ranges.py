"""One `Range: bytes=…` header against a file of `size` bytes (RFC 9110 §14.1.2).

Hand-written because Starlette's range parser is private to FileResponse, which needs a local
path; the service streams through the reader port instead. Only a single range is honoured,
as the Hub does; several ranges get the whole file (200), which clients accept.
"""

from __future__ import annotations

import re

_ONE = re.compile(r"^bytes=(\d*)-(\d*)$")


class Unsatisfiable(Exception):
    """A range that starts past the end: 416 with `Content-Range: bytes */size`."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """`[start, end)` to send, or None for the whole file (no header, or one we ignore)."""
    if not header:
        return None
    match = _ONE.match(header.strip().replace(" ", ""))
    if match is None:
        return None  # several ranges, or another unit: the whole file
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        n = int(last)
        if n == 0:
            raise Unsatisfiable
        return max(0, size - n), size
    start = int(first)
    if start >= size:
        raise Unsatisfiable
    end = min(size, int(last) + 1) if last else size
    if end <= start:
        return None  # `a-b` with b < a is invalid: ignored, as the RFC says
    return start, end
