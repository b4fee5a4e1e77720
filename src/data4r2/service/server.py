"""Run the API on uvicorn beside the worker threads, and stop both cleanly on SIGTERM.

uvicorn owns the signal handlers while it runs: SIGTERM/SIGINT make it stop accepting,
finish in-flight requests and return; then the workers get the grace period to finish or
release their jobs, and the process exits 0.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import socket
from collections.abc import Iterator

import uvicorn

from ..domain import UsageError
from .app import create_app
from .context import ServiceContext
from .metrics import ServiceMetrics

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn re-raises the SIGTERM it caught once it has shut down, which would kill the
    process before the workers get their grace period; we exit ourselves, with 0, after."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()  # uvicorn's own list (server.py), read at exit


def is_loopback(host: str) -> bool:
    """True when `host` only ever listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def refuse_open_without_token(host: str, token: str | None) -> None:
    if token is None and not is_loopback(host):
        raise UsageError(
            f"refusing to serve on {host} without an API token: set DATA4R2_API_TOKEN "
            "(e.g. $(openssl rand -hex 32)) or listen on 127.0.0.1"
        )


def serve_api(
    ctx: ServiceContext,
    metrics: ServiceMetrics,
    *,
    host: str,
    port: int,
    log_level: str = "info",
) -> None:
    """Serve until SIGTERM/SIGINT. `port` 0 picks a free one (the log line says which)."""
    app = create_app(ctx, metrics)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    log.warning("data4r2 serve: listening on http://%s:%d", host, sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=log_level == "debug",
        server_header=False,
        timeout_graceful_shutdown=10,
    )
    _Server(config).run(sockets=[sock])
