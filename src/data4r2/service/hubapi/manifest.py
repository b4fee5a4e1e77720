"""The manifest and refs objects a fully verified sync writes (docs/mirror-api.md),
parsed for reading. Written against the agreed format; to be replaced by the engine's own
manifest module once it lands, so both sides share one parser.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
META = ".data4r2"


class BadManifest(ValueError):
    """A manifest or refs object that is not in the agreed format."""


def repo_prefix(prefix: str, repo_type: str, repo_id: str) -> str:
    """`{prefix/}{type}s/{repo_id}/`: where a repo's objects and its `.data4r2/` live."""
    rel = f"{repo_type}s/{repo_id}/"
    return f"{prefix.strip('/')}/{rel}" if prefix.strip("/") else rel


def manifest_key(prefix: str, repo_type: str, repo_id: str, commit: str) -> str:
    return f"{repo_prefix(prefix, repo_type, repo_id)}{META}/manifests/{commit}.json"


def refs_key(prefix: str, repo_type: str, repo_id: str) -> str:
    return f"{repo_prefix(prefix, repo_type, repo_id)}{META}/refs.json"


@dataclass(frozen=True, slots=True)
class ManifestFile:
    path: str
    size: int
    git_sha1: str  # of the bytes, or of the LFS pointer for an LFS file (as the Hub's oid)
    sha256: str | None
    lfs: bool
    key: str  # the object's full key in the destination

    def __post_init__(self) -> None:
        if self.lfs and self.sha256 is None:
            raise BadManifest(f"LFS file {self.path!r} has no sha256")


@dataclass(frozen=True)  # no slots: cached_property keeps its value in __dict__
class Manifest:
    repo_id: str
    repo_type: str
    commit: str
    revision: str
    created_at: str
    files: tuple[ManifestFile, ...]  # sorted by path

    def file(self, path: str) -> ManifestFile | None:
        return self._by_path.get(path)

    @cached_property
    def _by_path(self) -> dict[str, ManifestFile]:
        return {f.path: f for f in self.files}


def _field(doc: dict[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise BadManifest(f"field {name!r} is missing or not a {kind.__name__}")
    return value


def _file(item: Any) -> ManifestFile:
    if not isinstance(item, dict):
        raise BadManifest("a files entry is not an object")
    sha256 = item.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and _HEX64.match(sha256)):
        raise BadManifest(f"sha256 of {item.get('path')!r} is not 64 hex digits")
    git_sha1 = _field(item, "git_sha1", str)
    if not _HEX40.match(git_sha1):
        raise BadManifest(f"git_sha1 of {item.get('path')!r} is not 40 hex digits")
    size = _field(item, "size", int)
    if size < 0:
        raise BadManifest(f"size of {item.get('path')!r} is negative")
    return ManifestFile(
        path=_field(item, "path", str),
        size=size,
        git_sha1=git_sha1,
        sha256=sha256,
        lfs=bool(item.get("lfs", False)),
        key=_field(item, "key", str),
    )


def _document(data: bytes, kind: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadManifest(f"not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != kind or doc.get("version") != 1:
        raise BadManifest(f"not a {kind} version 1 document")
    return doc


def parse_manifest(data: bytes) -> Manifest:
    doc = _document(data, "data4r2-manifest")
    commit = _field(doc, "commit", str)
    if not _HEX40.match(commit):
        raise BadManifest("commit is not 40 hex digits")
    files = tuple(sorted((_file(i) for i in _field(doc, "files", list)), key=lambda f: f.path))
    return Manifest(
        repo_id=_field(doc, "repo_id", str),
        repo_type=_field(doc, "repo_type", str),
        commit=commit,
        revision=str(doc.get("revision") or commit),
        created_at=str(doc.get("created_at") or ""),
        files=files,
    )


@dataclass(frozen=True, slots=True)
class Refs:
    """Branch or tag → commit, and `latest`: the commit whose manifest the last completed sync
    wrote (None after a sync that wrote objects and no manifest). Objects are keyed by path,
    not commit, so only the latest manifest is sure to describe what the keys hold now."""

    refs: dict[str, str]
    latest: str | None


def parse_refs(data: bytes) -> Refs:
    doc = _document(data, "data4r2-refs")
    refs = _field(doc, "refs", dict)
    if not all(isinstance(v, str) and _HEX40.match(v) for v in refs.values()):
        raise BadManifest("a ref does not point at a 40-hex commit")
    latest = doc.get("latest")
    return Refs({str(k): v for k, v in refs.items()}, latest if isinstance(latest, str) else None)
