"""The API's request and response bodies. Requests are strict: unknown fields, wrong types,
invalid repo ids and hostile paths are refused (422) before any work is queued, using the
same validators as the command line (domain.py), so the API cannot create a job that the
engine would refuse later."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ..domain import (
    InvalidRepoId,
    InvalidRevision,
    JobState,
    RepoType,
    path_problem,
    validate_repo_id,
)

MAX_BATCH = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL and C1 (CSI is \x9b)


def _checked_repo_id(value: str) -> str:
    try:
        return validate_repo_id(value)
    except InvalidRepoId as e:  # pydantic reports ValueErrors; the domain line says why
        raise ValueError(e.message) from None


def _revision(value: str) -> str:
    if not value or ".." in value or _CONTROL.search(value):
        raise ValueError(str(InvalidRevision(value[:80])))
    return value


def _path(value: str) -> str:
    """A repo path or object key: relative, no '..', no NUL or control characters."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    # The same rule as `sync`'s for a name the Hub gives (a backslash is a legal key there).
    problem = path_problem(value)
    if problem is not None:
        raise ValueError(problem)
    if len(value.encode()) > 1000:
        raise ValueError("must be at most 1,000 bytes")
    return value


def _glob(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


RepoId = Annotated[str, Field(min_length=1, max_length=96), AfterValidator(_checked_repo_id)]
Revision = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_revision)]
RepoPath = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_path)]
Glob = Annotated[str, Field(min_length=1, max_length=1000), AfterValidator(_glob)]
# Enums arrive as JSON strings; strict mode would want the Python enum itself.
RepoKind = Annotated[RepoType, Field(strict=False)]
DestName = Annotated[str, Field(min_length=1, max_length=200)]  # checked against the server's


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --------------------------------------------------------------------------- requests


class SyncRequest(Strict):
    """Mirror a repo at a revision: the server resolves, lists, skips what is there, queues."""

    repo_id: RepoId
    repo_type: RepoKind = RepoType.MODEL
    revision: Revision = "main"
    include: list[Glob] = Field(default_factory=list, max_length=100)
    exclude: list[Glob] = Field(default_factory=list, max_length=100)
    dest: DestName | None = None
    force: bool = False


class JobRequest(Strict):
    """One file, as the original client submitted them: copied to `key` (relative to the
    destination's prefix) or to the usual `{type}s/{repo}/{path}` key."""

    repo_id: RepoId
    repo_type: RepoKind = RepoType.MODEL
    revision: Revision = "main"
    path: RepoPath
    key: RepoPath | None = None
    dest: DestName | None = None


class JobBatchRequest(Strict):
    jobs: list[JobRequest] = Field(min_length=1, max_length=MAX_BATCH)


class OriginalJobRequest(Strict):
    """The original Cloudflare Worker's body: a Hub /resolve/ URL and the object key."""

    hf_url: str = Field(min_length=1, max_length=4096)
    r2_path: RepoPath


# --------------------------------------------------------------------------- responses


class SyncAccepted(BaseModel):
    sync_id: int
    commit: str
    destination: str
    files: int = Field(description="files queued for copying")
    bytes: int = Field(description="bytes of the files queued")
    skipped: int = Field(description="files already identical in the destination")


class SyncStatus(BaseModel):
    sync_id: int
    repo_id: str
    repo_type: RepoType
    revision: str
    commit: str
    destination: str
    state: str = Field(description="queued, running, done, failed or cancelled")
    counts: dict[JobState, int]
    files: int
    bytes_total: int
    bytes_done: int
    rate: float = Field(description="bytes per second since the sync was created")
    eta_s: float | None
    created_at: float
    finished_at: float | None


class SyncPage(BaseModel):
    syncs: list[SyncStatus]
    next_cursor: int | None


class JobOut(BaseModel):
    job_id: int
    sync_id: int
    path: str
    size: int
    key: str
    state: JobState
    attempts: int
    error: str | None


class JobPage(BaseModel):
    jobs: list[JobOut]
    next_cursor: int | None


class JobAccepted(BaseModel):
    job_id: int
    sync_id: int
    key: str
    created: bool = Field(description="false when the sync already had this file")


class JobBatchAccepted(BaseModel):
    jobs: list[JobAccepted]


class Changed(BaseModel):
    sync_id: int
    jobs: int = Field(description="how many jobs changed state")


class Health(BaseModel):
    status: str
    version: str


class Ready(BaseModel):
    ready: bool
    checks: dict[str, str]
