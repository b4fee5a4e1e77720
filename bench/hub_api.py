"""`snapshot_download` from the mirror (`data4r2 serve`'s Hub-compatible API) vs from the Hub.

The same repo on the fake Hub, synced by the real `data4r2 sync` into a folder and into
SeaweedFS, each served by a real `data4r2 serve`; huggingface_hub downloads it through
HF_ENDPOINT with an empty cache each run. Times are measured inside the client process
around the `snapshot_download` call (imports excluded); the median of --runs is printed.

    python bench/hub_api.py                 # 1 x 64 MiB LFS + 200 x 4 KiB files, 3 runs
    python bench/hub_api.py --lfs-mib 256 --small 1000 --runs 5

The manifest and refs are written by the test suite's stand-in (tests/hubapi/conftest.py)
until the engine's manifest writer is on this branch; the served API reads the same format.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

MAIN = Path(__file__).resolve().parent.parent
for extra in (MAIN, MAIN / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

from fakehub import FakeHub, Repo  # noqa: E402
from servers.seaweed import SeaweedServer, start_seaweed  # noqa: E402

from tests.hubapi.conftest import TOKEN, Put, serve_mirror  # noqa: E402

REPO = "acme/bench-model"
CLIENT = """
import sys, time
import huggingface_hub as hh
start = time.perf_counter()
hh.snapshot_download(sys.argv[1])
print(time.perf_counter() - start)
"""


def _download(endpoint: str, tmp: Path, token: str | None) -> float:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    env |= {
        "HF_ENDPOINT": endpoint,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HOME": tempfile.mkdtemp(dir=tmp),
    }
    if token:
        env["HF_TOKEN"] = token
    done = subprocess.run(
        [sys.executable, "-c", CLIENT, REPO], env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description="snapshot_download: mirror vs fake Hub")
    parser.add_argument("--lfs-mib", type=int, default=64)
    parser.add_argument("--small", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    repo = Repo(repo_id=REPO, repo_type="model")
    repo.add_file("model.safetensors", os.urandom(args.lfs_mib * 1024 * 1024), lfs=True)
    for i in range(args.small):
        repo.add_file(f"small/{i:05d}.json", os.urandom(4096))
    repo.commit("bench")
    seaweed = start_seaweed(tls=False)
    try:
        with FakeHub() as hub, tempfile.TemporaryDirectory() as folder:
            hub.add(repo)
            times = _measure(hub, seaweed, Path(folder), args.runs)
    finally:
        seaweed.stop()
    total = args.lfs_mib * 1024 * 1024 + args.small * 4096
    print(f"\n`snapshot_download` of {1 + args.small} files, {total / 1e6:.1f} MB, ", end="")
    print(f"median of {args.runs} runs, empty cache each\n")
    print("| source | median s | min-max s | MB/s |")
    print("|---|---|---|---|")
    for label, ts in times.items():
        median = statistics.median(ts)
        print(
            f"| {label} | {median:.2f} | {min(ts):.2f}-{max(ts):.2f} | {total / 1e6 / median:.0f} |"
        )
    return 0


def _measure(hub: FakeHub, seaweed: SeaweedServer, tmp: Path, runs: int) -> dict[str, list[float]]:
    times = {"fake Hub (origin + CDN)": [_download(hub.url, tmp, None) for _ in range(runs)]}
    root = tmp / "mirror"

    def put_file(key: str, data: bytes) -> None:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)

    bucket, s3 = seaweed.create_bucket(), seaweed.client()

    def put_object(key: str, data: bytes) -> None:
        s3.put_object(Bucket=bucket, Key=key, Body=data)

    creds = {
        "AWS_ACCESS_KEY_ID": seaweed.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweed.secret_key,
        "AWS_DEFAULT_REGION": seaweed.region,
        "AWS_ENDPOINT_URL_S3": seaweed.endpoint,
    }
    setups: list[tuple[str, str, dict[str, str], Put, str]] = [
        ("mirror: folder, streamed by serve", str(root), {}, put_file, ""),
        ("mirror: SeaweedFS, 302 to presigned", f"s3://{bucket}/m", creds, put_object, "m"),
    ]
    for n, (label, dest, env, put, prefix) in enumerate(setups):
        work = tmp / f"serve-{n}"
        work.mkdir()
        service = serve_mirror(hub, work, dest, env, put, prefix, repos=(("model", REPO),))
        try:
            times[label] = [_download(service.url, tmp, TOKEN) for _ in range(runs)]
        finally:
            service.stop()
    return times


if __name__ == "__main__":
    raise SystemExit(main())
