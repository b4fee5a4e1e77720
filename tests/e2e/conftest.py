"""End-to-end fixtures: the real CLI as a subprocess, the fake Hub, the strict R2 double."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fakehub import FakeHub, Repo
from servers.r2_fixtures import R2Double as R2Double  # re-exported for the tests

MiB = 1024**2
PART = 5 * MiB  # the smallest legal part, so a multipart file stays small in tests


def blob(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


MODEL_FILES: dict[str, tuple[bytes, bool]] = {
    "config.json": (b'{"model_type": "gpt2", "n_layer": 2}\n', False),
    "README.md": (b"# tiny model\n" * 50, False),
    "tokenizer/vocab.json": (b'{"a": 1, "b": 2}\n' * 300, False),
    "docs/my notes #1 \u00e9.txt": (b"unicode and spaces\n", False),
    "empty.txt": (b"", False),
    "weights/small.safetensors": (blob(1, 70_000), True),
    "weights/model.safetensors": (blob(2, 3 * PART + 12_345), True),  # 4 parts
}

DATASET_FILES: dict[str, tuple[bytes, bool]] = {
    "README.md": (b"---\nlicense: mit\n---\n# data\n", False),
    "data/train/part-00000.parquet": (blob(3, 2 * PART + 1), True),
    "data/test/part-00000.parquet": (blob(4, 100_000), True),
}


@dataclass
class Env:
    hub: FakeHub
    tmp: Path
    state: Path
    base_env: dict[str, str] = field(default_factory=dict)

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "data4r2", *args],
            env={**self.base_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def popen(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "data4r2", *args],
            env={**self.base_env, **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )


def make_repo(repo_id: str, repo_type: str, files: dict[str, tuple[bytes, bool]]) -> Repo:
    repo = Repo(repo_id=repo_id, repo_type=repo_type)
    for path, (data, lfs) in files.items():
        repo.add_file(path, data, lfs=lfs)
    repo.commit("initial")
    return repo


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub(page_size=3) as h:  # a tiny page size: the tree listing must follow Link
        h.add(make_repo("acme/tiny-model", "model", MODEL_FILES))
        h.add(make_repo("acme/tiny-data", "dataset", DATASET_FILES))
        yield h


@pytest.fixture
def cli(hub: FakeHub, tmp_path: Path) -> Env:
    keep = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH")
    }
    base = {
        **keep,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": str(tmp_path / "hf-home"),  # no token file of the machine leaks in
        "DATA4R2_STATE": str(tmp_path / "state.sqlite3"),
        "DATA4R2_PART_SIZE": str(PART),
        "PYTHONUNBUFFERED": "1",
    }
    return Env(hub=hub, tmp=tmp_path, state=tmp_path / "state.sqlite3", base_env=base)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
