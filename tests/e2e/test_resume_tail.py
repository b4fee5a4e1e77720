"""A run killed (SIGKILL) in the middle of a big file resumes by fetching only the tail.

The real CLI against the fake Hub and the strict R2 double: the first run is killed once 6
of the file's 11 parts are recorded; the re-run must ask the Hub for the bytes after them
only (counted from the Hub's journal) and still publish an object whose sha256 is the
Hub's. If the file changed on the Hub between the runs, the old parts are never used.
"""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import time
from collections.abc import Iterator

import pytest
from fakehub import FakeHub, Repo

from .conftest import PART, Env, R2Double, blob, make_repo
from .test_sync_s3 import s3_env, wait_for_parts

REPO = "acme/big-model"
PATH = "weights/big.safetensors"
SIZE = 10 * PART + 777  # 11 parts, the last short
KEY = "mirror/models/acme/big-model/" + PATH
KILL_AFTER_PARTS = 6  # ~57 % of the file


@pytest.fixture
def big_repo(hub: FakeHub) -> Iterator[Repo]:
    yield hub.add(make_repo(REPO, "model", {PATH: (blob(11, SIZE), True)}))


def _parts_with_state(env: Env) -> int:
    """Parts the state file holds with a sha256 state (read-only, while the run writes)."""
    if not env.state.exists():
        return 0
    con = sqlite3.connect(f"file:{env.state}?mode=ro", uri=True, timeout=5)
    try:
        row = con.execute("SELECT count(*) FROM parts WHERE hash_state IS NOT NULL").fetchone()
        return int(row[0])
    except sqlite3.OperationalError:  # not created yet
        return 0
    finally:
        con.close()


def _kill_after_parts(cli: Env, r2: R2Double, bucket: str, parts: int) -> None:
    """Start a sync, let `parts` parts land and be recorded, then SIGKILL it."""
    stall = cli.hub.faults.add(
        kind="stall", route="cdn", path_glob="*big.safetensors*", after_bytes=parts * PART + 100
    )
    proc = cli.popen("sync", REPO, "--dest", f"s3://{bucket}/mirror", "--quiet", env=s3_env(r2))
    try:
        wait_for_parts(proc, r2, KEY, *range(1, parts + 1))
        deadline = time.monotonic() + 30
        while _parts_with_state(cli) < parts:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "parts were not recorded with their state"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    stall.release()
    cli.hub.faults.clear()
    assert r2.client().list_objects_v2(Bucket=bucket, Prefix=KEY).get("KeyCount", 0) == 0


def _cdn_gets(hub: FakeHub, since: int) -> list[str | None]:
    return [e.range for e in hub.journal[since:] if e.route == "cdn" and e.method == "GET"]


def test_a_killed_run_fetches_only_the_tail_and_verifies(
    cli: Env, r2: R2Double, bucket: str, big_repo: Repo
) -> None:
    _kill_after_parts(cli, r2, bucket, KILL_AFTER_PARTS)
    mark = len(cli.hub.journal)

    res = cli.run("sync", REPO, "--dest", f"s3://{bucket}/mirror", env=s3_env(r2))

    assert res.returncode == 0, res.stderr
    served = sum(e.body_length for e in cli.hub.journal[mark:] if e.route == "cdn")
    assert served == SIZE - KILL_AFTER_PARTS * PART  # exactly the tail, once
    assert served <= 0.45 * SIZE
    assert _cdn_gets(cli.hub, mark) == [f"bytes={KILL_AFTER_PARTS * PART}-"]
    uploads = r2.proxy.part_uploads
    assert all(uploads[(KEY, n)] == 1 for n in range(1, 12))  # no part sent twice
    head = r2.client().head_object(Bucket=bucket, Key=KEY)
    want = blob(11, SIZE)
    assert head["Metadata"]["sha256"] == hashlib.sha256(want).hexdigest()
    assert r2.client().get_object(Bucket=bucket, Key=KEY)["Body"].read() == want


def test_a_file_changed_on_the_hub_starts_over_and_publishes_the_new_bytes(
    cli: Env, r2: R2Double, bucket: str, big_repo: Repo
) -> None:
    _kill_after_parts(cli, r2, bucket, KILL_AFTER_PARTS)
    new = blob(12, SIZE)  # same size, other bytes: a new sha256 on the Hub
    big_repo.add_file(PATH, new, lfs=True)
    big_repo.commit("new weights")
    mark = len(cli.hub.journal)

    res = cli.run("sync", REPO, "--dest", f"s3://{bucket}/mirror", env=s3_env(r2))

    assert res.returncode == 0, res.stderr
    assert _cdn_gets(cli.hub, mark) == [None]  # from the first byte, no Range
    assert sum(e.body_length for e in cli.hub.journal[mark:] if e.route == "cdn") == SIZE
    assert r2.client().get_object(Bucket=bucket, Key=KEY)["Body"].read() == new
    head = r2.client().head_object(Bucket=bucket, Key=KEY)
    assert head["Metadata"]["sha256"] == hashlib.sha256(new).hexdigest()
