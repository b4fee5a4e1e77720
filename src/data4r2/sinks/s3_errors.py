"""The one place S3 failures become domain errors: botocore, http.client and socket alike.

The adapter only classifies (retryable or not, and why); engine/retry.py owns the policy.
Codes follow R2's error table (docs/r2.md §4) plus the AWS/SeaweedFS spellings of the same
conditions.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    SSLError as BotoSSLError,
)

from ..domain import (
    BucketNotFound,
    CredentialsError,
    Data4r2Error,
    DestinationError,
    EndpointUnreachable,
    IntegrityError,
    RateLimited,
    TransientError,
    UploadGone,
)

CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY to a key with Object Read & Write on this bucket"
)
ENDPOINT_HINT = "check AWS_ENDPOINT_URL (or R2_ACCOUNT_ID for R2) and the network"
BUCKET_HINT = (
    "create it, or fix the bucket name / AWS_ENDPOINT_URL / R2_ACCOUNT_ID "
    "(an R2 jurisdiction bucket answers only at its .eu/.fedramp/.us endpoint)"
)

# 401 is R2's spelling (it has no InvalidAccessKeyId); the others are AWS/SeaweedFS ones.
_CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "AccessDenied",
        "Unauthorized",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "AuthorizationHeaderMalformed",
    }
)
# The store computed a different checksum than the one we declared for the body.
_INTEGRITY_CODES = frozenset({"BadDigest", "XAmzContentSHA256Mismatch", "InvalidChecksum"})
# Throttling: back off harder than for a plain 5xx (RateLimited carries Retry-After).
_THROTTLE_CODES = frozenset(
    {"SlowDown", "TooMuchConcurrency", "TooManyRequests", "Throttling", "ThrottlingException"}
)
# Worth resending: overload, server faults and bodies the server saw cut short.
_TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "IncompleteBody",
        "ClientDisconnect",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
    }
)
_TRANSIENT_STATUS = frozenset({408, 500, 502, 503, 504})
_UNREACHABLE_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ENETUNREACH, errno.EHOSTUNREACH})


def error_code(exc: ClientError) -> str:
    """The S3 `<Code>`, or the HTTP status as text for a body-less answer (HEAD)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def classify(exc: BaseException, where: str) -> Data4r2Error:
    """The domain error for `exc`; `where` names the operation and object for the message."""
    if isinstance(exc, Data4r2Error):
        return exc
    if isinstance(exc, ClientError):
        return _from_client_error(exc, where)
    if isinstance(exc, BotoCoreError):
        return _from_botocore(exc, where)
    if isinstance(exc, OSError | http.client.HTTPException):
        return _from_transport(exc, where)
    return DestinationError(f"{where}: {type(exc).__name__}: {exc}")


@contextmanager
def translate(where: str) -> Iterator[None]:
    """Re-raise any S3/transport failure inside the block as its domain error."""
    try:
        yield
    except (ClientError, BotoCoreError, OSError, http.client.HTTPException) as exc:
        raise classify(exc, where) from exc


def _from_client_error(exc: ClientError, where: str) -> Data4r2Error:
    code = error_code(exc)
    status = http_status(exc)
    meta: Mapping[str, Any] = exc.response.get("ResponseMetadata", {})
    message = exc.response.get("Error", {}).get("Message", "")
    request_id = meta.get("RequestId")
    detail = f"{code} {message}".strip() + (f", request id {request_id}" if request_id else "")
    text = f"{where}: {detail} (HTTP {status})"

    if code == "NoSuchUpload":
        return UploadGone(text, "the multipart upload was aborted or expired; start anew")
    if code == "NoSuchBucket":
        return BucketNotFound(text, BUCKET_HINT)
    if code in _INTEGRITY_CODES:
        return IntegrityError(text, "the store computed another checksum than we declared")
    if code in {"RequestTimeTooSkewed", "ExpiredRequest"}:
        return DestinationError(text, "the local clock is off: sync it (NTP) and rerun")
    if code in _CREDENTIAL_CODES or status in (401, 403):
        return CredentialsError(text, CREDENTIALS_HINT)
    if status == 429 or code in _THROTTLE_CODES:
        return RateLimited(text, _retry_after(meta))
    if status in _TRANSIENT_STATUS or code in _TRANSIENT_CODES:
        return TransientError(text, _retry_after(meta))
    return DestinationError(text)


def _retry_after(meta: Mapping[str, Any]) -> float | None:
    value = meta.get("HTTPHeaders", {}).get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: rare on S3 stores, and our backoff covers it
        return None


def _from_botocore(exc: BotoCoreError, where: str) -> Data4r2Error:
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CredentialsError(f"{where}: no usable credentials ({exc})", CREDENTIALS_HINT)
    if isinstance(exc, BotoSSLError):
        if "CERTIFICATE_VERIFY_FAILED" in str(exc):
            return _untrusted(where, exc)
        return TransientError(f"{where}: TLS failure: {exc}")
    # Before the generic timeout/connection cases: it is botocore's refused/DNS error.
    if isinstance(exc, EndpointConnectionError) and not isinstance(exc, ConnectTimeoutError):
        return EndpointUnreachable(f"{where}: {exc}", ENDPOINT_HINT)
    if isinstance(
        exc,
        ConnectTimeoutError
        | ReadTimeoutError
        | ConnectionClosedError
        | ResponseStreamingError
        | IncompleteReadError
        | HTTPClientError,
    ):
        return TransientError(f"{where}: {exc}")
    return DestinationError(f"{where}: {exc}")


def _from_transport(exc: OSError | http.client.HTTPException, where: str) -> Data4r2Error:
    """http.client / socket / ssl failures of the hot path."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _untrusted(where, exc)
    if isinstance(exc, socket.gaierror):
        return EndpointUnreachable(f"{where}: cannot resolve the host ({exc})", ENDPOINT_HINT)
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return EndpointUnreachable(f"{where}: {exc.strerror or exc}", ENDPOINT_HINT)
    # Resets, broken pipes, timeouts, a peer gone mid-answer, TLS record errors: resend.
    if isinstance(exc, ConnectionError | TimeoutError | ssl.SSLError | http.client.HTTPException):
        return TransientError(f"{where}: connection failed: {type(exc).__name__}: {exc}")
    return DestinationError(f"{where}: {type(exc).__name__}: {exc}")


def _untrusted(where: str, exc: BaseException) -> DestinationError:
    return DestinationError(
        f"{where}: the server's TLS certificate is not trusted ({exc})",
        "pass the CA file as ca_bundle or set AWS_CA_BUNDLE",
    )
