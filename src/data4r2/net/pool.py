"""Keep-alive http.client connections, by origin, for the Hub download and the S3 hot path.

Both legs use stdlib http.client for zero-copy bodies (docs/design.md), so neither gets
urllib3's pool; this is the part of it they need. Two rules, one place:

- A connection is reused only if it is still good: readable while idle means the server
  closed it (its keep-alive timeout) or sent junk, so it is dropped before a request is
  written into it (urllib3's `is_connection_dropped`, from the same `wait_for_read`).
  The server may still close it in the instant before the request arrives; callers resend
  once on a fresh connection when a reused one fails before any answer (`reused` says so).
- New connections connect under `connect_timeout` (TCP + TLS), then every socket operation
  has `timeout`: a dead peer mid-transfer surfaces instead of hanging.

Thread-safe: the lock is held only to take or return a connection, once per request.
Not a cap on concurrency: callers bound their own requests in flight; a burst over
`max_idle_per_origin` opens extra connections and closes them on release.
"""

from __future__ import annotations

import http.client
import ssl
import threading

from urllib3.util.wait import wait_for_read

Origin = tuple[str, str, int]  # (scheme, host, port): what a keep-alive connection can serve


class ConnectionPool:
    def __init__(
        self,
        timeout: float,
        ssl_context: ssl.SSLContext | None,
        max_idle_per_origin: int = 32,  # above any file concurrency a run uses in practice
        *,
        connect_timeout: float | None = None,
    ) -> None:
        self._timeout = timeout
        self._connect_timeout = timeout if connect_timeout is None else connect_timeout
        self._ssl_context = ssl_context
        self._max_idle = max_idle_per_origin
        self._lock = threading.Lock()
        self._idle: dict[Origin, list[http.client.HTTPConnection]] = {}  # most recent last

    def acquire(self, origin: Origin) -> tuple[http.client.HTTPConnection, bool]:
        """A connected connection to `origin`, and whether it served a request before.

        Raises OSError when a new connection cannot be made.
        """
        while True:
            with self._lock:
                stack = self._idle.get(origin)
                conn = stack.pop() if stack else None  # LIFO: the warmest one
            if conn is None:
                return self.connect(origin), False
            if _still_good(conn):
                return conn, True
            conn.close()

    def connect(self, origin: Origin) -> http.client.HTTPConnection:
        """A new connection to `origin`, outside the idle set."""
        scheme, host, port = origin
        conn: http.client.HTTPConnection
        if scheme == "https":
            if self._ssl_context is None:
                raise ValueError(f"no TLS context for https://{host}:{port}")
            conn = http.client.HTTPSConnection(
                host, port, timeout=self._connect_timeout, context=self._ssl_context
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
        try:
            conn.connect()
        except BaseException:
            conn.close()
            raise
        if conn.sock is not None:
            conn.sock.settimeout(self._timeout)
        return conn

    def release(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        """Give back a connection whose last response was read to its end."""
        with self._lock:
            stack = self._idle.setdefault(origin, [])
            if len(stack) < self._max_idle:
                stack.append(conn)
                return
        conn.close()

    def idle(self, origin: Origin) -> int:
        """How many idle connections to `origin` are kept (for tests and diagnostics)."""
        with self._lock:
            return len(self._idle.get(origin, ()))

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            stacks, self._idle = list(self._idle.values()), {}
        for stack in stacks:
            for conn in stack:
                conn.close()


def _still_good(conn: http.client.HTTPConnection) -> bool:
    return conn.sock is not None and not wait_for_read(conn.sock, timeout=0.0)
