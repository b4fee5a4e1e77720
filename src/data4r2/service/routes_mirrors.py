"""`/v1/mirrors`: repos the server re-syncs on a schedule (scheduler.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from pydantic import AfterValidator, BaseModel, Field

from ..domain import MirrorRecord, RepoRef, RepoType, UsageError
from .errors import ApiError
from .models import DestName, Glob, RepoId, RepoKind, Revision, Strict
from .scheduler import MirrorScheduler, parse_every

router = APIRouter(prefix="/v1/mirrors", tags=["mirrors"])


def _every(text: str) -> str:
    try:
        parse_every(text)
    except UsageError as e:
        raise ValueError(e.message) from None
    return text


Every = Annotated[str, Field(min_length=1, max_length=20), AfterValidator(_every)]


class MirrorRequest(Strict):
    """Keep `repo_id` at `revision` fresh in `dest`, re-syncing `every` (e.g. "6h")."""

    repo_id: RepoId
    repo_type: RepoKind = RepoType.MODEL
    revision: Revision = "main"
    every: Every
    include: list[Glob] = Field(default_factory=list, max_length=100)
    exclude: list[Glob] = Field(default_factory=list, max_length=100)
    dest: DestName | None = None


class MirrorOut(BaseModel):
    id: int
    repo_id: str
    repo_type: RepoType
    revision: str
    dest: str
    every_seconds: float
    next_run_at: float
    last_sync_id: int | None


class MirrorList(BaseModel):
    mirrors: list[MirrorOut]


def _out(m: MirrorRecord) -> MirrorOut:
    return MirrorOut(
        id=m.id,
        repo_id=m.repo.repo_id,
        repo_type=m.repo.repo_type,
        revision=m.repo.revision,
        dest=m.dest,
        every_seconds=m.every,
        next_run_at=m.next_run_at,
        last_sync_id=m.last_sync_id,
    )


def _scheduler(request: Request) -> MirrorScheduler:
    scheduler: MirrorScheduler | None = getattr(request.app.state, "scheduler", None)
    if scheduler is None:
        raise ApiError(503, "no_schedule", "this server runs no mirror schedule")
    return scheduler


@router.post("", status_code=201, response_model=MirrorOut)
def add_mirror(body: MirrorRequest, request: Request) -> MirrorOut:
    """Schedule a repo; its first sync is queued at once. The same repo, revision and
    destination again updates the interval and filters."""
    scheduler = _scheduler(request)
    dest = scheduler.ctx.destinations.choose(body.dest).name
    record = scheduler.schedule.add_mirror(
        RepoRef(body.repo_id, body.repo_type, body.revision),
        dest,
        parse_every(body.every),
        include=body.include,
        exclude=body.exclude,
    )
    scheduler.wake.set()
    return _out(record)


@router.get("", response_model=MirrorList)
def list_mirrors(request: Request) -> MirrorList:
    return MirrorList(mirrors=[_out(m) for m in _scheduler(request).schedule.mirrors()])


class Removed(BaseModel):
    id: int


@router.delete("/{mirror_id}", response_model=Removed)
def remove_mirror(mirror_id: Annotated[int, Path(ge=1, le=2**62)], request: Request) -> Removed:
    """Unschedule (a sync already queued runs to its end)."""
    if not _scheduler(request).schedule.remove_mirror(mirror_id):
        raise ApiError(404, "mirror_not_found", f"no mirror {mirror_id}")
    return Removed(id=mirror_id)
