"""Per-file submission, as the original client did it: `/v1/jobs`, `/v1/jobs/batch`, `POST /`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from ..domain import RepoRef
from .context import ServiceContext
from .errors import ApiError
from .hub_urls import parse_resolve_url
from .intake import Accepted, FileRequest, Intake
from .models import (
    JobAccepted,
    JobBatchAccepted,
    JobBatchRequest,
    JobOut,
    JobRequest,
    OriginalJobRequest,
)
from .routes_syncs import MAX_ID
from .views import job_out

router = APIRouter(tags=["jobs"])
JobId = Annotated[int, Path(ge=1, le=MAX_ID)]


def _intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


def _file(job: JobRequest) -> FileRequest:
    return FileRequest(
        RepoRef(job.repo_id, job.repo_type, job.revision), job.path, job.key, job.dest
    )


def _out(accepted: Accepted) -> JobAccepted:
    return JobAccepted(
        job_id=accepted.job_id,
        sync_id=accepted.sync_id,
        key=accepted.key,
        created=accepted.created,
    )


@router.post("/v1/jobs", status_code=202, response_model=JobAccepted)
def submit_job(body: JobRequest, request: Request) -> JobAccepted:
    """Queue one file. Submitting the same file again returns the job it already has."""
    return _out(_intake(request).submit([_file(body)])[0])


@router.post("/v1/jobs/batch", status_code=202, response_model=JobBatchAccepted)
def submit_jobs(body: JobBatchRequest, request: Request) -> JobBatchAccepted:
    """Queue up to 1,000 files at once: all of them, or none if one is refused."""
    accepted = _intake(request).submit([_file(j) for j in body.jobs])
    return JobBatchAccepted(jobs=[_out(a) for a in accepted])


@router.get("/v1/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: JobId, request: Request) -> JobOut:
    ctx: ServiceContext = request.app.state.ctx
    try:
        return job_out(ctx.store.job(job_id))
    except LookupError:
        raise ApiError(404, "job_not_found", f"no job {job_id}") from None


@router.post("/", status_code=202, response_model=JobAccepted)
def submit_original(body: OriginalJobRequest, request: Request) -> JobAccepted:
    """The original Cloudflare Worker's API: `{"hf_url": …/resolve/{rev}/{path}, "r2_path": key}`
    into the default destination, `r2_path` relative to its prefix."""
    ctx: ServiceContext = request.app.state.ctx
    url = parse_resolve_url(body.hf_url, ctx.hub_endpoint)
    return _out(_intake(request).submit([FileRequest(url.repo, url.path, body.r2_path, None)])[0])
