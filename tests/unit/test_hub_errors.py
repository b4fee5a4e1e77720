"""Hub answers → domain errors, without a network (docs/hub.md §3 and §4)."""

from __future__ import annotations

import importlib
import json
import socket
import ssl
from types import ModuleType
from typing import Any

import pytest
from huggingface_hub import get_session
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from huggingface_hub.utils import hf_raise_for_status

from data4r2.domain import (
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
    RepoType,
    RevisionNotFound,
    TransientError,
)
from data4r2.hub.errors import (
    from_hf_error,
    gate_url,
    hub_error,
    network_error,
    one_line,
    redact_url,
)

E = "https://hub.example"
MODEL = RepoRef("acme/model")
DATASET = RepoRef("acme/data", RepoType.DATASET, "v1.0")
URL = f"{E}/api/models/acme/model/revision/main"
GATED_ANON = (
    "Access to model acme/model is restricted. You must have access to it and be "
    "authenticated to access it. Please log in."
)
GATED_TOKEN = (
    "Access to model acme/model is restricted and you are not in the authorized list. "
    f"Visit {E}/acme/model to ask for access."
)


def _err(
    status: int,
    headers: dict[str, str],
    *,
    repo: RepoRef = MODEL,
    authenticated: bool = False,
    origin: Any = "hub",
    url: str = URL,
    body: bytes = b"",
) -> Data4r2Error:
    err = hub_error(
        status,
        headers,
        url,
        repo,
        endpoint=E,
        authenticated=authenticated,
        origin=origin,
        path="w.bin",
        body=body,
    )
    assert err is not None
    assert "\n" not in str(err)
    return err


# (status, X-Error-Code, X-Error-Message, authenticated, expected type) — docs/hub.md §3
TABLE = [
    (401, "RepoNotFound", "Invalid username or password.", False, RepoNotFound),
    (404, "RepoNotFound", "Repository not found", True, RepoNotFound),
    (401, None, "Invalid credentials in Authorization header", True, HubAuthError),
    (401, "GatedRepo", GATED_ANON, False, GatedRepo),
    (403, "GatedRepo", GATED_TOKEN, True, GatedRepo),
    (403, None, "Access to this resource is disabled.", False, DisabledRepo),
    (404, "RevisionNotFound", "Invalid rev id: nope", False, RevisionNotFound),
    (404, "EntryNotFound", "Entry not found", False, EntryNotFound),
]


@pytest.mark.parametrize(("status", "code", "message", "authenticated", "expected"), TABLE)
def test_contract_table(
    status: int, code: str | None, message: str, authenticated: bool, expected: type[Exception]
) -> None:
    headers = {"X-Error-Message": message, "X-Request-Id": "req-1"}
    if code:
        headers["X-Error-Code"] = code
    err = _err(status, headers, authenticated=authenticated)
    assert type(err) is expected
    assert not err.retryable


def test_success_is_no_error() -> None:
    assert hub_error(200, {}, URL, MODEL, endpoint=E, authenticated=False) is None
    assert hub_error(206, {}, URL, MODEL, endpoint=E, authenticated=False) is None


def test_revision_not_found_names_the_revision() -> None:
    err = hub_error(
        404, {"X-Error-Code": "RevisionNotFound"}, URL, DATASET, endpoint=E, authenticated=False
    )
    assert isinstance(err, RevisionNotFound) and "'v1.0'" in str(err)


def test_headers_are_read_case_insensitively() -> None:
    assert isinstance(_err(404, {"x-error-code": "RevisionNotFound"}), RevisionNotFound)


def test_repo_not_found_keeps_the_request_id_and_hints_at_the_token() -> None:
    err = _err(401, {"X-Error-Code": "RepoNotFound", "X-Request-Id": "Root=1-abc"})
    assert "Root=1-abc" in str(err)
    assert "HF_TOKEN" in str(err)
    assert "model 'acme/model'" in str(err)


@pytest.mark.parametrize(
    ("repo", "url"),
    [
        (MODEL, f"{E}/acme/model"),
        (DATASET, f"{E}/datasets/acme/data"),
        (RepoRef("acme/app", RepoType.SPACE), f"{E}/spaces/acme/app"),
    ],
)
def test_gated_points_at_the_terms_page(repo: RepoRef, url: str) -> None:
    assert gate_url(E + "/", repo) == url
    err = _err(401, {"X-Error-Code": "GatedRepo"}, repo=repo)
    assert url in str(err)


def test_gated_tells_anonymous_from_unapproved() -> None:
    anon = _err(401, {"X-Error-Code": "GatedRepo"})
    unapproved = _err(403, {"X-Error-Code": "GatedRepo"}, authenticated=True)
    assert "authenticated, approved account" in str(anon)
    assert "not (yet) in its authorized list" in str(unapproved)


def test_401_without_code_and_without_token_means_log_in() -> None:
    assert isinstance(_err(401, {}), RepoNotFound)
    assert isinstance(_err(401, {}, authenticated=True), HubAuthError)


def test_403_without_code_is_not_retried() -> None:
    err = _err(403, {"X-Error-Message": "fine-grained token lacks read"}, authenticated=True)
    assert type(err) is HubError
    assert "fine-grained token lacks read" in str(err)


def test_message_from_json_body_and_flattened_to_one_line() -> None:
    body = json.dumps({"error": "line one\nline two"}).encode()
    err = _err(403, {}, body=body)
    assert "line one line two" in str(err)


def test_429_waits_t_when_the_bucket_is_empty() -> None:
    err = _err(429, {"RateLimit": '"api";r=0;t=37', "Retry-After": "5"})
    assert isinstance(err, RateLimited)
    assert err.retry_after == 37.0
    assert err.retryable


def test_429_falls_back_to_retry_after() -> None:
    err = _err(429, {"RateLimit": '"api";r=12;t=37', "Retry-After": "5"})
    assert isinstance(err, RateLimited)
    assert err.retry_after == 5.0
    bare = _err(429, {})
    assert isinstance(bare, RateLimited)
    assert bare.retry_after is None


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504])
def test_server_errors_are_transient(status: int) -> None:
    err = _err(status, {"Retry-After": "3"})
    assert type(err) is TransientError
    assert err.retry_after == 3.0
    assert str(status) in str(err)


CDN = "https://cdn.example/xet-bridge-us/abc?Expires=1&Signature=SECRET"


@pytest.mark.parametrize("status", [401, 403, 404, 410])
def test_cdn_refusal_means_re_resolve(status: int) -> None:
    err = _err(status, {}, origin="cdn", url=CDN)
    assert type(err) is TransientError
    assert "SECRET" not in str(err)  # the signed query never reaches a log
    assert "cdn.example" in str(err)


def test_cdn_gated_code_is_not_trusted_and_other_4xx_are_errors() -> None:
    assert type(_err(400, {}, origin="cdn", url=CDN)) is HubError
    assert isinstance(_err(429, {}, origin="cdn", url=CDN), RateLimited)


def test_redact_and_one_line() -> None:
    assert redact_url(CDN) == "https://cdn.example/xet-bridge-us/abc"
    assert one_line(" a\n\tb  c ") == "a b c"
    assert len(one_line("x" * 1000)) == 300


# --------------------------------------------------------------------------- huggingface_hub


def _http_module() -> ModuleType:
    """The HTTP library huggingface_hub uses: httpx in 1.x, httpx2 in 2.x."""
    return importlib.import_module(type(get_session()).__module__.split(".")[0])


def _hf_exception(status: int, headers: dict[str, str], url: str = URL) -> HfHubHTTPError:
    """The exception huggingface_hub itself raises for this answer (no mock)."""
    http = _http_module()
    response = http.Response(status, headers=headers, request=http.Request("GET", url))
    with pytest.raises(HfHubHTTPError) as info:
        hf_raise_for_status(response)
    return info.value


@pytest.mark.parametrize(("status", "code", "message", "authenticated", "expected"), TABLE)
def test_huggingface_hub_exceptions_map_the_same(
    status: int, code: str | None, message: str, authenticated: bool, expected: type[Exception]
) -> None:
    headers = {"X-Error-Message": message}
    if code:
        headers["X-Error-Code"] = code
    exc = _hf_exception(status, headers)
    err = from_hf_error(exc, MODEL, endpoint=E, authenticated=authenticated)
    assert type(err) is expected
    assert "\n" not in str(err)


def test_huggingface_hub_429_keeps_the_wait() -> None:
    exc = _hf_exception(429, {"RateLimit": '"api";r=0;t=9'})
    err = from_hf_error(exc, MODEL, endpoint=E, authenticated=True)
    assert isinstance(err, RateLimited)
    assert err.retry_after == 9.0


def test_huggingface_hub_transport_errors_are_transient() -> None:
    http = _http_module()
    for exc in (http.ReadTimeout("slow"), ConnectionResetError()):
        err = from_hf_error(exc, MODEL, endpoint=E, authenticated=False)
        assert type(err) is TransientError, exc
        assert "hub.example" in str(err)


def test_no_connection_at_all_is_hub_unreachable_and_still_retryable() -> None:
    http = _http_module()
    for exc in (http.ConnectError("refused"), ConnectionRefusedError(), socket.gaierror(-2, "x")):
        err = from_hf_error(exc, MODEL, endpoint=E, authenticated=False)
        assert type(err) is HubUnreachable, exc
        assert err.retryable and "HF_ENDPOINT" in str(err)


def test_untrusted_certificate_is_not_retried() -> None:
    cause = ssl.SSLCertVerificationError("[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    wrapped = _http_module().ConnectError(str(cause))  # how httpx reports it
    for exc in (wrapped, cause):
        err = from_hf_error(exc, MODEL, endpoint=E, authenticated=False)
        assert type(err) is HubError
        assert "CA bundle" in str(err)
    assert type(network_error("cdn.example", cause)) is HubError


def test_offline_mode_and_bad_json() -> None:
    offline = from_hf_error(OfflineModeIsEnabled("off"), MODEL, endpoint=E, authenticated=False)
    assert type(offline) is HubError
    assert "HF_HUB_OFFLINE" in str(offline)
    bad = json.JSONDecodeError("Expecting value", "[{", 2)
    assert type(from_hf_error(bad, MODEL, endpoint=E, authenticated=False)) is TransientError


def test_unrelated_exceptions_are_left_alone() -> None:
    assert from_hf_error(ValueError("bug"), MODEL, endpoint=E, authenticated=False) is None
    own = RepoNotFound("x", "model")
    assert from_hf_error(own, MODEL, endpoint=E, authenticated=False) is own
