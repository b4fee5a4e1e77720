"""Plan a sync: pin the revision to a commit, list and filter files, see what is already there."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from ..domain import (
    ObjectInfo,
    PlannedFile,
    RefusedFile,
    RemoteFile,
    RepoRef,
    Snapshot,
    SyncSummary,
    UnsafePath,
    object_key,
    repo_prefix,
)
from ..ports import HubSource, ObjectSink
from .manifest import META_DIR, is_metadata_key, trusted_manifest
from .retry import Caller

# A repo path under our metadata folder would overwrite a manifest or the refs.
RESERVED = f"the name {META_DIR!r} is reserved for data4r2's manifests and refs"


def select(
    files: Iterable[RemoteFile], include: tuple[str, ...], exclude: tuple[str, ...]
) -> list[RemoteFile]:
    """Filter as `snapshot_download(allow_patterns=include, ignore_patterns=exclude)` does.

    The rules of huggingface_hub's `filter_repo_objects` (2.x): `fnmatchcase`, so `*` also
    crosses `/`; a pattern ending in `/` matches everything below; `\\` counts as `/` in
    paths and patterns. Written out because the engine imports no adapter library
    (tests/unit/test_layers.py); tests/unit/test_select.py pins it to the installed
    huggingface_hub on a few thousand cases.
    """
    return sorted((f for f in files if selected(f.path, include, exclude)), key=lambda f: f.path)


def selected(path: str, include: tuple[str, ...], exclude: tuple[str, ...]) -> bool:
    """Whether `select` keeps a file at `path` (the rule `sync --delete` also applies to keys)."""
    path = path.replace("\\", "/")
    if include and not any(fnmatch.fnmatchcase(path, _pattern(p)) for p in include):
        return False
    return not any(fnmatch.fnmatchcase(path, _pattern(p)) for p in exclude)


def _pattern(pattern: str) -> str:
    pattern = pattern.replace("\\", "/")
    return pattern + "*" if pattern.endswith("/") else pattern


def keyed_files(
    prefix: str, repo: RepoRef, files: Iterable[RemoteFile]
) -> tuple[list[tuple[RemoteFile, str]], list[RefusedFile]]:
    """Each file with its object key, and apart the files whose path is unsafe as a key.

    A hostile or over-long name fails that file alone; the rest of the repo is mirrored.
    """
    keyed: list[tuple[RemoteFile, str]] = []
    refused: list[RefusedFile] = []
    for f in files:
        if f.path.startswith(META_DIR):
            refused.append(RefusedFile(f, str(UnsafePath(f.path, RESERVED))))
            continue
        try:
            keyed.append((f, object_key(prefix, repo, f.path)))
        except UnsafePath as exc:
            refused.append(RefusedFile(f, str(exc)))
    return keyed, refused


def with_refused(summary: SyncSummary, refused: Iterable[RefusedFile]) -> SyncSummary:
    """The run's summary with the plan's refused files counted as failed files."""
    failures = tuple((r.file.path, r.reason) for r in refused)
    return replace(
        summary,
        failed=summary.failed + len(failures),
        failures=summary.failures + failures,
    )


def snapshot(hub: HubSource, repo: RepoRef, call: Caller) -> Snapshot:
    """Resolve once; every later request names the commit, so a push mid-sync mixes nothing."""
    commit = call(lambda: hub.resolve(repo))
    files = call(lambda: hub.list_files(repo, commit))
    return Snapshot(repo, commit, tuple(files))


def listing(sink: ObjectSink, prefix: str, call: Caller) -> dict[str, ObjectInfo]:
    """Every object under the repo's `prefix` by key (sizes only: a listing carries no
    metadata), but data4r2's own manifests and refs, which are no repo files."""
    listed = call(lambda: list(sink.list(prefix)))
    return {i.key: i for i in listed if not is_metadata_key(prefix, i.key)}


def heads_where_sizes_match(
    sink: ObjectSink,
    keyed: list[tuple[RemoteFile, str]],
    listed: dict[str, ObjectInfo],
    call: Caller,
    workers: int,
) -> dict[str, ObjectInfo]:
    """HEAD (for our metadata) only the listed keys whose size is right: any other object
    cannot match, so a fresh sync of 40,000 files costs 40 LISTs, not 40,000 HEADs."""
    candidates = [key for f, key in keyed if key in listed and listed[key].size == f.size]

    def head(key: str) -> ObjectInfo | None:
        return call(lambda: sink.head(key))

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="head") as pool:
        heads = list(pool.map(head, candidates))
    return {key: info for key, info in zip(candidates, heads, strict=True) if info is not None}


def plan_files(
    snap: Snapshot,
    sink: ObjectSink,
    *,
    prefix: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    force: bool,
    call: Caller,
    workers: int,
    verify_objects: bool = False,
) -> tuple[tuple[PlannedFile, ...], tuple[RefusedFile, ...]]:
    """What to copy and what to skip; and apart, the files refused before anything is written.

    Files the trusted manifest of this commit records as they are now cost no request
    (a no-change re-sync is one GET of the refs and one of the manifest); the others are
    looked at in the bucket. `verify_objects` ignores the manifest and looks at every one.
    """
    keyed, refused = keyed_files(prefix, snap.repo, select(snap.files, include, exclude))
    if force:
        return tuple(PlannedFile(f, key, up_to_date=False) for f, key in keyed), tuple(refused)
    known = set() if verify_objects else manifest_matches(sink, snap, keyed, prefix, call)
    unknown = [(f, key) for f, key in keyed if key not in known]
    have: dict[str, ObjectInfo] = {}
    if unknown:
        listed = listing(sink, repo_prefix(prefix, snap.repo), call)
        have = heads_where_sizes_match(sink, unknown, listed, call, workers)
    planned = tuple(
        PlannedFile(f, key, up_to_date=key in known or (key in have and have[key].matches(f)))
        for f, key in keyed
    )
    return planned, tuple(refused)


def manifest_matches(
    sink: ObjectSink,
    snap: Snapshot,
    keyed: list[tuple[RemoteFile, str]],
    prefix: str,
    call: Caller,
) -> set[str]:
    """Keys of `keyed` whose file the trusted manifest of `snap.commit` records as is."""
    manifest = call(lambda: trusted_manifest(sink, repo_prefix(prefix, snap.repo), snap.commit))
    if manifest is None:
        return set()
    entries = manifest.entries()
    return {key for f, key in keyed if (e := entries.get(f.path)) and e.matches(f, key)}
