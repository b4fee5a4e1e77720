"""One measured run of one row: fresh bucket and scratch folder, run, verify, clean up."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from dataclasses import asdict
from pathlib import Path

import measure
from backends import FakeHub, S3Server
from dataset import FileInfo, total_size
from report import RunRecord
from rows import Ctx, Row


def check_bucket(
    s3: S3Server, bucket: str, infos: dict[str, FileInfo], content: bool, prefix: str = ""
) -> str:
    """'' if the bucket holds exactly the repo's files (sizes; sha256 too if `content`).

    data4r2's own manifest and refs objects (`.data4r2/`, docs/manifest.md) are not repo files.
    """
    got = {k: v for k, v in s3.listing(bucket).items() if "/.data4r2/" not in f"/{k}"}
    want = {prefix + p: i.size for p, i in infos.items()}
    if got != want:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        wrong = sorted(k for k in set(got) & set(want) if got[k] != want[k])
        return (
            f"bucket differs from the repo: {len(missing)} missing {missing[:3]}, "
            f"{len(extra)} extra {extra[:3]}, {len(wrong)} wrong size {wrong[:3]}"
        )
    if content:
        for path, info in infos.items():
            body = s3.client().get_object(Bucket=bucket, Key=prefix + path)["Body"]
            h = hashlib.sha256()
            while chunk := body.read(8 << 20):
                h.update(chunk)
            if h.hexdigest() != info.sha256:
                return f"content of {path} differs (sha256 {h.hexdigest()[:12]}…)"
    return ""


def check_download(stdout: Path, infos: dict[str, FileInfo]) -> str:
    """curl's --write-out printed one size per file: their sum must be the repo's size."""
    try:
        sizes = [int(x) for x in stdout.read_text().split()]
    except (OSError, ValueError) as e:
        return f"cannot read curl's sizes: {e}"
    if len(sizes) != len(infos) or sum(sizes) != total_size(infos):
        return (
            f"curl fetched {len(sizes)} files, {sum(sizes)} bytes; "
            f"want {len(infos)}, {total_size(infos)}"
        )
    return ""


# data4r2's closing line: "copied 53 files (45.2 MB), … — 0.6s, 81.4 MB/s".
_SUMMARY = re.compile(r"— ([0-9.]+)s, [0-9.]+ [kMG]?B/s")


def reported_seconds(log_dir: Path) -> float | None:
    """The transfer time a tool printed itself (data4r2's summary), if any."""
    for name in ("stdout.log", "stderr.log"):
        try:
            found = _SUMMARY.findall((log_dir / name).read_text(errors="replace"))
        except OSError:
            continue
        if found:
            return float(found[-1])
    return None


def run_row(
    *,
    row: Row,
    set_name: str,
    run_index: int,
    hub: FakeHub,
    s3: S3Server | None,
    repo_dir: Path,
    infos: dict[str, FileInfo],
    workdir: Path,
    timeout: float,
    verify_content: bool,
    data4r2_args: tuple[str, ...],
) -> RunRecord:
    tag = f"{set_name}-{row.key}-{s3.name if s3 else 'none'}-r{run_index}"
    scratch = workdir / "scratch" / f"{tag}-{uuid.uuid4().hex[:6]}"
    scratch.mkdir(parents=True)
    log_root = workdir / "logs" / tag
    shutil.rmtree(log_root, ignore_errors=True)
    bucket = s3.new_bucket() if (s3 is not None and row.uses_bucket) else ""
    ctx = Ctx(
        hub=hub,
        s3=s3,
        bucket=bucket,
        scratch=scratch,
        repo_dir=repo_dir,
        paths=tuple(infos),
        data4r2_args=data4r2_args,
    )
    load1 = os.getloadavg()[0]
    result = measure.Measured()
    missing = [t for t in row.tools if shutil.which(t) is None and t != "data4r2"]
    error = f"not installed: {', '.join(missing)}" if missing else ""
    servers_cpu0 = hub.cpu() + (s3.cpu() if s3 else 0.0)
    if not error:
        for i, cmd in enumerate(row.commands(ctx)):
            step = measure.run(
                cmd.argv, env=cmd.env, log_dir=log_root / f"step{i}", timeout=timeout
            )
            result.steps.append(step)
            if not step.ok:
                break
        error = result.error()
    servers_cpu = hub.cpu() + (s3.cpu() if s3 else 0.0) - servers_cpu0
    if not error:
        if row.uses_bucket and s3 is not None:
            error = check_bucket(s3, bucket, infos, verify_content, row.key_prefix)
        elif row.key == "download-only":
            error = check_download(log_root / "step0" / "stdout.log", infos)
    if s3 is not None and bucket:
        s3.drop_bucket(bucket)
    shutil.rmtree(scratch, ignore_errors=True)
    # Flush what this run wrote (the S3 server's files, a download folder) so its writeback
    # does not land in the next row's time; not worth it for a few MB.
    if total_size(infos) >= 256 << 20:
        os.sync()
    rec = RunRecord(
        set=set_name,
        row=row.key,
        server=s3.name if (s3 and row.uses_bucket) else None,
        run=run_index,
        ok=not error,
        error=error,
        wall=result.wall,
        user=sum(s.user for s in result.steps),
        sys=sum(s.sys for s in result.steps),
        maxrss_mib=result.maxrss_mib,
        server_cpu=servers_cpu,
        bytes=total_size(infos),
        files=len(infos),
        steps=[asdict(s) for s in result.steps],
        reported_s=reported_seconds(log_root / "step0") if row.key == "data4r2" else None,
        load1=load1,
    )
    status = "ok" if rec.ok else f"FAILED ({error[:200]})"
    print(
        f"[bench] {tag}: {rec.wall:.2f} s, cpu {rec.cpu:.2f} s, "
        f"rss {rec.maxrss_mib:.0f} MiB: {status}",
        flush=True,
    )
    return rec
