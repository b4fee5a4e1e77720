"""Follow a remote sync: turn the service's job states into the engine's events, so the same
Rich display (or log lines) shows a remote sync as it shows a local one."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from ..domain import (
    Event,
    FileDone,
    FileFailed,
    FileRetrying,
    FileStarted,
    Plan,
    PlannedFile,
    PlanReady,
    RemoteFile,
    RepoRef,
    RepoType,
    Snapshot,
    SyncSummary,
)

FINAL = {"done", "failed", "cancelled"}


def plan_of(status: dict[str, Any], jobs: Iterable[dict[str, Any]]) -> Plan:
    """The plan the server made, rebuilt from its jobs (skipped ones are the up-to-date files)."""
    repo = RepoRef(status["repo_id"], RepoType(status["repo_type"]), status["revision"])
    files = tuple(
        PlannedFile(RemoteFile(j["path"], j["size"], ""), j["key"], j["state"] == "skipped")
        for j in jobs
    )
    return Plan(Snapshot(repo, status["commit"], tuple(f.file for f in files)), files)


class JobDiff:
    """Remembers each job's last seen state and attempts; says what changed as events."""

    def __init__(self, jobs: Iterable[dict[str, Any]]) -> None:
        self.seen: dict[int, tuple[str, int]] = {
            j["job_id"]: (j["state"], j["attempts"]) for j in jobs
        }

    def events(self, jobs: Iterable[dict[str, Any]]) -> list[Event]:
        out: list[Event] = []
        for j in jobs:
            before_state, before_attempts = self.seen.get(j["job_id"], ("pending", 0))
            state, attempts, path, size = j["state"], j["attempts"], j["path"], j["size"]
            if (state, attempts) == (before_state, before_attempts):
                continue
            self.seen[j["job_id"]] = (state, attempts)
            if attempts > before_attempts and before_attempts and j["error"]:
                out.append(FileRetrying(path, before_attempts, j["error"]))
            if state == "running" and (before_state != "running" or attempts > before_attempts):
                out.append(FileStarted(path, size, attempts))
            elif state == "done":
                if before_state != "running":
                    out.append(FileStarted(path, size, attempts))
                out.append(FileDone(path, size))
            elif state == "failed":
                out.append(FileFailed(path, j["error"] or "failed"))
            elif state == "cancelled":
                out.append(FileFailed(path, "cancelled"))
        return out


def summary_of(
    status: dict[str, Any], jobs: list[dict[str, Any]], elapsed: float, where: str
) -> SyncSummary:
    done = [j for j in jobs if j["state"] == "done"]
    skipped = [j for j in jobs if j["state"] == "skipped"]
    bad = [j for j in jobs if j["state"] not in ("done", "skipped")]
    return SyncSummary(
        repo=f"{status['repo_type']} {status['repo_id']}",
        commit=status["commit"],
        destination=where,
        copied=len(done),
        skipped=len(skipped),
        failed=len(bad),
        bytes_copied=sum(j["size"] for j in done),
        bytes_skipped=sum(j["size"] for j in skipped),
        elapsed_s=elapsed,
        failures=tuple((j["path"], j["error"] or j["state"]) for j in bad),
    )


def follow(
    status_of: Callable[[], dict[str, Any]],
    jobs_of: Callable[[], list[dict[str, Any]]],
    emit: Callable[[Event], None],
    *,
    interval: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Poll until the sync ends; emit what changed. The last status and jobs."""
    status, jobs = status_of(), jobs_of()
    emit(PlanReady(plan_of(status, jobs)))
    for j in jobs:
        if j["state"] == "skipped":
            emit(FileDone(j["path"], j["size"], skipped=True))
    diff = JobDiff([j for j in jobs if j["state"] in ("pending", "skipped")])
    while True:
        for event in diff.events(jobs):
            emit(event)
        if status["state"] in FINAL:
            return status, jobs
        # A big sync's job list is pages of 1,000: poll it less often.
        sleep(max(interval, len(jobs) / 4000))
        status, jobs = status_of(), jobs_of()
