"""A local folder as an ObjectSink: crash-safe writes, metadata beside the bytes, resumable parts.

Layout under `root`:

    <key>                              published objects, exactly the Hub's paths
    .data4r2-tmp/put-<random>          a single PUT being written (same filesystem → atomic rename)
    .data4r2-tmp/<upload_id>/data      a multipart upload: parts written at their offsets
    .data4r2-tmp/<upload_id>/upload.json, part-00001.json …   its manifest (survives a restart)
    .data4r2/meta/<key>.json           metadata sidecars, only where xattrs are not supported

Temp files live in `.data4r2-tmp/` rather than beside the object so a crash never leaves
anything `list()` would report; both internal folders are reserved names no key may use.
Nothing stays there for long: a failed write removes its temp file, a multipart upload
that fails to write a part or to complete removes its folder (a full disk must not stay
full of our leftovers), `check()` removes temp files older than a day (a killed run's),
`list_uploads()` shows the engine killed runs' uploads to reclaim, and `close()` removes
`.data4r2-tmp/` itself once it is empty.

Metadata: extended attributes `user.data4r2.<name>` by default, a JSON sidecar where the
filesystem refuses them or they do not fit (ext4 without `ea_inode` keeps all of a file's
xattrs in one block; a long non-ASCII path, percent-encoded, can exceed it). Why xattrs
first: they are set on the temp file before the rename, so bytes and metadata become visible
in one atomic step, and a tool that replaces the file drops them with it. A sidecar is
written after the rename and can outlive its object, so both kinds also record the file's
size and mtime and are ignored when those differ; without usable metadata `head()` hashes
the file, so a folder filled by another tool is still recognised.
"""

from __future__ import annotations

import base64
import builtins
import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

from ..domain import (
    DestinationError,
    IntegrityError,
    ObjectInfo,
    ObjectMeta,
    OpenUpload,
    PartInfo,
    SinkLimits,
    UnsafePath,
    UploadGone,
    safe_relative_path,
)
from ..ports import ObjectSink
from .checksums import crc32c_b64

TMP_DIR = ".data4r2-tmp"
META_DIR = ".data4r2"
_RESERVED = (TMP_DIR, META_DIR)
_XATTR = "user.data4r2."
_UPLOAD_ID = re.compile(r"^[0-9a-f]{32}$")  # ours (uuid4 hex): anything else cannot exist
# Unsupported here, not permitted, or too large for the filesystem's xattr space.
_NO_XATTR = {errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EACCES, errno.ENOSPC, errno.E2BIG}
_HASH_CHUNK = 1024**2
# A temp file this old belongs to no live run: a run writes each one within minutes.
STALE_TEMP_S = 24 * 3600.0

MetadataMode = Literal["auto", "xattr", "sidecar"]
R2_LIMITS = SinkLimits()  # a folder has none of its own; these keep the engine's parts R2-shaped


class FolderSink:
    """Objects are files under `root`; every write is fsynced and renamed into place.

    `metadata`: "auto" tries xattrs and falls back to a sidecar per object; "xattr" fails
    instead of falling back; "sidecar" never uses xattrs.
    """

    def __init__(
        self, root: Path, limits: SinkLimits = R2_LIMITS, metadata: MetadataMode = "auto"
    ) -> None:
        self.root = Path(root).resolve()
        self.limits = limits
        self._mode = metadata
        self._made: builtins.list[Path] = []  # folders check() created, outermost first
        # upload id → why this sink removed it: the parts still in flight for it then fail
        # with the cause (a full disk), not a bare "no such upload".
        self._dropped: dict[str, str] = {}
        self._name_max: int | None = None

    def describe(self) -> str:
        return f"folder {self.root}"

    def check(self) -> None:
        """Prove the folder is writable (a probe file), and clear killed runs' temp files."""
        try:
            if not self.root.exists():
                self._made = _makedirs_durable(self.root)
            self._tmp_dir()
            probe = self._new_temp("probe-")
            os.close(probe[0])
            Path(probe[1]).unlink()
            self._remove_stale_temps()
        except OSError as e:
            raise DestinationError(f"cannot write to folder {self.root}: {e.strerror}") from e
        finally:
            self._drop_empty_tmp_dir()

    def close(self) -> None:
        """Remove `.data4r2-tmp/` if nothing is left in it, and a root check() made if empty.

        A run that failed before writing anything (the Hub unreachable) then leaves no trace.
        """
        self._drop_empty_tmp_dir()
        for folder in reversed(self._made):
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (or gone): so are the folders around it
        self._made = []

    def _drop_empty_tmp_dir(self) -> None:
        with contextlib.suppress(OSError):  # not empty, or not there: both fine
            (self.root / TMP_DIR).rmdir()

    def _remove_stale_temps(self) -> None:
        """Delete temp files and upload folders without a manifest older than STALE_TEMP_S.

        Upload folders with a manifest are left to the engine (`list_uploads`): the state
        file may still mean to resume them.
        """
        tmp = self.root / TMP_DIR
        cutoff = time.time() - STALE_TEMP_S
        for entry in os.scandir(tmp):
            try:
                if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if _UPLOAD_ID.match(entry.name) and (Path(entry) / "upload.json").is_file():
                        continue
                    shutil.rmtree(entry.path)
                else:
                    Path(entry).unlink()
            except FileNotFoundError:
                continue  # another run cleaned it meanwhile

    # -- keys ------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        """The file for `key`, refusing any key that could reach outside `root`.

        The string is checked first (`..`, absolute, backslash, NUL, reserved names), then
        the resolved path, which catches a symlinked folder or file pointing elsewhere.
        Symlinks created after this check (a race with another local user) are not covered.
        """
        safe_relative_path(key)
        if key.split("/", 1)[0] in _RESERVED:
            raise UnsafePath(key, "the name is reserved for data4r2's own files")
        path = self.root / key
        if not path.resolve().is_relative_to(self.root):
            raise UnsafePath(key, "a symlink in it leads outside the destination folder")
        return path

    def _writable_path(self, key: str) -> Path:
        """`_path(key)`, refusing up front a name this filesystem cannot hold.

        Checked before any byte is fetched: otherwise a multipart upload would only learn
        at Complete (ENAMETOOLONG on the rename), after downloading the whole file.
        """
        path = self._path(key)
        if self._name_max is None:
            try:
                self._name_max = os.pathconf(_existing_parent(self.root), "PC_NAME_MAX")
            except (OSError, ValueError):
                self._name_max = 255  # the common limit (ext4, xfs, btrfs, tmpfs, NTFS)
        for name in key.split("/"):
            if len(os.fsencode(name)) > self._name_max:
                raise DestinationError(
                    f"cannot write {key!r}: a name of {len(os.fsencode(name))} bytes, over "
                    f"the {self._name_max} this filesystem allows",
                    "mirror this repo to a bucket, or --exclude the file",
                )
        return path

    # -- durable file helpers --------------------------------------------------------------

    def _tmp_dir(self) -> Path:
        tmp = self.root / TMP_DIR
        if not tmp.is_dir():
            _makedirs_durable(tmp)
        return tmp

    def _new_temp(self, prefix: str) -> tuple[int, str]:
        # Not tempfile.mkstemp: it forces mode 0600; a published object keeps the umask's mode.
        name = str(self._tmp_dir() / f"{prefix}{uuid.uuid4().hex}")
        try:
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), name
        except FileNotFoundError:  # another run's close() removed the empty folder just now
            name = str(self._tmp_dir() / f"{prefix}{uuid.uuid4().hex}")
            return os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), name

    def _publish(self, tmp: str, path: Path) -> None:
        """Rename a finished, fsynced temp file to `path`, and make the rename durable."""
        if path.is_dir():
            raise DestinationError(f"cannot write {path}: a folder of that name exists")
        _makedirs_durable(path.parent)
        Path(tmp).replace(path)
        _fsync_dir(path.parent)

    # -- metadata --------------------------------------------------------------------------

    def _write_xattrs(self, fd: int, key: str, meta: ObjectMeta) -> bool:
        """Metadata as xattrs on the fsynced file `fd`, before it is renamed into place.

        False when this filesystem refuses them or they do not fit: the caller then writes a
        sidecar after the rename.
        """
        if self._mode == "sidecar":
            return False
        fields = _meta_fields(meta, os.fstat(fd))
        for i, (name, value) in enumerate(fields.items()):
            if not _try_setxattr(fd, name, value):
                for done in list(fields)[:i]:  # half a set would read as no metadata at all
                    os.removexattr(fd, _XATTR + done)
                if self._mode == "xattr":
                    raise DestinationError(f"{self.root} refused extended attributes for {key}")
                return False
        os.fsync(fd)
        return True

    def _write_sidecar(self, key: str, path: Path, meta: ObjectMeta) -> None:
        sidecar = self.root / META_DIR / "meta" / f"{key}.json"
        fields = _meta_fields(meta, path.stat())
        _makedirs_durable(sidecar.parent)
        _write_atomic(sidecar, json.dumps(fields).encode(), self._tmp_dir())

    def _read_meta(self, key: str, path: Path, st: os.stat_result) -> ObjectMeta | None:
        fields = _read_xattrs(path) or _read_json(self.root / META_DIR / "meta" / f"{key}.json")
        if not fields:
            return None
        if fields.get("size") != str(st.st_size) or fields.get("mtime-ns") != str(st.st_mtime_ns):
            return None  # the file changed since this metadata was written
        return ObjectMeta.from_headers(fields)

    # -- reading ---------------------------------------------------------------------------

    def head(self, key: str) -> ObjectInfo | None:
        """Size and hashes; from our metadata when it is current, else by hashing the file."""
        path = self._path(key)
        try:
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                return None
            meta = self._read_meta(key, path, st)
            if meta is not None:
                return ObjectInfo(key, st.st_size, meta.sha256, meta.git_sha1 or None)
            sha256, git_sha1 = _hash_file(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as e:
            raise DestinationError(f"cannot read {path}: {e.strerror}") from e
        return ObjectInfo(key, st.st_size, sha256, git_sha1)

    def read(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as e:
            raise DestinationError(f"cannot read {path}: {e.strerror}") from e

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Regular files (and symlinks to files inside root) whose key starts with `prefix`."""
        base = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        start = self._path(base) if base else self.root
        for dirpath, dirnames, filenames in os.walk(start):
            here = Path(dirpath)
            if here == self.root:
                dirnames[:] = [d for d in dirnames if d not in _RESERVED]
            dirnames.sort()
            for name in sorted(filenames):
                file = here / name
                key = file.relative_to(self.root).as_posix()
                if not key.startswith(prefix):
                    continue
                if file.is_symlink() and not file.resolve().is_relative_to(self.root):
                    continue
                try:
                    st = file.stat()
                except OSError:
                    continue  # deleted meanwhile, or a dangling link
                if stat.S_ISREG(st.st_mode):
                    yield ObjectInfo(key, st.st_size)

    # -- single PUT ------------------------------------------------------------------------

    def put(self, key: str, body: memoryview, meta: ObjectMeta) -> None:
        """Verify sha256, write a temp file, fsync, rename into place: all or nothing."""
        path = self._writable_path(key)
        if hashlib.sha256(body).hexdigest() != meta.sha256:
            raise IntegrityError(f"{key}: the body does not match sha256 {meta.sha256}")
        try:
            fd, tmp = self._new_temp("put-")
            try:
                try:
                    _write_all(fd, body, 0)
                    os.fsync(fd)
                    in_xattrs = self._write_xattrs(fd, key, meta)
                finally:
                    os.close(fd)
                self._publish(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            if not in_xattrs:
                self._write_sidecar(key, path, meta)
        except OSError as e:
            raise DestinationError(f"cannot write {path}: {e.strerror}") from e

    def delete(self, key: str) -> None:
        path = self._path(key)
        # Like S3: deleting what is not there succeeds.
        with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
            path.unlink()
        (self.root / META_DIR / "meta" / f"{key}.json").unlink(missing_ok=True)

    # -- multipart -------------------------------------------------------------------------

    def _upload_dir(self, key: str, upload_id: str) -> tuple[Path, dict[str, Any]]:
        """The upload's folder and its manifest header; UploadGone if it is not `key`'s."""
        if not _UPLOAD_ID.match(upload_id):
            raise UploadGone(f"no multipart upload {upload_id!r} in {self.root}")
        updir = self.root / TMP_DIR / upload_id
        head = _read_json(updir / "upload.json")
        if head is None or head.get("key") != key or not (updir / "data").is_file():
            raise self._gone(key, upload_id)
        return updir, head

    def _gone(self, key: str, upload_id: str) -> UploadGone:
        if why := self._dropped.get(upload_id):
            return UploadGone(f"multipart upload {upload_id} for {key!r} was removed: {why}")
        return UploadGone(f"no multipart upload {upload_id} for {key!r} in {self.root}")

    def _drop(self, updir: Path, why: str) -> None:
        """Remove a failed upload's folder (its parts would keep a full disk full)."""
        self._dropped[updir.name] = why
        shutil.rmtree(updir, ignore_errors=True)

    def create_multipart(self, key: str, meta: ObjectMeta, part_size: int) -> str:
        self._writable_path(key)
        if part_size <= 0:
            raise DestinationError(f"part size must be positive, not {part_size}")
        upload_id = uuid.uuid4().hex
        updir = self._tmp_dir() / upload_id
        try:
            updir.mkdir()
            (updir / "data").touch()
            head = {"key": key, "part_size": part_size, "meta": meta.to_headers()}
            _write_atomic(updir / "upload.json", json.dumps(head).encode(), updir)
            _fsync_dir(updir.parent)
        except OSError as e:
            shutil.rmtree(updir, ignore_errors=True)
            raise DestinationError(f"cannot start an upload in {self.root}: {e.strerror}") from e
        return upload_id

    def part_checksum(self, body: memoryview) -> str:
        return crc32c_b64(body)

    def upload_part(self, key: str, upload_id: str, number: int, body: memoryview) -> PartInfo:
        """Write the part at its offset, fsync, then record it: a recorded part is on disk.

        Verifies the part fits its slot (≤ the upload's part size) and records its CRC32C.
        """
        updir, head = self._upload_dir(key, upload_id)
        part_size = int(head["part_size"])
        if not 1 <= number <= self.limits.max_parts:
            raise DestinationError(f"part number {number} is outside 1..{self.limits.max_parts}")
        if len(body) > part_size:
            raise DestinationError(f"part {number} has {len(body)} bytes, over {part_size}")
        checksum = crc32c_b64(body)
        info = PartInfo(number, len(body), _etag(checksum, len(body)), checksum)
        try:
            fd = os.open(updir / "data", os.O_WRONLY)
            try:
                _write_all(fd, body, (number - 1) * part_size)  # pwrite: threads share no offset
                os.fsync(fd)
            finally:
                os.close(fd)
            record = {"number": number, "size": info.size, "etag": info.etag, "checksum": checksum}
            _write_atomic(updir / f"part-{number:05d}.json", json.dumps(record).encode(), updir)
        except FileNotFoundError as e:
            raise self._gone(key, upload_id) from e
        except OSError as e:
            # Disk full (ENOSPC, EDQUOT, EFBIG) above all: the parts written so far would keep
            # it full, and the re-run would fail the same way. Free them now.
            error = DestinationError(
                f"cannot write part {number} of {key}: {e.strerror}",
                f"its partial upload was removed; {_advice(e)}",
            )
            self._drop(updir, str(error))
            raise error from e
        return info

    def list_parts(self, key: str, upload_id: str) -> builtins.list[PartInfo]:
        updir, _ = self._upload_dir(key, upload_id)
        parts = []
        for record in updir.glob("part-*.json"):
            fields = _read_json(record)
            if fields is not None:
                parts.append(
                    PartInfo(
                        int(fields["number"]),
                        int(fields["size"]),
                        fields["etag"],
                        fields["checksum"],
                    )
                )
        return sorted(parts, key=lambda p: p.number)

    def complete(self, key: str, upload_id: str, parts: Sequence[PartInfo]) -> None:
        """Check parts 1..N are the recorded ones, cut to size, fsync, rename into place."""
        path = self._path(key)
        updir, head = self._upload_dir(key, upload_id)
        part_size = int(head["part_size"])
        recorded = {p.number: p for p in self.list_parts(key, upload_id)}
        ordered = sorted(parts, key=lambda p: p.number)
        if [p.number for p in ordered] != list(range(1, len(ordered) + 1)):
            raise DestinationError(f"{key}: parts must be numbered 1..N without gaps")
        for i, p in enumerate(ordered, 1):
            held = recorded.get(p.number)
            if held is None or held.etag != p.etag or held.size != p.size:
                raise DestinationError(f"{key}: part {p.number} was not uploaded as listed")
            if i < len(ordered) and p.size != part_size:
                raise DestinationError(f"{key}: part {p.number} is not {part_size} bytes")
        meta_fields = head["meta"]
        meta = ObjectMeta.from_headers(meta_fields) if isinstance(meta_fields, dict) else None
        if meta is None:
            raise UploadGone(f"multipart upload {upload_id} for {key!r} has a broken manifest")
        data = updir / "data"
        try:
            fd = os.open(data, os.O_RDWR)
            try:
                os.ftruncate(fd, sum(p.size for p in ordered))
                os.fsync(fd)
                in_xattrs = self._write_xattrs(fd, key, meta)
            finally:
                os.close(fd)
            self._publish(str(data), path)
            if not in_xattrs:
                self._write_sidecar(key, path, meta)
        except FileNotFoundError as e:
            raise UploadGone(f"multipart upload {upload_id} for {key!r} was aborted") from e
        except (OSError, DestinationError) as e:
            # Nothing here succeeds on a second try (a name too long, a folder in the way,
            # a full disk): keep no orphan behind. A re-run starts a fresh upload.
            error = (
                e
                if isinstance(e, DestinationError)
                else DestinationError(
                    f"cannot complete {path}: {e.strerror}",
                    f"its upload was removed; {_advice(e)}",
                )
            )
            self._drop(updir, str(error))
            if error is e:
                raise
            raise error from e
        shutil.rmtree(updir, ignore_errors=True)  # without `data` it is already gone (see above)

    def abort(self, key: str, upload_id: str) -> None:
        updir, _ = self._upload_dir(key, upload_id)
        shutil.rmtree(updir, ignore_errors=True)

    def list_uploads(self, prefix: str) -> Iterator[OpenUpload]:
        """Upload folders in `.data4r2-tmp/` for keys under `prefix`; idle = newest file's age."""
        try:
            entries = sorted(os.scandir(self.root / TMP_DIR), key=lambda e: e.name)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as e:
            raise DestinationError(f"cannot list {self.root / TMP_DIR}: {e.strerror}") from e
        now = time.time()
        for entry in entries:
            if not _UPLOAD_ID.match(entry.name):
                continue
            head = _read_json(Path(entry) / "upload.json")
            key = head.get("key") if head else None
            if not isinstance(key, str) or not key.startswith(prefix):
                continue
            folder = Path(entry)
            try:
                newest = max(f.stat().st_mtime for f in [folder, *folder.iterdir()])
            except OSError:
                continue  # completed or aborted meanwhile
            yield OpenUpload(key, entry.name, max(0.0, now - newest))


# --------------------------------------------------------------------------- helpers


def _etag(checksum: str, size: int) -> str:
    # A folder has no server ETag; the part's CRC32C and size identify its bytes well enough
    # for Complete to refuse a part list that does not match what was written.
    return f"{base64.b64decode(checksum).hex()}-{size}"


def _write_all(fd: int, body: memoryview, offset: int) -> None:
    view = memoryview(body).cast("B")
    while view:
        n = os.pwrite(fd, view, offset)
        view, offset = view[n:], offset + n


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs_durable(path: Path) -> builtins.list[Path]:
    """mkdir -p that also fsyncs each parent it added an entry to (a crash keeps the folders).

    The folders it created, outermost first.
    """
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    made = []
    for folder in reversed(missing):
        try:
            folder.mkdir()
        except FileExistsError:
            continue  # another thread made it meanwhile
        made.append(folder)
        _fsync_dir(folder.parent)
    return made


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _advice(e: OSError) -> str:
    if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return "free space (or pick a filesystem that takes files this large) and re-run"
    if e.errno == errno.ENAMETOOLONG:
        return "this filesystem cannot hold the name: mirror to a bucket or --exclude the file"
    return "fix the cause above and re-run"


def _write_atomic(path: Path, data: bytes, tmp_dir: Path) -> None:
    tmp = tmp_dir / f".tmp-{uuid.uuid4().hex}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            _write_all(fd, memoryview(data), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _meta_fields(meta: ObjectMeta, st: os.stat_result) -> dict[str, str]:
    return {**meta.to_headers(), "size": str(st.st_size), "mtime-ns": str(st.st_mtime_ns)}


def _try_setxattr(fd: int, name: str, value: str) -> bool:
    """False when the filesystem (or OS: os.setxattr is Linux-only) has no user xattrs."""
    setxattr = getattr(os, "setxattr", None)
    if setxattr is None:
        return False
    try:
        setxattr(fd, _XATTR + name, value.encode())
    except OSError as e:
        if e.errno in _NO_XATTR:
            return False
        raise
    return True


def _read_xattrs(path: Path) -> dict[str, str]:
    if not hasattr(os, "listxattr"):
        return {}
    try:
        names = [n for n in os.listxattr(path) if n.startswith(_XATTR)]
        return {n.removeprefix(_XATTR): os.getxattr(path, n).decode() for n in names}
    except (OSError, UnicodeDecodeError):
        return {}


def _hash_file(path: Path) -> tuple[str, str]:
    """(sha256, git blob sha1) in one pass: a non-LFS file is matched by the git sha1."""
    # hashlib.file_digest computes one digest per pass; we need two from the same read.
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    sha1 = hashlib.sha1(f"blob {size}\0".encode())  # noqa: S324 - git's object id
    buf = bytearray(_HASH_CHUNK)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(view):
            sha256.update(view[:n])
            sha1.update(view[:n])
    return sha256.hexdigest(), sha1.hexdigest()


def _conforms(sink: FolderSink) -> ObjectSink:  # mypy proves FolderSink implements the port
    return sink
