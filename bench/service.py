"""The service's costs (issue 11): jobs per second `POST /v1/jobs/batch` accepts and the SQLite
queue hands out, and a remote sync's wall time against the embedded `sync` of the same repo.

    python bench/service.py [--files 10000] [--runs 3]

Servers: the fake Hub (in this process), SeaweedFS (`weed mini`, the tests' helper), and
`data4r2 serve` as a subprocess. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakehub import FakeHub, Repo  # noqa: E402
from servers.seaweed import free_ports, start_seaweed  # noqa: E402

from data4r2.domain import JobState  # noqa: E402
from data4r2.state.sqlite import SqliteJobStore  # noqa: E402

TOKEN = "bench-token"
MiB = 1024**2


def env_for(hub: FakeHub, weed: object, state: Path) -> dict[str, str]:
    return {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_HOME": str(state.parent / "hf-home"),
        "DATA4R2_STATE": str(state),
        "DATA4R2_API_TOKEN": TOKEN,
        "AWS_ACCESS_KEY_ID": weed.access_key,  # type: ignore[attr-defined]
        "AWS_SECRET_ACCESS_KEY": weed.secret_key,  # type: ignore[attr-defined]
        "AWS_REGION": "auto",
        "AWS_ENDPOINT_URL_S3": weed.endpoint,  # type: ignore[attr-defined]
        "PYTHONPATH": str(ROOT / "src"),
    }


def start_serve(
    env: dict[str, str], dest: str, workers: int, log: Path
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_ports(1)[0]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "data4r2",
            "serve",
            "--dest",
            dest,
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or proc.poll() is not None:
            raise SystemExit(f"serve did not start; see {log}")
        time.sleep(0.05)


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(60)


def intake(hub: FakeHub, weed: object, tmp: Path, files: int) -> tuple[float, float]:
    """(jobs/s accepted by /v1/jobs/batch, jobs/s claimed and finished on the SQLite store)."""
    repo = Repo(repo_id="bench/many", repo_type="dataset")
    for i in range(files):
        repo.add_file(f"f/{i:06d}.txt", b"x")
    repo.commit("many")
    hub.add(repo)
    state = tmp / "intake.sqlite3"
    env = env_for(hub, weed, state)
    proc, url = start_serve(env, str(tmp / "intake-dest"), 0, tmp / "intake-serve.log")
    try:
        http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=300)
        http.post(
            "/v1/jobs",
            json={"repo_id": "bench/many", "repo_type": "dataset", "path": "f/000000.txt"},
        )
        started = time.perf_counter()
        for first in range(0, files, 1000):
            batch = [
                {"repo_id": "bench/many", "repo_type": "dataset", "path": f"f/{i:06d}.txt"}
                for i in range(first, min(first + 1000, files))
            ]
            r = http.post("/v1/jobs/batch", json={"jobs": batch})
            r.raise_for_status()
        accepted = files / (time.perf_counter() - started)
    finally:
        stop(proc)
    store = SqliteJobStore(state)
    started = time.perf_counter()
    claimed = 0
    while (lease := store.claim("bench", lease_seconds=60)) is not None:
        store.finish(lease, JobState.DONE)
        claimed += 1
    rate = claimed / (time.perf_counter() - started)
    store.close()
    return accepted, rate


def wall(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def remote_vs_embedded(
    hub: FakeHub, weed: object, tmp: Path, runs: int
) -> tuple[list[float], list[float]]:
    rng = random.Random(7)
    repo = Repo(repo_id="bench/mixed", repo_type="model")
    for i in range(200):
        repo.add_file(f"small/{i:03d}.bin", rng.randbytes(64 * 1024))
    for i in range(2):
        repo.add_file(f"big/{i}.safetensors", rng.randbytes(48 * MiB), lfs=True)
    repo.commit("mixed")
    hub.add(repo)
    embedded, remote = [], []
    for run in range(runs):
        state = tmp / f"run{run}.sqlite3"
        env = env_for(hub, weed, state)
        bucket = weed.create_bucket()  # type: ignore[attr-defined]
        embedded.append(
            wall(
                [
                    sys.executable,
                    "-m",
                    "data4r2",
                    "sync",
                    "bench/mixed",
                    "--dest",
                    f"s3://{bucket}",
                    "--quiet",
                ],
                env,
            )
        )
        bucket = weed.create_bucket()  # type: ignore[attr-defined]
        proc, url = start_serve(env, f"s3://{bucket}", 8, tmp / f"serve{run}.log")
        try:
            remote.append(
                wall(
                    [
                        sys.executable,
                        "-m",
                        "data4r2",
                        "sync",
                        "bench/mixed",
                        "--worker-url",
                        url,
                        "--quiet",
                    ],
                    env,
                )
            )
        finally:
            stop(proc)
    return embedded, remote


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    weed = start_seaweed(tls=False)
    try:
        with tempfile.TemporaryDirectory() as folder, FakeHub(page_size=1000) as hub:
            tmp = Path(folder)
            accepted, claimed = intake(hub, weed, tmp, args.files)
            embedded, remote = remote_vs_embedded(hub, weed, tmp, args.runs)
    finally:
        weed.stop()
    e, r = statistics.median(embedded), statistics.median(remote)
    rows = [
        (
            f"jobs accepted by POST /v1/jobs/batch ({args.files} files, 1,000 a batch)",
            f"{accepted:,.0f} jobs/s",
        ),
        ("jobs claimed + finished on SQLite (one thread)", f"{claimed:,.0f} jobs/s"),
        (f"embedded `sync` (200 × 64 KiB + 2 × 48 MiB), median of {args.runs}", span(embedded)),
        ("remote `sync --worker-url` (serve --workers 8), same repo", span(remote)),
        ("remote / embedded (medians)", f"{r / e:.2f}"),
    ]
    print("| measure | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")


def span(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s [{min(values):.2f}–{max(values):.2f}]"


if __name__ == "__main__":
    main()
