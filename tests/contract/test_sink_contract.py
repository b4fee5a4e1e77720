"""One suite every ObjectSink passes (rclone's fstests): memory, folder, S3 on SeaweedFS.

Part sizes are R2-legal (5 MiB, equal but the last) so the strict memory sink, SeaweedFS and
R2 itself would all accept them. The tests at the end are folder-only: what a filesystem adds
— hostile paths, crashes, a restart mid-upload, files written by another tool.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from data4r2.domain import (
    DestinationError,
    IntegrityError,
    ObjectMeta,
    PartInfo,
    RemoteFile,
    UnsafePath,
    UploadGone,
)
from data4r2.ports import ObjectSink
from data4r2.sinks.folder import TMP_DIR, FolderSink

MiB = 1024**2


def meta_for(key: str, body: bytes, git_sha1: str = "") -> ObjectMeta:
    return ObjectMeta(
        repo_id="acme/model",
        repo_type="model",
        commit="c" * 40,
        path=key.split("/", 1)[-1],
        sha256=hashlib.sha256(body).hexdigest(),
        git_sha1=git_sha1,
    )


def git_sha1(body: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()


def three_parts() -> list[bytes]:
    """5 MiB, 5 MiB, 1 MiB + 7: legal everywhere, R2 included."""
    return [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(MiB + 7)]


# --------------------------------------------------------------------------- single PUT


def test_put_head_round_trip_with_unicode_path(
    sink: ObjectSink, read_back: Callable[[str], bytes], prefix: str
) -> None:
    key = f"{prefix}models/acme/model/données/ファイル 1 (copy)+#%.bin"
    body = os.urandom(70_000)
    sha1 = git_sha1(body)
    sink.put(key, memoryview(body), meta_for(key, body, git_sha1=sha1))
    info = sink.head(key)
    assert info is not None
    assert (info.key, info.size) == (key, len(body))
    assert info.sha256 == hashlib.sha256(body).hexdigest()
    assert info.git_sha1 == sha1
    assert info.matches(RemoteFile(key, len(body), sha1))
    assert read_back(key) == body


def test_put_keeps_no_view_of_the_callers_buffer(
    sink: ObjectSink, read_back: Callable[[str], bytes], prefix: str
) -> None:
    key, buf = f"{prefix}reused", bytearray(b"x" * 1000)
    sink.put(key, memoryview(buf), meta_for(key, bytes(buf)))
    buf[:] = b"y" * 1000  # the engine reuses part buffers as soon as a call returns
    assert read_back(key) == b"x" * 1000


def test_an_empty_object_round_trips(
    sink: ObjectSink, read_back: Callable[[str], bytes], prefix: str
) -> None:
    key = f"{prefix}pkg/__init__.py"
    sink.put(key, memoryview(b""), meta_for(key, b""))
    info = sink.head(key)
    assert info is not None and info.size == 0
    assert info.sha256 == hashlib.sha256(b"").hexdigest()
    assert read_back(key) == b""


def test_a_body_that_does_not_match_its_sha256_is_refused_and_not_stored(
    sink: ObjectSink, prefix: str
) -> None:
    key = f"{prefix}corrupt.bin"
    with pytest.raises(IntegrityError):
        sink.put(key, memoryview(b"the bytes we got"), meta_for(key, b"the bytes we expected"))
    assert sink.head(key) is None
    assert list(sink.list(prefix)) == []


def test_head_of_a_missing_key_is_none(sink: ObjectSink, prefix: str) -> None:
    assert sink.head(f"{prefix}nothing/here.bin") is None


def test_read_returns_the_whole_body_or_none(sink: ObjectSink, prefix: str) -> None:
    key = f"{prefix}models/acme/m/.data4r2/refs.json"  # what the manifests are read with
    body = '{"refs": {"main": "é"}}'.encode()
    sink.put(key, memoryview(body), meta_for(key, body))
    assert sink.read(key) == body
    assert sink.read(f"{prefix}models/acme/m/.data4r2/none.json") is None


def test_list_sees_exactly_what_was_written_under_the_prefix(sink: ObjectSink, prefix: str) -> None:
    written = {
        f"{prefix}a/x.bin": b"1",
        f"{prefix}a/y/z.bin": b"22",
        f"{prefix}ab.bin": b"333",
        f"{prefix}b/c.bin": b"4444",
    }
    for key, body in written.items():
        sink.put(key, memoryview(body), meta_for(key, body))

    def listed(p: str) -> dict[str, int]:
        return {o.key: o.size for o in sink.list(p)}

    assert listed(prefix) == {k: len(v) for k, v in written.items()}
    assert listed(f"{prefix}a/") == {f"{prefix}a/x.bin": 1, f"{prefix}a/y/z.bin": 2}
    assert set(listed(f"{prefix}a")) == {
        f"{prefix}a/x.bin",
        f"{prefix}a/y/z.bin",
        f"{prefix}ab.bin",
    }
    assert listed(f"{prefix}nothing/") == {}


def test_delete_removes_the_object_and_deleting_again_is_fine(
    sink: ObjectSink, prefix: str
) -> None:
    keep, gone = f"{prefix}keep.bin", f"{prefix}gone.bin"
    for key in (keep, gone):
        sink.put(key, memoryview(b"data"), meta_for(key, b"data"))
    sink.delete(gone)
    assert sink.head(gone) is None
    assert [o.key for o in sink.list(prefix)] == [keep]
    sink.delete(gone)  # like S3: no error for what is already gone
    assert sink.head(keep) is not None


# --------------------------------------------------------------------------- multipart


def test_part_checksum_is_base64_crc32c(sink: ObjectSink) -> None:
    # The standard check value of CRC-32C (Castagnoli) for "123456789" is 0xE3069283.
    expected = base64.b64encode(bytes.fromhex("e3069283")).decode()
    assert sink.part_checksum(memoryview(b"123456789")) == expected


def test_multipart_parts_from_threads_out_of_order(
    sink: ObjectSink, read_back: Callable[[str], bytes], prefix: str
) -> None:
    key = f"{prefix}models/acme/model/model.safetensors"
    bodies = three_parts()
    whole = b"".join(bodies)
    upload_id = sink.create_multipart(key, meta_for(key, whole), 5 * MiB)

    def upload(number: int) -> PartInfo:
        return sink.upload_part(key, upload_id, number, memoryview(bodies[number - 1]))

    with ThreadPoolExecutor(3) as pool:
        infos = list(pool.map(upload, [3, 1, 2]))
    by_number = {p.number: p for p in infos}
    for n, body in enumerate(bodies, 1):
        assert by_number[n].size == len(body)
        assert by_number[n].checksum == sink.part_checksum(memoryview(body))

    listed = sink.list_parts(key, upload_id)
    assert [p.number for p in listed] == [1, 2, 3]
    assert [(p.size, p.etag) for p in listed] == [
        (by_number[n].size, by_number[n].etag) for n in (1, 2, 3)
    ]
    assert sink.head(key) is None  # nothing visible before Complete

    sink.complete(key, upload_id, [by_number[n] for n in (1, 2, 3)])
    info = sink.head(key)
    assert info is not None and info.size == len(whole)
    assert info.sha256 == hashlib.sha256(whole).hexdigest()
    assert read_back(key) == whole
    with pytest.raises(UploadGone):
        sink.list_parts(key, upload_id)


def test_an_unfinished_upload_is_invisible(sink: ObjectSink, prefix: str) -> None:
    key = f"{prefix}big.bin"
    body = os.urandom(5 * MiB)
    upload_id = sink.create_multipart(key, meta_for(key, body), 5 * MiB)
    sink.upload_part(key, upload_id, 1, memoryview(body))
    assert sink.head(key) is None
    assert list(sink.list(prefix)) == []
    sink.abort(key, upload_id)


def test_abort_makes_the_upload_gone(sink: ObjectSink, prefix: str) -> None:
    key = f"{prefix}aborted.bin"
    body = os.urandom(5 * MiB)
    upload_id = sink.create_multipart(key, meta_for(key, body), 5 * MiB)
    part = sink.upload_part(key, upload_id, 1, memoryview(body))
    sink.abort(key, upload_id)
    with pytest.raises(UploadGone):
        sink.list_parts(key, upload_id)
    with pytest.raises(UploadGone):
        sink.upload_part(key, upload_id, 2, memoryview(body))
    with pytest.raises(UploadGone):
        sink.complete(key, upload_id, [part])
    assert sink.head(key) is None


def test_an_unknown_upload_id_is_gone(sink: ObjectSink, prefix: str) -> None:
    key = f"{prefix}never-started.bin"
    body = os.urandom(5 * MiB)
    other = sink.create_multipart(f"{prefix}other.bin", meta_for(key, body), 5 * MiB)
    with pytest.raises(UploadGone):
        sink.list_parts(key, other)  # an upload of another key is not this key's
    with pytest.raises(UploadGone):
        sink.list_parts(key, "0" * 32)
    sink.abort(f"{prefix}other.bin", other)


def test_complete_refuses_a_part_list_that_does_not_match_the_upload(
    sink: ObjectSink, prefix: str
) -> None:
    key = f"{prefix}mismatch.bin"
    bodies = three_parts()
    upload_id = sink.create_multipart(key, meta_for(key, b"".join(bodies)), 5 * MiB)
    parts = [sink.upload_part(key, upload_id, n, memoryview(b)) for n, b in enumerate(bodies, 1)]
    wrong = PartInfo(2, parts[1].size, parts[0].etag, parts[1].checksum)
    with pytest.raises(DestinationError) as err:
        sink.complete(key, upload_id, [parts[0], wrong, parts[2]])
    assert not isinstance(err.value, UploadGone)
    assert sink.head(key) is None
    held = [(p.number, p.size, p.etag) for p in sink.list_parts(key, upload_id)]
    assert held == [(p.number, p.size, p.etag) for p in parts]  # the upload survived
    sink.abort(key, upload_id)


def test_list_uploads_shows_an_unfinished_upload_under_its_prefix_until_it_ends(
    sink: ObjectSink, prefix: str
) -> None:
    # What a killed run leaves and no state file remembers: the engine reclaims from this.
    key = f"{prefix}models/acme/model/big.bin"
    body = os.urandom(5 * MiB)
    upload_id = sink.create_multipart(key, meta_for(key, body), 5 * MiB)
    sink.upload_part(key, upload_id, 1, memoryview(body))
    listed = list(sink.list_uploads(f"{prefix}models/acme/"))
    assert [(u.key, u.upload_id) for u in listed] == [(key, upload_id)]
    assert 0 <= listed[0].idle_s < 600  # just written (the store's clock may be a bit off)
    assert list(sink.list_uploads(f"{prefix}models/other/")) == []
    sink.abort(key, upload_id)
    assert list(sink.list_uploads(prefix)) == []


# --------------------------------------------------------------------------- folder only


@pytest.fixture
def folder(tmp_path: Path) -> FolderSink:
    return FolderSink(tmp_path / "mirror")


HOSTILE_KEYS = [
    "../escape.bin",
    "a/../../escape.bin",
    "/tmp/escape.bin",
    "a\0b",
    "",
    "a//b",
    "a/./b",
    f"{TMP_DIR}/put-x",
    ".data4r2/meta/x.json",
    "outside-link/escape.bin",  # a symlinked folder pointing outside root
    "file-link",  # a symlinked file pointing outside root
]


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_folder_refuses_keys_that_escape_root(tmp_path: Path, key: str) -> None:
    root, outside = tmp_path / "mirror", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret").write_bytes(b"do not touch")
    (root / "outside-link").symlink_to(outside)
    (root / "file-link").symlink_to(outside / "secret")
    sink = FolderSink(root)
    body = b"payload"
    for call in (
        lambda: sink.put(key, memoryview(body), meta_for("x/y", body)),
        lambda: sink.head(key),
        lambda: sink.delete(key),
        lambda: sink.create_multipart(key, meta_for("x/y", body), 5 * MiB),
    ):
        with pytest.raises(UnsafePath):
            call()
    assert sorted(p.name for p in outside.iterdir()) == ["secret"]
    assert (outside / "secret").read_bytes() == b"do not touch"
    assert not (tmp_path / "escape.bin").exists()


@pytest.mark.skipif(os.name == "nt", reason="separators and drives of Windows")
@pytest.mark.parametrize("key", ["a\\..\\inside.bin", "C:/inside.bin", "x:y.bin"])
def test_folder_keeps_names_windows_would_read_as_paths_inside_root(
    tmp_path: Path, key: str
) -> None:
    """On POSIX `\\` and `C:` are plain characters: legal key, one file under root."""
    root = tmp_path / "mirror"
    body = b"payload"
    FolderSink(root).put(key, memoryview(body), meta_for("x/y", body))
    assert (root / key).read_bytes() == body
    assert (root / key).resolve().is_relative_to(root.resolve())


def test_folder_follows_symlinks_that_stay_inside_root(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    (root / "blobs").mkdir(parents=True)
    (root / "blobs" / "abc").write_bytes(b"blob")
    (root / "snapshot").mkdir()
    (root / "snapshot" / "file.bin").symlink_to(root / "blobs" / "abc")  # like the HF cache
    sink = FolderSink(root)
    info = sink.head("snapshot/file.bin")
    assert info is not None and info.sha256 == hashlib.sha256(b"blob").hexdigest()
    assert {o.key for o in sink.list("")} == {"blobs/abc", "snapshot/file.bin"}


_CRASH_IN_PUT = textwrap.dedent(
    """
    import hashlib, os, sys
    from pathlib import Path
    from data4r2.domain import ObjectMeta
    from data4r2.sinks.folder import FolderSink

    root, key = Path(sys.argv[1]), sys.argv[2]

    def die_before_publishing(event, args):
        # os.replace raises the "os.rename" audit event: die exactly between the fsynced
        # temp file and the rename that would publish it, as a power cut would.
        if event == "os.rename" and str(args[1]) == str(root / key):
            os._exit(9)

    sys.addaudithook(die_before_publishing)
    body = os.urandom(100_000)
    meta = ObjectMeta("acme/model", "model", "c" * 40, key, hashlib.sha256(body).hexdigest())
    FolderSink(root).put(key, memoryview(body), meta)
    """
)


def test_folder_crash_mid_put_leaves_no_visible_object(tmp_path: Path) -> None:
    root, key = tmp_path / "mirror", "models/acme/model/weights.bin"
    proc = subprocess.run(
        [sys.executable, "-c", _CRASH_IN_PUT, str(root), key], capture_output=True, timeout=60
    )
    assert proc.returncode == 9, proc.stderr.decode()
    assert [
        p.name for p in (root / TMP_DIR).iterdir() if p.name.startswith("put-")
    ]  # it died mid-put
    sink = FolderSink(root)
    assert sink.head(key) is None
    assert list(sink.list("")) == []
    sink.put(key, memoryview(b"retry"), meta_for(key, b"retry"))  # a retry then succeeds
    assert (root / key).read_bytes() == b"retry"


def test_folder_reopened_sees_an_unfinished_uploads_parts(tmp_path: Path) -> None:
    root, key = tmp_path / "mirror", "models/acme/model/model.safetensors"
    bodies = three_parts()
    whole = b"".join(bodies)
    first = FolderSink(root)
    upload_id = first.create_multipart(key, meta_for(key, whole), 5 * MiB)
    done = [first.upload_part(key, upload_id, n, memoryview(bodies[n - 1])) for n in (1, 3)]
    del first

    again = FolderSink(root)  # as after a restart: nothing carried over in memory
    assert again.list_parts(key, upload_id) == done
    part2 = again.upload_part(key, upload_id, 2, memoryview(bodies[1]))
    again.complete(key, upload_id, [done[0], part2, done[1]])
    assert (root / key).read_bytes() == whole
    assert not (root / TMP_DIR / upload_id).exists()


def test_folder_refuses_gaps_and_oversized_parts(folder: FolderSink) -> None:
    key = "gappy.bin"
    bodies = three_parts()
    upload_id = folder.create_multipart(key, meta_for(key, b"".join(bodies)), 5 * MiB)
    with pytest.raises(DestinationError):
        folder.upload_part(key, upload_id, 1, memoryview(bodies[0] + b"!"))  # over its slot
    p1 = folder.upload_part(key, upload_id, 1, memoryview(bodies[0]))
    p3 = folder.upload_part(key, upload_id, 3, memoryview(bodies[2]))
    with pytest.raises(DestinationError, match="without gaps"):
        folder.complete(key, upload_id, [p1, p3])
    assert folder.head(key) is None


def test_folder_upload_ids_cannot_name_paths(folder: FolderSink) -> None:
    with pytest.raises(UploadGone):
        folder.list_parts("x.bin", "../../etc")


def test_folder_recognises_files_written_by_another_tool(folder: FolderSink) -> None:
    body = b'{"hidden_size": 768}\n'
    path = folder.root / "models/acme/model/config.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    info = folder.head("models/acme/model/config.json")
    assert info is not None
    assert info.sha256 == hashlib.sha256(body).hexdigest()
    assert info.matches(RemoteFile("config.json", len(body), git_sha1(body)))


def test_folder_ignores_metadata_of_a_file_changed_since(folder: FolderSink) -> None:
    key, old, new = "weights.bin", b"old bytes", b"new bytes, longer"
    folder.put(key, memoryview(old), meta_for(key, old))
    (folder.root / key).write_bytes(new)  # in place: xattrs survive, size and mtime do not
    info = folder.head(key)
    assert info is not None and info.sha256 == hashlib.sha256(new).hexdigest()


def test_folder_check_creates_the_folder(tmp_path: Path) -> None:
    sink = FolderSink(tmp_path / "new" / "mirror")
    sink.check()
    assert (tmp_path / "new" / "mirror").is_dir()


def test_folder_check_refuses_a_path_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(DestinationError):
        FolderSink(tmp_path / "a-file" / "mirror").check()


@pytest.mark.parametrize("mode", ["xattr", "sidecar"])
def test_folder_reads_its_own_metadata_rather_than_hashing(tmp_path: Path, mode: str) -> None:
    root, key, body = tmp_path / "mirror", "models/acme/model/a.bin", b"lfs bytes"
    sink = FolderSink(root, metadata=mode)  # type: ignore[arg-type]
    sink.put(key, memoryview(body), meta_for(key, body))  # an LFS file: no git sha1 recorded
    sidecar = root / ".data4r2" / "meta" / f"{key}.json"
    assert sidecar.exists() == (mode == "sidecar")
    assert any(n.startswith("user.data4r2.") for n in os.listxattr(root / key)) == (mode == "xattr")
    info = FolderSink(root).head(key)  # a new sink reads either kind
    assert info is not None and info.sha256 == hashlib.sha256(body).hexdigest()
    assert info.git_sha1 is None  # hashing the file would have produced one
    sink.delete(key)
    assert not sidecar.exists()


def test_folder_keeps_metadata_too_large_for_xattrs(folder: FolderSink) -> None:
    # ~7 KB of percent-encoded path: more than ext4 without ea_inode fits in xattrs.
    key = "/".join(["é" * 100] * 6)
    body = b"lfs bytes"
    folder.put(key, memoryview(body), meta_for(f"x/{key}", body))
    in_xattrs = any(n.startswith("user.data4r2.") for n in os.listxattr(folder.root / key))
    in_sidecar = (folder.root / ".data4r2" / "meta" / f"{key}.json").exists()
    assert in_xattrs != in_sidecar
    info = folder.head(key)
    assert info is not None and info.sha256 == hashlib.sha256(body).hexdigest()
    assert info.git_sha1 is None  # read from metadata, not by hashing the file


def test_folder_head_of_a_folder_is_none_and_a_key_cannot_replace_one(folder: FolderSink) -> None:
    folder.put("models/a.bin", memoryview(b"x"), meta_for("models/a.bin", b"x"))
    assert folder.head("models") is None
    with pytest.raises(DestinationError, match="folder of that name"):
        folder.put("models", memoryview(b"y"), meta_for("models", b"y"))
    assert folder.head("models/a.bin") is not None
    assert [p.name for p in (folder.root / TMP_DIR).iterdir()] == []  # no temp file left


def test_folder_check_then_close_leaves_no_trace_in_a_new_folder(tmp_path: Path) -> None:
    # A first run that fails before planning (the Hub unreachable) checks and closes only.
    sink = FolderSink(tmp_path / "new" / "mirror")
    sink.check()
    sink.close()
    assert list(tmp_path.iterdir()) == []


def test_folder_check_then_close_leaves_no_temp_folder_in_an_existing_one(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_bytes(b"the user's")
    sink = FolderSink(tmp_path)
    sink.check()
    assert not (tmp_path / TMP_DIR).exists()  # the probe's folder, once empty, goes at once
    sink.put("a.bin", memoryview(b"x"), meta_for("a.bin", b"x"))
    sink.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin", "keep.txt"]


def _age(path: Path, seconds: float) -> None:
    for p in [path, *path.rglob("*")]:
        old = p.stat().st_mtime - seconds
        os.utime(p, (old, old), follow_symlinks=False)


def test_folder_check_removes_temp_files_older_than_a_day(tmp_path: Path) -> None:
    root = tmp_path / "mirror"
    tmp = root / TMP_DIR
    tmp.mkdir(parents=True)
    for name in ("put-old", "put-new", ".tmp-old"):
        (tmp / name).write_bytes(b"x")
    (tmp / ("a" * 32)).mkdir()  # an upload folder a crash left before its manifest
    sink = FolderSink(root)
    kept = sink.create_multipart("k.bin", meta_for("k.bin", b""), 5 * MiB)  # left to the engine
    for name in ("put-old", ".tmp-old", "a" * 32, kept):
        _age(tmp / name, 2 * 86400)
    sink.check()
    assert sorted(p.name for p in tmp.iterdir()) == sorted([kept, "put-new"])
    [listed] = sink.list_uploads("")
    assert listed.upload_id == kept and listed.idle_s > 86400


def test_folder_refuses_a_name_too_long_before_any_byte(folder: FolderSink) -> None:
    key = "models/acme/model/" + "n" * 300 + ".bin"
    with pytest.raises(DestinationError, match="304 bytes") as err:
        folder.create_multipart(key, meta_for(key, b""), 5 * MiB)
    assert "--exclude" in err.value.hint
    with pytest.raises(DestinationError, match="304 bytes"):
        folder.put(key, memoryview(b"x"), meta_for(key, b"x"))
    assert not (folder.root / TMP_DIR).exists() or not any((folder.root / TMP_DIR).iterdir())


def test_folder_a_complete_that_fails_removes_its_upload(folder: FolderSink) -> None:
    folder.put("models/a", memoryview(b"a file"), meta_for("models/a", b"a file"))
    key = "models/a/b.bin"  # its folder is a file: the rename at Complete fails (ENOTDIR)
    body = os.urandom(5 * MiB)
    upload_id = folder.create_multipart(key, meta_for(key, body), 5 * MiB)
    part = folder.upload_part(key, upload_id, 1, memoryview(body))
    with pytest.raises(DestinationError) as err:
        folder.complete(key, upload_id, [part])
    assert not isinstance(err.value, UploadGone)
    assert not (folder.root / TMP_DIR / upload_id).exists()  # no 5 MiB orphan
    assert list(folder.list_uploads("")) == []


_DISK_FULL_IN_PART = textwrap.dedent(
    """
    import os, resource, sys
    from pathlib import Path
    from data4r2.domain import DestinationError, ObjectMeta, UploadGone
    from data4r2.sinks.folder import FolderSink
    MiB = 1024**2
    # Files may not grow past 7 MiB: part 2 (bytes 5-10 MiB) gets EFBIG, as on a full disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (7 * MiB, 7 * MiB))
    sink, key = FolderSink(Path(sys.argv[1])), "big.bin"
    meta = ObjectMeta("acme/model", "model", "c" * 40, key, "0" * 64)
    upload_id = sink.create_multipart(key, meta, 5 * MiB)
    sink.upload_part(key, upload_id, 1, memoryview(bytes(5 * MiB)))
    try:
        sink.upload_part(key, upload_id, 2, memoryview(bytes(5 * MiB)))
    except DestinationError as e:
        print(e)
    try:  # a part that was in flight meanwhile learns why its upload is gone
        sink.upload_part(key, upload_id, 3, memoryview(bytes(MiB)))
    except UploadGone as e:
        print(e)
        sys.exit(3)
    """
)


def test_folder_disk_full_mid_upload_removes_the_upload(tmp_path: Path) -> None:
    # A real write refused by the kernel: RLIMIT_FSIZE makes pwrite fail with EFBIG
    # (Python ignores SIGXFSZ), which needs no root, unlike a small filesystem.
    root = tmp_path / "mirror"
    proc = subprocess.run(
        [sys.executable, "-c", _DISK_FULL_IN_PART, str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3, proc.stderr
    assert list((root / TMP_DIR).iterdir()) == []  # part 1's 5 MiB are not kept
    first, then = proc.stdout.splitlines()
    assert first.startswith("cannot write part 2 of big.bin: File too large — ")
    assert "free space" in first
    assert then.endswith(f"was removed: {first}")
