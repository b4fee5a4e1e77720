"""The one place that turns a Hub answer into a domain error.

Both paths end here: raw http.client answers from the byte stream (`hub_error`)
and huggingface_hub's exceptions from the metadata calls (`from_hf_error`, which reads the
status and headers huggingface_hub kept on the exception and maps them the same way). The
engine never sees an HTTP status, only `RepoNotFound`, `GatedRepo`, `RateLimited` …, each with
a one-line message that says what to do.
"""

from __future__ import annotations

import importlib
import json
import socket
import ssl
from collections.abc import Mapping
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from ..domain import (
    Data4r2Error,
    DisabledRepo,
    EntryNotFound,
    GatedRepo,
    HubAuthError,
    HubError,
    HubUnreachable,
    RateLimited,
    RepoNotFound,
    RepoRef,
    RevisionNotFound,
    TransientError,
)
from .headers import parse_retry_after, ratelimit_wait

Origin = Literal["hub", "cdn"]

# The Hub's wording for a disabled repo; it sends no X-Error-Code for it (docs/hub.md §3),
# so huggingface_hub matches the message too.
_DISABLED = "access to this resource is disabled"
_INVALID_TOKEN = "invalid credentials"  # noqa: S105 - a message, not a secret
_MAX_DETAIL = 300


def one_line(text: str, limit: int = _MAX_DETAIL) -> str:
    """Collapse whitespace (server messages may hold newlines) and cap the length."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def redact_url(url: str) -> str:
    """The URL without query or fragment: CDN URLs carry a signature that must not be logged."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def gate_url(endpoint: str, repo: RepoRef) -> str:
    """The page where a gated repo's terms are accepted: E/{id}, E/datasets/{id}, E/spaces/{id}."""
    return f"{endpoint.rstrip('/')}/{repo.url_path}"


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def _body_message(body: bytes) -> str:
    """The `{"error": "…"}` the Hub puts in error bodies, if any."""
    if not body:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        return str(data["error"])
    return ""


def hub_error(
    status: int,
    headers: Mapping[str, str],
    url: str,
    repo: RepoRef,
    *,
    endpoint: str,
    authenticated: bool,
    origin: Origin = "hub",
    revision: str | None = None,
    path: str | None = None,
    body: bytes = b"",
) -> Data4r2Error | None:
    """The domain error for an answer, or None for a success (< 400)."""
    if status < 400:
        return None
    code = _header(headers, "X-Error-Code") or ""
    message = one_line(_header(headers, "X-Error-Message") or _body_message(body))
    request_id = _header(headers, "X-Request-Id") or _header(headers, "X-Amz-Cf-Id")
    where = "the Hub" if origin == "hub" else f"the CDN ({urlsplit(url).hostname})"
    detail = "; ".join(
        part
        for part in (
            f"{status} from {where} for {redact_url(url)}",
            message,
            f"request id {request_id}" if request_id else "",
        )
        if part
    )

    if status == 429:
        return RateLimited(
            where,
            ratelimit_wait(_header(headers, "RateLimit"), _header(headers, "Retry-After")),
        )
    if status == 408 or status >= 500:
        return TransientError(detail, parse_retry_after(_header(headers, "Retry-After")))

    if origin == "cdn":
        # CDN URLs are signed and expire (~1 h): a 401/403/404/410 there means "ask the Hub
        # for a fresh URL", which the engine does by re-opening (open() always re-resolves).
        if status in (401, 403, 404, 410):
            return TransientError(f"signed download URL refused or expired: {detail}")
        return HubError(detail)

    if code == "GatedRepo":
        # 401 = anonymous, 403 = a token that is not (yet) approved (docs/hub.md §3).
        return GatedRepo(repo.repo_id, gate_url(endpoint, repo), authenticated=status == 403)
    if code == "RevisionNotFound":
        return RevisionNotFound(repo.repo_id, revision or repo.revision)
    if code == "EntryNotFound":
        return EntryNotFound(repo.repo_id, path or "")
    if _DISABLED in message.lower():
        return DisabledRepo(repo.repo_id)
    if code == "RepoNotFound":
        return RepoNotFound(repo.repo_id, repo.repo_type.value, detail)
    if status == 401:
        # Without a code a 401 is the token itself being refused; sent no token at all, it can
        # only mean "log in" (huggingface_hub reads it as RepositoryNotFound then).
        if authenticated or _INVALID_TOKEN in message.lower():
            return HubAuthError(detail)
        return RepoNotFound(repo.repo_id, repo.repo_type.value, detail)
    if status == 403:
        return HubError(
            f"the Hub refused access to {repo.repo_id} ({detail}): check that the token "
            "may read this repo"
        )
    return HubError(f"unexpected answer: {detail}")


def network_error(where: str, exc: BaseException) -> Data4r2Error:
    """A failure below HTTP: retryable, except a TLS certificate we do not trust."""
    if isinstance(exc, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return HubError(
            f"TLS certificate of {where} not trusted ({one_line(str(exc))}): "
            "pass a CA bundle (ca_bundle / SSL_CERT_FILE) if a proxy re-signs traffic"
        )
    text = one_line(str(exc)) or "no detail"
    message = f"network error talking to {where}: {type(exc).__name__}: {text}"
    if _cannot_connect(exc):
        return HubUnreachable(message, hint="check HF_ENDPOINT and the network, then re-run")
    return TransientError(message)


def _cannot_connect(exc: BaseException) -> bool:
    """No connection could be made at all (refused, DNS): unlike a reset, not a blip mid-body."""
    if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
        return True
    # httpx/httpx2 (under huggingface_hub) wrap these in their own ConnectError.
    return type(exc).__name__ == "ConnectError" or isinstance(
        exc.__cause__ or exc.__context__, (ConnectionRefusedError, socket.gaierror)
    )


def _transport_errors() -> tuple[type[BaseException], ...]:
    """httpx's (huggingface_hub 1.x) and httpx2's (2.x) TransportError, whichever are installed."""
    found: list[type[BaseException]] = []
    for name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        found.append(module.TransportError)
    return tuple(found)


_TRANSPORT_ERRORS = _transport_errors()


def from_hf_error(
    exc: BaseException,
    repo: RepoRef,
    *,
    endpoint: str,
    authenticated: bool,
    revision: str | None = None,
) -> Data4r2Error | None:
    """Map an exception out of huggingface_hub to a domain error; None if it is not one of its."""
    # Imported here so this module stays importable (and unit-testable) on its own.
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if isinstance(exc, Data4r2Error):
        return exc
    if isinstance(exc, OfflineModeIsEnabled):
        return HubError("huggingface_hub is in offline mode: unset HF_HUB_OFFLINE to sync")
    if isinstance(exc, HfHubHTTPError):
        response = getattr(exc, "response", None)
        if response is None:
            return HubError(one_line(str(exc)))
        try:
            body = bytes(response.content)
        except Exception:  # a streamed answer that was never read has no content
            body = b""
        err = hub_error(
            int(response.status_code),
            response.headers,
            str(response.url),
            repo,
            endpoint=endpoint,
            authenticated=authenticated,
            revision=revision,
            body=body,
        )
        return err if err is not None else HubError(one_line(str(exc)))
    if isinstance(exc, (*_TRANSPORT_ERRORS, OSError)):  # resets, timeouts, DNS, TLS
        return network_error(urlsplit(endpoint).netloc or endpoint, exc)
    if isinstance(exc, json.JSONDecodeError):
        return TransientError(f"the Hub sent a malformed JSON answer: {one_line(str(exc))}")
    return None
