"""Why the hot path hand-writes its HTTP: data4r2's wire code vs the libraries, one thread.

    PYTHONPATH=src:tests python docs/wire_bench.py [--mib 1024] [--runs 3] [--aiohttp-path SITE]

Download leg: one LFS file from the fake hub (302 to its CDN origin), read into a reused 16 MiB
buffer by data4r2's `hub/stream.py`, by urllib3 (`readinto`), by httpx (`iter_raw`, no copy: the
cheapest way httpx offers) and, when `--aiohttp-path` names a site-packages holding aiohttp
(kept out of the project's environment), by aiohttp on asyncio (`iter_any`, no copy). Upload
leg: the same bytes as 16 MiB UploadParts to SeaweedFS (`weed mini`, plain http) through
data4r2's `sinks/s3_wire.py` and through boto3's `upload_part` with the same botocore Config
(`sinks/s3_config.py`: unsigned payload, checksums only when required) and the same CRC32C
header, and once more with payload signing on (`boto3-signed`). Each variant runs in its own
process; the figure is that process's user+sys CPU around the transfer only (imports and set-up
excluded), per GiB. Variants run interleaved, once per round. Prints one Markdown row per
variant: median [min-max].
Results and what they justify: docs/design.md §10.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PART = 16 * 1024 * 1024


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _download(variant: str, hub: str, size: int, sha256: str) -> float:
    buf = bytearray(PART)
    view = memoryview(buf)
    url = f"{hub}/bench/repo/resolve/main/big.bin"
    if variant == "data4r2":
        from data4r2.domain import RemoteFile, RepoRef
        from data4r2.hub.client import tls_context
        from data4r2.hub.stream import ConnectionPool, Downloader

        pool = ConnectionPool(30.0, tls_context(None))
        dl = Downloader(hub, pool, user_agent="bench", authorization=None)
        ref, file = RepoRef("bench/repo"), RemoteFile("big.bin", size, "0" * 40, sha256)
        start, got = _cpu(), 0
        stream = dl.open(ref, "main", file)
        while n := stream.readinto(view):
            got += n
        stream.close()
    elif variant == "urllib3":
        import urllib3

        http = urllib3.PoolManager()
        start, got = _cpu(), 0
        resp = http.request("GET", url, preload_content=False, redirect=True)
        while n := resp.readinto(view):
            got += n
        resp.release_conn()
    elif variant == "aiohttp":
        import asyncio

        import aiohttp

        async def fetch() -> int:
            n = 0
            async with aiohttp.ClientSession() as session, session.get(url) as resp:
                async for chunk in resp.content.iter_any():
                    n += len(chunk)
            return n

        start = _cpu()
        got = asyncio.run(fetch())
    else:
        import httpx

        with httpx.Client(follow_redirects=True) as client:
            start, got = _cpu(), 0
            with client.stream("GET", url) as resp:
                for chunk in resp.iter_raw():
                    got += len(chunk)
    assert got == size, (got, size)
    return _cpu() - start


def _upload(variant: str, endpoint: str, bucket: str, size: int) -> float:
    import boto3
    from botocore.config import Config
    from botocore.credentials import Credentials

    from data4r2.sinks.checksums import crc32c_b64
    from data4r2.sinks.s3_config import control_config
    from data4r2.sinks.s3_wire import S3Wire

    body = bytearray(os.urandom(PART))
    crc = crc32c_b64(memoryview(body))
    config = control_config(4)
    if variant == "boto3-signed":  # what payload signing would cost: a SHA-256 pass per part
        config = config.merge(
            Config(s3={"addressing_style": "path", "payload_signing_enabled": True})
        )
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=os.environ["AK"],
        aws_secret_access_key=os.environ["SK"],
        region_name="us-east-1",
        config=config,
    )
    key = f"bench-{variant}"
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    wire = S3Wire(
        endpoint, bucket, Credentials(os.environ["AK"], os.environ["SK"]), "us-east-1", "", 4
    )
    parts = size // PART
    start = _cpu()
    for number in range(1, parts + 1):
        if variant == "data4r2":
            wire.put(
                key,
                memoryview(body),
                {"x-amz-checksum-crc32c": crc},
                {"partNumber": str(number), "uploadId": upload_id},
                "UploadPart",
            )
        else:
            client.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=number,
                Body=body,
                ChecksumCRC32C=crc,
            )
    spent = _cpu() - start
    client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
    return spent


def _child(args: argparse.Namespace) -> None:
    if args.leg == "down":
        spent = _download(args.variant, args.hub, args.size, args.sha256)
    else:
        spent = _upload(args.variant, args.endpoint, args.bucket, args.size)
    print(json.dumps(spent * (1 << 30) / args.size))


def _run(argv: list[str], env: dict[str, str] | None = None) -> float:
    out = subprocess.run(
        [sys.executable, __file__, *argv], check=True, capture_output=True, text=True, env=env
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--mib", type=int, default=512)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--child", action="store_true")
    p.add_argument("--leg")
    for name in ("--variant", "--hub", "--endpoint", "--bucket", "--sha256"):
        p.add_argument(name)
    p.add_argument("--size", type=int)
    p.add_argument("--aiohttp-path", help="a site-packages holding aiohttp (kept out of ours)")
    args = p.parse_args()
    if args.child:
        _child(args)
        return

    import hashlib

    from servers.seaweed import start_seaweed

    size = args.mib * 1024 * 1024
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        data = os.urandom(PART)
        digest = hashlib.sha256()
        with (repo / "big.bin").open("wb") as f:
            for _ in range(size // PART):
                f.write(data)
                digest.update(data)
        hub_proc = subprocess.Popen(
            [sys.executable, "-m", "fakehub", "--repo-dir", str(repo), "--print-url"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parent.parent / "tests",
        )
        assert hub_proc.stdout is not None
        hub = hub_proc.stdout.readline().strip()
        weed = start_seaweed(tls=False)
        try:
            bucket = weed.create_bucket()
            env = {**os.environ, "AK": weed.access_key, "SK": weed.secret_key}
            rows: dict[str, list[float]] = {}
            for _ in range(args.runs):  # interleaved, so drift hits every variant alike
                for variant in ("data4r2", "urllib3", "httpx", "aiohttp"):
                    down = ["--child", "--size", str(size), "--hub", hub]
                    cmd = [*down, "--sha256", digest.hexdigest(), "--variant", variant]
                    child_env = None
                    if variant == "aiohttp":
                        if not args.aiohttp_path:
                            continue
                        path = os.environ.get("PYTHONPATH", "")
                        child_env = {**os.environ, "PYTHONPATH": f"{path}:{args.aiohttp_path}"}
                    rows.setdefault(f"download, {variant}", []).append(
                        _run([*cmd, "--leg", "down"], child_env)
                    )
                for variant in ("data4r2", "boto3", "boto3-signed"):
                    up = ["--child", "--size", str(size), "--endpoint", weed.endpoint]
                    cmd = [*up, "--bucket", bucket, "--variant", variant, "--leg", "up"]
                    rows.setdefault(f"upload parts, {variant}", []).append(_run(cmd, env))
        finally:
            weed.stop()
            hub_proc.terminate()
            hub_proc.wait()
    print(f"{args.mib} MiB, {args.runs} runs, client CPU s/GiB (user+sys, transfer only)")
    print("| variant | CPU s/GiB |\n|---|---|")
    for name, values in rows.items():
        med = statistics.median(values)
        print(f"| {name} | {med:.2f} [{min(values):.2f}–{max(values):.2f}] |")


if __name__ == "__main__":
    main()
