"""FakeHub: two stdlib HTTP/1.1 servers (Hub origin + CDN origin) on 127.0.0.1.

File bodies go out with `socket.sendfile` (files on disk) or one `sendall` of a memoryview
(bytes in memory), so large downloads run at loopback speed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, BinaryIO
from urllib.parse import quote

from .app import HubApp
from .auth import TokenInfo
from .cdn import Cdn
from .clock import FakeClock
from .faults import Fault, Faults
from .journal import Journal, JournalEntry
from .messages import FileSlice, Reply, Request
from .paging import Pager
from .ratelimit import RateLimiter, RateLimits
from .repo import Blob, Repo

_HEADER_SAFE = " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"


def _header_value(value: str) -> str:
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return quote(value, safe=_HEADER_SAFE)
    return value


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(
        self, port: int, origin: str, app: Callable[[Request], Reply], hub: FakeHub
    ) -> None:
        self.origin = origin
        self.app = app
        self.hub = hub
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conns_lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that resets or vanishes is normal here; anything else is a fakehub bug."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)) or exc is None:
            return
        self.hub.server_errors.append(exc)
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Abort(Exception):
    """Drop the connection now (injected disconnect)."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        return "fakecdn" if self.server.origin == "cdn" else "fakehub"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        headers = {k.lower(): v for k, v in self.headers.items()}
        req = Request(self.command, path, query, headers, self._read_body(), self.client_address[0])
        reply = self.server.app(req)
        self.server.hub._record(req, reply, self.server.origin)
        self._send(req, reply)

    def _send(self, req: Request, reply: Reply) -> None:
        status = reply.status
        self.send_response(status)
        for name, value in reply.headers:
            self.send_header(name, _header_value(value))
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif status != 304 and status >= 200 and status != 204:
            self.send_header("Content-Length", str(len(reply.body)))
        if reply.close:
            self.send_header("Connection", "close")
        self.end_headers()
        if req.method == "HEAD" or status in (204, 304):
            return
        try:
            self._write_body(reply)
        except _Abort:
            self._drop()
        except OSError:  # client went away
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _write_body(self, reply: Reply) -> None:
        sock = self.connection
        body = reply.body
        if reply.chunked:
            assert isinstance(body, bytes)
            for i in range(0, len(body), 65536):
                chunk = body[i : i + 65536]
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
            return
        if isinstance(body, FileSlice):
            src: bytes | Blob = body.blob
            start, end = body.start, body.end
        else:
            src, start, end = body, 0, len(body)
        with _Writer(sock, src, self.server.hub.stopping) as w:
            self._write_with_fault(w, start, end, reply.body_fault)

    def _write_with_fault(self, w: _Writer, start: int, end: int, fault: Fault | None) -> None:
        kind = fault.kind if fault is not None else None
        if fault is None or kind in ("ignore_range", "wrong_content_range"):
            w.write(start, end)
        elif kind == "disconnect":
            w.write(start, min(end, start + fault.after_bytes))
            raise _Abort
        elif kind == "stall":
            cut = min(end, start + fault.after_bytes)
            w.write(start, cut)
            fault.wait_released(fault.duration)
            if self.server.hub.stopping.is_set():
                raise _Abort
            w.write(cut, end)
        elif kind == "trickle":
            w.write(start, end, rate=fault.rate)
        elif kind == "corrupt":
            k = fault.offset
            if start <= k < end:
                w.write(start, k)
                w.send(bytes([w.byte_at(k) ^ 0xFF]))
                w.write(k + 1, end)
            else:
                w.write(start, end)
        elif kind == "too_long":
            w.write(start, end)
            w.send(b"X" * fault.extra)
            raise _Abort
        else:  # pragma: no cover - validated in Fault
            raise AssertionError(kind)


class _Writer:
    """Writes byte ranges of a Blob (sendfile from disk, or memoryview) or of bytes."""

    def __init__(self, sock: socket.socket, src: bytes | Blob, stopping: threading.Event) -> None:
        self.sock = sock
        self.stopping = stopping
        self.file: BinaryIO | None = None
        if isinstance(src, Blob):
            if src.file is not None:
                self.file = src.file.open("rb")
                self.data: memoryview | None = None
            else:
                assert src.data is not None
                self.data = memoryview(src.data)
        else:
            self.data = memoryview(src)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.file is not None:
            self.file.close()

    def byte_at(self, k: int) -> int:
        if self.data is not None:
            return self.data[k]
        assert self.file is not None
        return os.pread(self.file.fileno(), 1, k)[0]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def write(self, start: int, end: int, *, rate: int | None = None) -> None:
        if end <= start:
            return
        if rate is None:
            self._raw(start, end)
            return
        step = max(1, rate // 20)
        pos = start
        while pos < end:
            nxt = min(end, pos + step)
            self._raw(pos, nxt)
            pos = nxt
            if pos < end and self.stopping.wait(0.05):
                raise _Abort

    def _raw(self, start: int, end: int) -> None:
        if self.data is not None:
            self.sock.sendall(self.data[start:end])
        else:
            assert self.file is not None
            self.sock.sendfile(self.file, start, end - start)


class FakeHub:
    """A fake Hugging Face Hub (docs/hub.md) for tests and benchmarks.

    hub = FakeHub(tokens={"hf_good": {"user": "alice", "approved": {"acme/gated"}}})
    hub.add(repo)
    with hub:                     # start() / stop()
        httpx.get(hub.url + "/api/models/acme/model")
    """

    def __init__(
        self,
        *,
        page_size: int = 1000,
        expand_page_size: int = 50,
        commits_page_size: int = 50,
        tokens: Mapping[str, TokenInfo | Mapping[str, Any]] | None = None,
        rate_limits: RateLimits | None = RateLimits(),  # noqa: B008 - frozen, shared safely
        resolve_cache_redirect: bool = True,
        gzip_text: bool = True,
        cdn_ttl: int = 3600,
        clock: FakeClock | None = None,
        journal_limit: int | None = None,
        port: int = 0,
        cdn_port: int = 0,
    ) -> None:
        self.page_size = page_size
        self.expand_page_size = expand_page_size
        self.commits_page_size = commits_page_size
        self.tokens: dict[str, TokenInfo] = {
            k: TokenInfo.parse(v) for k, v in (tokens or {}).items()
        }
        self.resolve_cache_redirect = resolve_cache_redirect
        self.gzip_text = gzip_text
        self.cdn_ttl = cdn_ttl
        self.clock = clock or FakeClock()
        self.rate_limiter = (
            RateLimiter(rate_limits, self.clock) if rate_limits is not None else None
        )
        self.journal = Journal(journal_limit)
        self.faults = Faults()
        self.server_errors: list[BaseException] = []
        self.stopping = threading.Event()
        self.pager = Pager(os.urandom(16))
        self.cdn = Cdn(self)
        self.app = HubApp(self)
        self._repos: dict[tuple[str, str], Repo] = {}
        self._port, self._cdn_port = port, cdn_port
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self.url = ""
        self.cdn_url = ""

    # -- repos ----------------------------------------------------------------------------
    def add(self, repo: Repo) -> Repo:
        repo.commits()  # commits staged files as "initial commit" if nothing was committed
        self._repos[repo.key] = repo
        return repo

    def remove(self, repo: Repo) -> None:
        self._repos.pop(repo.key, None)

    def get_repo(self, repo_type: str | None, repo_id: str | None) -> Repo | None:
        if repo_type is None or repo_id is None:
            return None
        return self._repos.get((repo_type, repo_id))

    @property
    def repos(self) -> list[Repo]:
        return list(self._repos.values())

    def add_token(self, token: str, info: TokenInfo | Mapping[str, Any]) -> None:
        self.tokens[token] = TokenInfo.parse(info)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeHub:
        if self._servers:
            return self
        self.stopping.clear()
        hub = _Server(self._port, "hub", self.app.handle, self)
        cdn = _Server(self._cdn_port, "cdn", self.cdn.handle, self)
        self._servers = [hub, cdn]
        self.url = f"http://127.0.0.1:{hub.server_address[1]}"
        self.cdn_url = f"http://127.0.0.1:{cdn.server_address[1]}"
        for server in self._servers:
            t = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name=f"fakehub-{server.origin}",
                daemon=True,
            )
            t.start()
            self._threads.append(t)
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.faults.release_all()
        closers = [threading.Thread(target=s.shutdown) for s in self._servers]
        for t in closers:
            t.start()
        for t in closers:
            t.join()
        for server in self._servers:
            server.close_connections()
            server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers, self._threads = [], []

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- journal --------------------------------------------------------------------------
    def _record(self, req: Request, reply: Reply, origin: str) -> None:
        auth = req.headers.get("authorization")
        token = auth.partition(" ")[2].strip() or None if auth else None
        self.journal.record(
            JournalEntry(
                method=req.method,
                path=req.path,
                query=req.query,
                range=req.range,
                token=token,
                authorization=auth is not None,
                origin="cdn" if origin == "cdn" else "hub",
                status=reply.status,
                route=reply.route or "unknown",
                fault=reply.fault,
                body_length=0 if req.method == "HEAD" else len(reply.body),
                headers=dict(req.headers),
            )
        )
