"""Peak RSS of `data4r2 sync` for one big file, at several sizes, with default settings.

Memory must not grow with file size (issue 5: ≤ 200 MiB, flat from 1 GiB to 4 GiB). Each
size is its own one-file repo behind its own fake hub; the sync runs with no tuning flags.

    python bench/memory.py                 # 1 GiB and 4 GiB into `rclone serve s3`
    python bench/memory.py --sizes 64MiB,256MiB --server weed --workdir /var/tmp/bench
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import runner
from backends import FakeHub, S3Server, start_s3
from dataset import Group, RepoSpec, Workdir, parse_size
from report import memory_table
from rows import BY_KEY


def one_file_spec(size: int) -> RepoSpec:
    # Same path as the main repo's big file: a 1 GiB run reuses its bytes on disk.
    return RepoSpec(f"single-{size}", (Group("large", 1, size),))


def measure_sizes(
    wd: Workdir,
    sizes: list[int],
    s3: S3Server,
    *,
    timeout: float,
    data4r2_args: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    """One `data4r2 sync` per size; a dict per size with wall, cpu, maxrss_mib, ok, error."""
    out = []
    for size in sizes:
        repo_dir, infos = wd.repo(one_file_spec(size))
        hub = FakeHub.start(repo_dir, wd.root / "logs", infos)
        try:
            rec = runner.run_row(
                row=BY_KEY["data4r2"],
                set_name=f"memory-{size}",
                run_index=0,
                hub=hub,
                s3=s3,
                repo_dir=repo_dir,
                infos=infos,
                workdir=wd.root,
                timeout=timeout,
                verify_content=False,
                data4r2_args=data4r2_args,
            )
        finally:
            hub.stop()
        out.append(
            {
                "server": s3.name,
                "bytes": size,
                "ok": rec.ok,
                "error": rec.error,
                "wall": rec.wall,
                "cpu": rec.cpu,
                "maxrss_mib": rec.maxrss_mib,
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", default="1GiB,4GiB", help="comma-separated file sizes")
    ap.add_argument("--server", default="rclone", choices=["rclone", "weed"])
    ap.add_argument("--workdir", type=Path, help="reuse generated files here (default: a temp dir)")
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    root = args.workdir or Path(tempfile.mkdtemp(prefix="data4r2-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    s3 = start_s3(args.server, root / "logs")
    try:
        results = measure_sizes(Workdir(root), sizes, s3, timeout=args.timeout)
    finally:
        s3.stop()
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
    print(memory_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
