"""The servers a benchmark runs against: the fake hub, `rclone serve s3` and SeaweedFS.

All listen on 127.0.0.1 on ports the OS picked; readiness is polled (an answered request),
never slept for. Each keeps its CPU counter so a row can report what the servers spent.
SeaweedFS is started by the test suite's own helper (tests/servers/seaweed.py) rather than a
second copy of its flags here.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import psutil
from botocore.config import Config

MAIN = Path(__file__).resolve().parent.parent
TESTS = MAIN / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

ACCESS_KEY = "testaccesskey"
SECRET_KEY = "testsecretkey123"
REGION = "us-east-1"
POLL = 0.05  # seconds between readiness probes; none of these servers signals readiness


class StartError(RuntimeError):
    pass


def free_port() -> int:
    from servers.seaweed import free_ports  # the test suite's helper

    return int(free_ports(1)[0])


def _answers(host: str, port: int, path: str = "/") -> int | None:
    """HTTP status of GET `path`, or None if nothing answers yet."""
    conn = http.client.HTTPConnection(host, port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    except OSError:
        return None
    finally:
        conn.close()


def _cpu_seconds(pid: int) -> float:
    """user+sys of a live process and its live children (psutil; 0 if it is gone)."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class FakeHub:
    """`python -m fakehub` serving one folder as model repo `bench/repo`."""

    repo_dir: Path
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    repo_id: str = "bench/repo"

    @classmethod
    def start(
        cls,
        repo_dir: Path,
        log_dir: Path,
        digests: dict[str, Any] | None = None,
        timeout: float = 300,
    ) -> FakeHub:
        """Serve `repo_dir`; `digests` (path → FileInfo) pre-seeds the hub's hash sidecar."""
        log_dir.mkdir(parents=True, exist_ok=True)
        log = log_dir / f"fakehub-{repo_dir.name}.log"
        # The sidecar lives outside the repo folder, or the uploaders would copy it too.
        cache = log_dir.parent / f"fakehub-hashes-{repo_dir.name}.json"
        if digests:
            _seed_sidecar(cache, repo_dir, digests)
        path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
        with log.open("ab") as err:
            proc = subprocess.Popen(
                [
                    sys.executable, "-m", "fakehub", "--repo-dir", str(repo_dir),
                    "--port", "0", "--print-url", "--cache-file", str(cache),
                ],
                env={**os.environ, "PYTHONPATH": path},
                stdout=subprocess.PIPE,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=MAIN,
            )  # fmt: skip
        assert proc.stdout is not None
        # --print-url writes the URL once listening (after hashing whatever the sidecar
        # did not already know).
        line = proc.stdout.readline().decode().strip()
        if not line.startswith("http"):
            _stop(proc)
            raise StartError(f"fake hub printed {line!r}; log: {_tail(log)}")
        hub = cls(repo_dir=repo_dir, proc=proc, url=line.rstrip("/"), log=log)
        hub._wait_ready(timeout)
        return hub

    def _wait_ready(self, timeout: float) -> None:
        host, _, port = self.url.split("//", 1)[1].partition(":")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if _answers(host, int(port.split("/")[0]), f"/api/models/{self.repo_id}") == 200:
                return
            time.sleep(POLL)
        self.stop()
        raise StartError(f"fake hub at {self.url} not ready; log: {_tail(self.log)}")

    def cpu(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def resolve_url(self, path: str, revision: str = "main") -> str:
        from urllib.parse import quote

        return f"{self.url}/{self.repo_id}/resolve/{revision}/{quote(path)}"

    def stop(self) -> None:
        _stop(self.proc)
        if self.proc.stdout:
            self.proc.stdout.close()


def _seed_sidecar(cache: Path, repo_dir: Path, digests: dict[str, Any]) -> None:
    """Write the fake hub's hash sidecar (tests/fakehub/hashing.py HashCache, version 1) from
    our manifest, so a fresh hub does not hash gigabytes again. If its format ever changes the
    hub ignores this file and hashes: slower, never wrong."""
    files = {}
    for rel, info in digests.items():
        path = repo_dir / rel
        files[str(path.resolve())] = {
            "size": info.size,
            "mtime_ns": path.stat().st_mtime_ns,
            "git_sha1": info.git_sha1,
            "sha256": info.sha256,
        }
    cache.write_text(json.dumps({"version": 1, "files": files}))


def _tail(path: Path, n: int = 15) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


@dataclass
class S3Server:
    """What every S3 server here offers: an endpoint, keys, and bucket housekeeping."""

    name: str
    endpoint: str
    pid: int
    _stopper: Any
    data_dir: Path | None = None  # where the server keeps objects (rclone: one folder per bucket)
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    _client: Any = field(default=None, init=False)

    def client(self) -> Any:
        if self._client is None:
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint,
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
                region_name=REGION,
                config=Config(
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    retries={"max_attempts": 5, "mode": "standard"},
                ),
            )
        return self._client

    def cpu(self) -> float:
        return _cpu_seconds(self.pid)

    def new_bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def listing(self, bucket: str) -> dict[str, int]:
        """key → size of everything in `bucket`."""
        out: dict[str, int] = {}
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = obj["Size"]
        return out

    def drop_bucket(self, bucket: str) -> None:
        """Delete every object and the bucket, so the next run starts empty and disk is freed."""
        c = self.client()
        with contextlib.suppress(Exception):
            for page in c.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    c.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            for page in c.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
                for u in page.get("Uploads", []):
                    c.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        with contextlib.suppress(Exception):
            c.delete_bucket(Bucket=bucket)
        if self.data_dir is not None:
            # rclone leaves empty folders behind (and then refuses DeleteBucket).
            shutil.rmtree(self.data_dir / bucket, ignore_errors=True)

    def stop(self) -> None:
        self._stopper()


def start_rclone(log_dir: Path, timeout: float = 30) -> S3Server:
    """`rclone serve s3` over a fresh folder (each bucket is a sub-folder)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-rclone-"))
    data = folder / "data"
    data.mkdir()
    log_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    with (log_dir / "rclone-serve.log").open("ab") as log:
        proc = subprocess.Popen(
            [
                "rclone", "serve", "s3", "--config", "/dev/null",
                "--addr", f"127.0.0.1:{port}",
                "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}",
                str(data),
            ],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def stop() -> None:
        _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)

    server = S3Server("rclone", f"http://127.0.0.1:{port}", proc.pid, stop, data_dir=data)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if _answers("127.0.0.1", port) is not None:
            with contextlib.suppress(Exception):
                server.drop_bucket(server.new_bucket())  # a real round trip, not only a socket
                return server
        time.sleep(POLL)
    stop()
    raise StartError(f"rclone serve s3 did not start; see {log_dir / 'rclone-serve.log'}")


def start_weed() -> S3Server:
    """SeaweedFS `weed mini`, plain http, via the test suite's helper."""
    from servers import seaweed

    srv = seaweed.start_seaweed(tls=False)
    return S3Server(
        "weed",
        srv.endpoint,
        srv.process.pid,
        srv.stop,
        access_key=srv.access_key,
        secret_key=srv.secret_key,
    )


def start_s3(name: str, log_dir: Path) -> S3Server:
    if name == "rclone":
        return start_rclone(log_dir)
    if name == "weed":
        return start_weed()
    raise ValueError(f"unknown S3 server {name!r} (rclone, weed)")
