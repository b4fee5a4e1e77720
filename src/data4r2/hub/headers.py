"""Pure parsers for the Hub's rate-limit headers: no I/O, so they are unit-tested alone.

Written here rather than taken from huggingface_hub: its `parse_ratelimit_headers` first
appeared after 1.0 (we support >= 1.0) and its `_parse_retry_after` is private and reads
integer seconds only, while RFC 9110 also allows an HTTP-date. The stream adapter needs both
on raw http.client headers, outside huggingface_hub.
"""

from __future__ import annotations

import re
import time
from datetime import UTC
from email.utils import parsedate_to_datetime

# draft-ietf-httpapi-ratelimit-headers-09, as the Hub sends it: `"api";r=0;t=55`.
# Parameters may come in any order and with spaces around `;` and `=`.
_PARAM = re.compile(r";\s*([A-Za-z]+)\s*=\s*(\d+)")


def parse_ratelimit(header: str | None) -> tuple[int, int] | None:
    """`(remaining, reset_s)` from a `RateLimit` header value, or None if absent or malformed."""
    if not header:
        return None
    params = {key.lower(): int(value) for key, value in _PARAM.findall(header)}
    if "r" not in params or "t" not in params:
        return None
    return params["r"], params["t"]


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

    `now` (epoch seconds) is for tests; a date in the past gives 0. Unparseable → None.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(int(value))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; RFC 9110 dates are GMT anyway
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def ratelimit_wait(ratelimit: str | None, retry_after: str | None) -> float | None:
    """How long a 429 asks us to wait: `t` when the RateLimit bucket is empty, else Retry-After.

    The RateLimit header rides on ordinary answers too, so it only explains a 429 when r=0
    (huggingface_hub's backoff reads it the same way).
    """
    parsed = parse_ratelimit(ratelimit)
    if parsed is not None and parsed[0] == 0:
        return float(parsed[1])
    return parse_retry_after(retry_after)
