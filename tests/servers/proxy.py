"""A recording (and fault-injecting) HTTP proxy on 127.0.0.1 in front of a test server.

It parses only the client→server direction — request heads and Content-Length bodies — so
tests can assert the exact wire format a client sends (no `Expect: 100-continue`, no
aws-chunked framing, Content-Length always present), whether over http or, terminating TLS
with a test certificate, over https. Responses are relayed as raw bytes. Faults: flip a
body byte of chosen requests (corruption in transit), swallow the answer to a chosen request
(the server acts, the client sees the connection drop), hang up on a chosen request without
forwarding it, drop idle client connections.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    headers: dict[str, str]  # lower-cased names
    connection: int  # which client connection carried it

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


Predicate = Callable[[Request], bool]


@dataclass
class RecordingProxy:
    upstream: tuple[str, int]
    server_tls: ssl.SSLContext | None = None
    corrupt: Predicate | None = None  # flip the first body byte of matching requests
    swallow: Predicate | None = None  # forward matching requests, never relay the answer
    hang_up: Predicate | None = None  # close the connection on matching requests, unsent
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None
    _clients: list[socket.socket] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        assert self._listener is not None
        scheme = "https" if self.server_tls else "http"
        return f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"

    def start(self) -> RecordingProxy:
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self.drop_client_connections()

    def drop_client_connections(self) -> None:
        """Close every client connection, as a server's idle timeout would."""
        with self._lock:
            clients, self._clients = self._clients, []
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            number = self.connections
        try:
            if self.server_tls is not None:
                client = self.server_tls.wrap_socket(client, server_side=True)
        except (OSError, ssl.SSLError):
            client.close()
            return
        with self._lock:
            self._clients.append(client)
        upstream = socket.create_connection(self.upstream)
        threading.Thread(target=_pump, args=(upstream, client), daemon=True).start()
        reader = client.makefile("rb")
        try:
            while self._relay_one(reader, upstream, client, number):
                pass
        except OSError:
            pass
        finally:
            reader.close()
            upstream.close()
            client.close()

    def _relay_one(
        self, reader: io.BufferedReader, upstream: socket.socket, client: socket.socket, number: int
    ) -> bool:
        line = reader.readline()
        if not line:
            return False
        head = [line]
        headers: dict[str, str] = {}
        while True:
            raw = reader.readline()
            head.append(raw)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        method, target, _ = line.decode("latin-1").split(" ", 2)
        request = Request(method, target, headers, number)
        with self._lock:
            self.requests.append(request)
        if "content-length" not in headers:
            if "transfer-encoding" in headers:  # recorded; relay the rest blindly
                upstream.sendall(b"".join(head))
                while chunk := reader.read1(65536):
                    upstream.sendall(chunk)
                return False
            body = b""
        else:
            body = reader.read(int(headers["content-length"]))
        if self.corrupt is not None and body and self.corrupt(request):
            body = bytes([body[0] ^ 0xFF]) + body[1:]
        if self.hang_up is not None and self.hang_up(request):
            client.shutdown(socket.SHUT_RDWR)
            return False
        if self.swallow is not None and self.swallow(request):
            # Let the server act on it, then hang up on the client without an answer.
            with socket.create_connection(self.upstream) as side:
                side.sendall(b"".join(head) + body)
                answer = http.client.HTTPResponse(side)
                answer.begin()
                answer.read()
            client.shutdown(socket.SHUT_RDWR)
            return False
        upstream.sendall(b"".join(head) + body)
        return True


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(1 << 16):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
