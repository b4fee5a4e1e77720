"""The engine against in-memory twins: the hub twin, the strict memory sink, the memory store."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from typing import Any

import pytest
from doubles.memory_sink import MemorySink

from data4r2.domain import (
    CredentialsError,
    DestinationError,
    Event,
    FileFailed,
    FileRetrying,
    ObjectMeta,
    PartInfo,
    RateLimited,
    RepoRef,
    Snapshot,
    SyncFinished,
)
from data4r2.engine.options import SyncOptions
from data4r2.engine.sync import SyncEngine
from data4r2.engine.verify import verify
from data4r2.settings import load_settings
from data4r2.state.memory import MemoryJobStore

from .hub_twin import Fault, MemoryHub

MiB = 1024**2
REPO = RepoRef("acme/model")


class CountingSink:
    """Delegates to a sink and counts calls, to assert what was (not) re-uploaded."""

    def __init__(self, inner: MemorySink) -> None:
        self.inner = inner
        self.calls: Counter[tuple[str, str]] = Counter()
        self.parts: Counter[tuple[str, int]] = Counter()
        self.fail_part: dict[int, Exception] = {}

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.calls[(name, str(args[0]) if args else "")] += 1
            return attr(*args, **kwargs)

        return wrapped

    def upload_part(self, key: str, upload_id: str, number: int, body: memoryview) -> PartInfo:
        if number in self.fail_part:
            raise self.fail_part.pop(number)
        self.parts[(key, number)] += 1
        return self.inner.upload_part(key, upload_id, number, body)

    def put(self, key: str, body: memoryview, meta: ObjectMeta) -> None:
        self.calls[("put", key)] += 1
        self.inner.put(key, body, meta)


def make_hub() -> MemoryHub:
    hub = MemoryHub()
    hub.add("config.json", b'{"a": 1}\n')
    hub.add("README.md", b"# model\n" * 100)
    hub.add("nested/deep/tokenizer.json", os.urandom(3000))
    hub.add("empty.txt", b"")
    hub.add("model.safetensors", os.urandom(12 * MiB + 123), lfs=True)
    hub.add("small.bin", os.urandom(1000), lfs=True)
    return hub


def engine(
    hub: Any, sink: Any, store: Any, events: list[Event] | None = None, **opts: Any
) -> SyncEngine:
    options = SyncOptions(part_size=5 * MiB, memory_budget=16 * MiB, retry_base_delay=0, **opts)
    return SyncEngine(
        hub,
        sink,
        store,
        destination="mem://test",
        options=options,
        emit=(events.append if events is not None else lambda e: None),
        sleep=lambda s: None,
    )


def sync(hub: Any, sink: Any, store: Any, events: list[Event] | None = None, **opts: Any):  # type: ignore[no-untyped-def]
    e = engine(hub, sink, store, events, **opts)
    return e.run(e.plan(REPO))


def test_sync_copies_every_file_with_metadata() -> None:
    hub, sink = make_hub(), MemorySink()
    summary = sync(hub, sink, MemoryJobStore())
    assert summary.ok and summary.copied == 6 and summary.skipped == 0
    assert summary.bytes_copied == sum(len(d) for d in hub.files.values())
    for path, data in hub.files.items():
        key = f"models/acme/model/{path}"
        assert sink.get(key) == data
        info = sink.head(key)
        assert info is not None and info.sha256 == hashlib.sha256(data).hexdigest()


def test_second_run_copies_nothing() -> None:
    hub, mem, store = make_hub(), MemorySink(), MemoryJobStore()
    sync(hub, mem, store)
    counting = CountingSink(mem)
    summary = sync(hub, counting, store)
    assert summary.copied == 0 and summary.skipped == 6
    assert not any(op in ("put", "create_multipart") for op, _ in counting.calls)
    assert not counting.parts


def test_force_copies_again() -> None:
    hub, mem, store = make_hub(), MemorySink(strict_r2=False), MemoryJobStore()
    sync(hub, mem, store)
    summary = sync(hub, mem, store, force=True)
    assert summary.copied == 6


def test_include_and_exclude() -> None:
    hub, sink = make_hub(), MemorySink()
    summary = sync(
        hub, sink, MemoryJobStore(), include=("*.json", "*.safetensors"), exclude=("nested/*",)
    )
    assert summary.copied == 2
    assert sink.head("models/acme/model/config.json") is not None
    assert sink.head("models/acme/model/nested/deep/tokenizer.json") is None


def test_multipart_parts_are_equal_but_the_last() -> None:
    hub, sink = make_hub(), CountingSink(MemorySink(strict_r2=True))
    sync(hub, sink, MemoryJobStore())
    numbers = sorted(n for (key, n) in sink.parts if key.endswith("model.safetensors"))
    assert numbers == [1, 2, 3]  # 12 MiB + 123 in 5 MiB parts


def test_corrupted_download_is_never_published_and_the_retry_succeeds() -> None:
    hub, sink, events = make_hub(), MemorySink(), []
    hub.faults["model.safetensors"] = [Fault("corrupt", at=7 * MiB)]
    hub.faults["config.json"] = [Fault("corrupt", at=2)]
    summary = sync(hub, sink, MemoryJobStore(), events)
    assert summary.ok
    assert sink.get("models/acme/model/model.safetensors") == hub.files["model.safetensors"]
    assert sink.get("models/acme/model/config.json") == hub.files["config.json"]
    retried = {e.path for e in events if isinstance(e, FileRetrying)}
    assert {"model.safetensors", "config.json"} <= retried


def test_persistent_corruption_fails_the_file_and_publishes_nothing() -> None:
    hub, sink = make_hub(), MemorySink()
    hub.faults["model.safetensors"] = [Fault("corrupt", at=1, times=100)]
    events: list[Event] = []
    summary = sync(hub, sink, MemoryJobStore(), events, max_retries=2)
    assert not summary.ok and summary.failed == 1
    assert summary.failures[0][0] == "model.safetensors" and "sha256" in summary.failures[0][1]
    assert sink.head("models/acme/model/model.safetensors") is None
    assert [e.path for e in events if isinstance(e, FileFailed)] == ["model.safetensors"]
    assert hub.opens.count(("model.safetensors", 0)) == 3  # 1 + max_retries attempts


def test_cut_stream_resumes_at_the_offset_it_reached() -> None:
    hub, sink = make_hub(), MemorySink()
    hub.faults["model.safetensors"] = [Fault("cut", at=6 * MiB + 5)]
    summary = sync(hub, sink, MemoryJobStore())
    assert summary.ok
    assert ("model.safetensors", 6 * MiB + 5) in hub.opens
    assert sink.get("models/acme/model/model.safetensors") == hub.files["model.safetensors"]


def test_transient_hub_errors_are_retried_per_request() -> None:
    hub, sink = make_hub(), MemorySink()
    hub.faults["config.json"] = [Fault("503", times=3)]
    summary = sync(hub, sink, MemoryJobStore())
    assert summary.ok and summary.copied == 6


def test_interrupted_multipart_resumes_without_reuploading_finished_parts() -> None:
    hub, mem, store = make_hub(), MemorySink(), MemoryJobStore()
    first = CountingSink(mem)
    first.fail_part[3] = DestinationError("simulated crash at part 3")  # not retryable
    summary = sync(hub, first, store, max_retries=0)
    assert summary.failed == 1
    assert mem.head("models/acme/model/model.safetensors") is None
    key = "models/acme/model/model.safetensors"
    record = store.upload("mem://test", key)
    assert record is not None and {p.number for p in record.parts} == {1, 2}

    second = CountingSink(mem)
    summary = sync(hub, second, store)
    assert summary.ok
    assert second.parts[(key, 1)] == 0 and second.parts[(key, 2)] == 0
    assert second.parts[(key, 3)] == 1
    assert mem.get(key) == hub.files["model.safetensors"]
    assert store.upload("mem://test", key) is None


def test_a_refused_path_fails_alone_and_the_rest_is_mirrored() -> None:
    hub, sink = make_hub(), MemorySink()
    hub.add("../../etc/passwd", b"x")
    hub.add("x:y.txt", b"legal on Linux and S3")
    events: list[Event] = []
    summary = sync(hub, sink, MemoryJobStore(), events)
    assert not summary.ok and summary.failed == 1 and summary.copied == 7
    [(path, reason)] = summary.failures
    assert path == "../../etc/passwd" and "'..' segment" in reason
    assert FileFailed(path, reason) in events
    assert sink.get("models/acme/model/x:y.txt") == b"legal on Linux and S3"
    assert not [k for k in sink.objects if "passwd" in k]


def test_verify_counts_a_refused_path_as_missing() -> None:
    hub, sink = make_hub(), MemorySink()
    sync(hub, sink, MemoryJobStore())
    hub.add("a/./b.txt", b"aliases a/b.txt")
    report = verify(hub, sink, REPO, SyncOptions(retry_base_delay=0))
    assert report.missing == ("a/./b.txt",) and not report.extra and len(report.matching) == 6


def test_fatal_destination_error_stops_the_run() -> None:
    hub, mem = make_hub(), MemorySink()
    sink = CountingSink(mem)

    def refuse(*args: Any) -> None:
        raise CredentialsError("bad key")

    sink.put = refuse  # type: ignore[method-assign]
    with pytest.raises(CredentialsError):
        sync(hub, sink, MemoryJobStore(), concurrency=1)


def test_sync_finished_event_carries_the_summary() -> None:
    events: list[Event] = []
    summary = sync(make_hub(), MemorySink(), MemoryJobStore(), events)
    assert isinstance(events[-1], SyncFinished) and events[-1].summary == summary


def test_verify_reports_missing_differing_extra() -> None:
    hub, sink = make_hub(), MemorySink(strict_r2=False)  # we rewrite keys within a second
    sync(hub, sink, MemoryJobStore())
    sink.delete("models/acme/model/README.md")
    meta = ObjectMeta("acme/model", "model", "c" * 40, "x", hashlib.sha256(b"junk").hexdigest())
    sink.put("models/acme/model/stray.bin", memoryview(b"junk"), meta)
    hub.files["config.json"] = b'{"a": 2}\n'  # the Hub moved on: our copy now differs
    # Changed behind data4r2's back: only a look at every object sees it (the manifest
    # still vouches for README.md; tests/unit/test_manifest.py covers the trusting verify).
    report = verify(hub, sink, REPO, SyncOptions(retry_base_delay=0, verify_objects=True))
    assert report.missing == ("README.md",)
    assert report.differing == ("config.json",)
    assert report.extra == ("stray.bin",)
    assert not report.ok and len(report.matching) == 4


def test_plan_retries_are_reported_not_silent() -> None:
    class FlakyHub(MemoryHub):
        calls = 0

        def resolve(self, repo: RepoRef) -> str:
            self.calls += 1
            if self.calls < 3:
                raise RateLimited("the Hub", retry_after=0)
            return super().resolve(repo)

    hub = FlakyHub()
    hub.add("a.txt", b"a")
    events: list[Event] = []
    summary = sync(hub, MemorySink(), MemoryJobStore(), events)
    assert summary.ok
    plan_retries = [e for e in events if isinstance(e, FileRetrying) and e.path == "(plan)"]
    assert [e.attempt for e in plan_retries] == [1, 2]
    assert "rate limited" in plan_retries[0].reason


def test_a_run_prunes_the_state_to_the_last_syncs_of_its_destination(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Issue 15 bug 3: every run added a sync and a job per file, never forgotten.
    monkeypatch.setenv("DATA4R2_KEEP_SYNCS", "2")
    keep = load_settings().sync_options().keep_syncs
    assert keep == 2
    hub, sink, store = make_hub(), MemorySink(strict_r2=False), MemoryJobStore()
    other = store.create_sync(Snapshot(REPO, hub.commit, ()), "mem://elsewhere", [])
    store.finish_sync(other)
    for _ in range(4):
        sync(hub, sink, store, keep_syncs=keep)
    assert [s.id for s in store.syncs()] == [5, 4, other]  # another destination is left alone
    assert store.jobs(2) == [] and len(store.jobs(5)) == 6
