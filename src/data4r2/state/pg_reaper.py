"""The cluster's reaper loop: `serve` and every `worker` run one; an advisory lock lets only
one of them work per round.

Not procrastinate's periodic task: that runs inside a procrastinate worker, and a worker
that stalls stalls its reaper with it — exactly when one is needed. A plain thread per
process, any of which may take the round, keeps reaping while any process is alive.
"""

from __future__ import annotations

import logging
import threading

import psycopg

from .postgres import PostgresJobStore

log = logging.getLogger(__name__)

REAP_EVERY = 10.0  # seconds between rounds: a dead worker's jobs wait at most this past the stall
STALL_SECONDS = 120.0  # no heartbeat (claim or renew) for this long: the worker is dead


def run_reaper(
    store: PostgresJobStore,
    stop: threading.Event,
    *,
    interval: float = REAP_EVERY,
    stall_seconds: float = STALL_SECONDS,
) -> None:
    """Reap every `interval` seconds until `stop` is set. A database error (a cut connection,
    a failover) is logged and the next round tries again: the reaper must outlive blips."""
    while not stop.wait(interval):
        try:
            requeued = store.reap(stall_seconds=stall_seconds)
        except psycopg.Error as e:
            log.warning("reaper round failed, will retry: %s", " ".join(str(e).split()))
            continue
        if requeued:
            log.info("reaper requeued %d job(s) of dead or hung workers", requeued)


def start_reaper(
    store: PostgresJobStore,
    stop: threading.Event,
    *,
    interval: float = REAP_EVERY,
    stall_seconds: float = STALL_SECONDS,
) -> threading.Thread:
    """run_reaper on a daemon thread (it holds no lock between rounds: killing it is safe)."""
    thread = threading.Thread(
        target=run_reaper,
        args=(store, stop),
        kwargs={"interval": interval, "stall_seconds": stall_seconds},
        name="data4r2-reaper",
        daemon=True,
    )
    thread.start()
    return thread
