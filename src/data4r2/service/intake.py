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
    jobs: dict[str, tuple[int, str]] = field(default_factory=dict)  # path → (job id, key)
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
        """Queue every file or none: all lookups happen before the first job is written, and
        each sync's new files are written in one store call (a batch is one transaction per
        sync, not one per file)."""
        with self._lock:
            groups: dict[tuple[str, str, str, str], list[tuple[int, Target, RepoRef, PlannedFile]]]
            groups = {}
            for index, req in enumerate(requests):
                target = self.ctx.target(self.ctx.destinations.choose(req.dest).name)
                commit = self._commit(req.repo)
                file = PlannedFile(
                    self._file(req.repo, commit, req.path), self._key(target, req), False
                )
                group = (req.repo.repo_type.value, req.repo.repo_id, commit, target.id)
                groups.setdefault(group, []).append((index, target, req.repo, file))
            accepted: dict[int, Accepted] = {}
            for group, items in groups.items():
                accepted |= self._enqueue(group, items)
            return [accepted[i] for i in range(len(requests))]

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

    def _enqueue(
        self,
        group: tuple[str, str, str, str],
        items: list[tuple[int, Target, RepoRef, PlannedFile]],
    ) -> dict[int, Accepted]:
        store = self.ctx.store
        open_sync = self._open.get(group)
        if open_sync is not None:
            record = store.sync(open_sync.sync_id)
            if record.finished_at is not None or record.cancelled:
                open_sync = None
        known = set(open_sync.jobs) if open_sync is not None else set()
        new: dict[str, PlannedFile] = {}
        for _, _, _, file in items:
            if file.file.path not in known:
                new.setdefault(file.file.path, file)
        if open_sync is None:
            _, target, repo, _ = items[0]
            snap = Snapshot(repo, group[2], ())
            open_sync = _OpenSync(store.create_sync(snap, target.id, list(new.values())))
            self._open[group] = open_sync
        elif new:
            store.add_files(open_sync.sync_id, list(new.values()))
        if new:
            for job in store.jobs(open_sync.sync_id, after=open_sync.last_job_id):
                open_sync.jobs[job.file.path] = (job.id, job.key)
                open_sync.last_job_id = max(open_sync.last_job_id, job.id)
        out: dict[int, Accepted] = {}
        for index, _, _, file in items:
            job_id, key = open_sync.jobs[file.file.path]
            created = file.file.path in new and new[file.file.path] is file
            out[index] = Accepted(job_id, open_sync.sync_id, key, created)
        return out
