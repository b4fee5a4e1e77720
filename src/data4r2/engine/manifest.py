"""The manifest and refs objects: what data4r2 itself published under a repo's prefix.

A manifest (`{repo_prefix}.data4r2/manifests/{commit}.json`) lists every file one sync
verified in the destination; the refs object (`{repo_prefix}.data4r2/refs.json`) maps the
branches and tags synced to their commits. Readers (the Hub-compatible API, `verify`, the next
plan) trust them instead of listing the bucket. The format is docs/manifest.md's.

Plain JSON through the stdlib: the engine imports no adapter library (tests/unit/test_layers.py).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..domain import ObjectMeta, PlannedFile, RemoteFile, Snapshot, repo_prefix
from ..ports import ObjectSink

MANIFEST_FORMAT = "data4r2-manifest"
REFS_FORMAT = "data4r2-refs"
VERSION = 1
META_DIR = ".data4r2/"  # under a repo's prefix: never a repo file (plan.keyed_files refuses it)
_SHA = re.compile(r"^[0-9a-f]{7,40}$")


class ManifestError(ValueError):
    """A manifest or refs object that is not ours or not this version: read as absent."""


def manifest_key(prefix: str, commit: str) -> str:
    """`prefix` is the repo's (`plan.repo_prefix`), ending in '/'."""
    return f"{prefix}{META_DIR}manifests/{commit}.json"


def refs_key(prefix: str) -> str:
    return f"{prefix}{META_DIR}refs.json"


def is_metadata_key(prefix: str, key: str) -> bool:
    """A key of data4r2's own objects under the repo's prefix, never a mirrored file."""
    return key.startswith(f"{prefix}{META_DIR}")


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    path: str
    size: int
    git_sha1: str
    sha256: str | None  # the Hub's for LFS files; None for a regular one (its git sha1 says it)
    lfs: bool
    key: str

    def matches(self, file: RemoteFile, key: str) -> bool:
        """The object this entry records holds `file` at `key` (same size, hashes and key)."""
        return (self.path, self.size, self.git_sha1, self.sha256, self.key) == (
            file.path,
            file.size,
            file.git_sha1,
            file.sha256,
            key,
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    repo_id: str
    repo_type: str
    commit: str
    revision: str
    created_at: str
    files: tuple[ManifestEntry, ...]
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def entries(self) -> dict[str, ManifestEntry]:
        return {e.path: e for e in self.files}

    def same_as(self, other: Manifest) -> bool:
        """Equal but for the time: rewriting it would tell a reader nothing new."""
        return _content(self) == _content(other)

    def to_json(self) -> bytes:
        doc = {
            "format": MANIFEST_FORMAT,
            "version": VERSION,
            "repo_id": self.repo_id,
            "repo_type": self.repo_type,
            "commit": self.commit,
            "revision": self.revision,
            "created_at": self.created_at,
            "include": list(self.include),
            "exclude": list(self.exclude),
            "files": [
                {
                    "path": e.path,
                    "size": e.size,
                    "git_sha1": e.git_sha1,
                    "sha256": e.sha256,
                    "lfs": e.lfs,
                    "key": e.key,
                }
                for e in self.files
            ],
        }
        return json.dumps(doc, ensure_ascii=False, indent=0).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Manifest:
        doc = _document(data, MANIFEST_FORMAT)
        try:
            return cls(
                repo_id=str(doc["repo_id"]),
                repo_type=str(doc["repo_type"]),
                commit=str(doc["commit"]),
                revision=str(doc["revision"]),
                created_at=str(doc["created_at"]),
                include=tuple(str(p) for p in doc.get("include", ())),
                exclude=tuple(str(p) for p in doc.get("exclude", ())),
                files=tuple(
                    ManifestEntry(
                        path=str(f["path"]),
                        size=int(f["size"]),
                        git_sha1=str(f["git_sha1"]),
                        sha256=None if f.get("sha256") is None else str(f["sha256"]),
                        lfs=bool(f["lfs"]),
                        key=str(f["key"]),
                    )
                    for f in doc["files"]
                ),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise ManifestError(f"malformed manifest: {e!r}") from e


def _content(m: Manifest) -> tuple[Any, ...]:
    return (m.repo_id, m.repo_type, m.commit, m.revision, m.files, m.include, m.exclude)


@dataclass(frozen=True, slots=True)
class Refs:
    """Branch or tag → commit, and `latest`: the commit whose manifest the last completed
    sync wrote, or None after a sync that wrote objects but no manifest (it failed)."""

    refs: dict[str, str] = field(default_factory=dict)
    latest: str | None = None
    updated_at: str = ""

    def to_json(self) -> bytes:
        doc = {
            "format": REFS_FORMAT,
            "version": VERSION,
            "refs": dict(sorted(self.refs.items())),
            "latest": self.latest,
            "updated_at": self.updated_at,
        }
        return json.dumps(doc, ensure_ascii=False, indent=0).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Refs:
        doc = _document(data, REFS_FORMAT)
        refs = doc.get("refs")
        latest = doc.get("latest")
        if not isinstance(refs, dict) or not all(isinstance(v, str) for v in refs.values()):
            raise ManifestError("malformed refs: 'refs' is not an object of commits")
        return cls(
            refs={str(k): v for k, v in refs.items()},
            latest=latest if isinstance(latest, str) else None,
            updated_at=str(doc.get("updated_at", "")),
        )


def _document(data: bytes, kind: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ManifestError(f"not JSON: {e}") from e
    if not isinstance(doc, dict) or doc.get("format") != kind:
        raise ManifestError(f"not a {kind} document")
    if doc.get("version") != VERSION:
        raise ManifestError(f"{kind} version {doc.get('version')!r}, this reads {VERSION}")
    return doc


# --------------------------------------------------------------------------- reading


def read_manifest(sink: ObjectSink, prefix: str, commit: str) -> Manifest | None:
    """The manifest of `commit` under the repo's `prefix`; None if absent or not ours."""
    data = sink.read(manifest_key(prefix, commit))
    try:
        return None if data is None else Manifest.from_json(data)
    except ManifestError:
        return None


def read_refs(sink: ObjectSink, prefix: str) -> Refs | None:
    data = sink.read(refs_key(prefix))
    try:
        return None if data is None else Refs.from_json(data)
    except ManifestError:
        return None


def trusted_manifest(sink: ObjectSink, prefix: str, commit: str) -> Manifest | None:
    """The manifest of `commit`, if the bucket still holds what it records as far as data4r2
    knows: it is the `latest` one written under this prefix. A later sync of another commit
    rewrites shared keys (keys carry no commit), and a failed one clears `latest`; both
    leave this manifest stale, so it is not trusted then. Writes by other tools are not
    seen: `--verify-objects` checks every object instead (docs/manifest.md)."""
    refs = read_refs(sink, prefix)
    if refs is None or refs.latest != commit:
        return None
    manifest = read_manifest(sink, prefix, commit)
    return manifest if manifest is not None and manifest.commit == commit else None


# --------------------------------------------------------------------------- writing


def publish_manifest(
    sink: ObjectSink,
    snapshot: Snapshot,
    files: Iterable[PlannedFile],
    prefix: str,
    revision: str,
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    now: Callable[[], float] = time.time,
) -> bool:
    """Write the manifest of a sync that verified every one of `files`, then the refs.

    Call it only once every file of the selection is in the destination (copied or skipped
    identical) and after every other write of the sync (--delete included): the manifest is
    one PUT of the whole document, and the refs move to it only after it is there, so a
    reader never sees a ref whose manifest is missing or partial. `prefix` is the
    destination's key prefix (SyncOptions.prefix), not the repo's.

    Nothing is rewritten that would not change (a no-change re-sync writes nothing).
    True when the manifest was written.
    """
    repo = snapshot.repo
    at = repo_prefix(prefix, repo)
    stamp = datetime.fromtimestamp(now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = Manifest(
        repo_id=repo.repo_id,
        repo_type=repo.repo_type.value,
        commit=snapshot.commit,
        revision=revision,
        created_at=stamp,
        include=include,
        exclude=exclude,
        files=tuple(
            sorted(
                (
                    ManifestEntry(
                        p.file.path,
                        p.file.size,
                        p.file.git_sha1,
                        p.file.sha256,
                        p.file.is_lfs,
                        p.key,
                    )
                    for p in files
                ),
                key=lambda e: e.path,
            )
        ),
    )
    existing = read_manifest(sink, at, snapshot.commit)
    written = existing is None or not existing.same_as(manifest)
    if written:
        _put_json(sink, manifest_key(at, snapshot.commit), manifest.to_json(), snapshot)
    old = read_refs(sink, at) or Refs()
    refs = dict(old.refs)
    if not _names_commit(revision, snapshot.commit):
        refs[revision] = snapshot.commit
    if refs != old.refs or old.latest != snapshot.commit:
        new = Refs(refs, snapshot.commit, stamp)
        _put_json(sink, refs_key(at), new.to_json(), snapshot)
    return written


def forget_latest(sink: ObjectSink, snapshot: Snapshot, prefix: str) -> None:
    """After a sync that wrote objects but no manifest: no manifest matches the bucket now.

    Best effort (a killed run cannot call it; docs/manifest.md says what that leaves).
    """
    at = repo_prefix(prefix, snapshot.repo)
    old = read_refs(sink, at)
    if old is not None and old.latest is not None:
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _put_json(sink, refs_key(at), Refs(old.refs, None, stamp).to_json(), snapshot)


def _names_commit(revision: str, commit: str) -> bool:
    """A revision given as a sha (full or abbreviated) is no ref: refs name branches and tags."""
    return bool(_SHA.match(revision)) and commit.startswith(revision)


def _put_json(sink: ObjectSink, key: str, body: bytes, snapshot: Snapshot) -> None:
    meta = ObjectMeta(
        repo_id=snapshot.repo.repo_id,
        repo_type=snapshot.repo.repo_type.value,
        commit=snapshot.commit,
        path=META_DIR + key.rsplit(META_DIR, 1)[-1],  # as the Hub would name it
        sha256=hashlib.sha256(body).hexdigest(),
    )
    sink.put(key, memoryview(body), meta)
