"""What every route handler shares: the request context, fault lookup, revisions, JSON, paging."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors
from .errors import HubError
from .faults import Fault, Phase
from .messages import JSON_TYPE, Reply, Request
from .repo import Commit, Repo
from .routes import Route, split_revision

if TYPE_CHECKING:
    from .server import FakeHub


@dataclass
class Ctx:
    """One request as the handlers see it."""

    req: Request
    route: Route
    repo: Repo | None
    subject: str  # what `path_glob` faults match: the file or directory path, else ""
    endpoint: str  # http://<Host>

    @property
    def repo_id(self) -> str:
        return self.route.repo_id or ""


def bucket_of(route: Route) -> str | None:
    if route.kind in ("resolve", "resolve_cache"):
        return "resolvers"
    if route.kind == "unknown":
        return None
    return "api"


def text_reply(status: int, text: str, headers: list[tuple[str, str]]) -> Reply:
    return Reply(status, [*headers, ("Content-Type", "text/plain; charset=utf-8")], text.encode())


class RouteBase:
    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub

    def error_reply(self, e: HubError) -> Reply:
        headers = [("X-Error-Message", e.message)]
        if e.code:
            headers.insert(0, ("X-Error-Code", e.code))
        body = json.dumps({"error": e.message}).encode()
        return Reply(e.status, [*headers, *e.headers, ("Content-Type", JSON_TYPE)], body)

    def _take(self, ctx: Ctx, phase: Phase, *, has_range: bool = False) -> Fault | None:
        return self.hub.faults.take(
            phase,
            route=ctx.route.kind,
            subject=ctx.subject,
            repo_id=ctx.repo_id,
            method=ctx.req.method,
            has_range=has_range,
            has_cursor=ctx.req.param("cursor") is not None,
        )

    def _revision(self, ctx: Ctx, repo: Repo, *, allow_rest: bool) -> tuple[Commit, str]:
        if not ctx.route.tail:
            commit = repo.resolve("main")
            if commit is None:
                raise errors.revision_not_found("main")
            return commit, ""
        rev, commit, rest = split_revision(ctx.route.tail, repo.resolve)
        if commit is None or (rest and not allow_rest):
            raise errors.revision_not_found("/".join([rev, rest]) if rest and commit else rev)
        return commit, rest

    def _json(self, ctx: Ctx, data: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
        body = json.dumps(data, ensure_ascii=False).encode()
        reply = Reply(200, [*(headers or []), ("Content-Type", JSON_TYPE)], body)
        fault = self._take(ctx, "json")
        if fault is not None:  # truncated_json
            reply.body = body[: max(1, len(body) // 2)]
            reply.fault = str(fault.kind)
        else:
            fault = self._take(ctx, "body")
            if fault is not None and fault.kind not in ("ignore_range", "wrong_content_range"):
                reply.body_fault, reply.fault = fault, str(fault.kind)
        return reply

    def _paged(self, ctx: Ctx, items: list[Any], size: int, render: Callable[[Any], Any]) -> Reply:
        req = ctx.req
        chunk, link = self.hub.pager.page(
            items,
            size=size,
            cursor=req.param("cursor"),
            host=req.host or self.hub.url[7:],
            raw_path=req.path,
            raw_query=req.query,
        )
        return self._json(ctx, [render(x) for x in chunk], [("Link", link)] if link else [])
