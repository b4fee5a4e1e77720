"""`python -m fakehub --repo-dir DIR --port 0 --print-url`: serve a directory as one repo.

Every file under DIR becomes a file of `bench/repo` (model); files above 1 MiB are LFS. Hashes
are computed once and cached in a sidecar (`DIR/.fakehub-hashes.json` by default), so a restart
only stats the files. Prints the Hub URL on stdout line 1, serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from .hashing import HashCache
from .ratelimit import RateLimits
from .repo import REPO_TYPES, Repo
from .server import FakeHub

SIDECAR = ".fakehub-hashes.json"


def build_repo_from_dir(
    root: Path,
    *,
    repo_id: str = "bench/repo",
    repo_type: str = "model",
    lfs_threshold: int = 1024 * 1024,
    xet: bool = False,
    cache: HashCache | None = None,
) -> Repo:
    """A repo with every file under `root` (files larger than `lfs_threshold` as LFS)."""
    repo = Repo(repo_id=repo_id, repo_type=repo_type, hash_cache=cache)  # type: ignore[arg-type]
    skip = {cache.path.resolve()} if cache is not None else set()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.resolve() in skip or path.name.startswith(SIDECAR):
            continue
        lfs = path.stat().st_size > lfs_threshold
        repo.add_file(path.relative_to(root).as_posix(), path, lfs=lfs, xet=lfs and xet)
    repo.commit("initial commit")
    if cache is not None:
        cache.save()
    return repo


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fakehub", description=__doc__.split("\n")[0])
    p.add_argument("--repo-dir", type=Path, required=True)
    p.add_argument("--repo-id", default="bench/repo")
    p.add_argument("--repo-type", default="model", choices=REPO_TYPES)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cdn-port", type=int, default=0)
    p.add_argument("--print-url", action="store_true", help="print the Hub URL on stdout line 1")
    p.add_argument(
        "--lfs-threshold", type=int, default=1024 * 1024, help="bytes; larger files are LFS"
    )
    p.add_argument("--xet", action="store_true", help="mark LFS files Xet-backed")
    p.add_argument("--cache-file", type=Path, help=f"hash sidecar (default DIR/{SIDECAR})")
    p.add_argument(
        "--rate-limits", action="store_true", help="enforce the Hub's anonymous/free quotas"
    )
    p.add_argument(
        "--no-resolve-cache", action="store_true", help="answer regular files 200 at /resolve/"
    )
    p.add_argument("--no-gzip", action="store_true", help="never gzip text files")
    p.add_argument(
        "--token", action="append", default=[], metavar="TOKEN=USER", help="accept this token"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root: Path = args.repo_dir
    if not root.is_dir():
        print(f"fakehub: {root} is not a directory", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    cache = HashCache(args.cache_file or root / SIDECAR)
    repo = build_repo_from_dir(
        root,
        repo_id=args.repo_id,
        repo_type=args.repo_type,
        lfs_threshold=args.lfs_threshold,
        xet=args.xet,
        cache=cache,
    )
    tokens = {}
    for spec in args.token:
        token, _, user = spec.partition("=")
        tokens[token] = {"user": user or "bench"}
    hub = FakeHub(
        port=args.port,
        cdn_port=args.cdn_port,
        tokens=tokens,
        rate_limits=RateLimits() if args.rate_limits else None,
        resolve_cache_redirect=not args.no_resolve_cache,
        gzip_text=not args.no_gzip,
        journal_limit=10_000,
    )
    hub.add(repo)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    hub.start()
    if args.print_url:
        print(hub.url, flush=True)
    print(
        f"fakehub: {args.repo_type} {args.repo_id} ({len(repo.staged)} files) at {hub.url}, "
        f"CDN {hub.cdn_url}, ready in {time.monotonic() - t0:.2f}s",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        hub.stop()
    return 0
