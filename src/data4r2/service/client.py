"""The remote client: talks to `data4r2 serve` over HTTP with httpx2 (the client
huggingface_hub 2.x already brings, so the CLI adds no HTTP library of its own).

Every failure becomes a domain error with one line and the exit code a local sync would
use for the same cause, so `sync --worker-url` behaves like `sync`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2

from ..domain import (
    Data4r2Error,
    DestinationError,
    GatedRepo,
    HubError,
    RepoNotFound,
    TransientError,
    UsageError,
)

# The oldest server whose API this client speaks (/v1 and its bodies as they are now).
MIN_SERVER_VERSION = (0, 1, 0)


class ServiceUnreachable(TransientError):
    """No answer from the service (refused, DNS, timeout)."""


class ServiceError(Data4r2Error):
    """The service refused a request; `exit_code` follows what a local run would return."""

    def __init__(self, message: str, exit_code: int, code: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.code = code


# error code in the body → the exit code of the matching local failure
_EXIT_BY_CODE = {
    "repo_not_found": RepoNotFound.exit_code,
    "revision_not_found": HubError.exit_code,
    "file_not_found": HubError.exit_code,
    "gated_repo": GatedRepo.exit_code,
    "disabled_repo": HubError.exit_code,
    "hub_refused_server_token": HubError.exit_code,
    "hub_error": HubError.exit_code,
    "hub_rate_limited": TransientError.exit_code,
    "hub_unavailable": TransientError.exit_code,
    "destination_unavailable": DestinationError.exit_code,
}


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(c for c in piece if c.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


class ServiceClient:
    """One service at `base_url`; `token` is sent as a bearer token and never shown."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout: float = 60.0,
        transport: httpx2.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise UsageError(f"--worker-url {base_url!r} is not an http(s) URL")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx2.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx2.Timeout(timeout, connect=10.0),
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx2.TimeoutException:
            raise ServiceUnreachable(
                f"the service at {self.base_url} did not answer in time"
            ) from None
        except httpx2.TransportError as e:
            raise ServiceUnreachable(
                f"cannot reach the service at {self.base_url}: {type(e).__name__}: {e}"
            ) from None
        if response.status_code < 400:
            return response.json()
        try:
            body = response.json()
            code, message = str(body["error"]), str(body["message"])
        except (ValueError, KeyError, TypeError):
            code, message = f"http_{response.status_code}", response.reason_phrase
        if response.status_code == 401:
            raise ServiceError(
                f"the service at {self.base_url} refused the API token: "
                "set DATA4R2_API_TOKEN to the server's token",
                UsageError.exit_code,
                code,
            )
        exit_code = _EXIT_BY_CODE.get(code)
        if exit_code is None:
            exit_code = UsageError.exit_code if response.status_code < 500 else 4
        raise ServiceError(f"the service refused: {message}", exit_code, code)

    # ------------------------------------------------------------------ the API

    def check_version(self) -> str:
        """The server's version; an error when it is older than this client needs."""
        version = str(self._request("GET", "/healthz")["version"])
        if _version(version) < MIN_SERVER_VERSION:
            needed = ".".join(map(str, MIN_SERVER_VERSION))
            raise ServiceError(
                f"the service at {self.base_url} runs data4r2 {version}; "
                f"this client needs {needed} or newer: upgrade the server",
                UsageError.exit_code,
                "server_too_old",
            )
        return version

    def submit_sync(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", "/v1/syncs", json=body)
        return result

    def add_mirror(self, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", "/v1/mirrors", json=body)
        return result

    def mirrors(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/v1/mirrors")["mirrors"]
        return result

    def remove_mirror(self, mirror_id: int) -> None:
        self._request("DELETE", f"/v1/mirrors/{mirror_id}")

    def sync(self, sync_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/v1/syncs/{sync_id}")
        return result

    def syncs(self, limit: int = 50) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._request("GET", "/v1/syncs", params={"limit": limit})[
            "syncs"
        ]
        return result

    def jobs(self, sync_id: int, state: str | None = None) -> Iterator[dict[str, Any]]:
        """Every job of a sync (of one state), following the pages."""
        cursor: int | None = None
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if state:
                params["state"] = state
            if cursor is not None:
                params["cursor"] = cursor
            page = self._request("GET", f"/v1/syncs/{sync_id}/jobs", params=params)
            yield from page["jobs"]
            cursor = page["next_cursor"]
            if cursor is None:
                return

    def retry(self, sync_id: int) -> int:
        return int(self._request("POST", f"/v1/syncs/{sync_id}/retry")["jobs"])

    def cancel(self, sync_id: int) -> int:
        return int(self._request("DELETE", f"/v1/syncs/{sync_id}")["jobs"])
