"""The Hub origin: entry point, rate limits, pre-answer faults and routing (docs/hub.md §1–§5).
The routes themselves live in `metadata.py` and `downloads.py`."""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Callable

from . import errors
from .auth import Caller, caller_from, check_repo
from .downloads import DownloadRoutes
from .errors import HubError
from .faults import fault_reply
from .handlers import Ctx, bucket_of
from .messages import Reply, Request
from .metadata import MetadataRoutes
from .repo import Repo
from .routes import Route, parse_route, split_revision


class HubApp(MetadataRoutes, DownloadRoutes):
    def handle(self, req: Request) -> Reply:
        route = parse_route(req.path)
        repo = (
            self.hub.get_repo(route.repo_type, route.repo_id)
            if route.repo_id and route.repo_type
            else None
        )
        ctx = Ctx(
            req, route, repo, self._subject(route, repo), f"http://{req.host or self.hub.url[7:]}"
        )
        common = [("X-Request-Id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}")]
        try:
            caller: Caller | None = caller_from(
                req.headers.get("authorization"), self.hub.tokens, req.client_ip
            )
            caller_error: HubError | None = None
        except HubError as e:
            caller, caller_error = None, e
        try:
            reply = self._limit(ctx, caller, common)
            if reply is None:
                reply = self._pre_fault(ctx) or self._route(ctx, caller, caller_error)
        except HubError as e:
            reply = self.error_reply(e)
        except Exception as e:  # a bug in the fake: say so loudly
            self.hub.server_errors.append(e)
            traceback.print_exc()
            reply = self.error_reply(HubError(500, f"fakehub bug: {e!r}"))
        overridden = {k.lower() for k, _ in reply.headers}
        reply.headers = [*(h for h in common if h[0].lower() not in overridden), *reply.headers]
        reply.route = route.kind
        self.hub.faults.answered(route.kind, ctx.repo_id)
        return reply

    def _subject(self, route: Route, repo: Repo | None) -> str:
        if route.kind == "resolve_cache":
            return route.file_path or ""
        if route.kind in ("resolve", "tree") and route.tail:
            resolve = repo.resolve if repo is not None else (lambda _rev: None)
            return split_revision(route.tail, resolve)[2]
        return ""

    def _limit(
        self, ctx: Ctx, caller: Caller | None, common: list[tuple[str, str]]
    ) -> Reply | None:
        limiter = self.hub.rate_limiter
        bucket = bucket_of(ctx.route)
        if limiter is None or bucket is None:
            return None
        info = caller.info if caller else None
        quotas = (info.quota if info and info.quota else None) or (
            limiter.limits.user if info else limiter.limits.anonymous
        )
        identity = caller.identity if caller else f"ip:{ctx.req.client_ip}"
        verdict = limiter.hit(identity, bucket, quotas[bucket])
        common.extend(verdict.headers)
        if verdict.allowed:
            return None
        msg = (
            f"Too many requests: you have reached your '{bucket}' rate limit "
            f"(retry in {verdict.reset}s)."
        )
        return self.error_reply(HubError(429, msg))

    def _pre_fault(self, ctx: Ctx) -> Reply | None:
        fault = self._take(ctx, "pre")
        if fault is None:
            return None
        reply = fault_reply(fault, ctx.route.kind, bucket_of(ctx.route))
        reply.fault = str(fault.kind)
        return reply

    # -- routing --------------------------------------------------------------------------
    def _route(self, ctx: Ctx, caller: Caller | None, caller_error: HubError | None) -> Reply:
        kind = ctx.route.kind
        if kind == "unknown":
            raise errors.not_found()
        if caller_error is not None:
            raise caller_error
        assert caller is not None
        if kind == "whoami":
            return self._whoami(ctx, caller)
        content = kind in ("resolve", "resolve_cache", "xet_token")
        repo = check_repo(ctx.repo, caller, content=content, endpoint=ctx.endpoint)
        handler: Callable[[Ctx, Repo], Reply] = getattr(self, "_" + kind)
        allowed = ("POST",) if kind == "paths_info" else ("GET", "HEAD")
        if ctx.req.method not in allowed:
            raise HubError(405, f"Method {ctx.req.method} not allowed")
        return handler(ctx, repo)
