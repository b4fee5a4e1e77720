"""The request journal: what every client sent and what it got, in arrival order."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Origin = Literal["hub", "cdn"]


@dataclass(frozen=True)
class JournalEntry:
    method: str
    path: str  # raw, still percent-encoded
    query: str  # raw query string ("" if none)
    range: str | None  # the Range header
    token: str | None  # bearer value sent (None = no Authorization header)
    authorization: bool  # an Authorization header of any kind was sent
    origin: Origin
    status: int
    route: str  # "info", "tree", "paths_info", "refs", "commits", "xet_token", "whoami",
    #              "resolve", "resolve_cache", "cdn", "unknown"
    fault: str | None = None  # kind of the injected fault, if one fired
    body_length: int = field(default=0, compare=False)  # bytes the answer's body carries
    headers: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def token_sent(self) -> bool:
        return self.authorization

    @property
    def target(self) -> str:
        return self.path + ("?" + self.query if self.query else "")


class Journal(list[JournalEntry]):
    """A plain list of `JournalEntry` (thread-safe appends) with a few filters."""

    def __init__(self, limit: int | None = None) -> None:
        super().__init__()
        self.limit = limit  # keep at most about this many (oldest dropped), None = all
        self._cond = threading.Condition()

    def record(self, entry: JournalEntry) -> None:
        with self._cond:
            self.append(entry)
            if self.limit is not None and len(self) > self.limit:
                del self[: len(self) - self.limit // 2]
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[JournalEntry], bool], timeout: float = 5.0
    ) -> JournalEntry:
        """Block until an entry matching `predicate` is recorded (entries are recorded when
        the answer's headers are decided, before its body is sent); TimeoutError otherwise."""
        found: list[JournalEntry] = []

        def match() -> bool:
            found[:] = [e for e in self if predicate(e)][:1]
            return bool(found)

        with self._cond:
            if not self._cond.wait_for(match, timeout):
                raise TimeoutError("no matching journal entry")
        return found[0]

    def where(
        self,
        *,
        origin: Origin | None = None,
        method: str | None = None,
        route: str | None = None,
        status: int | None = None,
    ) -> list[JournalEntry]:
        return [
            e
            for e in list(self)
            if (origin is None or e.origin == origin)
            and (method is None or e.method == method)
            and (route is None or e.route == route)
            and (status is None or e.status == status)
        ]

    def reset(self) -> None:
        with self._cond:
            self.clear()
