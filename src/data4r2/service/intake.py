"""Per-file submissions (`POST /v1/jobs`, `/v1/jobs/batch`, the original `POST /`) → jobs.

The original client posts one request per file, often tens of thousands for one repo. Each
file needs the commit its revision points at and the file's size and hashes, so both are
cached: a commit's listing never changes (a sha names immutable content), and a branch is
re-resolved at most every `resolve_ttl` seconds. Files of one repo, commit and destination
join one open sync, so `status` shows them together and enqueue stays idempotent per path.
"""

from __future__ import annotations

import posixpath
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..domain import (
    EntryNotFound,
    PlannedFile,
    RemoteFile,
    RepoRef,
    Snapshot,
    UnsafePath,
    object_key,
)
from ..engine import retry
from .context import ServiceContext, Target


@dataclass(frozen=True, slots=True)
class FileRequest:
    repo: RepoRef
    path: str
    key: str | None  # relative to the destination's prefix; None = the usual layout
    dest: str | None


@dataclass(frozen=True, slots=True)
class Accepted:
    job_id: int
    sync_id: int
    key: str
    created: bool


@dataclass(slots=True)
class _OpenSync:
    sync_id: int
    job_ids: dict[str, int] = field(default_factory=dict)  # path → job id
    last_job_id: int = 0


class Intake:
    def __init__(
        self,
        ctx: ServiceContext,
        *,
        resolve_ttl: float = 30.0,
        listings: int = 32,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ctx = ctx
        self.resolve_ttl = resolve_ttl
        self.clock = clock
        self._max_listings = listings
        self._lock = threading.Lock()  # one submission at a time: syncs are found or made once
        self._commits: dict[RepoRef, tuple[str, float]] = {}
        self._listings: OrderedDict[tuple[RepoRef, str], dict[str, RemoteFile]] = OrderedDict()
        self._open: dict[tuple[str, str, str, str], _OpenSync] = {}
        self._call: retry.Caller = lambda fn: retry.call(fn, retry.policy_for(ctx.options))

    def submit(self, requests: Sequence[FileRequest]) -> list[Accepted]:
        """Queue every file or none: all lookups happen before the first job is written."""
        with self._lock:
            planned: list[tuple[Target, RepoRef, str, PlannedFile]] = []
            for req in requests:
                target = self.ctx.target(self.ctx.destinations.choose(req.dest).name)
                commit = self._commit(req.repo)
                file = self._file(req.repo, commit, req.path)
                key = self._key(target, req)
                planned.append((target, req.repo, commit, PlannedFile(file, key, False)))
            return [self._enqueue(target, repo, commit, p) for target, repo, commit, p in planned]

    def _commit(self, repo: RepoRef) -> str:
        now = self.clock()
        cached = self._commits.get(repo)
        if cached is not None and cached[1] > now:
            return cached[0]
        commit = self._call(lambda: self.ctx.hub.resolve(repo))
        self._commits[repo] = (commit, now + self.resolve_ttl)
        return commit

    def _file(self, repo: RepoRef, commit: str, path: str) -> RemoteFile:
        bare = RepoRef(repo.repo_id, repo.repo_type)  # listings are per commit, not revision
        files = self._listings.get((bare, commit))
        if files is None:
            listed = self._call(lambda: self.ctx.hub.list_files(repo, commit))
            files = {f.path: f for f in listed}
            self._listings[(bare, commit)] = files
            while len(self._listings) > self._max_listings:
                self._listings.popitem(last=False)
        self._listings.move_to_end((bare, commit))
        found = files.get(path)
        if found is None:
            raise EntryNotFound(repo.repo_id, path)
        return found

    @staticmethod
    def _key(target: Target, req: FileRequest) -> str:
        if req.key is None:
            return object_key(target.prefix, req.repo, req.path)
        key = posixpath.join(target.prefix, req.key) if target.prefix else req.key
        if len(key.encode()) > 1024:  # R2 and S3 refuse longer keys
            raise UnsafePath(req.key, "the object key would be longer than 1,024 bytes")
        return key

    def _enqueue(self, target: Target, repo: RepoRef, commit: str, file: PlannedFile) -> Accepted:
        store = self.ctx.store
        group = (repo.repo_type.value, repo.repo_id, commit, target.id)
        open_sync = self._open.get(group)
        if open_sync is not None:
            record = store.sync(open_sync.sync_id)
            if record.finished_at is not None or record.cancelled:
                open_sync = None
        created = True
        if open_sync is None:
            snap = Snapshot(RepoRef(repo.repo_id, repo.repo_type, repo.revision), commit, ())
            open_sync = _OpenSync(store.create_sync(snap, target.id, [file]))
            self._open[group] = open_sync
        elif file.file.path in open_sync.job_ids:
            created = False
        else:
            store.add_files(open_sync.sync_id, [file])
        if created:
            for job in store.jobs(open_sync.sync_id, after=open_sync.last_job_id):
                open_sync.job_ids[job.file.path] = job.id
                open_sync.last_job_id = max(open_sync.last_job_id, job.id)
        job_id = open_sync.job_ids[file.file.path]
        return Accepted(job_id, open_sync.sync_id, store.job(job_id).key, created)
