"""Every error the API answers is JSON `{"error": code, "message": one line}` — 404s, 405s,
validation errors and our own alike — and never carries a secret or a traceback."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..domain import (
    Data4r2Error,
    DestinationError,
    DisabledRepo,
    EntryNotFound,
    GatedRepo,
    HubAuthError,
    HubError,
    RateLimited,
    RepoNotFound,
    RevisionNotFound,
    TransientError,
    UnsafePath,
    UsageError,
)

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The body of every error answer."""

    error: str
    message: str


class ApiError(Exception):
    """An answer other than success, raised from a route."""

    def __init__(
        self, status: int, error: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


# (domain error type, HTTP status, error code), most specific first. The Hub's refusals keep
# their 4xx meaning for the caller; the server's own misconfiguration (its Hub token, its
# bucket) is a 502/503, never a 500.
_DOMAIN: list[tuple[type[Data4r2Error], int, str]] = [
    (RepoNotFound, 404, "repo_not_found"),
    (RevisionNotFound, 404, "revision_not_found"),
    (EntryNotFound, 404, "file_not_found"),
    (GatedRepo, 403, "gated_repo"),
    (DisabledRepo, 403, "disabled_repo"),
    (HubAuthError, 502, "hub_refused_server_token"),
    (RateLimited, 429, "hub_rate_limited"),
    (TransientError, 503, "hub_unavailable"),
    (HubError, 502, "hub_error"),
    (DestinationError, 503, "destination_unavailable"),
    (UnsafePath, 422, "unsafe_path"),
    (UsageError, 422, "invalid_request"),
]


def from_domain(err: Data4r2Error) -> ApiError:
    for kind, status, code in _DOMAIN:
        if isinstance(err, kind):
            headers = None
            if isinstance(err, RateLimited) and err.retry_after is not None:
                headers = {"Retry-After": str(max(1, round(err.retry_after)))}
            return ApiError(status, code, err.message, headers)
    return ApiError(502, "upstream_error", err.message)


def _json(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> Any:
    body = ErrorBody(error=error, message=" ".join(message.split()))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
}


def _validation_message(exc: RequestValidationError) -> str:
    """The first problem, said as `field: what is wrong` (the input itself is never echoed)."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    ctx = first.get("ctx") or {}
    what = str(ctx["error"]) if "error" in ctx else str(first.get("msg", "invalid"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {what}{more}"


def install(app: FastAPI) -> None:
    """Route every failure through `_json`."""

    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Any:
        return _json(exc.status, exc.error, exc.message, exc.headers)

    @app.exception_handler(Data4r2Error)
    async def _domain(request: Request, exc: Data4r2Error) -> Any:
        api = from_domain(exc)
        return _json(api.status, api.error, api.message, api.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        return _json(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Any:
        code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return _json(exc.status_code, code, str(exc.detail), dict(exc.headers or {}) or None)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> Any:
        # A bug: logged with its traceback for the operator, one line for the caller.
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _json(500, "internal_error", f"internal error: {type(exc).__name__}")
