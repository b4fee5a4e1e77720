"""`python -m fakehub` as a separate process, and loopback throughput of a large LFS body."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fakehub import FakeHub, Repo

TESTS_DIR = Path(__file__).resolve().parents[1]
MiB = 1024 * 1024


def start_cli(repo_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS_DIR), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "fakehub",
            "--repo-dir",
            str(repo_dir),
            "--port",
            "0",
            "--print-url",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().decode().strip()
    assert url.startswith("http://127.0.0.1:"), (url, proc.stderr.read() if proc.stderr else b"")
    return proc, url


def stop_cli(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_cli_serves_a_directory_and_caches_hashes(tmp_path: Path) -> None:
    d = tmp_path / "repo"
    (d / "sub" / "dir").mkdir(parents=True)
    big = os.urandom(MiB + 1)
    exact = os.urandom(MiB)
    (d / "big.bin").write_bytes(big)
    (d / "exactly-1MiB.bin").write_bytes(exact)
    (d / "sub" / "dir" / "x.txt").write_bytes(b"x\n")
    proc, url = start_cli(d)
    try:
        with httpx.Client(follow_redirects=True, timeout=10) as c:
            listing = c.get(
                f"{url}/api/models/bench/repo/tree/main", params={"recursive": "true"}
            ).json()
            files = {e["path"]: e for e in listing if e["type"] == "file"}
            assert set(files) == {"big.bin", "exactly-1MiB.bin", "sub/dir/x.txt"}  # no sidecar
            assert files["big.bin"]["lfs"]["oid"] == hashlib.sha256(big).hexdigest()
            assert "lfs" not in files["exactly-1MiB.bin"]
            assert c.get(f"{url}/bench/repo/resolve/main/big.bin").content == big
            assert c.get(f"{url}/bench/repo/resolve/main/sub/dir/x.txt").content == b"x\n"
    finally:
        assert stop_cli(proc) == 0
    sidecar = d / ".fakehub-hashes.json"
    stamp = sidecar.stat().st_mtime_ns
    proc, url = start_cli(d)  # restart: every digest comes from the sidecar, nothing rewritten
    try:
        r = httpx.head(f"{url}/bench/repo/resolve/main/big.bin")
        assert r.headers["x-linked-etag"] == f'"{hashlib.sha256(big).hexdigest()}"'
    finally:
        assert stop_cli(proc) == 0
    assert sidecar.stat().st_mtime_ns == stamp


def test_large_lfs_body_at_loopback_speed(tmp_path: Path) -> None:
    """256 MiB from a file on disk via sendfile; recv_into a reused buffer on the client side."""
    size = 256 * MiB
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        f.truncate(size)  # sparse: quick to make, hashes and serves like any file
    repo = Repo(repo_id="bench/repo")
    repo.add_file("big.bin", path, lfs=True)
    with FakeHub(rate_limits=None) as hub:
        hub.add(repo)
        loc = urlsplit(httpx.head(f"{hub.url}/bench/repo/resolve/main/big.bin").headers["location"])
        best = 0.0
        for _ in range(2):
            with socket.create_connection((loc.hostname, loc.port)) as s:
                s.sendall(
                    f"GET {loc.path}?{loc.query} HTTP/1.1\r\nHost: {loc.netloc}\r\n\r\n".encode()
                )
                buf = memoryview(bytearray(16 * MiB))
                got, t0 = 0, time.perf_counter()
                while got < size:
                    n = s.recv_into(buf)
                    if not n:
                        break
                    got += n
                elapsed = time.perf_counter() - t0
            assert got >= size  # headers + body
            best = max(best, size / elapsed / 1e9)
    print(f"loopback: {best:.2f} GB/s")
    assert best > 0.3, f"{best:.2f} GB/s"


@pytest.mark.parametrize("argv", [["--repo-dir", "/nonexistent/dir"]])
def test_cli_refuses_a_missing_directory(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from fakehub.cli import main

    assert main(argv) == 2
    assert "not a directory" in capsys.readouterr().err
