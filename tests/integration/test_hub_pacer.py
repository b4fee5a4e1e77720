"""The Hub pacer with real threads, the real HubClient and the fake hub's 429.

N threads download at once; the hub answers one request with 429 `RateLimit t=1`. Every
thread must then hold its next request until the window ends — one wait for the process,
not one per thread, and nothing sent into the closed window.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from fakehub import FakeHub, Repo

from data4r2.domain import RemoteFile, RepoRef
from data4r2.engine import retry
from data4r2.engine.pacer import PacedHub, Pacer
from data4r2.hub.client import HubClient
from data4r2.ports import ByteStream

TOKEN = "hf_alice_valid_token"
THREADS = 6
OPENS = 6  # per thread, after the start line
REPO = RepoRef("acme/paced")
# A request the pacer let through just before the 429's pause took effect is already on its
# way; it may be recorded a moment later (a GIL switch is ≤ 5 ms). Starts in this margin after
# the pause are such requests, not requests sent into the closed window.
MARGIN = 0.02


class Recording:
    """Sits between the pacer and the client: when each request really left, and by whom."""

    def __init__(self, client: HubClient) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.starts: list[tuple[float, str]] = []

    def resolve(self, repo: RepoRef) -> str:
        return self.client.resolve(repo)

    def list_files(self, repo: RepoRef, commit: str) -> list[RemoteFile]:
        return self.client.list_files(repo, commit)

    def open(self, repo: RepoRef, commit: str, file: RemoteFile, offset: int = 0) -> ByteStream:
        with self.lock:
            self.starts.append((time.monotonic(), threading.current_thread().name))
        return self.client.open(repo, commit, file, offset)


class WatchedPacer(Pacer):
    def __init__(self) -> None:
        super().__init__()
        self.paused_at: list[float] = []

    def pause(self, seconds: float) -> None:
        super().pause(seconds)
        self.paused_at.append(time.monotonic())

    @property
    def window_end(self) -> float:
        return self._closed_until


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    repo = Repo(repo_id=REPO.repo_id, repo_type="model")
    for i in range(THREADS * (OPENS + 1)):
        repo.add_file(f"f{i:03d}.txt", f"file {i}\n".encode())
    fake = FakeHub(tokens={TOKEN: {"user": "alice"}})
    fake.add(repo)
    with fake:
        yield fake


def test_one_429_pauses_every_thread_once_until_the_window_ends(hub: FakeHub) -> None:
    recording = Recording(HubClient(hub.url, TOKEN, timeout=5.0))
    pacer = WatchedPacer()
    paced = PacedHub(recording, pacer)
    commit = paced.resolve(REPO)
    files = paced.list_files(REPO, commit)
    start_line = threading.Barrier(THREADS + 1)
    errors: list[BaseException] = []
    policy = retry.RetryPolicy()  # real sleeps: the 429's own thread waits its retry_after

    def download(index: int) -> None:
        mine = files[index * (OPENS + 1) : (index + 1) * (OPENS + 1)]
        try:
            for n, file in enumerate(mine):
                if n == 1:
                    start_line.wait()  # every thread has one download done: all are mid-run
                stream = retry.call(lambda f=file: paced.open(REPO, commit, f), policy)
                buf = memoryview(bytearray(64))
                while stream.readinto(buf):
                    pass
                stream.close()
        except BaseException as exc:
            errors.append(exc)
            raise

    threads = [threading.Thread(target=download, args=(i,), name=f"t{i}") for i in range(THREADS)]
    for t in threads:
        t.start()
    start_line.wait()  # all threads stand at the line: now arm the one 429
    hub.faults.add(kind="rate_limit", route="resolve", count=1, retry_after=1)
    armed = time.monotonic()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - armed
    recording.client.close()

    assert not errors
    assert [e.status for e in hub.journal].count(429) == 1
    assert pacer.pauses == 1 and len(pacer.paused_at) == 1
    paused, end = pacer.paused_at[0], pacer.window_end
    # Nothing sent into the closed window …
    inside = [(t - paused, who) for t, who in recording.starts if paused + MARGIN < t < end]
    assert not inside
    # … and every thread did wait for it, once: all of them sent again after it ended,
    assert {who for t, who in recording.starts if t >= end} == {t.name for t in threads}
    # and the whole run took one window (1 s), not two in a row (the margin is for a busy CI).
    assert 1.0 <= elapsed < 2.0
