"""Scheduled mirrors: re-sync each repo every so often, one run at a time per mirror.

A run is an ordinary queued sync (routes_syncs.queue_sync): the plan skips what the
destination already holds, so only changed files move, and the workers' completed sync is
what publishes the new manifest and then moves the refs (docs/mirror-api.md). A mirror whose
previous sync has not settled yet waits for it instead of queueing a second one.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable

from ..domain import Data4r2Error, JobState, MirrorRecord, UsageError
from ..ports import MirrorSchedule
from .context import ServiceContext
from .models import SyncRequest
from .routes_syncs import queue_sync

log = logging.getLogger(__name__)

_EVERY = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
BUSY_RECHECK = 30.0  # seconds before looking again at a mirror whose last sync still runs
FAILED_RETRY = 300.0  # seconds before retrying a run that could not even be planned


def parse_every(text: str) -> float:
    """`90s`, `30m`, `6h`, `1d` (a bare number is seconds) → seconds, at least 1."""
    match = _EVERY.match(text.strip().lower())
    if match is None:
        raise UsageError(f"--every {text!r}: use a number with s, m, h or d (e.g. 6h)")
    seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if seconds < 1:
        raise UsageError(f"--every {text!r} is under a second")
    return seconds


class MirrorScheduler:
    def __init__(
        self,
        ctx: ServiceContext,
        schedule: MirrorSchedule,
        *,
        clock: Callable[[], float] = time.time,
        poll: float = 30.0,
    ) -> None:
        self.ctx, self.schedule, self.clock, self.poll = ctx, schedule, clock, poll
        self.stopping = threading.Event()
        self.wake = threading.Event()  # set when a mirror is added: run it now
        self._thread: threading.Thread | None = None

    def _busy(self, mirror: MirrorRecord) -> bool:
        if mirror.last_sync_id is None:
            return False
        try:
            counts = self.ctx.store.counts(mirror.last_sync_id)
        except LookupError:  # pruned
            return False
        return counts[JobState.PENDING] + counts[JobState.RUNNING] > 0

    def run_due(self) -> list[int]:
        """Queue a sync for every due mirror whose last one has settled; the new sync ids."""
        queued = []
        for mirror in self.schedule.due_mirrors():
            now = self.clock()
            if self._busy(mirror):
                self.schedule.mirror_ran(mirror.id, None, now + min(mirror.every, BUSY_RECHECK))
                continue
            body = SyncRequest(
                repo_id=mirror.repo.repo_id,
                repo_type=mirror.repo.repo_type,
                revision=mirror.repo.revision,
                include=list(mirror.include),
                exclude=list(mirror.exclude),
                dest=mirror.dest,
            )
            try:
                accepted = queue_sync(self.ctx, body)
            except Data4r2Error as e:  # the Hub or the bucket said no: try again later
                log.warning("mirror %s: %s", mirror.repo, e.message)
                self.schedule.mirror_ran(mirror.id, None, now + min(mirror.every, FAILED_RETRY))
                continue
            log.info(
                "mirror %s: sync %d queued (%d files to copy, %d up to date)",
                mirror.repo,
                accepted.sync_id,
                accepted.files,
                accepted.skipped,
            )
            self.schedule.mirror_ran(mirror.id, accepted.sync_id, now + mirror.every)
            queued.append(accepted.sync_id)
        return queued

    def _next_wait(self) -> float:
        due = [m.next_run_at for m in self.schedule.mirrors()]
        if not due:
            return self.poll
        return max(0.0, min(self.poll, min(due) - self.clock()))

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                self.run_due()
            except Exception:  # a bug must not end the schedule silently: log, go on
                log.exception("mirror schedule: run failed")
            self.wake.wait(self._next_wait())
            self.wake.clear()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="mirror-schedule", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
