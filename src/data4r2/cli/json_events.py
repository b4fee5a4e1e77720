"""`--json`: one JSON line per file event on stdout (NDJSON, as s5cmd prints), then the summary.

Lines carry names exactly as the Hub spells them (json.dumps escapes control characters in
its own way); field names are a public interface: add fields, never rename (README, "JSON
output").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..domain import Event, FileDone, FileFailed, FileRetrying, FileStarted


def event_record(event: Event) -> dict[str, Any] | None:
    """The JSON line of a per-file event; None for the others (progress, plan, summary)."""
    match event:
        case FileStarted(path, size, attempt):
            return {"event": "started", "path": path, "size": size, "attempt": attempt}
        case FileDone(path, size, skipped=True):
            return {"event": "skipped", "path": path, "size": size}
        case FileDone(path, size):
            return {"event": "done", "path": path, "size": size}
        case FileRetrying(path, attempt, reason):
            return {"event": "retrying", "path": path, "attempt": attempt, "reason": reason}
        case FileFailed(path, reason):
            return {"event": "failed", "path": path, "reason": reason}
        case _:
            return None


class JsonEvents:
    """An event subscriber writing one line per file event."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def __call__(self, event: Event) -> None:
        record = event_record(event)
        if record is not None:
            self.write(json.dumps(record, ensure_ascii=False))
