"""Errors answered the Hub's way: status, `X-Error-Code`, `X-Error-Message`, `{"error": …}`.

huggingface_hub maps its exceptions on `X-Error-Code` (docs/hub.md §3), so these
codes and statuses are what makes `RepositoryNotFoundError` & co. appear in the client.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ...domain import DestinationError, RepoNotFound, RevisionNotFound, UnsafePath


class HubApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def repo_not_found() -> HubApiError:
    return HubApiError(404, "RepoNotFound", "Repository not found")


def revision_not_found(revision: str) -> HubApiError:
    return HubApiError(404, "RevisionNotFound", f"Invalid rev id: {revision}")


def entry_not_found(commit: str | None = None) -> HubApiError:
    # The Hub sends the commit with a missing file: huggingface_hub caches the absence per commit.
    headers = {"X-Repo-Commit": commit} if commit else None
    return HubApiError(404, "EntryNotFound", "Entry not found", headers)


@contextmanager
def as_hub_errors(revision: str | None) -> Iterator[None]:
    """The mirror's domain errors as the Hub's answers."""
    try:
        yield
    except RepoNotFound:
        raise repo_not_found() from None
    except RevisionNotFound:
        raise revision_not_found(revision or "main") from None
    except UnsafePath:
        raise entry_not_found() from None
    except DestinationError as e:
        raise HubApiError(503, None, f"the mirror's storage is unavailable: {e.message}") from None


def install(app: FastAPI) -> None:
    @app.exception_handler(HubApiError)
    async def _hub(request: Request, exc: HubApiError) -> Any:
        message = " ".join(exc.message.split())
        headers = {"X-Error-Message": message, "X-Request-Id": uuid.uuid4().hex, **exc.headers}
        if exc.code:
            headers["X-Error-Code"] = exc.code
        return JSONResponse({"error": message}, status_code=exc.status, headers=headers)
