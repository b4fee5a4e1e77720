"""How long a re-sync takes when nothing changed: N small files, fake Hub → SeaweedFS.

    python bench/resync.py [--files 4000] [--size 1024] [--runs 3] [--before SRC]

Copies a repo of N regular files once, then times `data4r2 sync` again three ways:
the default (the manifest: one GET of the refs and one of the manifest), `--verify-objects`
(LIST the prefix, HEAD every object whose size matches: what every re-sync did before
manifests), and, with `--before /path/to/older/src`, that older source tree itself. Each
re-sync is a real CLI process; the time is its wall time, interpreter start included. The CLI
talks to SeaweedFS through the R2 double (tests/servers/r2proxy.py, TLS), as the e2e tests
do: its journal counts the requests each re-sync sent.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakehub import FakeHub, Repo  # noqa: E402
from servers.r2_fixtures import open_double  # noqa: E402
from servers.seaweed import start_seaweed  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4000)
    ap.add_argument("--size", type=int, default=1024, help="bytes per file")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--before", type=Path, help="an older src/ to time the same re-sync with")
    args = ap.parse_args()

    repo = Repo(repo_id="bench/small-files", repo_type="model")
    for i in range(args.files):
        repo.add_file(f"data/{i // 500:03d}/f{i:05d}.txt", os.urandom(args.size), lfs=False)
    repo.commit("initial")

    weed = start_seaweed(tls=True)
    tmp = Path(tempfile.mkdtemp(prefix="data4r2-resync-"))
    try:
        with FakeHub(rate_limits=None) as hub, open_double(weed) as r2:
            hub.add(repo)
            bucket = weed.create_bucket()
            base = {
                "PATH": os.environ["PATH"],
                "HOME": str(tmp),
                "HF_HOME": str(tmp / "hf"),
                "HF_ENDPOINT": hub.url,
                "DATA4R2_STATE": str(tmp / "state.sqlite3"),
                **r2.env(),
            }
            src = str(ROOT / "src")

            def sync(*extra: str, pythonpath: str = src) -> tuple[float, dict[str, object]]:
                argv = [sys.executable, "-m", "data4r2", "sync", repo.repo_id]
                argv += ["--dest", f"s3://{bucket}", "--json", *extra]
                started = time.perf_counter()
                res = subprocess.run(
                    argv, env={**base, "PYTHONPATH": pythonpath}, capture_output=True, text=True
                )
                wall = time.perf_counter() - started
                if res.returncode != 0:
                    raise SystemExit(f"sync failed: {res.stderr}")
                return wall, json.loads(res.stdout.splitlines()[-1])

            wall, first = sync()
            print(f"first sync: copied {first['copied']} files in {wall:.2f} s")
            rows = [
                ("manifest (default)", (), src),
                ("--verify-objects", ("--verify-objects",), src),
            ]
            if args.before:
                rows.append((f"before ({args.before})", (), str(args.before)))
            print(
                f"\n| re-sync of {args.files:,} unchanged files | wall s (median of {args.runs}) "
                "| LIST | HEAD | GET | PUT |"
            )
            print("|---|---|---|---|---|---|")
            for name, extra, path in rows:
                walls = []
                for _ in range(args.runs):
                    r2.proxy.reset()
                    wall, doc = sync(*extra, pythonpath=path)
                    assert doc["copied"] == 0 and doc["skipped"] == args.files, doc
                    walls.append(wall)
                ops = Counter(e.op for e in r2.proxy.journal)
                print(
                    f"| {name} | {statistics.median(walls):.2f} [{min(walls):.2f}–{max(walls):.2f}]"
                    f" | {ops['ListObjects']} | {ops['HeadObject']} | {ops['GetObject']}"
                    f" | {ops['PutObject']} |"
                )
    finally:
        weed.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
