"""Run one client command as a subprocess and measure it: wall time, CPU of its tree, peak RSS.

`os.wait4` returns the child's rusage including every descendant it reaped, so a shell, a
wrapper script or a tool's worker processes are all counted. Its `ru_maxrss` is the largest
RSS of any single process in that tree (a max, not a sum): good enough for tools that run as
one process, and stated as such in the README.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Step:
    """One measured subprocess."""

    argv: list[str]
    exit_code: int
    wall: float
    user: float
    sys: float
    maxrss_kib: int
    timed_out: bool = False
    stderr_tail: str = ""

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


@dataclass
class Measured:
    """A row's run: one or more steps one after the other (download, then upload)."""

    steps: list[Step] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and all(s.ok for s in self.steps)

    @property
    def wall(self) -> float:
        return sum(s.wall for s in self.steps)

    @property
    def cpu(self) -> float:
        return sum(s.cpu for s in self.steps)

    @property
    def maxrss_mib(self) -> float:
        return max((s.maxrss_kib for s in self.steps), default=0) / 1024

    def error(self) -> str:
        for s in self.steps:
            if not s.ok:
                why = "timed out" if s.timed_out else f"exit {s.exit_code}"
                tail = s.stderr_tail.strip().splitlines()[-3:]
                return f"`{Path(s.argv[0]).name}` {why}: " + " | ".join(tail)
        return ""


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


SPAWN = Path(__file__).resolve().parent / "spawn.py"


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_dir: Path,
    timeout: float,
    cwd: Path | None = None,
) -> Step:
    """Run `argv` to completion (or kill its process group after `timeout`) and measure it.

    The tool is started by spawn.py (see there why), which reports the tool's own rusage;
    if it never gets to (timeout), the wrapper's rusage from wait4 stands in.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    out = log_dir / "stdout.log"
    err = log_dir / "stderr.log"
    usage_file = log_dir / "rusage.json"
    usage_file.unlink(missing_ok=True)
    wrapped = [sys.executable, "-I", "-S", str(SPAWN), str(usage_file), "--", *argv]
    with out.open("ab") as fo, err.open("ab") as fe:
        start = time.perf_counter()
        # Own session: a timeout kills the whole tree, not only the first process.
        proc = subprocess.Popen(
            wrapped,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=fo,
            stderr=fe,
            start_new_session=True,
        )
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            # The harness is being stopped (Ctrl-C, SIGTERM): take the tool down with it.
            kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        got = json.loads(usage_file.read_text())
    except (OSError, ValueError):
        got = {
            "exit_code": proc.returncode,
            "wall": wall,
            "user": usage.ru_utime,
            "sys": usage.ru_stime,
            "maxrss_kib": usage.ru_maxrss,
        }
    code = int(got["exit_code"])
    return Step(
        argv=list(argv),
        exit_code=code,
        wall=float(got["wall"]),
        user=float(got["user"]),
        sys=float(got["sys"]),
        maxrss_kib=int(got["maxrss_kib"]),
        timed_out=killed.is_set(),
        stderr_tail="" if code == 0 and not killed.is_set() else _tail(err) or _tail(out),
    )
