"""The rows: what each competitor runs, as argv lists and environments, for one measured run.

Every tool runs with its defaults, the way a user would type it; progress bars are off
(`HF_HUB_DISABLE_PROGRESS_BARS`, no `-P`, `--only-show-errors`) so terminal drawing is not
measured. `hf download --local-dir` leaves a `.cache/` folder of its metadata in the download
folder; the upload steps exclude it so every row uploads exactly the repo's files.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backends import REGION, FakeHub, S3Server
from report import LABELS


@dataclass(frozen=True)
class Ctx:
    """What one run of one row gets: the servers, a fresh bucket and a scratch folder."""

    hub: FakeHub
    s3: S3Server | None  # None for the download-only ceiling
    bucket: str
    scratch: Path  # empty, deleted after the run
    repo_dir: Path  # the files on local disk (upload-only reads these)
    paths: tuple[str, ...]
    data4r2_args: tuple[str, ...]


@dataclass(frozen=True)
class Command:
    argv: list[str]
    env: dict[str, str]


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    tools: tuple[str, ...]  # executables that must exist
    uses_bucket: bool
    commands: Callable[[Ctx], list[Command]]
    note: str = ""
    # Where the row's objects land. data4r2 keys objects `{repo_type}s/{repo_id}/{path}`
    # (README "Objects land at"); the two-step pipelines upload the folder to the root.
    key_prefix: str = ""


# Variables of the caller that would change a tool's behaviour: a user's AWS profile or
# endpoint, an HF token or cache, rclone config.
_SCRUB = ("AWS_", "HF_", "HUGGING", "RCLONE_", "S3_", "DATA4R2_")


def base_env(ctx: Ctx) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUB)}
    env.update(
        HF_ENDPOINT=ctx.hub.url,
        HF_HOME=str(ctx.scratch / "hf-home"),
        HF_HUB_DISABLE_XET="1",  # the fake hub has no CAS; plain HTTP (docs/hub.md §6)
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        DO_NOT_TRACK="1",
    )
    if ctx.s3 is not None:
        env.update(
            AWS_ACCESS_KEY_ID=ctx.s3.access_key,
            AWS_SECRET_ACCESS_KEY=ctx.s3.secret_key,
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
            # Nothing from ~/.aws may steer the clients.
            AWS_CONFIG_FILE=str(ctx.scratch / "no-aws-config"),
            AWS_SHARED_CREDENTIALS_FILE=str(ctx.scratch / "no-aws-credentials"),
        )
    return env


def data4r2_argv() -> list[str]:
    """The installed console script, else the module (same code either way)."""
    exe = shutil.which("data4r2")
    return [exe] if exe else [sys.executable, "-m", "data4r2"]


def _data4r2(ctx: Ctx) -> list[Command]:
    assert ctx.s3 is not None
    argv = [
        *data4r2_argv(),
        "sync", ctx.hub.repo_id,
        "--dest", f"s3://{ctx.bucket}",
        "--endpoint-url", ctx.s3.endpoint,
        "--state", str(ctx.scratch / "state.sqlite"),
        *ctx.data4r2_args,
    ]  # fmt: skip
    return [Command(argv, base_env(ctx))]


def _hf_download(ctx: Ctx) -> Command:
    argv = ["hf", "download", ctx.hub.repo_id, "--local-dir", str(ctx.scratch / "dl")]
    return Command(argv, base_env(ctx))


def _s5cmd_up(ctx: Ctx, folder: Path) -> Command:
    assert ctx.s3 is not None
    argv = [
        "s5cmd", "--endpoint-url", ctx.s3.endpoint,
        "cp", "--exclude", ".cache/*", f"{folder}/*", f"s3://{ctx.bucket}/",
    ]  # fmt: skip
    return Command(argv, base_env(ctx))


def _hf_s5cmd(ctx: Ctx) -> list[Command]:
    return [_hf_download(ctx), _s5cmd_up(ctx, ctx.scratch / "dl")]


def _hf_rclone(ctx: Ctx) -> list[Command]:
    assert ctx.s3 is not None
    env = base_env(ctx)
    # An inline remote named `bench`: no rclone.conf involved.
    env.update(
        RCLONE_CONFIG_BENCH_TYPE="s3",
        RCLONE_CONFIG_BENCH_PROVIDER="Other",
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=ctx.s3.access_key,
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=ctx.s3.secret_key,
        RCLONE_CONFIG_BENCH_ENDPOINT=ctx.s3.endpoint,
        RCLONE_CONFIG_BENCH_REGION=REGION,
    )
    argv = [
        "rclone", "--config", "/dev/null", "copy", str(ctx.scratch / "dl"),
        f"bench:{ctx.bucket}", "--exclude", ".cache/**",
    ]  # fmt: skip
    return [_hf_download(ctx), Command(argv, env)]


def _hf_aws(ctx: Ctx) -> list[Command]:
    assert ctx.s3 is not None
    argv = [
        "aws", "s3", "sync", str(ctx.scratch / "dl"), f"s3://{ctx.bucket}/",
        "--endpoint-url", ctx.s3.endpoint, "--exclude", ".cache/*", "--only-show-errors",
    ]  # fmt: skip
    return [_hf_download(ctx), Command(argv, base_env(ctx))]


def _download_only(ctx: Ctx) -> list[Command]:
    """curl, all files in one process, 8 at a time (hf download's default), bodies discarded."""
    config = ctx.scratch / "curl.cfg"
    config.parent.mkdir(parents=True, exist_ok=True)
    with config.open("w") as f:
        for p in ctx.paths:
            f.write(f'url = "{ctx.hub.resolve_url(p)}"\noutput = "/dev/null"\n')
    argv = [
        "curl", "--silent", "--show-error", "--fail", "--location",
        "--parallel", "--parallel-max", "8",
        "--write-out", "%{size_download}\\n",  # summed afterwards: every byte arrived
        "--config", str(config),
    ]  # fmt: skip
    return [Command(argv, base_env(ctx))]


def _upload_only(ctx: Ctx) -> list[Command]:
    return [_s5cmd_up(ctx, ctx.repo_dir)]


ROWS: tuple[Row, ...] = (
    Row(
        "data4r2", LABELS["data4r2"], ("data4r2",), True, _data4r2, key_prefix="models/bench/repo/"
    ),
    Row("hf+s5cmd", LABELS["hf+s5cmd"], ("hf", "s5cmd"), True, _hf_s5cmd),
    Row("hf+rclone", LABELS["hf+rclone"], ("hf", "rclone"), True, _hf_rclone),
    Row("hf+aws", LABELS["hf+aws"], ("hf", "aws"), True, _hf_aws),
    Row(
        "download-only",
        LABELS["download-only"],
        ("curl",),
        False,
        _download_only,
        note="no bucket: the S3 server column does not apply",
    ),
    Row(
        "upload-only",
        LABELS["upload-only"],
        ("s5cmd",),
        True,
        _upload_only,
    ),
)
PIPELINES = ("hf+s5cmd", "hf+rclone", "hf+aws")
BY_KEY = {r.key: r for r in ROWS}
