"""Fault injection (docs/hub.md §7, items 19–27): per route and file, by count or probability.

    hub.faults.add(kind=503, route="resolve", path_glob="*.bin", count=2, retry_after=1)
    hub.faults.add(kind="disconnect", route="cdn", after_bytes=1000)
    hub.faults.move_branch(repo, to=old_sha, after=1)  # drift after the 1st repo-info answer

`count` is how many times the fault fires (None = forever); `probability` (with `seed`) makes each
matching request fire with that chance. Faults that act on a body never fire on HEAD.
"""

from __future__ import annotations

import email.utils
import fnmatch
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from .messages import JSON_TYPE, Reply

Phase = Literal["pre", "redirect", "json", "body"]

API_ROUTES = frozenset({"info", "tree", "paths_info", "refs", "commits", "xet_token", "whoami"})
RESOLVE_ROUTES = frozenset({"resolve", "resolve_cache"})
ALL_ROUTES = API_ROUTES | RESOLVE_ROUTES | {"cdn", "unknown"}
ROUTE_GROUPS: dict[str, frozenset[str]] = {
    **{r: frozenset({r}) for r in ALL_ROUTES},
    "api": API_ROUTES,
    "resolve": RESOLVE_ROUTES,  # both hops of a download: /resolve/ and /api/resolve-cache/
    "any": ALL_ROUTES,
}

PRE_KINDS = frozenset({"rate_limit", "non_json_500", "link_500"})
REDIRECT_KINDS = frozenset({"expired_cdn", "redirect_404", "redirect_loop"})
JSON_KINDS = frozenset({"truncated_json"})
BODY_KINDS = frozenset(
    {"disconnect", "stall", "trickle", "corrupt", "too_long", "ignore_range", "wrong_content_range"}
)
RANGE_KINDS = frozenset({"ignore_range", "wrong_content_range"})
STR_KINDS = PRE_KINDS | REDIRECT_KINDS | JSON_KINDS | BODY_KINDS


@dataclass(eq=False)
class Fault:
    """One injected fault. Integer `kind` = answer that status (JSON error body) before any work.

    Parameters by kind:
      status (int kinds), "rate_limit": `retry_after` (s), `retry_after_format` "seconds" |
        "http-date" | None; "rate_limit" also sends `RateLimit: …;r=0;t=<retry_after>` on the Hub;
      "disconnect": close after `after_bytes` body bytes; "stall": send `after_bytes`, then
        silence for `duration` s (None = until `release()` / hub stop) then continue;
      "trickle": `rate` bytes/s; "corrupt": flip the byte at file `offset` (absolute);
      "too_long": `extra` bytes after the declared length, then close;
      "wrong_content_range": Content-Range shifted by `shift`.
    """

    kind: int | str
    route: str = "any"
    path_glob: str = "*"
    repo: str = "*"
    method: str | None = None
    count: int | None = 1
    probability: float = 1.0
    seed: int | None = 0
    retry_after: int | None = None
    retry_after_format: Literal["seconds", "http-date"] | None = "seconds"
    after_bytes: int = 0
    duration: float | None = None
    rate: int = 64 * 1024
    offset: int = 0
    extra: int = 16
    shift: int = 1
    hits: int = field(default=0, init=False)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _released: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.kind, int):
            if not 400 <= self.kind <= 599:
                raise ValueError(f"status fault must be 4xx/5xx, not {self.kind}")
        elif self.kind not in STR_KINDS:
            raise ValueError(
                f"unknown fault kind {self.kind!r}; known: {sorted(STR_KINDS)} or a status"
            )
        if self.route not in ROUTE_GROUPS:
            raise ValueError(f"unknown route {self.route!r}; known: {sorted(ROUTE_GROUPS)}")
        if self.kind == "rate_limit" and self.retry_after is None:
            self.retry_after = 1
        self._rng = random.Random(self.seed)

    @property
    def phase(self) -> Phase:
        if isinstance(self.kind, int) or self.kind in PRE_KINDS:
            return "pre"
        if self.kind in REDIRECT_KINDS:
            return "redirect"
        if self.kind in JSON_KINDS:
            return "json"
        return "body"

    @property
    def exhausted(self) -> bool:
        return self.count is not None and self.hits >= self.count

    def applies(self, route: str, subject: str, repo_id: str, method: str) -> bool:
        return (
            route in ROUTE_GROUPS[self.route]
            and fnmatch.fnmatchcase(subject, self.path_glob)
            and fnmatch.fnmatchcase(repo_id, self.repo)
            and (self.method is None or self.method.upper() == method)
        )

    def take(self) -> bool:
        """Fire once if the count and the dice allow it."""
        with self._lock:
            if self.exhausted:
                return False
            if self.probability < 1.0 and self._rng.random() >= self.probability:
                return False
            self.hits += 1
            return True

    def release(self) -> None:
        """End every current and future stall of this fault."""
        self._released.set()

    def wait_released(self, timeout: float | None) -> bool:
        return self._released.wait(timeout)


@dataclass(eq=False)
class Trigger:
    """Run `action` once, right after the `after`-th matching request has been answered."""

    route: str
    action: Callable[[], object]
    after: int = 1
    repo: str = "*"
    seen: int = field(default=0, init=False)
    fired: bool = field(default=False, init=False)


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._triggers: list[Trigger] = []

    def add(
        self,
        *,
        kind: int | str,
        route: str = "any",
        path_glob: str = "*",
        repo: str = "*",
        method: str | None = None,
        count: int | None = 1,
        probability: float = 1.0,
        seed: int | None = 0,
        retry_after: int | None = None,
        retry_after_format: Literal["seconds", "http-date"] | None = "seconds",
        after_bytes: int = 0,
        duration: float | None = None,
        rate: int = 64 * 1024,
        offset: int = 0,
        extra: int = 16,
        shift: int = 1,
    ) -> Fault:
        """Inject a fault; see `Fault` for what each parameter means per kind."""
        fault = Fault(
            kind=kind,
            route=route,
            path_glob=path_glob,
            repo=repo,
            method=method,
            count=count,
            probability=probability,
            seed=seed,
            retry_after=retry_after,
            retry_after_format=retry_after_format,
            after_bytes=after_bytes,
            duration=duration,
            rate=rate,
            offset=offset,
            extra=extra,
            shift=shift,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self._lock:
            self._faults.remove(fault)
        fault.release()

    def clear(self) -> None:
        with self._lock:
            faults, self._faults, self._triggers = self._faults, [], []
        for f in faults:
            f.release()

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._faults))

    def __len__(self) -> int:
        return len(self._faults)

    def take(
        self,
        phase: Phase,
        *,
        route: str,
        subject: str,
        repo_id: str,
        method: str,
        has_range: bool = False,
        has_cursor: bool = False,
    ) -> Fault | None:
        """The first live fault of `phase` for this request, consuming one of its `count`."""
        with self._lock:
            candidates = [f for f in self._faults if f.phase == phase]
        for f in candidates:
            if not f.applies(route, subject, repo_id, method):
                continue
            if phase == "body" and method == "HEAD":
                continue
            if f.kind == "link_500" and not has_cursor:
                continue
            if f.kind in RANGE_KINDS and not has_range:
                continue
            if f.take():
                return f
        return None

    # -- drift ------------------------------------------------------------------------------
    def on(
        self, *, route: str, action: Callable[[], object], after: int = 1, repo: str = "*"
    ) -> Trigger:
        if route not in ROUTE_GROUPS:
            raise ValueError(f"unknown route {route!r}")
        trigger = Trigger(route=route, action=action, after=after, repo=repo)
        with self._lock:
            self._triggers.append(trigger)
        return trigger

    def move_branch(
        self,
        repo: object,
        *,
        to: str,
        branch: str = "main",
        after: int = 1,
        route: str = "info",
    ) -> Trigger:
        """After the `after`-th answered `route` request for this repo, move `branch` to `to`
        (a revision of the repo): the branch moves between metadata and bytes."""
        from .repo import Repo

        if not isinstance(repo, Repo):
            raise TypeError("move_branch needs the Repo object")
        return self.on(
            route=route, after=after, repo=repo.repo_id, action=lambda: repo.move_branch(branch, to)
        )

    def answered(self, route: str, repo_id: str) -> None:
        """Called by the server after each answer; runs due triggers."""
        due: list[Trigger] = []
        with self._lock:
            for t in self._triggers:
                if (
                    t.fired
                    or route not in ROUTE_GROUPS[t.route]
                    or not fnmatch.fnmatchcase(repo_id, t.repo)
                ):
                    continue
                t.seen += 1
                if t.seen >= t.after:
                    t.fired = True
                    due.append(t)
        for t in due:
            t.action()

    def release_all(self) -> None:
        for f in list(self._faults):
            f.release()


def fault_reply(fault: Fault, route: str, bucket: str | None) -> Reply:
    """The answer of a pre-phase fault (status, rate_limit, non_json_500, link_500).
    An HTTP-date `Retry-After` is on the real clock (clients compare it with theirs)."""
    headers: list[tuple[str, str]] = []
    if fault.kind == "non_json_500":
        return Reply(
            500,
            [("Content-Type", "text/html")],
            b"<html><body><h1>500 Internal Server Error</h1></body></html>",
        )
    status = (
        500 if fault.kind == "link_500" else 429 if fault.kind == "rate_limit" else int(fault.kind)
    )
    if fault.retry_after is not None and fault.retry_after_format is not None:
        if fault.retry_after_format == "http-date":
            value = email.utils.formatdate(time.time() + fault.retry_after, usegmt=True)
        else:
            value = str(fault.retry_after)
        headers.append(("Retry-After", value))
    if fault.kind == "rate_limit" and bucket is not None and route != "cdn":
        headers.append(("RateLimit", f'"{bucket}";r=0;t={fault.retry_after}'))
    message = "Too Many Requests" if status == 429 else f"Injected fault: HTTP {status}"
    body = json.dumps({"error": message}).encode()
    return Reply(
        status, [*headers, ("X-Error-Message", message), ("Content-Type", JSON_TYPE)], body
    )
