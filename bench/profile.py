"""Profile one `data4r2 sync` of the 1 GiB file under py-spy and say where the CPU goes.

    python bench/profile.py                              # speedscope JSON in bench/results/
    python bench/profile.py --format flamegraph --native --workdir /var/tmp/bench

Open the .speedscope.json at https://www.speedscope.app (or `--format flamegraph` for an SVG).
The top frames by own ("self") samples, summed over all threads, are printed at the end.
py-spy samples only threads that are running (idle waits are left out unless --idle).
Note: this file shadows the stdlib `profile` module for scripts in bench/; nothing here uses it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import measure
from backends import FakeHub, start_s3
from dataset import Workdir, parse_size
from memory import one_file_spec
from rows import BY_KEY, Ctx
from runner import check_bucket

HERE = Path(__file__).resolve().parent


def top_frames(speedscope: Path, n: int = 25) -> list[tuple[float, str]]:
    """(share of samples, frame) for the frames with the most self samples, all threads."""
    doc = json.loads(speedscope.read_text())
    frames = doc["shared"]["frames"]
    counts: Counter[int] = Counter()
    total = 0.0
    for prof in doc["profiles"]:
        weights = prof.get("weights") or [1] * len(prof["samples"])
        for stack, w in zip(prof["samples"], weights, strict=False):
            # --subprocesses adds a root frame per process; a sample with nothing under it
            # carries no Python frame to attribute, so it is left out of the shares.
            if stack and not frames[stack[-1]].get("name", "").startswith("process "):
                counts[stack[-1]] += w
                total += w
    out = []
    for idx, c in counts.most_common(n):
        f = frames[idx]
        where = f"{Path(f.get('file', '?')).name}:{f.get('line', '?')}"
        out.append((c / total if total else 0.0, f"{f.get('name', '?')} ({where})"))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--size", default="1GiB", help="size of the one file (default 1GiB)")
    ap.add_argument("--server", default="rclone", choices=["rclone", "weed"])
    ap.add_argument("--workdir", type=Path, help="reuse generated files here (default: temp)")
    ap.add_argument("--format", default="speedscope", choices=["speedscope", "flamegraph", "raw"])
    ap.add_argument("--rate", type=int, default=250, help="samples per second (py-spy -r)")
    ap.add_argument("--native", action="store_true", help="include C frames (py-spy --native)")
    ap.add_argument("--idle", action="store_true", help="also sample waiting threads")
    ap.add_argument("--out", type=Path, help="output file (default bench/results/profile-*)")
    ap.add_argument("--data4r2-arg", action="append", default=[], help="extra sync argument")
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args(argv)
    if shutil.which("py-spy") is None:
        sys.exit("py-spy is not installed: pip install py-spy")

    root = args.workdir or Path(tempfile.mkdtemp(prefix="data4r2-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    ext = {"speedscope": "speedscope.json", "flamegraph": "svg", "raw": "txt"}[args.format]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or HERE / "results" / f"profile-{stamp}.{ext}"
    out.parent.mkdir(parents=True, exist_ok=True)

    wd = Workdir(root)
    repo_dir, infos = wd.repo(one_file_spec(parse_size(args.size)))
    hub = FakeHub.start(repo_dir, root / "logs", infos)
    s3 = start_s3(args.server, root / "logs")
    scratch = root / "scratch" / f"profile-{uuid.uuid4().hex[:6]}"
    scratch.mkdir(parents=True)
    try:
        bucket = s3.new_bucket()
        ctx = Ctx(hub, s3, bucket, scratch, repo_dir, tuple(infos), tuple(args.data4r2_arg))
        (cmd,) = BY_KEY["data4r2"].commands(ctx)
        spy = ["py-spy", "record", "--format", args.format, "--rate", str(args.rate)]
        spy += ["--output", str(out), "--subprocesses"]
        spy += ["--native"] if args.native else []
        spy += ["--idle"] if args.idle else []
        step = measure.run(
            [*spy, "--", *cmd.argv], env=cmd.env, log_dir=scratch, timeout=args.timeout
        )
        error = "" if step.ok else f"exit {step.exit_code}: {step.stderr_tail[-600:]}"
        error = error or check_bucket(s3, bucket, infos, False, BY_KEY["data4r2"].key_prefix)
    finally:
        hub.stop()
        s3.stop()
        if args.workdir is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    size = sum(i.size for i in infos.values())
    print(f"data4r2 sync of 1 × {args.size} into {args.server} under py-spy ({args.rate} Hz):")
    gib = size / 2**30
    print(
        f"  wall {step.wall:.2f} s, CPU {step.cpu / gib:.2f} s/GiB "
        "(py-spy slows it down and its own CPU is included)"
    )
    print(f"  profile: {out}")
    if error:
        print(f"  FAILED: {error}")
        return 1
    if args.format == "speedscope":
        print("  top frames by self samples (all threads):")
        for share, name in top_frames(out):
            print(f"    {share:6.1%}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
