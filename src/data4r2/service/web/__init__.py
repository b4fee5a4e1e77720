"""The web dashboard at /ui: sign in with the API token, watch, submit, retry and cancel syncs.

Server-rendered (Jinja2) with a little script for live updates; templates and static files
ship in the package, and nothing is fetched from another host (offline networks work).
`mount` adds it to the service's FastAPI app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import Lifespan

from ..context import ServiceContext
from .routes import PageNotFound, SignInRequired, router, set_session_cookie, templates
from .session import Refusal, Sessions
from .throughput import Throughput

STATIC = Path(__file__).parent / "static"
# Everything from this server, nothing inline but the SVG chart's attributes: a stored
# repo name or error text cannot run script, and the page cannot load anything remote.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def mount(app: FastAPI, ctx: ServiceContext) -> None:
    app.state.web_sessions = Sessions()
    throughput = app.state.web_throughput = Throughput(ctx)
    _sample_while_serving(app, throughput)
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if not ctx.auth.enabled:  # loopback without a token: a session for its CSRF value
            # Relative: never a host taken from the request's headers.
            again = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse(again if request.method == "GET" else "/ui", 303)
            set_session_cookie(request, response, request.app.state.web_sessions.issue()[1])
            return response
        if request.url.path.startswith("/ui/live/") or request.url.path.endswith("/live"):
            return Response("sign in again", status_code=401)  # the script reloads the page
        why = exc.refusal.name.lower() if exc.refusal is not Refusal.NONE else ""
        return RedirectResponse("/ui/login" + (f"?why={why}" if why else ""), status_code=303)

    @app.exception_handler(PageNotFound)
    async def _not_found(request: Request, exc: PageNotFound) -> Response:
        response: Response = templates.TemplateResponse(
            request,
            "error.html",
            {"auth_enabled": ctx.auth.enabled, "version": ctx.version, "message": exc.message},
            status_code=404,
        )
        return response

    @app.middleware("http")
    async def _secure_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        path = request.url.path
        if path == "/ui" or path.startswith("/ui/"):
            if path.startswith("/ui/static/"):  # revalidated (ETag), so an upgrade shows at once
                response.headers.setdefault("Cache-Control", "no-cache")
            for name, value in _HEADERS.items():
                response.headers.setdefault(name, value)
        return response


def _sample_while_serving(app: FastAPI, throughput: Throughput) -> None:
    """Run the throughput sampler for as long as the server runs (its lifespan), around
    whatever lifespan the app already has. An app that is never served starts no thread."""
    inner: Lifespan[FastAPI] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        throughput.start()
        try:
            async with inner(app):  # the service's own lifespan keeps no state to pass on
                yield
        finally:
            throughput.stop()

    app.router.lifespan_context = lifespan
