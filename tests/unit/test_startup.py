"""`data4r2 --help` stays cheap: the heavy adapters load only when a command needs them.

docs/design.md §2: `app.py` imports adapters inside the functions that build them. A
module-level `import boto3` (or botocore, huggingface_hub) anywhere on the CLI's import path
would cost every `--help` and every typo tens of milliseconds of CPU; this catches it. In a
subprocess, so what this test process already imported does not hide it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("boto3", "botocore", "huggingface_hub", "awscrt", "psycopg", "procrastinate", "httpx")

_PROBE = """
import json, runpy, sys
sys.argv = ["data4r2", *sys.argv[1:]]
try:
    runpy.run_module("data4r2", run_name="__main__")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def _modules_loaded_by(*args: str) -> tuple[int, set[str]]:
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return int(report["code"] or 0), {m.split(".")[0] for m in report["modules"]}


def test_help_imports_no_heavy_module() -> None:
    code, loaded = _modules_loaded_by("--help")
    assert code == 0
    assert "typer" in loaded  # the probe really ran the CLI
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_command_s_help_imports_no_heavy_module_either() -> None:
    code, loaded = _modules_loaded_by("sync", "--help")
    assert code == 0
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
