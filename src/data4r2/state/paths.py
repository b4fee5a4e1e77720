"""Where the embedded state lives when the user names no file, and why a named one is unusable."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir

from ..domain import UsageError


class StatePathError(UsageError):
    """The state file cannot be made or opened there (exit 2, like any bad flag)."""


def default_state_path() -> Path:
    """The per-user state file, e.g. ~/.local/share/data4r2/state.sqlite3 on Linux.

    platformdirs knows each OS's convention (XDG_DATA_HOME, Application Support, AppData);
    appauthor=False keeps Windows from nesting a second data4r2 folder. The folder is made
    by SqliteJobStore when it opens the file, so this stays a pure lookup.
    """
    return Path(user_data_dir("data4r2", appauthor=False)) / "state.sqlite3"


def _why_not(path: Path) -> str | None:
    """Why no state file can be made at `path`, seen without writing anything; None if it may."""
    if path.is_dir():
        return f"it is a folder (name a file in it, e.g. {path / 'state.sqlite3'})"
    nearest = next(p for p in path.parents if p.exists())  # the folder that must hold the rest
    if not nearest.is_dir():
        return f"{nearest} is a file, not a folder"
    if not os.access(nearest, os.W_OK | os.X_OK):
        return f"{nearest} is not writable"
    return None


def _error(path: Path, reason: str) -> StatePathError:
    return StatePathError(
        f"cannot use the state file {path}: {reason} — choose a writable place with --state"
    )


def check_state_path(path: Path) -> None:
    """Refuse before any request a place the state file cannot be at; writes nothing, so a
    run that fails later leaves no folder behind. Opening it may still fail (a read-only
    filesystem seen only by root): `unusable_state_path` words that error alike."""
    reason = _why_not(path)
    if reason is not None:
        raise _error(path, reason)


def unusable_state_path(path: Path, error: Exception) -> StatePathError:
    """The one-line error for a state file that failed to open (the OS's or SQLite's words)."""
    return _error(path, _why_not(path) or getattr(error, "strerror", None) or str(error))
