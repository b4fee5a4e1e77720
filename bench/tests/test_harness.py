"""The harness's own logic: data, measurement, verdicts (`python -m pytest bench/tests`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import measure
import pytest
import report
from dataset import Group, RepoSpec, Workdir, parse_groups, parse_size


def test_sizes_and_groups_parse_like_the_cli_tools() -> None:
    assert parse_size("64KiB") == 64 * 1024
    assert parse_size("256M") == 256 * 1024**2
    assert parse_size("1.5GiB") == 3 * 1024**3 // 2
    assert parse_groups("1x1GiB,0x8MiB", ["large", "shards"]) == (Group("large", 1, 1024**3),)
    with pytest.raises(ValueError):
        parse_size("12 parsecs")


def test_repo_is_deterministic_and_cached(tmp_path: Path) -> None:
    spec = RepoSpec("r", (Group("large", 1, 3 * 1024**2 + 5), Group("small", 3, 100)))
    folder, infos = Workdir(tmp_path / "a").repo(spec)
    _, again = Workdir(tmp_path / "b").repo(spec)
    assert {p: i.sha256 for p, i in infos.items()} == {p: i.sha256 for p, i in again.items()}
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.bin")) == sorted(infos)
    # A second look at the same work dir reuses the files (same mtime: nothing rewritten).
    _, cached = Workdir(tmp_path / "a").repo(spec)
    assert cached == infos
    # A different size is a different file, not a stale cache hit.
    bigger = RepoSpec("r", (Group("large", 1, 3 * 1024**2 + 6),))
    _, other = Workdir(tmp_path / "a").repo(bigger)
    assert other["large/part-000.bin"].sha256 != infos["large/part-000.bin"].sha256
    assert sorted(p.name for p in (folder / "large").iterdir()) == ["part-000.bin"]
    assert not (folder / "small").exists()  # the old spec's extra files are gone


def test_spawn_reports_the_tools_rss_not_the_harness(tmp_path: Path) -> None:
    ballast = bytearray(300 * 1024**2)  # make this process big, like the harness with boto3
    ballast[::4096] = b"x" * len(ballast[::4096])
    small = measure.run(["true"], env=os.environ, log_dir=tmp_path / "a", timeout=30)
    big = measure.run(
        [sys.executable, "-c", "b = bytearray(200 << 20); b[::4096] = b'x' * len(b[::4096])"],
        env=os.environ,
        log_dir=tmp_path / "b",
        timeout=30,
    )
    del ballast
    assert small.ok and small.maxrss_kib < 50 * 1024
    assert big.ok and big.maxrss_kib > 200 * 1024
    assert big.cpu > 0


def test_a_hung_tool_is_killed_and_reported(tmp_path: Path) -> None:
    step = measure.run(["sleep", "30"], env=os.environ, log_dir=tmp_path, timeout=0.5)
    assert step.timed_out and not step.ok
    assert step.wall < 10


def _rec(
    row: str,
    wall: float,
    cpu: float,
    rss: float,
    server: str | None = "rclone",
    set_: str = "repo",
    files: int = 505,
) -> report.RunRecord:
    return report.RunRecord(
        set=set_, row=row, server=server, run=0, ok=True, error="", wall=wall, user=cpu,
        sys=0.0, maxrss_mib=rss, server_cpu=1.0, bytes=2 * 1024**3, files=files,
    )  # fmt: skip


def test_targets_are_judged_against_the_same_invocation() -> None:
    records = [
        _rec("data4r2", 9.0, 3.0, 150),
        _rec("hf+s5cmd", 20.0, 12.0, 230),
        _rec("hf+rclone", 17.0, 12.0, 230),
        _rec("upload-only", 9.5, 5.0, 22),
        _rec("data4r2", 2.0, 1.0, 90, set_="small", files=500),
    ]
    table = report.targets(report.summarize(records, report.LABELS), [])
    lines = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines()[2:]}
    assert "**met**" in lines["wall ≤ fastest download-then-upload / 1.8"]  # 9.0 ≤ 17/1.8
    assert "**met**" in lines["MB/s ≥ 0.85 × upload-only ceiling"]  # 9.0 s vs 9.5 s
    assert "**met**" in lines["client CPU ≤ 2.0 s/GiB"]  # 3 s / 2 GiB
    assert "**met**" in lines["peak RSS ≤ 200 MiB (whole repo, defaults; worst run)"]
    assert "**not met**" in lines["small files/s ≥ 300"]  # 250 files/s


def test_a_failed_row_fails_its_targets_and_shows_why() -> None:
    bad = _rec("data4r2", 0.0, 0.0, 0.0)
    bad.ok, bad.error = False, "`data4r2` exit 1: boom"
    sums = report.summarize([bad, _rec("hf+aws", 20.0, 12.0, 230)], report.LABELS)
    assert "FAILED 1×: `data4r2` exit 1: boom" in report.repo_table(sums)
    assert "**met**" not in report.targets(sums, [])


def test_memory_must_stay_flat_across_file_sizes() -> None:
    def mem(size: int, rss: float) -> dict[str, object]:
        return {"server": "rclone", "bytes": size, "ok": True, "error": "", "wall": 1.0,
                "cpu": 1.0, "maxrss_mib": rss}  # fmt: skip

    flat = report.targets([], [mem(1 << 30, 150), mem(4 << 30, 156)])
    growing = report.targets([], [mem(1 << 30, 150), mem(4 << 30, 190)])
    assert "**met**" in flat
    assert "**not met**" in growing
