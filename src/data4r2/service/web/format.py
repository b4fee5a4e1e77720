"""How the dashboard writes numbers and names: pure functions, unit-tested (tests/unit/web)."""

from __future__ import annotations

import time

from ...domain import RepoType

_UNITS = ("B", "KB", "MB", "GB", "TB", "PB")


def size(nbytes: float) -> str:
    """Decimal units, as the Hub and the CLI's progress display write them: 1.5 GB."""
    value = float(nbytes)
    for unit in _UNITS:
        if abs(value) < 1000 or unit == _UNITS[-1]:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def rate(bytes_per_s: float | None) -> str:
    """`12.3 MB/s`; a dash when nothing is moving (a rate of 0 would read as stuck)."""
    return f"{size(bytes_per_s)}/s" if bytes_per_s else "–"


def duration(seconds: float | None) -> str:
    """An ETA or an elapsed time at the precision a person wants: 45 s, 3 min 20 s, 2 h 05 min."""
    if seconds is None:
        return "–"
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600:02d} h"


def short_sha(commit: str) -> str:
    """The first 8 hex digits, as the Hub shows a commit."""
    return commit[:8]


def percent(done: int, total: int) -> int:
    """Whole percent, 100 only when everything is done (a bar at 100 % must mean finished)."""
    if total <= 0:
        return 100
    whole = done * 100 // total
    return 100 if done >= total else min(whole, 99)


def hub_url(endpoint: str, repo_id: str, repo_type: RepoType | str) -> str:
    """The repo's page on the Hub the server reads from: models at the root, the others under
    `datasets/` and `spaces/`."""
    kind = RepoType(repo_type)
    prefix = "" if kind is RepoType.MODEL else f"{kind.value}s/"
    return f"{endpoint.rstrip('/')}/{prefix}{repo_id}"


def timestamp(unix: float | None, now: float | None = None) -> str:
    """UTC date and time to the second; only the time when it is today (the common case)."""
    if unix is None:
        return "–"
    now = time.time() if now is None else now
    same_day = time.gmtime(unix)[:3] == time.gmtime(now)[:3]
    return time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M", time.gmtime(unix))
