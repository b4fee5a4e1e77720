"""A strict Cloudflare R2 double: an HTTP(S) reverse proxy in front of SeaweedFS.

SeaweedFS stores the bytes and checks signatures and checksums; this proxy refuses, with R2's
status and error code, every request R2 would refuse and SeaweedFS would take (docs/r2.md §8): the
stateless rules are in `r2_rules.py`; the stateful ones are here:

- CompleteMultipartUpload is checked against the sizes of the parts as they passed through
  this proxy (UploadPart Content-Length, the last successful upload of each part number wins).
  A part the proxy never saw fails Complete with InvalidPart: upload through the double.
- at most one write per key per second (PutObject, CompleteMultipartUpload, CopyObject,
  DeleteObject) → 429 TooManyRequests. A write counts when the proxy forwards it, whatever
  SeaweedFS answers. Whether R2 counts UploadPart is unstated (docs/r2.md §2), so it does not by
  default; `upload_part_is_write=True` makes it count.
- an upload older than 7 days (by `clock`) → 404 NoSuchUpload, as R2's default lifecycle rule.
- a conditional Complete that fails (412) destroys the upload, as on R2: its later UploadPart,
  ListParts, Complete or Abort → 404 NoSuchUpload.
- upstream 403 InvalidAccessKeyId becomes R2's 401 Unauthorized.
- `x-amz-checksum-*` headers are removed from GetObject/HeadObject answers: whether R2 returns
  stored checksums over S3 is undocumented (docs/r2.md §3), so our verification must not read them.

Host header: requests go upstream byte for byte with the client's own Host header (SigV4
signs it; weed checks the signature against the Host it receives), so nothing is re-signed and
the proxy needs no credentials. Bodies stream through a 1 MiB buffer; only Complete bodies and
small error answers are held whole. Plain stdlib (`http.server` threads + `http.client`): no
library offers an S3-aware, fault-injecting proxy, and this is test code only.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
import threading
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from .r2_faults import Fault, FaultKind, Faults
from .r2_journal import Exchange, Journal, Source, interesting
from .r2_rules import MAX_PARTS, R2Error, S3Request, check_part_layout, check_request, parse_request

CHUNK = 1024 * 1024  # the streaming buffer, both directions
WRITE_INTERVAL = 1.0  # R2: one write per key per second [docs/r2.md §2]
UPLOAD_LIFETIME = 7 * 24 * 3600.0  # R2's default lifecycle rule [docs/r2.md §2]
DRAIN_LIMIT = 64 * 1024 * 1024  # read a refused body up to this size to keep the connection
MAX_COMPLETE_BODY = 16 * 1024 * 1024  # 10,000 parts with checksums fit easily
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "upgrade"}
)


@dataclass
class _Upload:
    bucket: str
    key: str
    created: float | None  # by the proxy's clock; None if created before the proxy saw it
    parts: dict[int, int] = field(default_factory=dict)  # part number → size
    dead: str | None = None  # why R2 would have destroyed it


@dataclass
class _State:
    """What R2 remembers between requests; one lock guards it all."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    uploads: dict[str, _Upload] = field(default_factory=dict)
    last_write: dict[tuple[str, str], float] = field(default_factory=dict)
    part_uploads: Counter[tuple[str, int]] = field(default_factory=Counter)


class R2Proxy:
    """A strict R2 double on 127.0.0.1 in front of the S3 server at `upstream_url`.

    `tls=(cert_path, key_path)` makes it listen on https (the hop to the upstream stays http).
    `clock` drives the write-rate and upload-age rules; tests pass a fake one to step time.
    `access_keys`, when given, are the only key ids the double knows: any other gets R2's 401
    Unauthorized before it is forwarded. Without it only upstream answers that carry
    InvalidAccessKeyId become 401; a HEAD has no body to say so and stays a 403.
    """

    def __init__(
        self,
        upstream_url: str,
        *,
        tls: tuple[str | Path, str | Path] | None = None,
        clock: Callable[[], float] = time.monotonic,
        upload_part_is_write: bool = False,
        hide_checksums: bool = True,
        access_keys: frozenset[str] | None = None,
    ) -> None:
        parts = urlsplit(upstream_url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"upstream must be http://host:port, not {upstream_url!r}")
        self.upstream = (parts.hostname, parts.port or 80)
        self.clock = clock
        self.upload_part_is_write = upload_part_is_write
        self.hide_checksums = hide_checksums
        self.access_keys = access_keys
        self.journal = Journal()
        self.faults = Faults()
        self._state = _State()
        self._tls: ssl.SSLContext | None = None
        if tls is not None:
            self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self._tls.load_cert_chain(str(tls[0]), str(tls[1]))
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> R2Proxy:
        server = _Server(("127.0.0.1", 0), _Handler, self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.drop_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> R2Proxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the R2 double is not running")
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    # -- what tests read and reset ---------------------------------------------------------

    @property
    def part_uploads(self) -> Counter[tuple[str, int]]:
        """UploadPart requests received per (key, part number), whatever their answer."""
        with self._state.lock:
            return Counter(self._state.part_uploads)

    def reset(self) -> None:
        """Forget everything: journal, faults, counters, write times, tracked uploads."""
        self.journal.clear()
        self.faults.clear()
        with self._state.lock:
            self._state.uploads.clear()
            self._state.last_write.clear()
            self._state.part_uploads.clear()

    # -- the stateful rules (called from handler threads) ----------------------------------

    def _count(self, r: S3Request) -> None:
        if r.op == "UploadPart" and r.part_number is not None:
            with self._state.lock:
                self._state.part_uploads[(r.key, r.part_number)] += 1

    def _unknown_key(self, r: S3Request) -> R2Error | None:
        if self.access_keys is None or r.access_key in self.access_keys:
            return None
        return R2Error(401, "Unauthorized", f"Unknown access key ID {r.access_key!r}.")

    def _upload_gone(self, r: S3Request) -> R2Error | None:
        """NoSuchUpload for an upload R2 would have destroyed (too old, failed condition)."""
        if r.upload_id is None:
            return None
        now = self.clock()
        with self._state.lock:
            upload = self._state.uploads.get(r.upload_id)
            if upload is None:
                return None
            if upload.created is not None and now - upload.created > UPLOAD_LIFETIME:
                upload.dead = "aborted by the 7-day lifecycle rule"
            if upload.dead is None:
                return None
            return R2Error(
                404,
                "NoSuchUpload",
                f"The specified multipart upload does not exist ({upload.dead}).",
            )

    def _write_rate(self, r: S3Request) -> R2Error | None:
        """429 for a second write to a key within a second; records the write when admitted."""
        if not (r.is_write or (self.upload_part_is_write and r.op == "UploadPart")):
            return None
        now = self.clock()
        with self._state.lock:
            last = self._state.last_write.get((r.bucket, r.key))
            if last is not None and now - last < WRITE_INTERVAL:
                return R2Error(
                    429,
                    "TooManyRequests",
                    f"Reduce your concurrent request rate for the same object: {r.key}.",
                )
            self._state.last_write[(r.bucket, r.key)] = now
        return None

    def _check_complete(self, r: S3Request, body: bytes) -> R2Error | None:
        try:
            root = ET.fromstring(body)  # our own client's XML, in a test
            numbers = [
                int(el.text or "")
                for el in root.iter()
                if el.tag.rsplit("}", 1)[-1] == "PartNumber"
            ]
        except (ET.ParseError, ValueError):
            return R2Error(400, "MalformedXML", "The XML you provided was not well-formed.")
        if len(numbers) > MAX_PARTS:
            return check_part_layout([0] * len(numbers))  # the count rule, before any lookup
        with self._state.lock:
            upload = self._state.uploads.get(r.upload_id or "")
            known = dict(upload.parts) if upload else {}
        missing = [n for n in numbers if n not in known]
        if missing:
            return R2Error(
                400,
                "InvalidPart",
                f"One or more of the specified parts could not be found (part {missing[0]}: "
                "the R2 double never saw it uploaded; upload parts through the double).",
            )
        return check_part_layout([known[n] for n in sorted(set(numbers))])

    def _after(self, r: S3Request, status: int, body: bytes | None) -> None:
        """Learn from a successful upstream answer what later rules need."""
        upload_id = r.upload_id
        with self._state.lock:
            if r.op == "CreateMultipartUpload" and status == 200 and body:
                new_id = _xml_text(body, "UploadId")
                if new_id:
                    self._state.uploads[new_id] = _Upload(r.bucket, r.key, self.clock())
            elif upload_id is None:
                return
            elif r.op == "UploadPart" and status == 200 and r.part_number is not None:
                upload = self._state.uploads.setdefault(upload_id, _Upload(r.bucket, r.key, None))
                upload.parts[r.part_number] = r.content_length or 0
            elif r.op == "AbortMultipartUpload" and status in (200, 204):
                # Keep it, marked: a later UploadPart or Complete must meet NoSuchUpload as on
                # R2, not an InvalidPart about parts the double forgot.
                upload = self._state.uploads.setdefault(upload_id, _Upload(r.bucket, r.key, None))
                upload.dead = "aborted"
            elif r.op == "CompleteMultipartUpload":
                failed_on_purpose = status == 412 and (
                    "if-match" in r.headers or "if-none-match" in r.headers
                )
                if status == 200 and body is not None and b"<Error>" not in body:
                    upload = self._state.uploads.setdefault(
                        upload_id, _Upload(r.bucket, r.key, None)
                    )
                    upload.dead = "completed"  # a completed upload id is gone, as on R2
                elif failed_on_purpose:
                    upload = self._state.uploads.setdefault(
                        upload_id, _Upload(r.bucket, r.key, None)
                    )
                    upload.dead = "destroyed by a failed conditional CompleteMultipartUpload"


def _xml_text(body: bytes, tag: str) -> str | None:
    try:
        root = ET.fromstring(body)  # SeaweedFS's answer, in a test
    except ET.ParseError:
        return None
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == tag:
            return el.text
    return None


class _Server(ThreadingHTTPServer):
    """One thread per client connection; TLS handshakes happen in that thread, not in accept."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: Any, proxy: R2Proxy) -> None:
        self.proxy = proxy
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        sock: socket.socket = request
        if self.proxy._tls is not None:
            sock.settimeout(10)
            try:
                sock = self.proxy._tls.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                return
        with self._open_lock:
            self._open.add(sock)
        try:
            super().finish_request(sock, client_address)
        finally:
            with self._open_lock:
                self._open.discard(sock)
            if sock is not request:
                with contextlib.suppress(OSError):
                    sock.close()

    def drop_connections(self) -> None:
        with self._open_lock:
            socks = list(self._open)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _ClientGone(Exception):
    """The client's connection ended or must end; nothing more can be said on it."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as boto3's pool expects
    disable_nagle_algorithm = True  # head and body go out in two writes: no 40 ms ACK wait
    server: _Server
    timeout = 120  # an idle keep-alive client connection is dropped after this
    _upstream: http.client.HTTPConnection | None = None

    # R2 sends no "100 Continue"; http.server would. The rules refuse such requests instead.
    def handle_expect_100(self) -> bool:
        return True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the journal is the log

    def finish(self) -> None:
        if self._upstream is not None:
            self._upstream.close()
        super().finish()

    def do_GET(self) -> None:
        self._serve()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    # -- one request -------------------------------------------------------------------------

    def _serve(self) -> None:
        proxy = self.server.proxy
        headers = _lowered(self.headers)
        r = parse_request(self.command, self.path, headers)
        self._received = 0
        proxy._count(r)
        try:
            error = check_request(r) or proxy._unknown_key(r) or proxy._upload_gone(r)
            if error is not None:
                return self._refuse(r, error, "double")
            fault = proxy.faults.take(r)
            if fault is not None and fault.error is not None:
                return self._refuse(r, fault.error, "fault")
            body: bytes | None = None
            if r.op == "CompleteMultipartUpload":
                body = self._read_body(r, MAX_COMPLETE_BODY)
                error = proxy._check_complete(r, body)
                if error is not None:
                    return self._refuse(r, error, "double", body_read=True)
            error = proxy._write_rate(r)
            if error is not None:
                return self._refuse(r, error, "double", body_read=body is not None)
            return self._forward(r, body, fault)
        except _ClientGone:
            self.close_connection = True
            return None

    def _read_body(self, r: S3Request, limit: int) -> bytes:
        length = r.content_length or 0
        if length > limit:
            raise _ClientGone
        body = self.rfile.read(length)
        self._received = len(body)
        if len(body) != length:
            raise _ClientGone
        return body

    def _refuse(
        self, r: S3Request, error: R2Error, source: Source, body_read: bool = False
    ) -> None:
        """Answer with an R2 error. The body is read and dropped when that is cheap, so the
        connection stays usable; otherwise the answer goes first and the connection closes
        (a client waiting on `Expect: 100-continue` sends no body at all)."""
        length = r.content_length
        expect = "expect" in r.headers
        close = not body_read and (
            expect
            or "transfer-encoding" in r.headers
            or (r.method in ("PUT", "POST") and length is None)
            or (length or 0) > DRAIN_LIMIT
        )
        if not body_read and not close and length:
            self._discard(length)
        self._record(r, error.status, error.code, source)  # before the client can see it
        self._send_error(r, error, close=close)
        if close:
            self._linger()
            raise _ClientGone

    def _send_error(self, r: S3Request, error: R2Error, *, close: bool) -> None:
        body = error.xml()
        self.send_response_only(error.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", "0" if r.method == "HEAD" else str(len(body)))
        self.send_header("x-amz-request-id", "r2-double")
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if r.method != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _discard(self, length: int) -> None:
        left = length
        while left:
            chunk = self.rfile.read(min(CHUNK, left))
            if not chunk:
                raise _ClientGone
            left -= len(chunk)
            self._received += len(chunk)

    def _linger(self) -> None:
        """Half-close, then read what the client still sends, so a body it pushes after our
        early answer does not turn into a TCP reset that destroys that answer."""
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(2)
            drained = 0
            while drained < 4 * DRAIN_LIMIT and (data := self.connection.recv(CHUNK)):
                drained += len(data)

    def _record(self, r: S3Request, status: int | None, code: str | None, source: Source) -> None:
        self.server.proxy.journal.record(
            Exchange(
                method=r.method,
                target=r.target,
                op=r.op,
                bucket=r.bucket,
                key=r.key,
                headers=interesting(dict(r.headers)),
                status=status,
                code=code,
                source=source,
                body_bytes=self._received,
                part_number=r.part_number,
                upload_id=r.upload_id,
            )
        )

    # -- the upstream hop --------------------------------------------------------------------

    def _connection(self) -> http.client.HTTPConnection:
        """This client connection's own keep-alive connection to the upstream."""
        conn = self._upstream
        if conn is not None and conn.sock is not None:
            readable, _, _ = select.select([conn.sock], [], [], 0)
            if readable:  # closed by the upstream while idle (or junk): start afresh
                conn.close()
        if conn is None:
            host, port = self.server.proxy.upstream
            conn = self._upstream = http.client.HTTPConnection(host, port, timeout=120)
        return conn

    def _forward(self, r: S3Request, body: bytes | None, fault: Fault | None) -> None:
        conn = self._connection()
        try:
            conn.putrequest(r.method, r.target, skip_host=True, skip_accept_encoding=True)
            for name, value in self.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    conn.putheader(name, value)
            conn.endheaders()
            if body is not None:
                conn.send(body)
            elif r.method in ("PUT", "POST"):
                self._pump_body(r, conn, fault)
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            error = R2Error(502, "BadGateway", f"R2 double: the upstream failed: {exc!r}")
            self._record(r, 502, error.code, "double")
            self._send_error(r, error, close=True)
            raise _ClientGone from exc
        if fault is not None and fault.kind is FaultKind.LOSE_RESPONSE:
            self.server.proxy._after(r, response.status, response.read())  # it did happen
            self._record(r, None, None, "fault")
            self._drop_client()
        self._relay(r, response)
        return

    def _pump_body(
        self, r: S3Request, conn: http.client.HTTPConnection, fault: Fault | None
    ) -> None:
        left = r.content_length or 0
        cut = None
        if fault is not None and fault.kind is FaultKind.CUT_BODY:
            cut = fault.cut_after if fault.cut_after is not None else left // 2
        buffer = bytearray(min(CHUNK, max(left, 1)))
        view = memoryview(buffer)
        while left:
            want = min(len(buffer), left)
            if cut is not None:
                want = min(want, cut - self._received)
                if want <= 0:
                    conn.close()  # the store sees a body shorter than its Content-Length
                    self._record(r, None, None, "fault")
                    self._drop_client()
            got = self.rfile.readinto(view[:want])
            if not got:
                conn.close()
                self._record(r, None, "IncompleteBody", "upstream")
                raise _ClientGone
            conn.send(view[:got])
            left -= got
            self._received += got

    def _drop_client(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        raise _ClientGone

    def _relay(self, r: S3Request, response: http.client.HTTPResponse) -> None:
        proxy = self.server.proxy
        status = response.status
        code: str | None = None
        small = (
            status >= 400 or r.op in ("CreateMultipartUpload", "CompleteMultipartUpload")
        ) and r.method != "HEAD"
        body = response.read() if small else None
        if body is not None and status >= 400:
            code = _xml_text(body, "Code")
            if code == "InvalidAccessKeyId":  # R2 has no such code: a bad key is a 401
                error = R2Error(401, "Unauthorized", "The access key ID you provided is unknown.")
                status, code, body = 401, error.code, error.xml()
        elif r.method == "HEAD" and status >= 400:
            code = {401: "Unauthorized", 403: "Forbidden", 404: "NotFound"}.get(status)
        proxy._after(r, status, body)

        self.send_response_only(status, response.reason if status == response.status else None)
        hide = proxy.hide_checksums and r.op in ("GetObject", "HeadObject")
        for name, value in response.getheaders():
            low = name.lower()
            if low in _HOP_BY_HOP or low in ("transfer-encoding", "content-length"):
                continue
            if hide and low.startswith("x-amz-checksum-"):
                continue
            self.send_header(name, value)
        no_body = r.method == "HEAD" or status in (204, 304) or status < 200
        chunked = False
        if body is not None:
            self.send_header("Content-Length", str(len(body)))
        elif no_body:
            length = response.getheader("Content-Length")
            if length is not None:
                self.send_header("Content-Length", length)
        elif response.length is not None:
            self.send_header("Content-Length", str(response.length))
        else:
            chunked = True
            self.send_header("Transfer-Encoding", "chunked")
        # Recorded before the client has the answer, so a test reading the journal after its
        # call returns always finds the entry.
        self._record(r, status, code, "upstream")
        self.end_headers()
        try:
            if body is not None:
                self.wfile.write(body)
            elif not no_body:
                self._stream(response, chunked)
            else:
                response.read()  # frees the upstream connection for the next request
        except OSError as exc:
            raise _ClientGone from exc

    def _stream(self, response: http.client.HTTPResponse, chunked: bool) -> None:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while got := response.readinto(buffer):
            if chunked:
                self.wfile.write(f"{got:x}\r\n".encode())
                self.wfile.write(view[:got])
                self.wfile.write(b"\r\n")
            else:
                self.wfile.write(view[:got])
        if chunked:
            self.wfile.write(b"0\r\n\r\n")


def _lowered(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        low = name.lower()
        out[low] = f"{out[low]},{value}" if low in out else value
    return out
