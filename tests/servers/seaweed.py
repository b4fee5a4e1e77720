"""Start and stop a real S3 server, SeaweedFS `weed mini`, for tests and benchmarks.

One process, ready in about a second; it checks SigV4 signatures and `x-amz-checksum-*`
headers, which is what the S3 sink's tests need (see docs/testing.md §1). Every port is
chosen by the OS, so parallel sessions on one machine do not collide.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

ACCESS_KEY = "testaccesskey"
SECRET_KEY = "testsecretkey123"
REGION = "auto"

# Named listeners; weed would otherwise put each gRPC port at http port + 10000, which the
# OS did not vouch for.
_PORTS = (
    "s3.port",
    "s3.port.grpc",
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "admin.port",
    "admin.port.grpc",
)


class ServerStartError(RuntimeError):
    pass


def free_ports(n: int) -> list[int]:
    """`n` distinct ports free on 127.0.0.1 now (all held open together so none repeats)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class TLSFiles:
    """A server certificate for 127.0.0.1/localhost and the CA a client must trust."""

    cert: Path
    key: Path
    ca: Path

    @classmethod
    def make(cls, folder: Path) -> TLSFiles:
        import trustme  # only the TLS tests need it

        ca = trustme.CA()
        server = ca.issue_cert("127.0.0.1", "localhost")
        files = cls(cert=folder / "cert.pem", key=folder / "key.pem", ca=folder / "ca.pem")
        server.cert_chain_pems[0].write_to_path(str(files.cert))
        for extra in server.cert_chain_pems[1:]:
            extra.write_to_path(str(files.cert), append=True)
        server.private_key_pem.write_to_path(str(files.key))
        ca.cert_pem.write_to_path(str(files.ca))
        return files


@dataclass
class SeaweedServer:
    """A running `weed mini` with one admin identity; `endpoint` is its plain-http S3 URL."""

    folder: Path
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    tls: TLSFiles | None
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    _log: Path = field(init=False)

    def __post_init__(self) -> None:
        self._log = self.folder / "weed.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    @property
    def https_endpoint(self) -> str:
        if self.tls is None:
            raise RuntimeError("this server was started without TLS")
        return f"https://127.0.0.1:{self.ports['s3.port.https']}"

    def client(self, endpoint: str | None = None, **config: Any) -> S3Client:
        """A boto3 client for checking what the server holds (not the code under test)."""
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint or self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            verify=str(self.tls.ca) if self.tls else None,
            config=Config(
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                **config,
            ),
        )

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (a fresh unique name by default) and return its name."""
        name = name or f"t-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM (weed mini exits in 2-3 s), SIGKILL after 15 s; then drop its data."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # weed keeps deleted data on disk: the folder must go with the server.
        shutil.rmtree(self.folder, ignore_errors=True)


def _healthy(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def _launch(folder: Path, tls: TLSFiles | None) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    names = [*_PORTS, "s3.port.https"] if tls else list(_PORTS)
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    config = folder / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "admin",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    }
                ]
            }
        )
    )
    data = folder / "data"
    data.mkdir(exist_ok=True)
    args = [
        "weed",
        "mini",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}={port}" for name, port in ports.items()),
        f"-s3.config={config}",
        # R2 never creates a bucket on write; weed would, hiding a BucketNotFound.
        "-s3.autoCreateBucket=false",
        f"-filer.localSocket={folder / 'filer.sock'}",
        f"-s3.localSocket={folder / 's3.sock'}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        # Every test bucket is a collection with volumes of its own; left to itself, `mini`
        # allows free disk / volume size (1 GiB) volumes, and a session with many buckets on a
        # fuller disk ran out ("No writable volumes and no free volumes left"). Small volumes
        # and a fixed, generous count make that independent of the disk (volumes are sparse).
        "-master.volumeSizeLimitMB=64",
        "-volume.max=1000",
    ]
    if tls:
        args += [f"-s3.cert.file={tls.cert}", f"-s3.key.file={tls.key}"]
    with (folder / "weed.log").open("ab") as log:
        process = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=folder
        )
    return process, ports


def start_seaweed(*, tls: bool = True, timeout: float = 60.0, attempts: int = 3) -> SeaweedServer:
    """Start `weed mini` and return once /healthz answers 200 and a bucket can be made.

    Retried on a fresh set of ports: another process may take a port between our probe and
    weed's bind.
    """
    last = ""
    for _ in range(attempts):
        folder = Path(tempfile.mkdtemp(prefix="data4r2-weed-"))
        tls_files = TLSFiles.make(folder) if tls else None
        process, ports = _launch(folder, tls_files)
        server = SeaweedServer(folder=folder, process=process, ports=ports, tls=tls_files)
        if _wait_ready(server, timeout):
            return server
        last = server.log_tail()
        server.stop()
    raise ServerStartError(f"weed mini did not become ready; last log lines:\n{last}")


def _wait_ready(server: SeaweedServer, timeout: float) -> bool:
    """Poll until healthy and a CreateBucket works, the process dies, or the deadline passes."""
    deadline = time.monotonic() + timeout
    port = server.ports["s3.port"]
    probe = f"ready-{uuid.uuid4().hex[:12]}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        if _healthy(port):
            # healthz can answer before the filer accepts writes: prove one.
            with contextlib.suppress(Exception):
                client = server.client(connect_timeout=2, read_timeout=5)
                client.create_bucket(Bucket=probe)
                client.delete_bucket(Bucket=probe)
                return True
        time.sleep(0.05)  # polling interval; weed offers no readiness event to wait on
    return False
