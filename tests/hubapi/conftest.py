"""A mirror as users reach it: the fake Hub, a real `data4r2 sync` into a destination (a
folder, or SeaweedFS as the bucket), and a real `data4r2 serve` whose Hub-compatible API the
real huggingface_hub client reads through `HF_ENDPOINT`, in its own process and HF_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fakehub import FakeHub, Repo
from servers.seaweed import SeaweedServer

from tests.e2e.conftest import DATASET_FILES, MODEL_FILES, PART, make_repo
from tests.service.conftest import Service

TOKEN = "hubapi-" + "k" * 40
MODEL, DATASET = "acme/tiny-model", "acme/tiny-data"

Put = Callable[[str, bytes], None]


def write_manifest(put: Put, prefix: str, repo: Repo, revision: str = "main") -> str:
    """The manifest and refs a fully verified sync publishes (docs/mirror-api.md).

    Stand-in for the engine's manifest writer, which lands on another branch: same keys and
    format, written after the sync, so the served API reads what a real sync leaves.
    """
    commit = repo.resolve(revision)
    assert commit is not None
    base = f"{prefix}/" if prefix else ""
    base += f"{repo.repo_type}s/{repo.repo_id}/"
    files = [
        {
            "path": path,
            "size": blob.size,
            "git_sha1": blob.oid,
            "sha256": blob.sha256,
            "lfs": blob.lfs,
            "key": base + path,
        }
        for path, blob in sorted(commit.files.items())
    ]
    manifest = {
        "format": "data4r2-manifest",
        "version": 1,
        "repo_id": repo.repo_id,
        "repo_type": repo.repo_type,
        "commit": commit.sha,
        "revision": revision,
        "created_at": "2026-12-04T17:00:00Z",
        "files": files,
    }
    put(f"{base}.data4r2/manifests/{commit.sha}.json", json.dumps(manifest).encode())
    refs = {
        "format": "data4r2-refs",
        "version": 1,
        "refs": {revision: commit.sha},
        "latest": commit.sha,
    }
    put(f"{base}.data4r2/refs.json", json.dumps(refs).encode())
    return commit.sha


@dataclass
class Mirror:
    """A served mirror and a way to run the huggingface_hub client against it."""

    service: Service
    hub: FakeHub
    kind: str  # "folder" | "s3"
    tmp: Path

    @property
    def url(self) -> str:
        return self.service.url

    def client(
        self,
        code: str,
        token: str | None = TOKEN,
        timeout: float = 120,
        endpoint: str | None = None,
    ) -> Any:
        """Run `code` (which sets `result`) in a fresh Python with HF_ENDPOINT at the mirror
        (or `endpoint`); `result` comes back through JSON; an exception comes back as
        {"raised": name}."""
        home = self.tmp / f"hf-home-{os.urandom(4).hex()}"
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
        env |= {
            "HF_ENDPOINT": endpoint or self.url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HOME": str(home),
            "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1" if token is None else "0",
        }
        if token is not None:
            env["HF_TOKEN"] = token
        script = "\n".join(
            [
                "import json, sys",
                "from pathlib import Path",
                "import huggingface_hub as hh",
                "from huggingface_hub import HfApi",
                "try:",
                textwrap.indent(textwrap.dedent(code), "    "),
                "except Exception as e:",
                "    result = {'raised': type(e).__name__, 'message': str(e)[:500]}",
                "print('RESULT ' + json.dumps(result))",
            ]
        )
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
        assert done.returncode == 0 and lines, done.stdout + done.stderr
        return json.loads(lines[-1][len("RESULT ") :])


def _sync(env: dict[str, str], dest: str, repo: str, repo_type: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "data4r2", "sync", repo, repo_type, "--dest", dest],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with FakeHub(page_size=3) as h:  # small pages: the sync must follow Link
        h.add(make_repo(MODEL, "model", MODEL_FILES))
        h.add(make_repo(DATASET, "dataset", DATASET_FILES))
        yield h


def serve_mirror(
    hub: FakeHub,
    tmp: Path,
    dest: str,
    extra_env: dict[str, str],
    put: Put,
    prefix: str,
    repos: tuple[tuple[str, str], ...] = (("model", MODEL), ("dataset", DATASET)),
) -> Service:
    """Sync `repos` from `hub` into `dest` with the real CLI, publish their manifests, and
    start `data4r2 serve` on it (also used by bench/hub_api.py)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    env = {
        **keep,
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": str(tmp / "hf-home-server"),
        "DATA4R2_STATE": str(tmp / "state.sqlite3"),
        "DATA4R2_PART_SIZE": str(PART),
        "DATA4R2_API_TOKEN": TOKEN,
        "PYTHONUNBUFFERED": "1",
        **extra_env,
    }
    for repo_type, repo_id in repos:
        _sync(env, dest, repo_id, repo_type)
        repo = hub.get_repo(repo_type, repo_id)
        assert repo is not None
        write_manifest(put, prefix, repo)
    return Service(env=env, args=["--dest", dest, "--workers", "1"], tmp=tmp).start()


@pytest.fixture(scope="module", params=["folder", "s3"])
def mirror(
    request: pytest.FixtureRequest,
    hub: FakeHub,
    seaweed: SeaweedServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Mirror]:
    """The two model and dataset repos synced and served: from a folder (the server streams
    the bytes) and from SeaweedFS (the server redirects to a presigned URL)."""
    tmp = tmp_path_factory.mktemp(f"hubapi-{request.param}")
    if request.param == "folder":
        root = tmp / "mirror"

        def put(key: str, data: bytes) -> None:
            path = root / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        service = serve_mirror(hub, tmp, str(root), {}, put, "")
    else:
        bucket, s3 = seaweed.create_bucket(), seaweed.client()

        def put(key: str, data: bytes) -> None:
            s3.put_object(Bucket=bucket, Key=key, Body=data)

        creds = {
            "AWS_ACCESS_KEY_ID": seaweed.access_key,
            "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
            "AWS_DEFAULT_REGION": seaweed.region,
            "AWS_ENDPOINT_URL_S3": seaweed.endpoint,
        }
        service = serve_mirror(hub, tmp, f"s3://{bucket}/mirror", creds, put, "mirror")
    try:
        yield Mirror(service, hub, request.param, tmp)
    finally:
        if service.proc is not None:
            service.proc.kill()
            service.proc.wait()
