"""The hot path: PutObject / UploadPart bodies as signed raw PUTs over stdlib http.client.

Why not boto3 for these two calls (docs/design.md §6): botocore SHA-256s or copies the
body in several places (the CRT signer copies it into BytesIO; a `bytes` body gets wrapped
and gains `Expect: 100-continue`, which R2 does not document), and boto3's upload_part
costs more client CPU per GiB than a memoryview handed to `sendall` (§10). Here botocore only
signs the headers (x-amz-content-sha256: UNSIGNED-PAYLOAD, so the body is never hashed for
the signature) and the body goes out as zero-copy memoryview slices with an explicit
Content-Length: no chunked or aws-chunked framing, no 100-continue. The store still checks
every byte against the `x-amz-checksum-*` header the caller supplies.

Failures surface raw (ClientError for an S3 error answer, OSError / HTTPException for the
transport); s3_errors.translate turns them into domain errors at the sink.
"""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from botocore.auth import UNSIGNED_PAYLOAD, S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.parsers import create_parser

from ..net.pool import ConnectionPool
from .s3_config import CONNECT_TIMEOUT, READ_TIMEOUT, SEND_SLICE, USER_AGENT, ssl_context


class _UnsignedPayloadAuth(S3SigV4Auth):
    """S3 SigV4 that always declares UNSIGNED-PAYLOAD, over http as well as https.

    botocore's S3SigV4Auth.payload() hashes the body unless `_should_sha256_sign_payload`
    says no, and that reads `payload_signing_enabled` from `request.context["client_config"]`
    — a client-internal detail; without it, any http:// URL is always signed, and with our
    header-only request (no body attached) it would sign the empty-body hash, which the
    server rejects. Overriding the public `payload()` makes the choice explicit and
    independent of the scheme.
    """

    def payload(self, request: AWSRequest) -> str:
        return UNSIGNED_PAYLOAD


@dataclass(frozen=True, slots=True)
class WireResponse:
    status: int
    headers: Mapping[str, str]  # lower-cased names
    body: bytes


# How a connection the server has closed shows up when we write to it or read the answer:
# over TLS it is an EOF/close_notify, not a reset.
_DROPPED = (
    http.client.RemoteDisconnected,
    ConnectionError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


class _StaleConnection(Exception):
    """A reused keep-alive connection the server had already closed: safe to resend once."""


class S3Wire:
    """Signed PUTs of in-memory bodies to one bucket; thread-safe (pooled connections)."""

    def __init__(
        self,
        endpoint_url: str,
        bucket: str,
        credentials: Credentials,
        region: str,
        ca_file: str,
        pool_size: int,
    ) -> None:
        url = urlsplit(endpoint_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"not an http(s) endpoint: {endpoint_url!r}")
        self._scheme = url.scheme
        default_port = 443 if url.scheme == "https" else 80
        port = url.port or default_port
        # Host exactly as signed: botocore's rule is to drop a default port.
        self._host_header = url.hostname if port == default_port else f"{url.hostname}:{port}"
        if ":" in url.hostname:  # IPv6 literal
            bracketed = f"[{url.hostname}]"
            self._host_header = bracketed if port == default_port else f"{bracketed}:{port}"
        self._base_path = "/" + quote(bucket, safe="")
        self._signer = _UnsignedPayloadAuth(credentials, "s3", region)
        self._origin = (url.scheme, url.hostname, port)
        self._pool = ConnectionPool(
            READ_TIMEOUT,
            ssl_context(ca_file) if url.scheme == "https" else None,
            pool_size,
            connect_timeout=CONNECT_TIMEOUT,
        )
        # Parses S3 <Error> bodies (and body-less HEAD-style errors) like the SDK does.
        self._parser = create_parser("rest-xml")

    def close(self) -> None:
        self._pool.close()

    def put(
        self,
        key: str,
        body: memoryview,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
        operation: str = "PutObject",
    ) -> WireResponse:
        """PUT `body` to `key` (with `query`, e.g. partNumber/uploadId); the 2xx response.

        Raises ClientError for an S3 error answer, OSError/HTTPException for the transport.
        """
        target = self._base_path + "/" + quote(key, safe="/~")
        if query:
            # Sorted and encoded exactly as SigV4's canonical query string: the signer reads
            # it back from the URL verbatim.
            target += "?" + "&".join(
                f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
            )
        try:
            response = self._send(target, body, headers)
        except _StaleConnection:
            # PUT is idempotent: one resend on a fresh connection, like urllib3 does.
            response = self._send(target, body, headers, fresh=True)
        if response.status >= 300:
            raise self._client_error(response, operation)
        return response

    def _sign(self, target: str, length: int, headers: Mapping[str, str]) -> list[tuple[str, str]]:
        request = AWSRequest(
            method="PUT",
            url=f"{self._scheme}://{self._host_header}{target}",
            headers={
                "Host": self._host_header,
                "Content-Length": str(length),
                **headers,
            },
        )
        self._signer.add_auth(request)
        # User-Agent is never signed (SIGNED_HEADERS_BLACKLIST); add it after.
        return [*request.headers.items(), ("User-Agent", USER_AGENT)]

    def _send(
        self, target: str, body: memoryview, headers: Mapping[str, str], fresh: bool = False
    ) -> WireResponse:
        signed = self._sign(target, body.nbytes, headers)
        origin = self._origin
        conn, reused = (self._pool.connect(origin), False) if fresh else self._pool.acquire(origin)
        got_response = False
        try:
            # skip_host: our Host is the signed one; skip_accept_encoding: nothing to decode.
            conn.putrequest("PUT", target, skip_host=True, skip_accept_encoding=True)
            for name, value in signed:
                conn.putheader(name, value)
            conn.endheaders()
            try:
                with body.cast("B") as flat:
                    for offset in range(0, flat.nbytes, SEND_SLICE):
                        conn.send(flat[offset : offset + SEND_SLICE])
            except _DROPPED:
                if reused:
                    raise
                # A fresh connection cut while sending: the server may have answered early
                # (e.g. 403 before reading the body). Read that answer if there is one.
            raw = conn.getresponse()
            got_response = True
            result = WireResponse(
                status=raw.status,
                headers={k.lower(): v for k, v in raw.getheaders()},
                body=raw.read(),
            )
        except _DROPPED as exc:
            conn.close()
            if reused and not got_response:
                raise _StaleConnection from exc
            raise
        except BaseException:
            conn.close()
            raise
        if raw.will_close:
            conn.close()
        else:
            self._pool.release(self._origin, conn)
        return result

    def _client_error(self, response: WireResponse, operation: str) -> ClientError:
        parsed = self._parser.parse(
            {"status_code": response.status, "headers": response.headers, "body": response.body},
            None,  # type: ignore[arg-type]  # no model shape: botocore's generic S3 error parse
        )
        return ClientError(parsed, operation)
