"""Runs → medians → the Markdown tables and the targets of issue 5, judged on this invocation.

python bench/report.py bench/results/<timestamp>.json   # re-render a saved run
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dataset import GiB, MiB, human

LABELS = {
    "data4r2": "`data4r2 sync`",
    "hf+s5cmd": "`hf download` + `s5cmd cp`",
    "hf+rclone": "`hf download` + `rclone copy`",
    "hf+aws": "`hf download` + `aws s3 sync`",
    "download-only": "ceiling: download only (curl → /dev/null)",
    "upload-only": "ceiling: upload only (`s5cmd cp` from page cache)",
}

# Issue 5's targets.
SPEEDUP_VS_PIPELINE = 1.8  # wall ≤ fastest download-then-upload / 1.8
OF_UPLOAD_CEILING = 0.85  # MB/s ≥ 0.85 × upload-only
MAX_CPU_PER_GIB = 2.0
MAX_RSS_MIB = 200.0
MIN_SMALL_FILES_PER_S = 300.0


@dataclass
class RunRecord:
    """One measured run of one row (JSON-friendly)."""

    set: str  # "repo" (the whole repo) or "small" (only the small files)
    row: str
    server: str | None
    run: int
    ok: bool
    error: str
    wall: float
    user: float
    sys: float
    maxrss_mib: float
    server_cpu: float
    bytes: int
    files: int
    steps: list[dict[str, Any]] = field(default_factory=list)
    reported_s: float | None = None  # the tool's own elapsed time, if it prints one
    load1: float | None = None  # the machine's 1-minute load average when the run started

    @property
    def cpu(self) -> float:
        return self.user + self.sys


HF_ALONE = "hf-download"
LABELS[HF_ALONE] = "`hf download` alone (step 1 of the three pipelines, pooled)"


def hf_download_alone(records: Iterable[RunRecord]) -> list[RunRecord]:
    """The pipelines' first step as a row of its own: Hub → local disk, no upload.

    Every pipeline starts with the same `hf download`, so all of them are pooled (server
    None: no bucket is involved; its server CPU is left out, the S3 server idles meanwhile).
    """
    out = []
    for r in records:
        if r.row.startswith("hf+") and r.steps:
            step = r.steps[0]
            ok = step["exit_code"] == 0 and not step["timed_out"]
            out.append(
                RunRecord(
                    set=r.set,
                    row=HF_ALONE,
                    server=None,
                    run=r.run,
                    ok=ok,
                    error="" if ok else r.error,
                    wall=step["wall"],
                    user=step["user"],
                    sys=step["sys"],
                    maxrss_mib=step["maxrss_kib"] / 1024,
                    server_cpu=float("nan"),
                    bytes=r.bytes,
                    files=r.files,
                )
            )
    return out


@dataclass
class Summary:
    """Medians (and ranges) over the ok runs of one (set, row, server)."""

    set: str
    row: str
    label: str
    server: str | None
    runs: int
    ok_runs: int
    error: str
    bytes: int
    files: int
    wall: list[float]
    cpu: list[float]
    rss: list[float]
    server_cpu: list[float]
    reported: list[float]

    @property
    def ok(self) -> bool:
        return self.ok_runs > 0

    def med(self, xs: Sequence[float]) -> float:
        return statistics.median(xs) if xs else float("nan")

    @property
    def wall_med(self) -> float:
        return self.med(self.wall)

    @property
    def mbps(self) -> list[float]:
        return [self.bytes / 1e6 / w for w in self.wall if w > 0]

    @property
    def mbps_med(self) -> float:
        return self.med(self.mbps)

    @property
    def cpu_per_gib(self) -> float:
        return self.med(self.cpu) / (self.bytes / GiB) if self.bytes else float("nan")

    @property
    def files_per_s(self) -> list[float]:
        return [self.files / w for w in self.wall if w > 0]

    @property
    def rss_max(self) -> float:
        return max(self.rss) if self.rss else float("nan")


def summarize(records: Iterable[RunRecord], labels: dict[str, str]) -> list[Summary]:
    groups: dict[tuple[str, str, str | None], list[RunRecord]] = {}
    for r in records:
        groups.setdefault((r.set, r.row, r.server), []).append(r)
    out = []
    for (set_, row, server), rs in groups.items():
        good = [r for r in rs if r.ok]
        errors = [r.error for r in rs if not r.ok]
        out.append(
            Summary(
                set=set_,
                row=row,
                label=labels.get(row, row),
                server=server,
                runs=len(rs),
                ok_runs=len(good),
                error=errors[0] if errors else "",
                bytes=rs[0].bytes,
                files=rs[0].files,
                wall=[r.wall for r in good],
                cpu=[r.cpu for r in good],
                rss=[r.maxrss_mib for r in good],
                server_cpu=[r.server_cpu for r in good],
                reported=[r.reported_s for r in good if r.reported_s is not None],
            )
        )
    return out


def _rng(values: Sequence[float], fmt: str) -> str:
    if not values:
        return "–"
    med = statistics.median(values)
    if len(values) == 1:
        return format(med, fmt)
    return f"{format(med, fmt)} [{format(min(values), fmt)}–{format(max(values), fmt)}]"


def _cell_error(s: Summary) -> str:
    return s.error.replace("|", "/").replace("\n", " ")[:240]


def _per_gib(values: list[float], gib: float) -> str:
    good = [v for v in values if v == v]  # NaN: not measured
    return f"{statistics.median(good) / gib:.2f}" if good else "–"


def _note(s: Summary) -> str:
    if s.ok_runs < s.runs:
        return f"FAILED {s.runs - s.ok_runs}×: {_cell_error(s)}"
    if s.reported:
        return f"its own summary: {statistics.median(s.reported):.2f} s"
    return ""


def repo_table(sums: list[Summary]) -> str:
    lines = [
        "| row | S3 server | wall s | MB/s | client CPU s/GiB | client peak RSS MiB "
        "| servers CPU s/GiB | ok runs | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sums:
        gib = s.bytes / GiB
        note = _note(s)
        if not s.ok:
            lines.append(
                f"| {s.label} | {s.server or '–'} | – | – | – | – | – | 0/{s.runs} | {note} |"
            )
            continue
        lines.append(
            f"| {s.label} | {s.server or '–'} | {_rng(s.wall, '.2f')} | {_rng(s.mbps, '.0f')} "
            f"| {s.cpu_per_gib:.2f} | {_rng(s.rss, '.0f')} "
            f"| {_per_gib(s.server_cpu, gib)} | {s.ok_runs}/{s.runs} | {note} |"
        )
    return "\n".join(lines)


def small_table(sums: list[Summary]) -> str:
    lines = [
        "| row | S3 server | wall s | files/s | client CPU ms/file | client peak RSS MiB "
        "| ok runs | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in sums:
        note = _note(s)
        if not s.ok:
            lines.append(f"| {s.label} | {s.server or '–'} | – | – | – | – | 0/{s.runs} | {note} |")
            continue
        per_file = statistics.median(s.cpu) / s.files * 1000
        lines.append(
            f"| {s.label} | {s.server or '–'} | {_rng(s.wall, '.2f')} "
            f"| {_rng(s.files_per_s, '.0f')} | {per_file:.2f} | {_rng(s.rss, '.0f')} "
            f"| {s.ok_runs}/{s.runs} | {note} |"
        )
    return "\n".join(lines)


def memory_table(mem: list[dict[str, Any]]) -> str:
    lines = [
        "| file | S3 server | wall s | MB/s | client CPU s/GiB | client peak RSS MiB | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in mem:
        if not m["ok"]:
            err = str(m["error"]).replace("|", "/")[:240]
            lines.append(
                f"| 1 × {human(m['bytes'])} | {m['server']} | – | – | – | – | FAILED: {err} |"
            )
            continue
        lines.append(
            f"| 1 × {human(m['bytes'])} | {m['server']} | {m['wall']:.2f} "
            f"| {m['bytes'] / 1e6 / m['wall']:.0f} | {m['cpu'] / (m['bytes'] / GiB):.2f} "
            f"| {m['maxrss_mib']:.0f} | |"
        )
    return "\n".join(lines)


JOBS_TABLE = (
    "| row | jobs/s | note |\n|---|---|---|\n"
    "| `POST /v1/jobs/batch` | – | measured by `python bench/service.py` (see README) |"
)


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**not met**")


def _measured(s: Summary | None, text: str) -> str:
    if s is None:
        return "–"
    return text if s.ok else f"failed: {_cell_error(s)[:120]}"


def targets(sums: list[Summary], mem: list[dict[str, Any]]) -> str:
    """One line per target and S3 server, judged only against rows of this invocation.

    A target whose data4r2 row was not run is left out; one whose row failed is "not met".
    """
    by = {(s.set, s.row, s.server): s for s in sums}
    servers = [s.server for s in sums if s.row == "data4r2" and s.server]
    lines = ["| target | S3 server | measured | bound | verdict |", "|---|---|---|---|---|"]
    for srv in dict.fromkeys(servers):
        d = by.get(("repo", "data4r2", srv))
        if d is not None:
            pipes = [by.get(("repo", k, srv)) for k in ("hf+s5cmd", "hf+rclone", "hf+aws")]
            pipes_ok = [p for p in pipes if p is not None and p.ok]
            if pipes_ok:
                best = min(pipes_ok, key=lambda p: p.wall_med)
                bound = best.wall_med / SPEEDUP_VS_PIPELINE
                lines.append(
                    f"| wall ≤ fastest download-then-upload / {SPEEDUP_VS_PIPELINE} | {srv} "
                    f"| {_measured(d, f'{d.wall_med:.2f} s')} "
                    f"| ≤ {bound:.2f} s ({best.label}: {best.wall_med:.2f} s) "
                    f"| {_verdict(d.ok and d.wall_med <= bound)} |"
                )
            up = by.get(("repo", "upload-only", srv))
            if up is not None and up.ok:
                bound = OF_UPLOAD_CEILING * up.mbps_med
                lines.append(
                    f"| MB/s ≥ {OF_UPLOAD_CEILING} × upload-only ceiling | {srv} "
                    f"| {_measured(d, f'{d.mbps_med:.0f} MB/s')} "
                    f"| ≥ {bound:.0f} MB/s (s5cmd: {up.mbps_med:.0f} MB/s) "
                    f"| {_verdict(d.ok and d.mbps_med >= bound)} |"
                )
            lines.append(
                f"| client CPU ≤ {MAX_CPU_PER_GIB} s/GiB | {srv} "
                f"| {_measured(d, f'{d.cpu_per_gib:.2f} s/GiB')} | ≤ {MAX_CPU_PER_GIB} s/GiB "
                f"| {_verdict(d.ok and d.cpu_per_gib <= MAX_CPU_PER_GIB)} |"
            )
            lines.append(
                f"| peak RSS ≤ {MAX_RSS_MIB:.0f} MiB (whole repo, defaults; worst run) | {srv} "
                f"| {_measured(d, f'{d.rss_max:.0f} MiB')} | ≤ {MAX_RSS_MIB:.0f} MiB "
                f"| {_verdict(d.ok and d.rss_max <= MAX_RSS_MIB)} |"
            )
        small = by.get(("small", "data4r2", srv))
        if small is not None:
            fps = statistics.median(small.files_per_s) if small.ok else 0.0
            lines.append(
                f"| small files/s ≥ {MIN_SMALL_FILES_PER_S:.0f} | {srv} "
                f"| {_measured(small, f'{fps:.0f} files/s')} | ≥ {MIN_SMALL_FILES_PER_S:.0f} "
                f"| {_verdict(small.ok and fps >= MIN_SMALL_FILES_PER_S)} |"
            )
    if mem:
        good = [m for m in mem if m["ok"]]
        sizes = " → ".join(f"{human(m['bytes'])}: {m['maxrss_mib']:.0f} MiB" for m in good)
        verdict: bool | None = None
        if len(good) == len(mem):
            lo = min(good, key=lambda m: m["bytes"])
            hi = max(good, key=lambda m: m["bytes"])
            # "Flat": the biggest file may cost at most 10 % (or 16 MiB) more than the smallest.
            flat = hi["maxrss_mib"] <= max(lo["maxrss_mib"] * 1.10, lo["maxrss_mib"] + 16)
            verdict = flat and all(m["maxrss_mib"] <= MAX_RSS_MIB for m in good)
        else:
            verdict = False
            sizes = sizes or "failed"
        lines.append(
            f"| peak RSS ≤ {MAX_RSS_MIB:.0f} MiB and flat across file sizes | {mem[0]['server']} "
            f"| {sizes} | ≤ {MAX_RSS_MIB:.0f} MiB, biggest ≤ smallest + 10 % "
            f"| {_verdict(verdict)} |"
        )
    return "\n".join(lines)


def fmt_bytes(n: int) -> str:
    return human(n) if n >= MiB else f"{n} B"


def render(payload: dict[str, Any]) -> str:
    """The Markdown report of one invocation, from its JSON payload."""
    records = [RunRecord(**r) for r in payload["records"]]
    sums = summarize([*records, *hf_download_alone(records)], LABELS)
    rows = [*payload.get("row_order", LABELS), HF_ALONE]
    servers = payload.get("servers", [])
    sums.sort(
        key=lambda s: (
            rows.index(s.row) if s.row in rows else len(rows),
            servers.index(s.server) if s.server in servers else -1,
        )
    )
    mem = payload.get("memory", [])
    env = payload["environment"]
    versions = ", ".join(f"{k} {v}" for k, v in env.items() if k != "machine")
    repo = [s for s in sums if s.set == "repo"]
    desc = payload.get("repo_desc") or (
        f"{human(repo[0].bytes)} in {repo[0].files} files" if repo else "?"
    )
    loads = [r.load1 for r in records if r.load1 is not None]
    load = (
        f"  \nLoad average (1 min) at the start of each run: {_rng(loads, '.1f')}." if loads else ""
    )
    out = [
        f"# data4r2 benchmark, {payload.get('date', '')}",
        "",
        f"Command: `{payload['command']}` ({payload.get('elapsed_s', 0):.0f} s)  ",
        f"Machine: {env['machine']}  ",
        f"Versions: {versions}  ",
        f"Repo: {desc}; hub: tests/fakehub on loopback (LFS files via a 302 to its CDN origin).  ",
        f"Runs: median [min–max] of {payload['runs']} per row, rows interleaved round-robin; "
        f"checked after each run: {payload.get('checked', 'object keys and sizes')}.{load}",
        "",
    ]
    if payload.get("quick"):
        out += [
            "**--quick is a smoke run**: with a few MB, process start-up dominates every figure; "
            "the targets below are judged only for form.",
            "",
        ]
    out += [
        "## Whole repo",
        "",
        repo_table(repo),
    ]
    small = [s for s in sums if s.set == "small"]
    if small:
        small_desc = payload.get("small_desc") or f"{small[0].files} files"
        out += ["", f"## Small files only ({small_desc})", "", small_table(small)]
    if mem:
        out += ["", "## Peak RSS of `data4r2 sync`, one file, default settings", ""]
        out += [memory_table(mem)]
    out += ["", "## Service", "", JOBS_TABLE]
    out += ["", "## Targets (issue 5), judged on this run", "", targets(sums, mem), ""]
    return "\n".join(out)


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    print(render(json.loads(Path(sys.argv[1]).read_text())))
