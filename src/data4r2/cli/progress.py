"""Subscribers to the engine's events: a Rich live display, plain log lines, or nothing.

The engine serialises its events (one at a time), so a subscriber need not lock; Rich's own
refresh thread only reads its `Progress`, which has a lock of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol, Self

from rich.console import Console
from rich.filesize import decimal as human_bytes
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ..domain import (
    BytesMoved,
    Event,
    FileDone,
    FileFailed,
    FileRetrying,
    FileStarted,
    FileWaiting,
    PlanReady,
    SyncSummary,
)
from .text import printable


class Reporter(Protocol):
    """Receives every event while a run lasts; a context manager so a display can clean up."""

    def __call__(self, event: Event) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@dataclass(slots=True)
class Tally:
    """Overall counts from the event stream, so a retried or resumed file is never counted twice."""

    files_total: int = 0  # to copy
    bytes_total: int = 0
    files_skipped: int = 0
    files_done: int = 0
    files_failed: int = 0
    bytes_done: int = 0
    in_flight: dict[str, int] = field(default_factory=dict)  # path → bytes moved this attempt

    def apply(self, event: Event) -> None:
        match event:
            case PlanReady(plan):
                self.files_total = len(plan.to_copy)
                self.bytes_total = sum(f.file.size for f in plan.to_copy)
            case FileStarted(path):
                # A retry starts again from zero; a resume re-announces its recorded parts.
                self.bytes_done -= self.in_flight.pop(path, 0)
                self.in_flight[path] = 0
            case BytesMoved(path, nbytes):
                self.in_flight[path] = self.in_flight.get(path, 0) + nbytes
                self.bytes_done += nbytes
            case FileDone(path, size, skipped=True):
                self.files_skipped += 1
            case FileDone(path, size):
                self.bytes_done += size - self.in_flight.pop(path, 0)
                self.files_done += 1
            case FileFailed(path):
                self.bytes_done -= self.in_flight.pop(path, 0)
                self.files_failed += 1
            case _:
                pass


class Quiet:
    """--quiet: nothing while running."""

    def __call__(self, event: Event) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def _eta(remaining: int, rate: float) -> str:
    if rate <= 0:
        return "?"
    seconds = int(remaining / rate)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class LogLines:
    """Plain lines for logs and pipes: one per finished, failed or retried file, and an
    overall line at most every `interval` seconds."""

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.write = write
        self.interval = interval
        self.clock = clock
        self.tally = Tally()
        self.started = clock()
        self.last_line = self.started

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def __call__(self, event: Event) -> None:
        self.tally.apply(event)
        match event:
            case PlanReady(plan):
                skip = plan.to_skip
                self.write(
                    f"plan: {self.tally.files_total} files to copy "
                    f"({human_bytes(self.tally.bytes_total)}), {len(skip)} up to date "
                    f"({human_bytes(sum(f.file.size for f in skip))}) at commit "
                    f"{plan.snapshot.commit[:12]}"
                )
            case FileDone(path, size, skipped=False):
                self.write(f"copied {path} ({human_bytes(size)})")
            case FileFailed(path, reason):
                self.write(f"failed {path}: {reason}")
            case FileRetrying(path, attempt, reason):
                self.write(f"retrying {path} (attempt {attempt}): {reason}")
            case FileWaiting(path, reason):
                self.write(f"waiting {path}: {reason}")
            case BytesMoved():
                now = self.clock()
                if now - self.last_line >= self.interval:
                    self.last_line = now
                    self.write(self.overall(now))
            case _:
                pass

    def overall(self, now: float) -> str:
        t = self.tally
        rate = t.bytes_done / (now - self.started) if now > self.started else 0.0
        return (
            f"progress: {t.files_done}/{t.files_total} files, "
            f"{human_bytes(t.bytes_done)} of {human_bytes(t.bytes_total)}, "
            f"{human_bytes(int(rate))}/s, ETA {_eta(t.bytes_total - t.bytes_done, rate)}"
        )


def _safe(text: str) -> str:
    """Untrusted text inside Rich markup: control characters escaped, brackets literal."""
    return escape(printable(text))


class LiveDisplay:
    """Rich live display: overall bytes and files, rate, ETA, and a bar per active file."""

    def __init__(self, console: Console) -> None:
        self.tally = Tally()
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,  # the summary replaces it
        )
        self.overall: TaskID = self.progress.add_task("planning…", total=None)
        self.files: dict[str, TaskID] = {}

    def __enter__(self) -> Self:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _describe(self) -> str:
        t = self.tally
        failed = f", [red]{t.files_failed} failed[/]" if t.files_failed else ""
        return f"[bold]{t.files_done}/{t.files_total} files[/]{failed}"

    def _drop(self, path: str) -> None:
        task = self.files.pop(path, None)
        if task is not None:
            self.progress.remove_task(task)

    def __call__(self, event: Event) -> None:
        self.tally.apply(event)
        p = self.progress
        match event:
            case PlanReady():
                p.reset(self.overall, total=self.tally.bytes_total, description=self._describe())
                return
            case FileStarted(path, size):
                self._drop(path)
                self.files[path] = p.add_task(f"  {_safe(path)}", total=size)
            case BytesMoved(path, nbytes):
                if path in self.files:
                    p.advance(self.files[path], nbytes)
            case FileDone(path, skipped=False) | FileFailed(path):
                self._drop(path)
                if isinstance(event, FileFailed):
                    p.console.print(f"[red]failed[/] {_safe(path)}: {_safe(event.reason)}")
            case FileRetrying(path, attempt, reason):
                p.console.print(
                    f"[yellow]retrying[/] {_safe(path)} (attempt {attempt}): {_safe(reason)}"
                )
            case FileWaiting(path, reason):
                p.console.print(f"[yellow]waiting[/] {escape(path)}: {escape(reason)}")
            case _:
                return
        p.update(self.overall, completed=self.tally.bytes_done, description=self._describe())


def make_reporter(console: Console, *, quiet: bool, live: bool | None = None) -> Reporter:
    """Live display on a terminal, plain lines elsewhere, nothing with --quiet."""
    if quiet:
        return Quiet()
    if live if live is not None else console.is_terminal:
        return LiveDisplay(console)
    return LogLines(
        lambda line: console.print(printable(line), markup=False, highlight=False, soft_wrap=True)
    )


def summary_lines(summary: SyncSummary) -> list[str]:
    """The human summary: counts, bytes, rate, time, then one line per failure with its reason."""
    head = (
        f"copied {summary.copied} files ({human_bytes(summary.bytes_copied)}), "
        f"skipped {summary.skipped} up to date ({human_bytes(summary.bytes_skipped)}), "
        f"failed {summary.failed} — {summary.elapsed_s:.1f}s, {summary.mb_per_s:.1f} MB/s"
    )
    lines = [head, f"{summary.repo} @ {summary.commit[:12]} → {summary.destination}"]
    lines += [f"failed {path}: {reason}" for path, reason in summary.failures]
    if summary.deleted:
        lines.append(f"deleted {len(summary.deleted)} objects the source no longer has")
        lines += [f"  deleted {key}" for key in summary.deleted]
    return lines
