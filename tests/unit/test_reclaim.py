"""A sync aborts the uploads killed runs left under its repo that no state file remembers."""

from __future__ import annotations

import os

import pytest
from doubles.memory_sink import MemorySink

from data4r2.domain import (
    DestinationError,
    ObjectMeta,
    RepoRef,
    RepoType,
    UploadRecord,
    object_key,
)
from data4r2.engine.options import SyncOptions
from data4r2.engine.reclaim import STALE_AFTER_S, repo_prefix
from data4r2.engine.sync import SyncEngine
from data4r2.state.memory import MemoryJobStore

from .hub_twin import MemoryHub

MiB = 1024**2
DEST = "mem://test"
REPO = RepoRef("acme/model")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def meta(key: str) -> ObjectMeta:
    return ObjectMeta("acme/model", "model", "c" * 40, key, "0" * 64)


def run_sync(sink: MemorySink, store: MemoryJobStore) -> None:
    hub = MemoryHub()
    hub.add("model.safetensors", os.urandom(6 * MiB), lfs=True)
    engine = SyncEngine(
        hub,
        sink,
        store,
        destination=DEST,
        options=SyncOptions(part_size=5 * MiB, memory_budget=16 * MiB),
        emit=lambda e: None,
        sleep=lambda s: None,
    )
    assert engine.run(engine.plan(REPO)).ok


def test_a_sync_aborts_only_stale_unrecorded_uploads_of_its_own_repo() -> None:
    clock, store = Clock(), MemoryJobStore()
    sink = MemorySink(clock=clock)

    def start(key: str) -> str:
        return sink.create_multipart(key, meta(key), 5 * MiB)

    killed = start("models/acme/model/model.safetensors")  # a killed run, state file lost
    gone_file = start("models/acme/model/removed-since.bin")  # a file the repo no longer has
    other_repo = start("models/acme/model-v2/weights.bin")  # a prefix of ours, not our repo
    recorded = start("models/acme/model/recorded.bin")
    store.record_upload(DEST, "models/acme/model/recorded.bin", UploadRecord(recorded, 5 * MiB, ""))
    clock.now += STALE_AFTER_S + 1
    live = start("models/acme/model/in-flight.bin")  # another run, at work right now

    run_sync(sink, store)

    assert set(sink.open_uploads) == {other_repo, recorded, live}
    assert killed not in sink.open_uploads and gone_file not in sink.open_uploads


def test_a_store_that_cannot_list_uploads_still_syncs() -> None:
    sink = MemorySink()
    sink.fail_next("list_uploads", DestinationError("ListMultipartUploads: AccessDenied"))
    run_sync(sink, MemoryJobStore())
    assert sink.count("list_uploads", ok=False) == 1
    assert sink.objects  # copied all the same


@pytest.mark.parametrize("prefix", ["", "mirror", "mirror/", "a/b/"])
@pytest.mark.parametrize("repo_type", list(RepoType))
def test_repo_prefix_is_where_object_key_puts_the_repos_files(
    prefix: str, repo_type: RepoType
) -> None:
    repo = RepoRef("acme/model", repo_type)
    assert object_key(prefix, repo, "x/y.bin") == repo_prefix(prefix, repo) + "x/y.bin"
