"""A folder destination keeps no temp data from a failed run (issue 15, bugs 4 and 9)."""

from __future__ import annotations

import resource
import socket
import subprocess
import sys
from pathlib import Path

from data4r2.sinks.folder import TMP_DIR

from .conftest import MODEL_FILES, PART, Env

MiB = 1024**2


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_first_run_that_cannot_reach_the_hub_leaves_no_folder(cli: Env, tmp_path: Path) -> None:
    dest = tmp_path / "new" / "mirror"
    hub = f"http://127.0.0.1:{_closed_port()}"
    res = cli.run("sync", "acme/tiny-model", "--dest", str(dest), env={"HF_ENDPOINT": hub})
    assert res.returncode != 0
    assert "data4r2: error:" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "new").exists()  # not even an empty .data4r2-tmp/ inside it


def _file_size_limit(limit: int) -> None:
    # The kernel then refuses to grow any file past `limit` (EFBIG; Python ignores SIGXFSZ):
    # a disk that fills up mid-upload, without root or a tiny filesystem.
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_disk_full_mid_upload_keeps_no_partial_upload_and_a_rerun_succeeds(
    cli: Env, tmp_path: Path
) -> None:
    dest = tmp_path / "mirror"
    big = "weights/model.safetensors"  # 4 parts of PART: part 2 crosses the limit
    assert len(MODEL_FILES[big][0]) > 3 * PART
    full = subprocess.run(
        [sys.executable, "-m", "data4r2", "sync", "acme/tiny-model", "--dest", str(dest)],
        env={
            **cli.base_env,
            "DATA4R2_MAX_RETRIES": "0",
            "DATA4R2_CONCURRENCY": "1",
            "DATA4R2_PARTS_IN_FLIGHT": "1",
        },
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        preexec_fn=lambda: _file_size_limit(PART + MiB),
        check=False,
    )
    assert full.returncode == 1, full.stderr  # "some files failed"
    assert "File too large" in full.stdout + full.stderr
    tmp = dest / TMP_DIR
    assert not tmp.exists() or list(tmp.iterdir()) == []  # no part left holding the space
    root = dest / "models/acme/tiny-model"
    assert (root / "config.json").read_bytes() == MODEL_FILES["config.json"][0]
    assert not (root / big).exists()

    again = cli.run("sync", "acme/tiny-model", "--dest", str(dest))
    assert again.returncode == 0, again.stderr
    assert (root / big).read_bytes() == MODEL_FILES[big][0]
    assert not tmp.exists()


def test_a_name_too_long_for_the_filesystem_fails_alone_and_leaves_nothing(
    cli: Env, tmp_path: Path
) -> None:
    from fakehub import Repo

    long_name = "weights/" + "w" * 260 + ".safetensors"
    repo = Repo(repo_id="acme/long-names")
    repo.add_file("config.json", b"{}")
    repo.add_file(long_name, MODEL_FILES["weights/model.safetensors"][0], lfs=True)
    repo.commit("a name over 255 bytes")
    cli.hub.add(repo)
    dest = tmp_path / "mirror"
    res = cli.run("sync", "acme/long-names", "--dest", str(dest), env={"DATA4R2_MAX_RETRIES": "0"})
    assert res.returncode == 1, res.stderr
    assert "this filesystem allows" in res.stdout + res.stderr
    assert (dest / "models/acme/long-names/config.json").read_bytes() == b"{}"
    assert not (dest / TMP_DIR).exists()
