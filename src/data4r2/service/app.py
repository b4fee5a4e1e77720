"""The FastAPI application: routes, auth, errors, body limit and metrics on one context."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request, Response

from .body_limit import BodyLimit
from .context import ServiceContext
from .errors import ErrorBody, install
from .hubapi import mount as mount_hub_api
from .intake import Intake
from .metrics import CONTENT_TYPE, ServiceMetrics
from .routes_health import router as health
from .routes_jobs import router as jobs
from .routes_mirrors import router as mirrors
from .routes_syncs import router as syncs

# Documented on every authenticated route, so clients (and schemathesis) know each answer.
_ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in (
        (401, "missing or wrong API token"),
        (403, "the Hub refuses this repo (gated, disabled)"),
        (404, "no such sync, job, repo, revision or file"),
        (413, "request body over 1 MiB"),
        (422, "invalid request: the message says which field and why"),
        (429, "the Hub rate-limits the server; retry after Retry-After"),
        (502, "the Hub answered with an error"),
        (503, "the Hub or the destination is unreachable"),
    )
}


def create_app(ctx: ServiceContext, metrics: ServiceMetrics | None = None) -> FastAPI:
    from .. import __version__

    app = FastAPI(
        title="data4r2",
        version=__version__,
        summary="Mirror Hugging Face Hub repositories into R2, S3 or a folder, as a service.",
    )
    app.state.ctx = ctx
    app.state.intake = Intake(ctx)
    app.state.metrics = metrics or ServiceMetrics(ctx.store)
    install(app)
    app.add_middleware(BodyLimit)

    app.include_router(health)
    authed = APIRouter(dependencies=[Depends(ctx.auth)], responses=_ERRORS)
    authed.include_router(syncs)
    authed.include_router(jobs)
    authed.include_router(mirrors)
    if ctx.mirrors is not None:
        from .scheduler import MirrorScheduler

        scheduler = MirrorScheduler(ctx, ctx.mirrors)
        app.state.scheduler = scheduler
        # With the server's lifetime: a `data4r2 worker` process builds no app, runs no schedule.
        app.router.on_startup.append(scheduler.start)
        app.router.on_shutdown.append(scheduler.stop)

    @authed.get("/metrics", response_class=Response, tags=["health"])
    def metrics_page(request: Request) -> Response:
        """Prometheus text format: jobs by state, bytes moved, retries by cause, queue depth."""
        rendered: bytes = request.app.state.metrics.render()
        return Response(rendered, media_type=CONTENT_TYPE)

    app.include_router(authed)

    from .web import mount as mount_dashboard  # the /ui pages: their own session auth

    mount_dashboard(app, ctx)
    mount_hub_api(app, ctx)  # last: its routes match broad patterns (/api/…, …/resolve/…)
    return app
