"""Every hash the Hub exposes, derived from bytes (never typed in).

- git blob sha1 (`git hash-object`): tree `oid` of regular files, their `ETag`;
- LFS pointer text, its git sha1 (tree `oid` of LFS files) and its length (`pointerSize`);
- sha256 of the bytes (`lfs.oid`, `X-Linked-Etag`);
- git tree and commit sha1s, computed like git does;
- a stand-in `xetHash` (the real one is a Merkle hash over content-defined chunks; ours is a
  keyed digest of the sha256 so it is still derived from the bytes and stable).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CHUNK = 8 * 1024 * 1024
LFS_SPEC = "https://git-lfs.github.com/spec/v1"


def git_blob_sha1(data: bytes) -> str:
    """`git hash-object` of `data`."""
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    """The pointer text git stores in place of an LFS file."""
    return f"version {LFS_SPEC}\noid sha256:{sha256}\nsize {size}\n".encode()


def xet_hash(sha256: str) -> str:
    """Stand-in xetHash: 64 hex, derived from the content's sha256."""
    return hashlib.blake2b(bytes.fromhex(sha256), digest_size=32, person=b"fakehub-xet").hexdigest()


@dataclass(frozen=True)
class FileDigests:
    size: int
    git_sha1: str | None  # of the bytes; computed for regular files only
    sha256: str | None  # computed for LFS files only


def digest_file(path: Path, *, want_sha1: bool, want_sha256: bool) -> FileDigests:
    """Stream a file once, computing only the hashes asked for (never loads it whole)."""
    size = path.stat().st_size
    sha1 = hashlib.sha1(b"blob %d\0" % size) if want_sha1 else None
    sha256 = hashlib.sha256() if want_sha256 else None
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            if sha1 is not None:
                sha1.update(view[:n])
            if sha256 is not None:
                sha256.update(view[:n])
    return FileDigests(
        size=size,
        git_sha1=sha1.hexdigest() if sha1 is not None else None,
        sha256=sha256.hexdigest() if sha256 is not None else None,
    )


def git_tree_sha1(entries: Iterable[tuple[str, bool, str]]) -> str:
    """Git tree object id from `(name, is_dir, child_sha1_hex)` entries (git's sort order)."""

    def key(entry: tuple[str, bool, str]) -> bytes:
        name, is_dir, _ = entry
        return name.encode() + (b"/" if is_dir else b"")

    body = b"".join(
        (b"40000 " if is_dir else b"100644 ") + name.encode() + b"\0" + bytes.fromhex(sha)
        for name, is_dir, sha in sorted(entries, key=key)
    )
    return hashlib.sha1(b"tree %d\0" % len(body) + body).hexdigest()


def git_commit_sha1(
    *, tree: str, parent: str | None, author: str, timestamp: int, message: str
) -> str:
    """Git commit object id (author = committer)."""
    ident = f"{author} <{author}@users.noreply.huggingface.co> {timestamp} +0000"
    lines = [f"tree {tree}"]
    if parent is not None:
        lines.append(f"parent {parent}")
    lines += [f"author {ident}", f"committer {ident}", "", message]
    body = ("\n".join(lines) + "\n").encode()
    return hashlib.sha1(b"commit %d\0" % len(body) + body).hexdigest()


class HashCache:
    """Sidecar JSON of digests keyed by absolute path + size + mtime, so restarts are cheap."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, dict[str, object]] = {}
        self._dirty = False
        try:
            loaded = json.loads(path.read_text())
            if isinstance(loaded, dict) and loaded.get("version") == 1:
                self._data = dict(loaded.get("files", {}))
        except (OSError, ValueError):
            self._data = {}

    def digest(self, file: Path, *, want_sha1: bool, want_sha256: bool) -> FileDigests:
        st = file.stat()
        key = str(file.resolve())
        with self._lock:
            hit = self._data.get(key)
        if (
            hit is not None
            and hit.get("size") == st.st_size
            and hit.get("mtime_ns") == st.st_mtime_ns
            and (not want_sha1 or hit.get("git_sha1"))
            and (not want_sha256 or hit.get("sha256"))
        ):
            return FileDigests(
                size=st.st_size,
                git_sha1=hit.get("git_sha1") if want_sha1 else None,  # type: ignore[arg-type]
                sha256=hit.get("sha256") if want_sha256 else None,  # type: ignore[arg-type]
            )
        got = digest_file(file, want_sha1=want_sha1, want_sha256=want_sha256)
        with self._lock:
            self._data[key] = {
                "size": got.size,
                "mtime_ns": st.st_mtime_ns,
                "git_sha1": got.git_sha1,
                "sha256": got.sha256,
            }
            self._dirty = True
        return got

    def save(self) -> None:
        """Write the sidecar atomically (best effort: a read-only directory is not an error)."""
        with self._lock:
            if not self._dirty:
                return
            payload = json.dumps({"version": 1, "files": self._data}, indent=1, sort_keys=True)
            self._dirty = False
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        try:
            tmp.write_text(payload)
            os.replace(tmp, self.path)
        except OSError:
            tmp.unlink(missing_ok=True)
