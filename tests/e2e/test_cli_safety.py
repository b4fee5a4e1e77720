"""The real CLI against the fake Hub: what it prints (escaped, redacted, NDJSON) and what it
writes when it fails (nothing in the home folder; a bad --state path is exit 2 in one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakehub import FakeHub

from .conftest import Env, R2Double, make_repo

HOSTILE = {
    "evil\x1b[31mred.txt": (b"colour\n", False),
    "forged\ndata4r2: error: pwned.txt": (b"newline\n", False),
    "bell\x07and\x9bcsi.txt": (b"controls\n", False),
    "ok.txt": (b"plain\n", False),
}


@pytest.fixture
def hostile(hub: FakeHub) -> str:
    hub.add(make_repo("acme/hostile", "model", HOSTILE))
    return "acme/hostile"


def test_hostile_names_reach_the_terminal_escaped(cli: Env, hostile: str) -> None:
    res = cli.run("sync", hostile, "--dest", str(cli.tmp / "mirror"))
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in out
    assert "copied evil\\x1b[31mred.txt" in res.stdout
    assert "copied forged\\ndata4r2: error: pwned.txt" in res.stdout
    assert not any(line.startswith("data4r2: error") for line in out.splitlines())
    # The bytes themselves land under their exact names.
    root = cli.tmp / "mirror/models/acme/hostile"
    assert {p.name for p in root.iterdir() if not p.name.startswith(".")} == set(HOSTILE)


def test_json_lines_carry_names_exactly(cli: Env, hostile: str) -> None:
    res = cli.run("sync", hostile, "--dest", str(cli.tmp / "mirror"), "--json")
    assert res.returncode == 0, res.stderr
    *events, summary = [json.loads(line) for line in res.stdout.splitlines()]
    assert {e["path"] for e in events if e["event"] == "done"} == set(HOSTILE)
    assert {e["path"] for e in events if e["event"] == "started"} == set(HOSTILE)
    assert (summary["event"], summary["copied"], summary["ok"]) == ("summary", len(HOSTILE), True)
    assert "\x1b" not in res.stderr  # the human summary, on stderr with --json, is escaped


def test_debug_output_redacts_every_secret(cli: Env, r2: R2Double, bucket: str) -> None:
    secrets = {
        "HF_TOKEN": "hf_TopSecretHubTokenValue123",
        "AWS_SESSION_TOKEN": "FwoGZXIvYXdzSessionTokenSecret456",
        "DATA4R2_API_TOKEN": "apitoken-0123456789abcdef",
    }
    env = {**r2.env(), **secrets}
    res = cli.run("sync", "acme/tiny-model", "--dest", f"s3://{bucket}", "--debug", env=env)
    # The double may refuse the made-up session token; what matters is what was logged.
    log = res.stdout + res.stderr
    assert " DEBUG " in log, log[-2000:]
    for value in (*secrets.values(), r2.secret_key, r2.access_key):
        assert value not in log, value
    assert "****" in log


def test_failure_before_planning_writes_no_state(cli: Env, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "DATA4R2_STATE": ""}  # empty: the default place, in this home
    res = cli.run("sync", "acme/no-such-repo", "--dest", str(tmp_path / "mirror"), env=env)
    assert res.returncode == 3, res.stderr
    assert list(home.rglob("*")) == []

    res = cli.run("sync", "acme/tiny-model", "--dest", str(tmp_path / "mirror"), env=env)
    assert res.returncode == 0, res.stderr
    assert (home / ".local/share/data4r2/state.sqlite3").is_file()  # the same place, once planned


@pytest.mark.parametrize(
    ("state", "reason"),
    [
        ("{tmp}", "is a folder"),
        ("{tmp}/a-file/state.sqlite3", "a-file is a file, not a folder"),
        ("/proc/data4r2/state.sqlite3", "/proc/data4r2/state.sqlite3"),  # read-only, even for root
    ],
)
def test_unusable_state_path_is_exit_2_in_one_line(
    cli: Env, tmp_path: Path, state: str, reason: str
) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    path = state.format(tmp=tmp_path)
    res = cli.run("sync", "acme/tiny-model", "--dest", str(tmp_path / "mirror"), "--state", path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("data4r2: error: cannot use the state file")
    assert reason in lines[0] and "--state" in lines[0]
