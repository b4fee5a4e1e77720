"""`/v1/syncs`: submit a whole repo (planned here), list, inspect, retry, cancel."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from ..domain import Data4r2Error, JobState, Plan, RepoRef, SyncRecord
from ..engine.sync import SyncEngine
from .context import ServiceContext, Target
from .errors import ApiError
from .models import Changed, JobPage, SyncAccepted, SyncPage, SyncRequest, SyncStatus
from .views import job_out, sync_status

router = APIRouter(prefix="/v1/syncs", tags=["syncs"])
MAX_ID = 2**62  # beyond any id a store hands out; bounds what reaches SQL
SyncId = Annotated[int, Path(ge=1, le=MAX_ID)]
Cursor = Annotated[int | None, Query(ge=0, le=MAX_ID, description="next_cursor of the last page")]
Limit = Annotated[int, Query(ge=1, le=1000)]


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def _record(ctx: ServiceContext, sync_id: int) -> SyncRecord:
    try:
        return ctx.store.sync(sync_id)
    except LookupError:
        raise ApiError(404, "sync_not_found", f"no sync {sync_id}") from None


@router.post("", status_code=202, response_model=SyncAccepted)
def submit_sync(body: SyncRequest, request: Request) -> SyncAccepted:
    """Resolve the revision, list and filter its files, skip what the destination already
    holds, and queue one job per remaining file. A plain `def`: FastAPI runs it in its
    threadpool, so the Hub and bucket requests of planning never block the event loop."""
    return queue_sync(_ctx(request), body)


def queue_sync(ctx: ServiceContext, body: SyncRequest) -> SyncAccepted:
    """Plan `body` and queue its jobs (also what a scheduled mirror runs, scheduler.py)."""
    target = ctx.target(ctx.destinations.choose(body.dest).name)
    repo = RepoRef(body.repo_id, body.repo_type, body.revision)
    options = replace(
        ctx.options,
        include=tuple(body.include),
        exclude=tuple(body.exclude),
        force=body.force,
        prefix=target.prefix,
    )
    engine = SyncEngine(
        ctx.hub, target.sink, ctx.store, destination=target.id, options=options, emit=ctx.emit
    )
    plan = engine.plan(repo)
    probe_access(ctx, plan)
    sync_id = ctx.store.create_sync(plan.snapshot, target.id, plan.files)
    return SyncAccepted(
        sync_id=sync_id,
        commit=plan.snapshot.commit,
        destination=target.name,
        files=len(plan.to_copy),
        bytes=sum(f.file.size for f in plan.to_copy),
        skipped=len(plan.to_skip),
    )


def probe_access(ctx: ServiceContext, plan: Plan) -> None:
    """Open (and at once close) the smallest file to copy, so a gated or disabled repo is
    refused now, with the Hub's reason, instead of queueing jobs that can only fail: the Hub
    lists a gated repo's files to anyone and refuses only the downloads."""
    if not plan.to_copy:
        return
    smallest = min(plan.to_copy, key=lambda f: f.file.size).file
    ctx.hub.open(plan.snapshot.repo, plan.snapshot.commit, smallest).close()


@router.get("", response_model=SyncPage)
def list_syncs(request: Request, cursor: Cursor = None, limit: Limit = 50) -> SyncPage:
    """Newest first; pass `next_cursor` back as `cursor` for the next page."""
    ctx = _ctx(request)
    records = ctx.store.syncs(limit=limit, before=cursor)
    more = len(records) == limit
    return SyncPage(
        syncs=[sync_status(ctx, r) for r in records],
        next_cursor=records[-1].id if more and records else None,
    )


@router.get("/{sync_id}", response_model=SyncStatus)
def get_sync(sync_id: SyncId, request: Request) -> SyncStatus:
    ctx = _ctx(request)
    return sync_status(ctx, _record(ctx, sync_id))


@router.get("/{sync_id}/jobs", response_model=JobPage)
def list_jobs(
    sync_id: SyncId,
    request: Request,
    state: JobState | None = None,
    cursor: Cursor = None,
    limit: Limit = 500,
) -> JobPage:
    """Jobs in plan order, optionally of one state; `next_cursor` pages on."""
    ctx = _ctx(request)
    _record(ctx, sync_id)
    jobs = ctx.store.jobs(sync_id, state=state, after=cursor or 0, limit=limit)
    more = len(jobs) == limit
    return JobPage(jobs=[job_out(j) for j in jobs], next_cursor=jobs[-1].id if more else None)


@router.post("/{sync_id}/retry", response_model=Changed)
def retry_failed(sync_id: SyncId, request: Request) -> Changed:
    """Failed jobs back to pending with a fresh attempt count."""
    ctx = _ctx(request)
    _record(ctx, sync_id)
    return Changed(sync_id=sync_id, jobs=ctx.store.requeue_failed(sync_id))


@router.delete("/{sync_id}", response_model=Changed)
def cancel_sync(sync_id: SyncId, request: Request) -> Changed:
    """Pending jobs dropped; running ones stop at their next part boundary; their
    multipart uploads are aborted, so the bucket keeps no parts nobody will complete."""
    ctx = _ctx(request)
    record = _record(ctx, sync_id)
    cancelled = ctx.store.cancel_sync(sync_id)
    target = ctx.target_by_id(record.destination)
    if target is not None:
        abort_uploads(ctx, target, sync_id)
    return Changed(sync_id=sync_id, jobs=cancelled)


def abort_uploads(ctx: ServiceContext, target: Target, sync_id: int) -> None:
    """Abort the recorded multipart upload of every cancelled job that was ever tried.

    A worker still sending a part sees its upload gone (or its lease lost) and publishes
    nothing; the abort is what frees the parts the bucket already holds.
    """
    for job in ctx.store.jobs(sync_id, state=JobState.CANCELLED):
        if job.attempts == 0:
            continue
        upload = ctx.store.upload(target.id, job.key)
        if upload is None:
            continue
        with contextlib.suppress(Data4r2Error):  # already gone: nothing left to free
            target.sink.abort(job.key, upload.upload_id)
        ctx.store.forget_upload(target.id, job.key)
