"""Cursor paging: opaque signed cursors and an absolute `Link` built from the request's Host."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import TypeVar

from . import errors

T = TypeVar("T")


def query_without_cursor(raw_query: str) -> str:
    return "&".join(p for p in raw_query.split("&") if p and p.split("=", 1)[0] != "cursor")


class Pager:
    """A cursor is bound to the listing it came from (path + query minus cursor): reusing it
    elsewhere, or editing it, is a 400."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _sig(self, scope: str, payload: str) -> str:
        return hmac.new(self._secret, f"{scope}\n{payload}".encode(), hashlib.sha256).hexdigest()[
            :24
        ]

    def encode(self, scope: str, offset: int) -> str:
        payload = base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")
        return f"{payload}.{self._sig(scope, payload)}"

    def decode(self, scope: str, cursor: str) -> int:
        payload, _, sig = cursor.partition(".")
        if not sig or not hmac.compare_digest(sig, self._sig(scope, payload)):
            raise errors.bad_request("Invalid cursor")
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            offset = int(data["o"])
        except (
            ValueError,
            KeyError,
            TypeError,
        ) as e:  # pragma: no cover - signature already checked
            raise errors.bad_request("Invalid cursor") from e
        return offset

    def page(
        self,
        items: Sequence[T],
        *,
        size: int,
        cursor: str | None,
        host: str,
        raw_path: str,
        raw_query: str,
    ) -> tuple[Sequence[T], str | None]:
        """The page asked for and the `Link` header value for the next one (None on the last)."""
        base_query = query_without_cursor(raw_query)
        scope = f"{raw_path}?{base_query}"
        offset = self.decode(scope, cursor) if cursor is not None else 0
        if offset < 0 or offset > len(items):
            raise errors.bad_request("Invalid cursor")
        chunk = items[offset : offset + size]
        if offset + size >= len(items):
            return chunk, None
        nxt = self.encode(scope, offset + size)
        query = f"{base_query}&cursor={nxt}" if base_query else f"cursor={nxt}"
        return chunk, f'<http://{host}{raw_path}?{query}>; rel="next"'
