"""Small files, two source trees side by side: files/s and client CPU per file, interleaved.

    python bench/ab_small.py --src ../main/src --src src [--files 2000] [--size 4KiB] [--runs 5]
    python bench/ab_small.py --src src --files 3 --runs 5   # a 3-file sync, start-up included

One fake Hub process serving `--files` regular (non-LFS) files of `--size`, SeaweedFS over
plain http, a fresh bucket and state file per run; each round runs every `--src` once, in
turn, so every tree sees the same machine load. Client CPU is user + sys of the `data4r2`
process (wait4). A run counts only if it exits 0 and the bucket then holds every file.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backends import TESTS
from dataset import parse_size
from servers.seaweed import SeaweedServer, start_seaweed


def make_repo(root: Path, files: int, size: int) -> None:
    if (root / "small").exists():
        return
    (root / "small").mkdir(parents=True)
    for i in range(files):
        (root / "small" / f"f{i:05d}.bin").write_bytes(random.Random(i).randbytes(size))


def one_run(src: str, hub_url: str, weed: SeaweedServer, files: int) -> tuple[float, float]:
    bucket = weed.create_bucket()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": tmp,
            "PYTHONPATH": src,
            "HF_ENDPOINT": hub_url,
            "HF_HOME": f"{tmp}/hf",
            "AWS_ACCESS_KEY_ID": weed.access_key,
            "AWS_SECRET_ACCESS_KEY": weed.secret_key,
            "AWS_REGION": weed.region,
        }
        argv = [
            sys.executable, "-m", "data4r2", "sync", "bench/small", "--dest", f"s3://{bucket}",
            "--endpoint-url", weed.endpoint, "--state", f"{tmp}/state.sqlite", "--quiet",
        ]  # fmt: skip
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    keys = sum(
        len(page.get("Contents", []))
        for page in weed.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    )
    if done.returncode != 0 or keys != files:
        raise RuntimeError(f"{src}: exit {done.returncode}, {keys}/{files} objects: {done.stderr}")
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--src", action="append", required=True, help="a source tree (repeat)")
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--size", default="4KiB")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "ab-small")
    args = ap.parse_args()
    size = parse_size(args.size)
    root = args.workdir / f"{args.files}x{size}"
    make_repo(root, args.files, size)
    hub = subprocess.Popen(
        [sys.executable, "-m", "fakehub", "--repo-dir", str(root), "--port", "0", "--print-url",
         "--repo-id", "bench/small", "--lfs-threshold", str(max(size, 1024**2))],
        cwd=TESTS, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert hub.stdout is not None
    url = hub.stdout.readline().strip()
    weed = start_seaweed(tls=False)
    results: dict[str, list[tuple[float, float]]] = {src: [] for src in args.src}
    try:
        for _ in range(args.runs):
            for src in args.src:
                wall, cpu = one_run(src, url, weed, args.files)
                results[src].append((wall, cpu))
                print(f"{src}: {wall:.2f} s, {args.files / wall:.0f} files/s, CPU {cpu:.2f} s")
    finally:
        weed.stop()
        hub.terminate()
        hub.wait()
    print(f"\n{args.files} × {args.size}, medians of {args.runs} interleaved runs [min–max]\n")
    print("| source | wall s | files/s | client CPU s | client CPU ms/file |")
    print("|---|---|---|---|---|")
    for src, runs in results.items():
        walls = [w for w, _ in runs]
        cpus = [c for _, c in runs]
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(
            f"| {src} | {wall:.2f} [{min(walls):.2f}–{max(walls):.2f}] | {args.files / wall:.0f} "
            f"| {cpu:.2f} [{min(cpus):.2f}–{max(cpus):.2f}] | {1000 * cpu / args.files:.2f} |"
        )


if __name__ == "__main__":
    main()
