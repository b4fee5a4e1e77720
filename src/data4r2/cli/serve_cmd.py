"""`data4r2 serve` (API + workers) and `data4r2 worker` (more workers on the same state)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from ..domain import Event
from ..settings import Settings, load_settings
from .main import EXIT_OK, Debug, Dest, State, Token, _guard

Destinations = Annotated[
    Path | None,
    typer.Option(
        "--destinations",
        metavar="FILE",
        envvar="DATA4R2_DESTINATIONS",
        help="TOML file of named destinations a request may pick (see README).",
        show_default=False,
    ),
]
Host = Annotated[
    str | None,
    typer.Option(
        "--host", envvar="DATA4R2_HOST", help="Address to listen on.", show_default="127.0.0.1"
    ),
]
Port = Annotated[
    int | None, typer.Option("--port", envvar="DATA4R2_PORT", help="TCP port.", show_default="8787")
]
Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        metavar="N",
        envvar="DATA4R2_WORKERS",
        help="Transfers in flight in this process (0: API only).",
        show_default="8",
    ),
]
LeaseSeconds = Annotated[
    float | None,
    typer.Option(
        "--lease-seconds",
        metavar="S",
        envvar="DATA4R2_LEASE_SECONDS",
        help="A claimed job comes back to the queue this long after its worker went silent.",
        show_default="60",
    ),
]
Grace = Annotated[
    float | None,
    typer.Option(
        "--grace",
        metavar="S",
        envvar="DATA4R2_GRACE",
        help="On SIGTERM, seconds to finish or give back running jobs.",
        show_default="30",
    ),
]


def _settings(**values: object) -> Settings:
    return load_settings(**values)


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


def register(cli: typer.Typer) -> None:
    """Add `serve` and `worker` to the root command."""

    @cli.command()
    def serve(
        dest: Dest = None,
        destinations: Destinations = None,
        host: Host = None,
        port: Port = None,
        workers: Workers = None,
        lease_seconds: LeaseSeconds = None,
        grace: Grace = None,
        state: State = None,
        token: Token = None,
        debug: Debug = False,
    ) -> int:
        """Run the HTTP API (and workers): clients submit syncs with `sync --worker-url`."""

        def body() -> int:
            from .. import app
            from ..service.destinations import load_destinations
            from ..service.metrics import ServiceMetrics
            from ..service.server import refuse_open_without_token, serve_api

            settings = _settings(
                dest=dest,
                destinations=destinations,
                host=host,
                port=port,
                workers=workers,
                lease_seconds=lease_seconds,
                grace=grace,
                state=state,
                token=token,
                debug=debug or None,
            )
            api_token = settings.api_token.get_secret_value() if settings.api_token else None
            refuse_open_without_token(settings.host, api_token)
            named = load_destinations(settings.dest, settings.destinations)
            _log(settings.debug)
            subscribers: list[object] = []

            def emit(event: Event) -> None:
                for subscriber in subscribers:
                    subscriber(event)  # type: ignore[operator]

            settings = settings.model_copy(update={"concurrency": max(1, settings.workers)})
            with app.service_context(settings, named, api_token=api_token, emit=emit) as ctx:
                metrics = ServiceMetrics(ctx.store)
                subscribers.append(metrics)
                pool = None
                if settings.workers:
                    from ..service.worker import WorkerThreads

                    pool = WorkerThreads(
                        ctx,
                        threads=settings.workers,
                        lease_seconds=settings.lease_seconds,
                        grace=settings.grace,
                        emit=emit,
                    )
                    pool.start()
                try:
                    serve_api(
                        ctx,
                        metrics,
                        host=settings.host,
                        port=settings.port,
                        log_level="debug" if settings.debug else "info",
                        on_stop=pool.stopping.set if pool is not None else lambda: None,
                    )
                finally:
                    if pool is not None and not pool.stop():
                        logging.getLogger(__name__).warning(
                            "workers did not stop within %.0f s; their leases will expire",
                            settings.grace,
                        )
            return EXIT_OK

        return _guard(debug, False, body)

    @cli.command()
    def worker(
        dest: Dest = None,
        destinations: Destinations = None,
        workers: Workers = None,
        lease_seconds: LeaseSeconds = None,
        grace: Grace = None,
        state: State = None,
        token: Token = None,
        debug: Debug = False,
    ) -> int:
        """Run more workers against the same --state file as a `serve` on this host.

        Give it the same --dest/--destinations as the server. SIGTERM stops it cleanly.
        """

        def body() -> int:
            from .. import app
            from ..service.destinations import load_destinations
            from ..service.worker import WorkerThreads

            settings = _settings(
                dest=dest,
                destinations=destinations,
                workers=workers,
                lease_seconds=lease_seconds,
                grace=grace,
                state=state,
                token=token,
                debug=debug or None,
            )
            named = load_destinations(settings.dest, settings.destinations)
            _log(settings.debug)
            settings = settings.model_copy(update={"concurrency": max(1, settings.workers)})
            with app.service_context(settings, named, api_token=None, emit=lambda e: None) as ctx:
                pool = WorkerThreads(
                    ctx,
                    threads=max(1, settings.workers),
                    lease_seconds=settings.lease_seconds,
                    grace=settings.grace,
                    emit=lambda e: None,
                )
                stopped = threading.Event()

                def on_signal(signum: int, frame: object) -> None:
                    stopped.set()
                    pool.stopping.set()

                signal.signal(signal.SIGTERM, on_signal)
                signal.signal(signal.SIGINT, on_signal)
                pool.start()
                logging.getLogger(__name__).info(
                    "data4r2 worker: %d transfers on %s", settings.workers, settings.state
                )
                pool.wait()
                if pool.error is not None:
                    raise pool.error
            return EXIT_OK

        return _guard(debug, False, body)
