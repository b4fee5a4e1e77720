"""The suite writes nothing into the real home: every cache and state path is a temporary one."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from pathlib import Path

from data4r2.state.paths import default_state_path

REAL_HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)


def _isolated(path: str | Path) -> bool:
    return Path(os.environ["HOME"]) in Path(path).parents and REAL_HOME not in Path(path).parents


def test_state_and_caches_point_into_a_temporary_home() -> None:
    import huggingface_hub.constants as hf

    assert Path(os.environ["HOME"]) != REAL_HOME
    assert _isolated(default_state_path())
    assert _isolated(hf.HF_HOME) and _isolated(hf.HF_HUB_CACHE)


def test_a_cli_subprocess_inherits_the_temporary_home() -> None:
    code = (
        "import huggingface_hub.constants as hf, data4r2.state.paths as p;"
        "print(p.default_state_path()); print(hf.HF_HUB_CACHE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert all(_isolated(line) for line in out.splitlines()), out
