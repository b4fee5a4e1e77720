"""The repo model: a working tree of files, immutable commits, refs, and derived hashes."""

from __future__ import annotations

import gzip
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from .hashing import (
    HashCache,
    digest_file,
    git_blob_sha1,
    git_commit_sha1,
    git_tree_sha1,
    lfs_pointer,
    sha256_hex,
    xet_hash,
)

RepoType = Literal["model", "dataset", "space"]
REPO_TYPES: tuple[RepoType, ...] = ("model", "dataset", "space")
TEXT_SNIFF_LIMIT = 10 * 1024 * 1024
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)

_SHA_RE = re.compile(r"[0-9a-f]{40}")
_SHORT_SHA_RE = re.compile(r"[0-9a-f]{7,39}")
_PR_RE = re.compile(r"refs/pr/([0-9]+)")


@dataclass(frozen=True, eq=False)
class Blob:
    """File content plus its derived hashes. `data` xor `file` holds the bytes."""

    size: int
    lfs: bool
    git_sha1: str | None  # of the bytes, regular files only
    sha256: str | None  # of the bytes, LFS files only
    data: bytes | None = None
    file: Path | None = None
    is_text: bool = False

    @cached_property
    def pointer(self) -> bytes:
        assert self.sha256 is not None
        return lfs_pointer(self.sha256, self.size)

    @cached_property
    def oid(self) -> str:
        """Tree `oid` / sibling `blobId`: sha1 of the bytes, or of the pointer for LFS."""
        if self.lfs:
            return git_blob_sha1(self.pointer)
        assert self.git_sha1 is not None
        return self.git_sha1

    @property
    def pointer_size(self) -> int:
        return len(self.pointer)

    @cached_property
    def xet_hash(self) -> str:
        assert self.sha256 is not None
        return xet_hash(self.sha256)

    @cached_property
    def gzipped(self) -> bytes:
        """The whole content gzip-compressed (computed once; text files only are served so)."""
        return gzip.compress(self.read(), mtime=0)

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        end = self.size if end is None else end
        if self.data is not None:
            return self.data[start:end]
        assert self.file is not None
        with self.file.open("rb") as f:
            f.seek(start)
            return f.read(end - start)

    @classmethod
    def build(cls, source: bytes | Path, *, lfs: bool, hash_cache: HashCache | None = None) -> Blob:
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            return cls(
                size=len(data),
                lfs=lfs,
                git_sha1=None if lfs else git_blob_sha1(data),
                sha256=sha256_hex(data) if lfs else None,
                data=data,
                is_text=not lfs and _looks_like_text(data),
            )
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(path)
        if hash_cache is not None:
            d = hash_cache.digest(path, want_sha1=not lfs, want_sha256=lfs)
        else:
            d = digest_file(path, want_sha1=not lfs, want_sha256=lfs)
        is_text = False
        if not lfs and 0 < d.size <= TEXT_SNIFF_LIMIT:
            is_text = _looks_like_text(path.read_bytes())
        return cls(
            size=d.size, lfs=lfs, git_sha1=d.git_sha1, sha256=d.sha256, file=path, is_text=is_text
        )


def _looks_like_text(data: bytes) -> bool:
    if not data or b"\0" in data[:8192]:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@dataclass(frozen=True, eq=False)
class Commit:
    sha: str
    parent: str | None
    title: str
    message: str
    author: str
    date: datetime
    files: Mapping[str, Blob]
    dirs: Mapping[str, Mapping[str, bool]]  # dir ("" = root) -> {child name: is_dir}
    trees: Mapping[str, str]  # dir -> git tree sha1

    @property
    def date_iso(self) -> str:
        return self.date.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def kind(self, path: str) -> Literal["file", "directory"] | None:
        if path in self.files:
            return "file"
        if path in self.dirs:
            return "directory"
        return None

    def oid(self, path: str) -> str | None:
        if path in self.files:
            return self.files[path].oid
        return self.trees.get(path)

    def walk(self, directory: str, *, recursive: bool) -> Iterator[tuple[str, bool]]:
        """(path, is_dir) under `directory`, sorted by name; pre-order when recursive."""
        for name, is_dir in sorted(self.dirs[directory].items()):
            path = f"{directory}/{name}" if directory else name
            yield path, is_dir
            if is_dir and recursive:
                yield from self.walk(path, recursive=True)


def _build_dirs(files: Mapping[str, Blob]) -> tuple[dict[str, dict[str, bool]], dict[str, str]]:
    dirs: dict[str, dict[str, bool]] = {"": {}}
    for path in files:
        parts = path.split("/")
        for i in range(len(parts) - 1):
            dirs.setdefault("/".join(parts[:i]), {})[parts[i]] = True
            dirs.setdefault("/".join(parts[: i + 1]), {})
        dirs.setdefault("/".join(parts[:-1]), {})[parts[-1]] = False
    trees: dict[str, str] = {}
    for d in sorted(dirs, key=lambda p: -p.count("/") - (1 if p else 0)):
        entries = []
        for name, is_dir in dirs[d].items():
            child = f"{d}/{name}" if d else name
            entries.append((name, is_dir, trees[child] if is_dir else files[child].oid))
        trees[d] = git_tree_sha1(entries)
    return dirs, trees


def _check_path(path: str) -> str:
    parts = path.split("/")
    if not path or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid repo path: {path!r}")
    return path


@dataclass(eq=False)
class Repo:
    """A Hub repo. Files are staged with `add_file` and become visible with `commit`.

    If nothing has been committed when the repo is first served, the staged files are
    committed as "initial commit" on `main`.
    """

    repo_id: str
    repo_type: RepoType = "model"
    private: bool = False
    gated: Literal["auto", "manual", False] = False
    disabled: bool = False
    hash_cache: HashCache | None = None
    author: str = "alice"
    _tree: dict[str, Blob] = field(default_factory=dict, init=False, repr=False)
    _commits: dict[str, Commit] = field(default_factory=dict, init=False, repr=False)
    _branches: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _tags: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _prs: dict[int, str] = field(default_factory=dict, init=False, repr=False)
    _converts: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _xet: set[str] = field(default_factory=set, init=False, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.repo_type not in REPO_TYPES:
            raise ValueError(f"repo_type must be one of {REPO_TYPES}, not {self.repo_type!r}")
        if not re.fullmatch(r"([\w.-]+/)?[\w.-]+", self.repo_id):
            raise ValueError(f"invalid repo id {self.repo_id!r}")

    # -- identity -------------------------------------------------------------------------
    @property
    def key(self) -> tuple[str, str]:
        return (self.repo_type, self.repo_id)

    @property
    def api_type(self) -> str:
        """`models` | `datasets` | `spaces` (the `/api/` segment)."""
        return self.repo_type + "s"

    @property
    def url_prefix(self) -> str:
        """Resolve-URL prefix: `""` for models, `datasets/`, `spaces/`."""
        return "" if self.repo_type == "model" else self.api_type + "/"

    # -- working tree ---------------------------------------------------------------------
    def add_file(
        self,
        path: str,
        source: bytes | Path,
        *,
        lfs: bool = False,
        xet: bool = False,
        hostile: bool = False,
    ) -> Blob:
        """Stage a file. `source` may be a Path (never loaded whole). `xet` implies `lfs`.

        `hostile=True` skips git's path rules, so the tree can name `../x` or `a//b` as a
        compromised Hub or a rewriting proxy could: what a client must refuse.
        """
        blob = Blob.build(source, lfs=lfs or xet, hash_cache=self.hash_cache)
        with self._lock:
            self._tree[path if hostile else _check_path(path)] = blob
            if xet:
                assert blob.sha256 is not None
                self._xet.add(blob.sha256)
        return blob

    def delete_file(self, path: str) -> None:
        with self._lock:
            del self._tree[path]

    @property
    def staged(self) -> Mapping[str, Blob]:
        return MappingProxyType(self._tree)

    def set_xet(self, path: str, enabled: bool = True, *, revision: str = "main") -> None:
        """Mark the content at `path` Xet-backed (or not) without a new commit (storage drift)."""
        with self._lock:
            commit = self.resolve(revision)
            blob = commit.files.get(path) if commit is not None else None
            blob = blob or self._tree.get(path)
            if blob is None or blob.sha256 is None:
                raise ValueError(f"{path!r} is not an LFS file")
            (self._xet.add if enabled else self._xet.discard)(blob.sha256)

    def is_xet(self, blob: Blob) -> bool:
        return blob.sha256 is not None and blob.sha256 in self._xet

    # -- history --------------------------------------------------------------------------
    def commit(self, message: str = "update", *, branch: str = "main") -> str:
        """Snapshot the working tree as a new commit on `branch` (or `refs/pr/N`,
        `refs/convert/X`), creating the ref if needed; returns the 40-hex sha."""
        with self._lock:
            parent = self._ref_target(branch) or self._branches.get("main")
            files = dict(self._tree)
            dirs, trees = _build_dirs(files)
            index = len(self._commits)
            date = EPOCH + timedelta(hours=index)
            sha = git_commit_sha1(
                tree=trees[""],
                parent=parent,
                author=self.author,
                timestamp=int(date.timestamp()),
                message=message,
            )
            title, _, rest = message.partition("\n")
            self._commits[sha] = Commit(
                sha=sha,
                parent=parent,
                title=title,
                message=rest.strip("\n"),
                author=self.author,
                date=date,
                files=MappingProxyType(files),
                dirs=MappingProxyType({k: MappingProxyType(v) for k, v in dirs.items()}),
                trees=MappingProxyType(trees),
            )
            self._set_ref(branch, sha)
            return sha

    def _ensure_commit(self) -> None:
        with self._lock:
            if not self._commits:
                self.commit("initial commit")

    def _ref_target(self, ref: str) -> str | None:
        if m := _PR_RE.fullmatch(ref):
            return self._prs.get(int(m.group(1)))
        if ref.startswith("refs/convert/"):
            return self._converts.get(ref.removeprefix("refs/convert/"))
        return self._branches.get(ref.removeprefix("refs/heads/"))

    def _set_ref(self, ref: str, sha: str) -> None:
        if m := _PR_RE.fullmatch(ref):
            self._prs[int(m.group(1))] = sha
        elif ref.startswith("refs/convert/"):
            self._converts[ref.removeprefix("refs/convert/")] = sha
        else:
            self._branches[ref.removeprefix("refs/heads/")] = sha

    def _target(self, revision: str | None) -> str:
        self._ensure_commit()
        commit = self.resolve(revision or "main")
        if commit is None:
            raise ValueError(f"unknown revision {revision!r}")
        return commit.sha

    def branch(self, name: str, revision: str | None = None) -> str:
        with self._lock:
            sha = self._target(revision)
            self._branches[name] = sha
            return sha

    def move_branch(self, name: str, to: str) -> str:
        """Point an existing branch at another commit (drift)."""
        with self._lock:
            if name not in self._branches:
                raise ValueError(f"no branch {name!r}")
            return self.branch(name, to)

    def tag(self, name: str, revision: str | None = None) -> str:
        with self._lock:
            sha = self._target(revision)
            self._tags[name] = sha
            return sha

    def pr(self, num: int, revision: str | None = None) -> str:
        with self._lock:
            sha = self._target(revision)
            self._prs[num] = sha
            return sha

    def convert(self, name: str = "parquet", revision: str | None = None) -> str:
        with self._lock:
            sha = self._target(revision)
            self._converts[name] = sha
            return sha

    # -- reading --------------------------------------------------------------------------
    def head(self, branch: str = "main") -> str:
        with self._lock:
            self._ensure_commit()
            return self._branches[branch]

    def commits(self) -> list[str]:
        """All commit shas, oldest first."""
        with self._lock:
            self._ensure_commit()
            return list(self._commits)

    def get_commit(self, sha: str) -> Commit:
        return self._commits[sha]

    def resolve(self, revision: str) -> Commit | None:
        """Branch, tag, full or >= 7-hex short sha, refs/heads|tags/X, refs/pr/N, refs/convert/X."""
        with self._lock:
            self._ensure_commit()
            if _SHA_RE.fullmatch(revision) and revision in self._commits:
                return self._commits[revision]
            sha = (
                self._branches.get(revision)
                or self._tags.get(revision)
                or (
                    self._branches.get(revision[11:])
                    if revision.startswith("refs/heads/")
                    else None
                )
                or (self._tags.get(revision[10:]) if revision.startswith("refs/tags/") else None)
            )
            if sha is None and (m := _PR_RE.fullmatch(revision)):
                sha = self._prs.get(int(m.group(1)))
            if sha is None and revision.startswith("refs/convert/"):
                sha = self._converts.get(revision.removeprefix("refs/convert/"))
            if sha is None and _SHORT_SHA_RE.fullmatch(revision):
                found = [s for s in self._commits if s.startswith(revision)]
                sha = found[0] if len(found) == 1 else None
            return self._commits.get(sha) if sha else None

    def history(self, sha: str) -> Iterator[Commit]:
        """First-parent chain from `sha`, newest first."""
        cur: str | None = sha
        while cur is not None:
            commit = self._commits[cur]
            yield commit
            cur = commit.parent

    def last_change(self, sha: str, path: str) -> Commit:
        """Newest commit in the first-parent chain of `sha` that changed `path`."""
        head = self._commits[sha]
        oid = head.oid(path)
        for commit in self.history(sha):
            parent = self._commits[commit.parent] if commit.parent else None
            if parent is None or parent.oid(path) != oid:
                return commit
        return head  # pragma: no cover

    def refs(self) -> dict[str, dict[str, str]]:
        """`{"branches": {name: sha}, "tags", "converts", "pullRequests": {"refs/pr/N": sha}}`."""
        with self._lock:
            self._ensure_commit()
            return {
                "branches": dict(self._branches),
                "tags": dict(self._tags),
                "converts": dict(self._converts),
                "pullRequests": {f"refs/pr/{n}": s for n, s in sorted(self._prs.items())},
            }
