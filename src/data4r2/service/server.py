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
from collections.abc import Callable, Iterator
from types import FrameType

import uvicorn

from ..domain import UsageError
from .app import create_app
from .context import ServiceContext
from .metrics import ServiceMetrics

log = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn, adjusted for workers beside it: the workers hear SIGTERM at once (uvicorn
    itself may wait for idle keep-alive connections before it returns), and uvicorn's
    re-raise of the signal after its shutdown is dropped, which would kill the process
    before the workers had their grace period; we exit ourselves, with 0, after."""

    def __init__(self, config: uvicorn.Config, on_stop: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_stop = on_stop

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.on_stop()

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
    on_stop: Callable[[], None] = lambda: None,
) -> None:
    """Serve until SIGTERM/SIGINT, then call `on_stop`. `port` 0 picks a free one (the log
    line says which)."""
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
    _Server(config, on_stop).run(sockets=[sock])
