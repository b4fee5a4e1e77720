"""Bearer-token auth: one shared secret, compared in constant time, never logged or echoed."""

from __future__ import annotations

import hmac

from fastapi import Request

from .errors import ApiError


class BearerToken:
    """A FastAPI dependency: 401 unless `Authorization: Bearer <token>` matches.

    `token` None means the server runs without auth (the CLI allows that on loopback only).
    """

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def __repr__(self) -> str:  # never the secret, whatever prints this object
        return f"BearerToken(enabled={self.enabled})"

    def __call__(self, request: Request) -> None:
        if self._token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # compare_digest: the time taken does not tell how many leading bytes were right.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), self._token
        ):
            raise ApiError(
                401,
                "unauthorized",
                "missing or wrong API token: send Authorization: Bearer $DATA4R2_API_TOKEN",
                headers={"WWW-Authenticate": "Bearer"},
            )
