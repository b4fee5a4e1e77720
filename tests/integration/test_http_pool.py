"""The one keep-alive pool both hand-written HTTP legs use (net/pool.py), against a real socket.

The server answers one request per connection and then, on the test's word, closes that
connection while it sits idle in the pool, as a server's keep-alive timeout does.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator

import pytest
from botocore.credentials import Credentials
from urllib3.util.wait import wait_for_read

from data4r2.hub.stream import ConnectionPool as HubPool
from data4r2.net.pool import ConnectionPool
from data4r2.sinks.s3_wire import S3Wire


class ClosingServer:
    """HTTP/1.1 on 127.0.0.1: answers each request 200, keeps the connection until told."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.accepted = 0
        self.requests: list[int] = []  # the connection number each request came on
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                number = self.accepted
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        data = b""
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    head, _, rest = data.partition(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            length = int(value)
                    if len(rest) < length:
                        break
                    data = rest[length:]
                    with self._lock:
                        self.requests.append(number)
                    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nETag: "e"\r\n\r\nok')
        except OSError:
            return

    def close_idle(self) -> None:
        """Close every connection from the server's side (FIN), as a keep-alive timeout does."""
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def stop(self) -> None:
        self._listener.close()
        self.close_idle()


@pytest.fixture
def server() -> Iterator[ClosingServer]:
    s = ClosingServer()
    yield s
    s.stop()


def _get(pool: ConnectionPool, origin: tuple[str, str, int]) -> tuple[socket.socket, bool]:
    conn, reused = pool.acquire(origin)
    conn.request("GET", "/")
    assert conn.getresponse().read() == b"ok"
    sock = conn.sock
    assert sock is not None
    pool.release(origin, conn)
    return sock, reused


def _await_fin(sock: socket.socket) -> None:
    # Readable = the server's FIN arrived (nothing is consumed); a deadline, not a sleep.
    assert wait_for_read(sock, timeout=5.0)


@pytest.mark.parametrize("pool_class", [HubPool, ConnectionPool], ids=["hub-leg", "module"])
def test_a_connection_the_server_closed_while_idle_is_not_reused(
    server: ClosingServer, pool_class: type[ConnectionPool]
) -> None:
    pool = pool_class(5.0, ssl.create_default_context())
    origin = ("http", "127.0.0.1", server.port)
    first, _ = _get(pool, origin)
    second, reused = _get(pool, origin)
    assert reused and second is first  # kept alive while the server kept it
    server.close_idle()
    _await_fin(first)
    third, reused = _get(pool, origin)
    assert not reused and third is not first
    assert server.requests == [1, 1, 2]  # the next request went on a new connection, first try
    pool.close()


def test_the_s3_leg_sends_on_a_new_connection_after_the_server_closed_the_idle_one(
    server: ClosingServer,
) -> None:
    wire = S3Wire(
        f"http://127.0.0.1:{server.port}", "bucket", Credentials("ak", "sk"), "auto", "", 4
    )
    body = memoryview(b"0123456789")
    assert wire.put("k", body, {}).status == 200
    idle = wire._pool._idle[("http", "127.0.0.1", server.port)][0]  # white-box: to await FIN
    assert idle.sock is not None
    server.close_idle()
    _await_fin(idle.sock)
    assert wire.put("k", body, {}).status == 200
    assert server.requests == [1, 2]  # through the shared pool, on a new connection
    wire.close()
