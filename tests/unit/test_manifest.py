"""Manifests, refs and `sync --delete` against the in-memory twins (engine/manifest.py).

Strict R2 rules refuse a second write of one key within a second: tests that rewrite the
manifest or the refs at once turn them off.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from doubles.memory_sink import MemorySink

from data4r2.domain import ObjectMeta, PlannedFile, RepoRef, Snapshot, SyncSummary
from data4r2.engine.manifest import (
    Manifest,
    Refs,
    manifest_key,
    publish_manifest,
    read_manifest,
    read_refs,
    refs_key,
)
from data4r2.engine.options import SyncOptions
from data4r2.engine.sync import SyncEngine
from data4r2.engine.verify import verify
from data4r2.state.memory import MemoryJobStore

from .hub_twin import Fault, MemoryHub

MiB = 1024**2
REPO = RepoRef("acme/model")
AT = "models/acme/model/"
C1, C2 = "c" * 40, "d" * 40


def make_hub() -> MemoryHub:
    hub = MemoryHub(commit=C1)
    hub.add("config.json", b'{"a": 1}\n')
    hub.add("README.md", b"# model\n")
    hub.add("weights/a.safetensors", b"a" * 3000, lfs=True)
    hub.add("weights/b.safetensors", b"b" * 3000, lfs=True)
    return hub


def sync(hub: MemoryHub, sink: Any, repo: RepoRef = REPO, **opts: Any) -> SyncSummary:
    options = SyncOptions(part_size=5 * MiB, retry_base_delay=0, request_attempts=1, **opts)
    engine = SyncEngine(
        hub,
        sink,
        MemoryJobStore(),
        destination="mem://test",
        options=options,
        emit=lambda e: None,
        sleep=lambda s: None,
    )
    return engine.run(engine.plan(repo))


def object_calls(sink: MemorySink, since: int = 0) -> list[tuple[str, str]]:
    """Calls on repo objects (not on data4r2's .data4r2/ documents) after call `since`."""
    return [(c.op, c.key) for c in sink.calls[since:] if "/.data4r2/" not in c.key]


def put_meta(key: str, body: bytes) -> ObjectMeta:
    return ObjectMeta("acme/model", "model", C1, key, hashlib.sha256(body).hexdigest())


# --------------------------------------------------------------------------- the documents


def test_a_verified_sync_writes_the_manifest_then_the_refs_after_every_object() -> None:
    hub, sink = make_hub(), MemorySink()
    assert sync(hub, sink).ok
    puts = [c.key for c in sink.calls if c.op in ("put", "complete") and c.ok]
    assert puts[-2:] == [manifest_key(AT, C1), refs_key(AT)]  # last, in this order
    manifest = read_manifest(sink, AT, C1)
    assert manifest is not None
    assert (manifest.repo_id, manifest.repo_type, manifest.commit, manifest.revision) == (
        "acme/model",
        "model",
        C1,
        "main",
    )
    assert [e.path for e in manifest.files] == sorted(hub.files)
    a = manifest.entries()["weights/a.safetensors"]
    assert (a.size, a.lfs, a.key) == (3000, True, AT + "weights/a.safetensors")
    assert a.sha256 == hashlib.sha256(b"a" * 3000).hexdigest()
    assert manifest.entries()["config.json"].sha256 is None  # a regular file: its git sha1
    doc = json.loads(sink.get(manifest_key(AT, C1)))
    assert (doc["format"], doc["version"]) == ("data4r2-manifest", 1)
    assert doc["created_at"].endswith("Z")
    refs = read_refs(sink, AT)
    assert refs is not None and refs.refs == {"main": C1} and refs.latest == C1


def test_a_sync_with_a_failed_file_writes_no_manifest_and_no_refs() -> None:
    hub, sink = make_hub(), MemorySink()
    hub.faults["README.md"] = [Fault("503", times=100)]
    summary = sync(hub, sink, max_retries=0)
    assert not summary.ok and summary.copied == 3
    assert sink.read(manifest_key(AT, C1)) is None
    assert sink.read(refs_key(AT)) is None


def test_a_failed_sync_after_a_good_one_stops_the_old_manifest_being_trusted() -> None:
    hub, sink = make_hub(), MemorySink(strict_r2=False)
    assert sync(hub, sink).ok
    hub.commit = C2
    hub.files["config.json"] = b'{"a": 2}\n'
    hub.faults["README.md"] = [Fault("503", times=100)]
    hub.files["README.md"] = b"# model v2\n"
    assert not sync(hub, sink, max_retries=0).ok  # config.json was rewritten, README failed
    refs = read_refs(sink, AT)
    assert refs is not None and refs.refs == {"main": C1} and refs.latest is None
    # Back at C1: its manifest no longer says what the bucket holds, so the plan looks.
    hub.commit, hub.files["config.json"], hub.files["README.md"] = C1, b'{"a": 1}\n', b"# model\n"
    since = len(sink.calls)
    summary = sync(hub, sink)
    assert summary.ok and summary.copied == 1  # config.json, which C2 had overwritten
    assert ("list", AT) in object_calls(sink, since)


def test_an_existing_mirror_without_a_manifest_gains_one_when_nothing_is_copied() -> None:
    hub, sink = make_hub(), MemorySink(strict_r2=False)
    assert sync(hub, sink).ok
    sink.delete(manifest_key(AT, C1))
    sink.delete(refs_key(AT))
    summary = sync(hub, sink)
    assert summary.ok and summary.copied == 0 and summary.skipped == 4
    assert read_manifest(sink, AT, C1) is not None
    refs = read_refs(sink, AT)
    assert refs is not None and refs.latest == C1


def test_a_revision_given_as_a_commit_is_no_ref_and_tags_join_branches() -> None:
    hub, sink = make_hub(), MemorySink(strict_r2=False)
    assert sync(hub, sink, RepoRef("acme/model", revision=C1[:12])).ok
    refs = read_refs(sink, AT)
    assert refs is not None and refs.refs == {} and refs.latest == C1
    assert sync(hub, sink, RepoRef("acme/model", revision="v1.0")).ok
    assert sync(hub, sink).ok
    refs = read_refs(sink, AT)
    assert refs is not None and refs.refs == {"v1.0": C1, "main": C1}


def test_a_document_that_is_not_ours_reads_as_absent() -> None:
    sink = MemorySink(strict_r2=False)
    for body in (b"not json", b'{"format": "other"}', b'{"format": "data4r2-manifest"}'):
        sink.put(manifest_key(AT, C1), memoryview(body), put_meta("m", body))
        assert read_manifest(sink, AT, C1) is None
        sink.delete(manifest_key(AT, C1))
    body = json.dumps({"format": "data4r2-refs", "version": 2, "refs": {}}).encode()
    sink.put(refs_key(AT), memoryview(body), put_meta("r", body))
    assert read_refs(sink, AT) is None


def test_documents_round_trip() -> None:
    hub, sink = make_hub(), MemorySink()
    sync(hub, sink, include=("*.json",))
    data = sink.get(manifest_key(AT, C1))
    manifest = Manifest.from_json(data)
    assert manifest.include == ("*.json",) and [e.path for e in manifest.files] == ["config.json"]
    assert Manifest.from_json(manifest.to_json()) == manifest
    refs = Refs({"main": C1}, C1, "2026-12-04T17:00:00Z")
    assert Refs.from_json(refs.to_json()) == refs


def test_publishing_twice_the_same_writes_nothing_the_second_time() -> None:
    hub, sink = make_hub(), MemorySink()
    sync(hub, sink)
    since = len(sink.calls)
    snap = Snapshot(REPO, C1, tuple(hub.list_files(REPO, C1)))
    files = [PlannedFile(e, AT + e.path, True) for e in snap.files]
    assert publish_manifest(sink, snap, files, "", "main", now=lambda: 0.0) is False
    assert [c.op for c in sink.calls[since:]] == ["read", "read"]


# --------------------------------------------------------------------------- a cheap re-sync


def test_a_no_change_re_sync_lists_and_heads_no_object_and_writes_nothing() -> None:
    hub, sink = make_hub(), MemorySink()
    assert sync(hub, sink).ok
    since = len(sink.calls)
    summary = sync(hub, sink)
    assert summary.ok and summary.skipped == 4 and summary.copied == 0
    calls = [(c.op, c.key) for c in sink.calls[since:]]
    assert not [c for c in calls if c[0] in ("list", "head", "put", "complete", "delete")]
    assert {op for op, _ in calls} <= {"read", "list_uploads"}  # refs, manifest; reclaim


def test_verify_objects_looks_at_every_object_again() -> None:
    hub, sink = make_hub(), MemorySink()
    sync(hub, sink)
    since = len(sink.calls)
    assert sync(hub, sink, verify_objects=True).skipped == 4
    ops = [op for op, _ in object_calls(sink, since)]
    assert ops.count("list") == 1 and ops.count("head") == 4


def test_a_changed_file_is_copied_again_and_the_refs_move_to_the_new_commit() -> None:
    hub, sink = make_hub(), MemorySink(strict_r2=False)
    sync(hub, sink)
    hub.commit = C2
    hub.files["weights/b.safetensors"] = b"B" * 3000
    since = len(sink.calls)
    summary = sync(hub, sink)
    assert summary.ok and summary.copied == 1 and summary.skipped == 3
    assert sink.get(AT + "weights/b.safetensors") == b"B" * 3000
    assert ("put", AT + "weights/b.safetensors") in object_calls(sink, since)
    refs = read_refs(sink, AT)
    assert refs is not None and refs.refs == {"main": C2} and refs.latest == C2
    assert read_manifest(sink, AT, C1) is not None  # the old commit's manifest stays


def test_a_file_not_in_the_manifest_is_planned_by_looking_at_the_bucket() -> None:
    hub, sink = make_hub(), MemorySink(strict_r2=False)
    sync(hub, sink, include=("*.json",))
    since = len(sink.calls)
    summary = sync(hub, sink)
    assert summary.copied == 3 and summary.skipped == 1
    ops = [op for op, _ in object_calls(sink, since)]
    assert ops.count("list") == 1 and "head" not in ops  # the listed sizes ruled them out


def test_the_manifest_of_another_commit_written_later_is_not_trusted() -> None:
    hub, sink = make_hub(), MemorySink(strict_r2=False)
    sync(hub, sink)
    hub.commit, hub.files["config.json"] = C2, b'{"a": 22}\n'  # same size, other bytes
    sync(hub, sink, RepoRef("acme/model", revision="dev"))
    hub.commit, hub.files["config.json"] = C1, b'{"a": 1}\n'
    summary = sync(hub, sink)
    assert summary.copied == 1  # the bucket held C2's config.json: looked, and copied back
    assert sink.get(AT + "config.json") == b'{"a": 1}\n'


def test_a_hub_path_under_the_metadata_folder_is_refused() -> None:
    hub, sink = make_hub(), MemorySink()
    hub.add(".data4r2/refs.json", b'{"format": "data4r2-refs"}')
    summary = sync(hub, sink)
    assert summary.failed == 1 and ".data4r2" in summary.failures[0][1]
    assert read_refs(sink, AT) is None  # not verified completely: no manifest, no refs


def test_verify_trusts_the_manifest_and_needs_no_listing() -> None:
    hub, sink = make_hub(), MemorySink()
    sync(hub, sink)
    since = len(sink.calls)
    report = verify(hub, sink, REPO, SyncOptions(retry_base_delay=0))
    assert report.ok and len(report.matching) == 4
    assert object_calls(sink, since) == []


# --------------------------------------------------------------------------- --delete


def seed(sink: MemorySink, key: str, body: bytes = b"old") -> None:
    sink.put(key, memoryview(body), put_meta(key, body))


def test_delete_removes_exactly_the_vanished_files_under_the_repo_prefix() -> None:
    hub, sink = make_hub(), MemorySink(strict_r2=False)
    sync(hub, sink)
    seed(sink, "models/acme/model-2/config.json")  # a sibling: shares a string prefix
    seed(sink, "models/acme/modelX")
    seed(sink, "datasets/acme/model/README.md")
    del hub.files["weights/b.safetensors"]
    hub.commit = C2
    summary = sync(hub, sink, delete=True)
    assert summary.ok and summary.deleted == (AT + "weights/b.safetensors",)
    assert [c.key for c in sink.calls if c.op == "delete"][-1:] == [AT + "weights/b.safetensors"]
    keys = set(sink.objects)
    assert {
        "models/acme/model-2/config.json",
        "models/acme/modelX",
        "datasets/acme/model/README.md",
        manifest_key(AT, C1),  # manifests are never deleted
        refs_key(AT),
    } <= keys
    assert AT + "weights/b.safetensors" not in keys
    manifest = read_manifest(sink, AT, C2)
    assert manifest is not None and len(manifest.files) == 3


def test_delete_considers_only_keys_the_selection_covers() -> None:
    hub, sink = make_hub(), MemorySink(strict_r2=False)
    sync(hub, sink)
    seed(sink, AT + "stale.json")
    seed(sink, AT + "stale.bin")
    summary = sync(hub, sink, delete=True, include=("*.json",))
    assert summary.deleted == (AT + "stale.json",)
    assert AT + "stale.bin" in sink.objects and AT + "README.md" in sink.objects


def test_delete_waits_for_a_fully_verified_sync() -> None:
    hub, sink = make_hub(), MemorySink(strict_r2=False)
    sync(hub, sink)
    seed(sink, AT + "stale.json")
    hub.commit, hub.files["README.md"] = C2, b"# v2\n"
    hub.faults["README.md"] = [Fault("503", times=100)]
    summary = sync(hub, sink, delete=True, max_retries=0)
    assert not summary.ok and summary.deleted == ()
    assert AT + "stale.json" in sink.objects


def test_delete_in_a_plan_only_lists_and_writes_nothing() -> None:
    hub, sink = make_hub(), MemorySink()
    sync(hub, sink)
    seed(sink, AT + "stale.json")
    engine = SyncEngine(
        hub,
        sink,
        MemoryJobStore(),
        destination="mem://test",
        options=SyncOptions(delete=True, retry_base_delay=0),
        emit=lambda e: None,
    )
    since = len(sink.calls)
    plan = engine.plan(REPO)
    assert plan.to_delete == (AT + "stale.json",)
    assert {c.op for c in sink.calls[since:]} <= {"read", "list"}
