"""Where the embedded state lives when the user names no file."""

from __future__ import annotations

from pathlib import Path

from platformdirs import user_data_dir


def default_state_path() -> Path:
    """The per-user state file, e.g. ~/.local/share/data4r2/state.sqlite3 on Linux.

    platformdirs knows each OS's convention (XDG_DATA_HOME, Application Support, AppData);
    appauthor=False keeps Windows from nesting a second data4r2 folder. The folder is made
    by SqliteJobStore when it opens the file, so this stays a pure lookup.
    """
    return Path(user_data_dir("data4r2", appauthor=False)) / "state.sqlite3"
