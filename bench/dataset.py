"""The synthetic repo: deterministic files on disk, their checksums computed once and cached.

Every byte comes from `random.Random(seed)` (Mersenne Twister, stable across CPython
versions), so two machines generate the same repo and the same sha256s. The bytes are
incompressible, so no tool gains by compressing. Generation costs ~5 s/GiB here; the manifest
(`manifest.json` in the work dir) caches sizes, sha256, git blob sha1 and mtimes, so a reused
`--workdir` starts in well under a second.

Layout of a work dir:
    files/<size>/<path>   the canonical bytes, one copy per (path, size)
    repos/<name>/<path>   hard links, one folder per repo the fake hub serves
    manifest.json         {"<size>/<path>": {size, sha256, git_sha1, mtime_ns}}
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
CHUNK = 8 * MiB
GENERATOR = "randbytes-v1"  # bump when the byte recipe changes: invalidates every manifest entry


@dataclass(frozen=True)
class Group:
    """`count` files of `size` bytes under `folder/` (e.g. 4 × 256 MiB under `shards/`)."""

    folder: str
    count: int
    size: int

    def paths(self) -> list[str]:
        width = max(3, len(str(self.count - 1)))
        return [f"{self.folder}/part-{i:0{width}d}.bin" for i in range(self.count)]


@dataclass(frozen=True)
class RepoSpec:
    """One repo the fake hub serves: the large files and the small ones."""

    name: str
    groups: tuple[Group, ...]

    def paths(self) -> list[str]:
        return [p for g in self.groups for p in g.paths()]

    def sizes(self) -> dict[str, int]:
        return {p: g.size for g in self.groups for p in g.paths()}


@dataclass(frozen=True)
class FileInfo:
    size: int
    sha256: str
    git_sha1: str
    mtime_ns: int


def parse_size(text: str) -> int:
    """`64KiB`, `256M`, `1G`, `1.5GiB` or bytes; K/M/G are powers of 1024 as in s5cmd/rclone."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.IGNORECASE)
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 64KiB, 256MiB, 1GiB)")
    unit = {"": 1, "K": KiB, "M": MiB, "G": GiB, "T": 1024 * GiB}[m.group(2).upper()]
    return int(float(m.group(1)) * unit)


def parse_groups(text: str, folders: Iterable[str]) -> tuple[Group, ...]:
    """`1x1GiB,4x256MiB` → groups named after `folders` in order (count 0 drops a group)."""
    names = list(folders)
    items = [t for t in text.split(",") if t.strip()]
    if len(items) > len(names):
        raise ValueError(f"at most {len(names)} groups: {text!r}")
    groups = []
    for folder, item in zip(names, items, strict=False):
        count, _, size = item.strip().partition("x")
        if not size:
            raise ValueError(f"a group is COUNTxSIZE, e.g. 4x256MiB: {item!r}")
        if int(count) > 0:
            groups.append(Group(folder, int(count), parse_size(size)))
    return tuple(groups)


def human(n: float) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= scale:
            v = n / scale
            return f"{v:.0f} {unit}" if v == int(v) else f"{v:.1f} {unit}"
    return f"{n:.0f} B"


def _seed(path: str, size: int) -> str:
    # The size is part of the seed: changing a size changes every byte, not only the tail.
    return f"{GENERATOR}:{path}:{size}"


def _generate(target: Path, path: str, size: int) -> FileInfo:
    """Write `size` seeded bytes to `target`, hashing them on the way (one pass)."""
    rng = random.Random(_seed(path, size))
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(b"blob %d\0" % size)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    with tmp.open("wb") as f:
        left = size
        while left:
            block = rng.randbytes(min(CHUNK, left))
            sha256.update(block)
            sha1.update(block)
            f.write(block)
            left -= len(block)
    os.replace(tmp, target)
    return FileInfo(size, sha256.hexdigest(), sha1.hexdigest(), target.stat().st_mtime_ns)


class Workdir:
    """The files, the manifest and the per-repo folders of hard links."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = root / "files"
        self.manifest_path = root / "manifest.json"
        self._manifest: dict[str, FileInfo] = {}
        try:
            raw = json.loads(self.manifest_path.read_text())
            if raw.get("generator") == GENERATOR:
                self._manifest = {p: FileInfo(**v) for p, v in raw["files"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            self._manifest = {}

    def _save(self) -> None:
        payload = {
            "generator": GENERATOR,
            "files": {p: asdict(i) for p, i in sorted(self._manifest.items())},
        }
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(payload, indent=1))
        os.replace(tmp, self.manifest_path)

    def ensure_file(self, path: str, size: int, log: bool = True) -> FileInfo:
        """The file's checksums; generated only if missing or touched since."""
        target = self._canonical(path, size)
        known = self._manifest.get(f"{size}/{path}")
        try:
            st = target.stat()
            if known and known.size == size == st.st_size and known.mtime_ns == st.st_mtime_ns:
                return known
        except FileNotFoundError:
            pass
        if log and size >= 64 * MiB:
            print(f"[bench] generating {path} ({human(size)})", flush=True)
        info = _generate(target, path, size)
        self._manifest[f"{size}/{path}"] = info
        return info

    def _canonical(self, path: str, size: int) -> Path:
        return self.files / str(size) / path

    def repo(self, spec: RepoSpec) -> tuple[Path, dict[str, FileInfo]]:
        """The folder the hub serves for `spec` (exactly its files) and their checksums."""
        infos = {p: self.ensure_file(p, s) for p, s in spec.sizes().items()}
        self._save()
        folder = self.root / "repos" / spec.name
        wanted = set(infos)
        if folder.exists():
            # Drop whatever a previous, differently sized spec left behind.
            for f in sorted(folder.rglob("*"), reverse=True):
                rel = f.relative_to(folder).as_posix()
                if f.is_file() and rel not in wanted:
                    f.unlink()
                elif f.is_dir() and not any(f.iterdir()):
                    f.rmdir()
        for p, info in infos.items():
            link = folder / p
            source = self._canonical(p, info.size)
            if link.exists() and link.stat().st_ino == source.stat().st_ino:
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.unlink(missing_ok=True)
            os.link(source, link)  # hard link: one copy on disk and in the page cache
        return folder, infos


def total_size(infos: dict[str, FileInfo]) -> int:
    return sum(i.size for i in infos.values())
