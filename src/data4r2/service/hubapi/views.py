"""The Hub's JSON shapes built from a manifest: repo info, tree and paths-info entries.

Field names and meanings follow the Hub (docs/hub.md §1): `oid`/`blobId` is the git
sha1 the Hub shows (of the pointer for LFS files), `lfs.oid` (tree) and `lfs.sha256` (repo
info) the sha256 of the bytes, `size` the real length.
"""

from __future__ import annotations

import hashlib
import posixpath
from dataclasses import dataclass
from typing import Any

from .manifest import Manifest, ManifestFile

Entry = dict[str, Any]


def pointer_size(file: ManifestFile) -> int:
    """Length of the LFS pointer text the Hub's `pointerSize` reports (its three lines)."""
    text = (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{file.sha256}\nsize {file.size}\n"
    )
    return len(text.encode())


def _lfs(file: ManifestFile, hash_key: str) -> dict[str, Any]:
    return {hash_key: file.sha256, "size": file.size, "pointerSize": pointer_size(file)}


def repo_info(manifest: Manifest, *, blobs: bool) -> dict[str, Any]:
    siblings: list[dict[str, Any]] = []
    for file in manifest.files:
        sibling: dict[str, Any] = {"rfilename": file.path}
        if blobs:
            sibling |= {"size": file.size, "blobId": file.git_sha1}
            if file.lfs:
                sibling["lfs"] = _lfs(file, "sha256")
        siblings.append(sibling)
    info: dict[str, Any] = {
        "_id": manifest.commit[:24],
        "id": manifest.repo_id,
        "author": manifest.repo_id.split("/")[0] if "/" in manifest.repo_id else None,
        "sha": manifest.commit,
        "lastModified": manifest.created_at or None,
        "private": False,
        "gated": False,
        "disabled": False,
        "tags": [],
        "downloads": 0,
        "likes": 0,
        "siblings": siblings,
    }
    if manifest.repo_type == "model":
        info["modelId"] = manifest.repo_id
    return info


def file_entry(file: ManifestFile) -> Entry:
    entry: Entry = {"type": "file", "oid": file.git_sha1, "size": file.size}
    if file.lfs:
        entry["lfs"] = _lfs(file, "oid")
    entry["path"] = file.path
    return entry


def _git_tree_sha1(children: list[tuple[str, str, str]]) -> str:
    """`git hash-object -t tree` of (mode, name, sha1) entries; git orders a folder as if its
    name ended in '/'."""
    ordered = sorted(children, key=lambda c: c[1] + ("/" if c[0] == "40000" else ""))
    body = b"".join(f"{m} {n}".encode() + b"\0" + bytes.fromhex(s) for m, n, s in ordered)
    return hashlib.sha1(b"tree %d\0" % len(body) + body, usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class Tree:
    """A manifest as folders: every entry, and which folders exist (with their git oids,
    computed over the mirrored files only, as mode 100644)."""

    entries: dict[str, Entry]  # path → entry, folders included
    children: dict[str, list[str]]  # folder ('' = root) → child paths

    @classmethod
    def of(cls, manifest: Manifest) -> Tree:
        entries: dict[str, Entry] = {}
        children: dict[str, list[str]] = {"": []}
        for file in manifest.files:
            entries[file.path] = file_entry(file)
            path = file.path
            while True:
                parent = posixpath.dirname(path)
                children.setdefault(parent, []).append(path)
                if parent == "" or parent in entries:
                    break
                entries[parent] = {"type": "directory", "oid": "", "size": 0, "path": parent}
                path = parent
        for folder in sorted(children, key=lambda p: -p.count("/")):  # deepest first
            if folder:
                kids = [
                    (
                        "40000" if entries[c]["type"] == "directory" else "100644",
                        posixpath.basename(c),
                        entries[c]["oid"],
                    )
                    for c in children[folder]
                ]
                entries[folder]["oid"] = _git_tree_sha1(kids)
        return cls(entries, {k: sorted(v) for k, v in children.items()})

    def listing(self, folder: str, *, recursive: bool) -> list[Entry] | None:
        """Entries under `folder` (None if there is no such folder), folders before files
        at each level is not promised by the Hub; we list in path order."""
        if folder not in self.children:
            return None
        if not recursive:
            return [self.entries[p] for p in self.children[folder]]
        out: list[Entry] = []
        stack = list(reversed(self.children[folder]))
        while stack:
            path = stack.pop()
            out.append(self.entries[path])
            stack.extend(reversed(self.children.get(path, [])))
        return out
