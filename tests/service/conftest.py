"""`data4r2 serve` as an operator runs it: a real subprocess on a free port, the fake Hub,
SeaweedFS as the bucket; tests talk to it over HTTP (httpx) and through the real CLI."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fakehub import FakeHub
from servers.r2_fixtures import R2Double
from servers.seaweed import free_ports

from tests.e2e.conftest import DATASET_FILES, MODEL_FILES, PART, make_repo

TOKEN = "t0k3n-" + "s" * 40  # what the tests' server requires


@dataclass
class Service:
    """One running `data4r2 serve` (restartable) and how to reach it."""

    env: dict[str, str]
    args: list[str]
    tmp: Path
    port: int = 0
    proc: subprocess.Popen[str] | None = None
    logs: list[Path] = field(default_factory=list)
    bucket: str = ""
    r2: R2Double | None = None

    def objects(self, prefix: str) -> dict[str, bytes]:
        """Every object under `prefix` in the test bucket, by key relative to it."""
        assert self.r2 is not None
        client, out = self.r2.client(), {}
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                body = client.get_object(Bucket=self.bucket, Key=obj["Key"])["Body"].read()
                out[obj["Key"][len(prefix) :]] = body
        return out

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def start(self, *extra: str, env: dict[str, str] | None = None) -> Service:
        self.port = free_ports(1)[0]
        log = self.tmp / f"serve-{len(self.logs)}.log"
        self.logs.append(log)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "data4r2",
                "serve",
                "--port",
                str(self.port),
                *self.args,
                *extra,
            ],
            env={**self.env, **(env or {})},
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.log()
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve never answered /healthz\n" + self.log()
            time.sleep(0.05)

    def log(self) -> str:
        return self.logs[-1].read_text() if self.logs else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        self.proc = None
        return code

    def popen(self, *args: str) -> subprocess.Popen[str]:
        """Another data4r2 process on this host (e.g. `worker`), its output in the test's folder."""
        log = self.tmp / f"proc-{len(self.logs)}.log"
        self.logs.append(log)
        return subprocess.Popen(
            [sys.executable, "-m", "data4r2", *args],
            env=self.env,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def cli(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """The data4r2 CLI as a laptop runs it against this service."""
        return subprocess.run(
            [sys.executable, "-m", "data4r2", *args],
            env={**self.env, "WORKER_URL": self.url, "DATA4R2_API_TOKEN": TOKEN, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def started_hub() -> FakeHub:
    h = FakeHub(page_size=50)
    h.add(make_repo("acme/tiny-model", "model", MODEL_FILES))
    h.add(make_repo("acme/tiny-data", "dataset", DATASET_FILES))
    return h


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with started_hub() as h:
        yield h


def base_env(hub: FakeHub, r2: R2Double, tmp: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    return {
        **keep,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": str(tmp / "hf-home"),
        "DATA4R2_STATE": str(tmp / "state.sqlite3"),
        "DATA4R2_PART_SIZE": str(PART),
        **r2.env(),  # the strict R2 double in front of SeaweedFS: R2's rules and a journal
        "PYTHONUNBUFFERED": "1",
    }


@pytest.fixture
def service(hub: FakeHub, r2: R2Double, bucket: str, tmp_path: Path) -> Iterator[Service]:
    """Configured, not started: each test starts it with the flags it needs."""
    with configured(hub, r2, bucket, tmp_path) as svc:
        yield svc


@contextlib.contextmanager
def configured(hub: FakeHub, r2: R2Double, bucket: str, tmp: Path) -> Iterator[Service]:
    env = {**base_env(hub, r2, tmp), "DATA4R2_API_TOKEN": TOKEN}
    svc = Service(env=env, args=["--dest", f"s3://{bucket}/mirror"], tmp=tmp)
    svc.bucket, svc.r2 = bucket, r2
    try:
        yield svc
    finally:
        if svc.proc is not None:
            svc.proc.kill()
            svc.proc.wait()
