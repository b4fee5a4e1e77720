"""Resume after `kill -9`: how much of the file the re-run asks the Hub for, and its wall time.

    python bench/resume.py [--mib 512] [--src /path/to/other/src ...]

One LFS file of `--mib` MiB on an in-process fake Hub (its journal counts the body bytes
it serves), SeaweedFS over plain http. For each source tree (`--src`, default: whatever
`data4r2` this interpreter imports): a fresh sync (wall), then a sync killed with SIGKILL once
~60 % of its parts are recorded in the state file, then the same command again: the Hub
bytes served to the re-run (issue 13 asks ≤ 45 % of the file), its wall time against the
fresh run's, and whether the object holds the file's bytes. Source trees are run one after
the other on the same servers, so compare rows of one invocation only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

from backends import TESTS  # noqa: F401 - puts tests/ on sys.path
from fakehub import FakeHub, Repo
from servers.seaweed import SeaweedServer, start_seaweed

PART = 16 * 1024**2  # data4r2's default part size
KEY = "models/bench/resume/big.bin"


def _recorded_parts(state: str) -> int:
    try:
        con = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=1)
        try:
            return int(con.execute("SELECT count(*) FROM parts").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:  # not created yet
        return 0


def run_tree(src: str | None, hub: FakeHub, weed: SeaweedServer, data: bytes) -> dict[str, float]:
    size = len(data)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": tmp,
            "HF_ENDPOINT": hub.url,
            "HF_HOME": f"{tmp}/hf",
            "AWS_ACCESS_KEY_ID": weed.access_key,
            "AWS_SECRET_ACCESS_KEY": weed.secret_key,
            "AWS_REGION": weed.region,
            "PYTHONPATH": src or os.environ.get("PYTHONPATH", ""),
        }

        def argv(bucket: str, state: str) -> list[str]:
            return [
                sys.executable, "-m", "data4r2", "sync", "bench/resume",
                "--dest", f"s3://{bucket}", "--endpoint-url", weed.endpoint,
                "--state", state, "--quiet",
            ]  # fmt: skip

        def served(since: int) -> int:
            return sum(e.body_length for e in hub.journal[since:] if e.route == "cdn")

        bucket, mark, start = weed.create_bucket(), len(hub.journal), time.monotonic()
        subprocess.run(argv(bucket, f"{tmp}/fresh.sqlite"), env=env, check=True)
        fresh = time.monotonic() - start

        bucket, state = weed.create_bucket(), f"{tmp}/killed.sqlite"
        target = int(0.6 * size) // PART
        proc = subprocess.Popen(argv(bucket, state), env=env)
        while _recorded_parts(state) < target and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at = _recorded_parts(state) * PART / size

        mark, start = len(hub.journal), time.monotonic()
        subprocess.run(argv(bucket, state), env=env, check=True)
        rerun = time.monotonic() - start
        body = weed.client().get_object(Bucket=bucket, Key=KEY)["Body"].read()
        return {
            "fresh_s": fresh,
            "killed_at": killed_at,
            "rerun_s": rerun,
            "rerun_hub_share": served(mark) / size,
            "verified": float(hashlib.sha256(body).digest() == hashlib.sha256(data).digest()),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mib", type=int, default=512, help="file size in MiB (default 512)")
    ap.add_argument("--src", action="append", help="a source tree to put first on PYTHONPATH")
    args = ap.parse_args()
    data = os.urandom(args.mib * 1024**2)
    repo = Repo(repo_id="bench/resume")
    repo.add_file("big.bin", data, lfs=True)
    repo.commit("one big file")
    weed = start_seaweed(tls=False)
    try:
        with FakeHub() as hub:
            hub.add(repo)
            print(
                "| source | fresh s | killed at | re-run s | re-run / fresh "
                "| Hub bytes of the re-run | verified |"
            )
            print("|---|---|---|---|---|---|---|")
            for src in args.src or [None]:
                r = run_tree(src, hub, weed, data)
                print(
                    f"| {src or 'installed'} | {r['fresh_s']:.2f} | {r['killed_at']:.0%} | "
                    f"{r['rerun_s']:.2f} | {r['rerun_s'] / r['fresh_s']:.2f} | "
                    f"{r['rerun_hub_share']:.1%} | {'yes' if r['verified'] else 'NO'} |",
                    flush=True,
                )
    finally:
        weed.stop()


if __name__ == "__main__":
    main()
