"""The command line in-process through `main([...])`, with a hub twin injected through app.py.

The folder sink and the SQLite store are the real ones (they run here); only the Hub is a twin.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from doubles.memory_sink import MemorySink
from rich.console import Console

from data4r2 import __version__
from data4r2.app import Overrides
from data4r2.cli.main import INTERRUPTED, main
from data4r2.cli.progress import LiveDisplay, LogLines, Quiet, Tally, make_reporter
from data4r2.domain import (
    BytesMoved,
    FileDone,
    FileFailed,
    FileRetrying,
    FileStarted,
    Plan,
    PlannedFile,
    PlanReady,
    RemoteFile,
    RepoNotFound,
    RepoRef,
    Snapshot,
)
from data4r2.state.memory import MemoryJobStore

from .hub_twin import Fault, MemoryHub

ACCT = "0123456789abcdef0123456789abcdef"
MiB = 1024**2


pytestmark = pytest.mark.usefixtures("clean_env")  # tests/unit/conftest.py


@pytest.fixture
def hub() -> MemoryHub:
    h = MemoryHub()
    h.add("config.json", b'{"model_type": "gpt2"}')
    h.add("README.md", b"# acme\n")
    h.add("weights/model.safetensors", os.urandom(6 * MiB + 123), lfs=True)
    return h


def run(
    argv: list[str], capsys: pytest.CaptureFixture[str], overrides: Overrides | None = None
) -> tuple[int, str, str]:
    code = main(argv, overrides=overrides)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("data4r2: error: ")
    return lines[0]


def json_lines(out: str) -> list[dict[str, object]]:
    """sync --json's stdout: one JSON document per line (NDJSON), the summary last."""
    return [json.loads(line) for line in out.splitlines()]


def files_under(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and ".data4r2" not in p.as_posix()
    }


# --------------------------------------------------------------------------- parsing and help


@pytest.mark.parametrize("command", ["sync", "verify"])
def test_help_shows_every_env_twin(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run([command, "--help"], capsys)
    assert code == 0
    text = " ".join(out.split())
    twins = ["DEST", "REVISION", "INCLUDE", "EXCLUDE", "CONCURRENCY", "JSON", "TOKEN"]
    twins += ["ENDPOINT_URL", "CA_BUNDLE", "DEBUG", "REPO_TYPE", "QUIET"]
    if command == "sync":
        twins += ["PART_SIZE", "MAX_RETRIES", "DRY_RUN", "FORCE", "STATE"]
    for twin in twins:
        assert f"DATA4R2_{twin}" in text, twin
    assert "HF_TOKEN" in text
    assert "AWS_CA_BUNDLE" in text


def test_version_and_no_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--version"], capsys)[:2] == (0, f"data4r2 {__version__}\n")
    code, out, _ = run([], capsys)
    assert code == 2
    assert "sync" in out and "verify" in out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["sync", "not a repo", "--dest", "x"], "invalid repo id"),
        (["sync", "a/b/c", "--dest", "x"], "invalid repo id"),
        (["sync", "acme/m", "--dest", "gs://bucket"], "gs://bucket"),
        (["sync", "acme/m", "--dest", "s3://Bad_Bucket"], "bucket name"),
        (["sync", "acme/m"], "--dest"),
        (["sync", "acme/m", "--dest", "r2://bucket"], "R2_ACCOUNT_ID"),
        (["sync", "acme/m", "model", "--repo-type", "dataset", "--dest", "x"], "--repo-type"),
        (["sync", "acme/m", "weights", "--dest", "x"], "weights"),
        (["sync", "acme/m", "--dest", "x", "--bogus"], "--bogus"),
        (["sync", "acme/m", "--dest", "x", "--concurrency", "many"], "--concurrency"),
        (["sync", "acme/m", "--dest", "x", "--concurrency", "0"], "--concurrency"),
        (["sync", "acme/m", "--dest", "x", "--part-size", "1M"], "--part-size"),
        (["sync", "acme/m", "--dest", "x", "--revision", "a/../b"], "revision"),
        (["verify", "acme/m", "--dest", "ftp://x"], "ftp://x"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    argv: list[str],
    needle: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.chdir(tmp_path)  # a stray folder destination would land here, and must not
    code, out, err = run(argv, capsys, Overrides(hub=MemoryHub()))
    assert code == 2, err
    assert needle in one_error_line(err)
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_env_twin_errors_are_usage_errors(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("DATA4R2_CONCURRENCY", "lots")
    code, _, err = run(["sync", "acme/m", "--dest", "x"], capsys)
    assert code == 2
    assert "DATA4R2_CONCURRENCY" in one_error_line(err)


@pytest.mark.parametrize(
    ("env", "names", "absent"),
    [
        ({"R2_ACCOUNT_ID": ACCT}, ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"], []),
        (
            {"R2_ACCOUNT_ID": ACCT, "AWS_ACCESS_KEY_ID": "AKID"},
            ["AWS_SECRET_ACCESS_KEY"],
            ["AWS_ACCESS_KEY_ID"],
        ),
    ],
)
def test_missing_credentials_name_the_env_vars(
    env: dict[str, str],
    names: list[str],
    absent: list[str],
    clean_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for k, v in env.items():
        clean_env.setenv(k, v)
    code, _, err = run(
        ["sync", "acme/m", "--dest", "r2://bucket"], capsys, Overrides(hub=MemoryHub())
    )
    line = one_error_line(err)
    assert code == 6  # CredentialsError
    assert all(n in line for n in names)
    assert not any(n in line for n in absent)


# --------------------------------------------------------------------------- runs


def test_sync_to_a_folder_then_nothing_to_do(
    hub: MemoryHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest, state = tmp_path / "mirror", tmp_path / "state.sqlite3"
    argv = ["sync", "acme/m", "--dest", str(dest), "--state", str(state), "--part-size", "5MiB"]
    code, out, err = run(argv, capsys, Overrides(hub=hub))
    assert (code, err) == (0, "")
    assert files_under(dest) == {f"models/acme/m/{p}" for p in hub.files}
    weights = dest / "models/acme/m/weights/model.safetensors"
    assert weights.read_bytes() == hub.files["weights/model.safetensors"]
    assert "copied 3 files" in out
    assert "copied weights/model.safetensors" in out  # a plain line per file off a terminal
    assert state.exists()

    code, out, _ = run([*argv, "--json"], capsys, Overrides(hub=hub))
    *events, doc = json_lines(out)  # stdout holds JSON lines only
    assert code == 0
    assert sorted((e["event"], e["path"]) for e in events) == sorted(
        ("skipped", p) for p in hub.files
    )
    assert doc["event"] == "summary"
    assert (doc["ok"], doc["copied"], doc["skipped"], doc["failed"]) == (True, 0, 3, 0)
    assert doc["commit"] == hub.commit


def test_dataset_type_positional_and_option(
    hub: MemoryHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (["acme/d", "dataset"], ["acme/d", "--repo-type", "dataset"]):
        code, out, _ = run(
            ["sync", *argv, "--dest", str(tmp_path), "--dry-run", "--json"],
            capsys,
            Overrides(hub=hub),
        )
        assert code == 0
        keys = {f["key"] for f in json.loads(out)["files"]}
        assert keys == {f"datasets/acme/d/{p}" for p in hub.files}


def test_dry_run_writes_nothing(
    hub: MemoryHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest, state = tmp_path / "mirror", tmp_path / "state.sqlite3"
    code, out, err = run(
        ["sync", "acme/m", "--dest", str(dest), "--state", str(state), "--dry-run"],
        capsys,
        Overrides(hub=hub),
    )
    assert (code, err) == (0, "")
    assert "copy weights/model.safetensors" in out
    assert "would copy 3 files" in out
    assert not dest.exists()
    assert not state.exists()
    assert hub.opens == []  # not a byte was read


def test_dry_run_json_shows_skips(
    hub: MemoryHub, capsys: pytest.CaptureFixture[str], clean_env: pytest.MonkeyPatch
) -> None:
    sink = MemorySink()
    ov = Overrides(hub=hub, sink=sink, store=MemoryJobStore())
    assert run(["sync", "acme/m", "--dest", "s3://bucket/pre", "--quiet"], capsys, ov) == (
        0,
        "",
        "",
    )
    hub.add("new.txt", b"new")
    clean_env.setenv("DATA4R2_INCLUDE", "*.txt *.json")
    code, out, _ = run(
        ["sync", "acme/m", "--dest", "s3://bucket/pre", "--dry-run", "--json"], capsys, ov
    )
    doc = json.loads(out)
    assert code == 0
    assert doc["dry_run"] is True
    actions = {f["path"]: f["action"] for f in doc["files"]}
    assert actions == {"config.json": "skip", "new.txt": "copy"}
    assert (doc["to_copy"], doc["bytes_to_copy"], doc["to_skip"]) == (1, 3, 1)
    assert all(f["key"].startswith("pre/models/acme/m/") for f in doc["files"])


def test_failed_file_exit_1_with_reason(
    hub: MemoryHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub.faults["README.md"] = [Fault("corrupt", at=2, times=10)]
    code, out, err = run(
        ["sync", "acme/m", "--dest", str(tmp_path), "--max-retries", "1", "--json"],
        capsys,
        Overrides(hub=hub, store=MemoryJobStore()),
    )
    *events, doc = json_lines(out)
    assert code == 1
    readme = [(e["event"], e.get("attempt")) for e in events if e["path"] == "README.md"]
    assert readme == [("started", 1), ("retrying", 1), ("started", 2), ("failed", None)]
    assert {(e["event"], e["path"]) for e in events} >= {
        ("done", "config.json"),
        ("done", "weights/model.safetensors"),
    }
    assert (doc["ok"], doc["copied"], doc["failed"]) == (False, 2, 1)
    assert doc["failures"][0]["path"] == "README.md"
    assert doc["failures"][0]["reason"]
    assert "failed README.md" in err  # the human summary went to stderr
    assert "README.md" not in files_under(tmp_path)  # never published


def test_verify(hub: MemoryHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ov = Overrides(hub=hub, store=MemoryJobStore())
    assert run(["sync", "acme/m", "--dest", str(tmp_path), "-q"], capsys, ov)[0] == 0
    code, out, _ = run(["verify", "acme/m", "--dest", str(tmp_path)], capsys, ov)
    assert code == 0
    assert "3 matching, 0 missing" in out

    # Removed behind data4r2's back: the manifest still vouches for it; --verify-objects
    # looks at the objects themselves and finds it missing.
    (tmp_path / "models/acme/m/README.md").unlink()
    code, out, _ = run(["verify", "acme/m", "--dest", str(tmp_path)], capsys, ov)
    assert code == 0 and "3 matching, 0 missing" in out
    argv = ["verify", "acme/m", "--dest", str(tmp_path), "--json", "--verify-objects"]
    code, out, _ = run(argv, capsys, ov)
    doc = json.loads(out)
    assert code == 1
    assert (doc["ok"], doc["missing"], doc["counts"]["matching"]) == (False, ["README.md"], 2)
    assert doc["extra"] == []  # the manifest and refs under .data4r2/ are no repo files


# --------------------------------------------------------------------------- failures


class BrokenHub(MemoryHub):
    def __init__(self, exc: BaseException) -> None:
        super().__init__()
        self.exc = exc

    def resolve(self, repo: RepoRef) -> str:
        raise self.exc


def test_domain_error_uses_its_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = BrokenHub(RepoNotFound("acme/m", "model"))
    code, out, err = run(
        ["sync", "acme/m", "--dest", str(tmp_path), "--json"], capsys, Overrides(hub=hub)
    )
    assert code == 3
    assert "not found" in one_error_line(err)
    assert json.loads(out) == {"ok": False, "error": str(hub.exc), "exit_code": 3}


def test_internal_error_one_line_traceback_only_with_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ov = Overrides(hub=BrokenHub(RuntimeError("boom")), store=MemoryJobStore())
    code, _, err = run(["sync", "acme/m", "--dest", str(tmp_path)], capsys, ov)
    assert code == 70
    assert one_error_line(err) == (
        "data4r2: error: internal error: RuntimeError: boom (run with --debug for the traceback)"
    )
    code, _, err = run(["sync", "acme/m", "--dest", str(tmp_path), "--debug"], capsys, ov)
    assert code == 70
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("data4r2: error: internal error")


def test_ctrl_c_exits_130_with_the_resume_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ov = Overrides(hub=BrokenHub(KeyboardInterrupt()), store=MemoryJobStore())
    code, _, err = run(["sync", "acme/m", "--dest", str(tmp_path)], capsys, ov)
    assert code == 130
    assert err == f"data4r2: {INTERRUPTED}\n"
    assert INTERRUPTED == "interrupted — run the same command again to resume"


# --------------------------------------------------------------------------- progress


def _plan(*sizes: int, skip: int = 0) -> Plan:
    files = tuple(
        PlannedFile(RemoteFile(f"f{i}", size, "0" * 40), f"k{i}", up_to_date=i < skip)
        for i, size in enumerate(sizes)
    )
    repo = RepoRef("acme/m")
    return Plan(Snapshot(repo, "c" * 40, tuple(f.file for f in files)), files)


def test_tally_counts_a_retried_file_once() -> None:
    t = Tally()
    for event in [
        PlanReady(_plan(100, 50, 7, skip=1)),
        FileStarted("f1", 50, 1),
        BytesMoved("f1", 30),
        FileStarted("f1", 50, 2),  # retry: starts again
        BytesMoved("f1", 20),
        FileDone("f1", 50),
        FileStarted("f2", 7, 1),
        BytesMoved("f2", 5),
        FileFailed("f2", "bad"),
        FileDone("f0", 100, skipped=True),
    ]:
        t.apply(event)
    assert (t.files_total, t.bytes_total) == (2, 57)
    assert (t.files_done, t.files_failed, t.files_skipped) == (1, 1, 1)
    assert t.bytes_done == 50


def test_log_lines_one_per_file_and_throttled_overall() -> None:
    now = [0.0]
    lines: list[str] = []
    log = LogLines(lines.append, interval=5.0, clock=lambda: now[0])
    log(PlanReady(_plan(10 * MiB, 10)))
    log(FileStarted("f0", 10 * MiB, 1))
    for t in (1.0, 2.0, 6.0, 7.0, 12.0):
        now[0] = t
        log(BytesMoved("f0", MiB))
    log(FileRetrying("f1", 1, "503"))
    log(FileDone("f0", 10 * MiB))
    log(FileFailed("f1", "gone"))
    overall = [line for line in lines if line.startswith("progress:")]
    assert len(overall) == 2  # at 6 s and 12 s, not on every chunk
    assert overall[0].startswith("progress: 0/2 files, 3.1 MB of 10.5 MB")
    assert lines[0].startswith("plan: 2 files to copy")
    assert "copied f0 (10.5 MB)" in lines
    assert "retrying f1 (attempt 1): 503" in lines
    assert lines[-1] == "failed f1: gone"


def test_live_display_renders_on_a_terminal() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120)
    reporter = make_reporter(console, quiet=False)
    assert isinstance(reporter, LiveDisplay)
    with reporter:
        reporter(PlanReady(_plan(1000, 10)))
        reporter(FileStarted("f0", 1000, 1))
        reporter(BytesMoved("f0", 400))
        assert reporter.progress.tasks[0].completed == 400
        assert "f0" in [t.description.strip() for t in reporter.progress.tasks]
        reporter(FileDone("f0", 1000))
        reporter(FileFailed("f1", "checksum [mismatch]"))
        reporter.progress.refresh()
        assert len(reporter.progress.tasks) == 1  # only the overall bar is left
    assert "checksum [mismatch]" in re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", buf.getvalue())


def test_live_display_escapes_hostile_names() -> None:
    buf = io.StringIO()
    with LiveDisplay(Console(file=buf, force_terminal=True, width=200)) as display:
        display(PlanReady(_plan(10)))
        display(FileStarted("evil\x1b[31mred", 10, 1))
        assert display.progress.tasks[1].description.strip() == "evil\\x1b[31mred"
        display(FileRetrying("evil\x1b[31mred", 1, "bad\nforged line"))
        display(FileFailed("evil\x1b[31mred", "gone"))
    shown = buf.getvalue()
    assert "\x1b[31mred" not in shown and "\nforged" not in shown
    assert "evil\\x1b[31mred" in shown and "bad\\nforged line" in shown


def test_reporter_choice() -> None:
    plain = Console(file=io.StringIO(), force_terminal=False)
    assert isinstance(make_reporter(plain, quiet=False), LogLines)
    assert isinstance(make_reporter(plain, quiet=True), Quiet)


# --------------------------------------------------------------------------- the real entry point


def test_python_dash_m_runs_the_cli(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATA4R2_", "R2_"))}
    ok = subprocess.run(
        [sys.executable, "-m", "data4r2", "--version"], capture_output=True, text=True, env=env
    )
    assert (ok.returncode, ok.stdout.strip()) == (0, f"data4r2 {__version__}")
    bad = subprocess.run(
        [sys.executable, "-m", "data4r2", "sync", "acme/m", "--dest", "r2://bucket"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert bad.returncode == 2
    assert "R2_ACCOUNT_ID" in one_error_line(bad.stderr)
