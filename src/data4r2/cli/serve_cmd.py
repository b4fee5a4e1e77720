"""`data4r2 serve` (API + workers) and `data4r2 worker` (more workers on the same state).

Registered by cli/main.py; imports stay inside the command bodies, so `data4r2 --help`
loads neither uvicorn nor a database driver.
"""

from __future__ import annotations

import logging
import signal
import sys

import typer

from ..domain import Event
from ..settings import Settings
from .guard import EXIT_OK
from .options import LISTEN, SERVICE, WHERE, takes

log = logging.getLogger(__name__)


def _log(debug: bool) -> None:
    # Operators read the server's log: one line per event, no secrets (the handler never
    # sees a header; the token lives only in BearerToken).
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not debug:  # one line per Hub request is noise in a server's log
        logging.getLogger("httpx2").setLevel(logging.WARNING)


@takes(WHERE, SERVICE, LISTEN, ("token", "debug"))
def serve(ctx: typer.Context, settings: Settings) -> int:
    """Run the HTTP API (and workers): clients submit syncs with `sync --worker-url`."""
    from .. import app
    from ..service.destinations import load_destinations
    from ..service.metrics import ServiceMetrics
    from ..service.server import refuse_open_without_token, serve_api

    api_token = settings.api_token.get_secret_value() if settings.api_token else None
    refuse_open_without_token(settings.host, api_token)
    named = load_destinations(settings.dest, settings.destinations)
    _log(settings.debug)
    subscribers: list[object] = []

    def emit(event: Event) -> None:
        for subscriber in subscribers:
            subscriber(event)  # type: ignore[operator]

    settings = settings.model_copy(update={"concurrency": max(1, settings.workers)})
    with app.service_context(settings, named, api_token=api_token, emit=emit) as service:
        metrics = ServiceMetrics(service.store)
        subscribers.append(metrics)
        pool = None
        if settings.workers:
            from ..service.worker import WorkerThreads

            pool = WorkerThreads(
                service,
                threads=settings.workers,
                lease_seconds=settings.lease_seconds,
                grace=settings.grace,
                emit=emit,
            )
            pool.start()
        try:
            serve_api(
                service,
                metrics,
                host=settings.host,
                port=settings.port,
                log_level="debug" if settings.debug else "info",
                on_stop=pool.stopping.set if pool is not None else lambda: None,
            )
        finally:
            if pool is not None and not pool.stop():
                log.warning(
                    "workers did not stop within %.0f s; their leases will expire", settings.grace
                )
            elif pool is not None:
                app.retire_worker(service.store, pool.worker)
    return EXIT_OK


@takes(WHERE, SERVICE, ("token", "debug"))
def worker(ctx: typer.Context, settings: Settings) -> int:
    """Run more workers on a `serve`'s queue: its --state file on this host, or DATA4R2_DB's
    PostgreSQL from any host (`--workers N` transfers at once).

    Give it the same --dest/--destinations as the server. SIGTERM stops it cleanly.
    """
    from .. import app
    from ..service.destinations import load_destinations
    from ..service.worker import WorkerThreads

    named = load_destinations(settings.dest, settings.destinations)
    _log(settings.debug)
    settings = settings.model_copy(update={"concurrency": max(1, settings.workers)})
    with app.service_context(settings, named, api_token=None, emit=lambda e: None) as service:
        pool = WorkerThreads(
            service,
            threads=max(1, settings.workers),
            lease_seconds=settings.lease_seconds,
            grace=settings.grace,
            emit=lambda e: None,
        )

        def on_signal(signum: int, frame: object) -> None:
            pool.stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        pool.start()
        queue = "PostgreSQL (DATA4R2_DB)" if settings.db else (settings.state or "the state file")
        log.info("data4r2 worker %s: %d transfers on %s", pool.worker, settings.workers, queue)
        pool.wait()
        if pool.error is not None:
            raise pool.error
        app.retire_worker(service.store, pool.worker)
    return EXIT_OK


COMMANDS = (serve, worker)
