"""Every error a user can meet gives one actionable line and its exit code; nothing is lost."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakehub import Repo

from .conftest import Env, R2Double


def one_line(stderr: str) -> str:
    lines = [line for line in stderr.strip().splitlines() if line]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["sync", "bad//id", "--dest", "DEST"], 2, "invalid repo id"),
        (["sync", "acme/missing", "--dest", "DEST"], 3, "not found"),
        (["sync", "acme/tiny-model", "dataset", "--dest", "DEST"], 3, "not found"),
        (["sync", "acme/tiny-model", "--revision", "nope", "--dest", "DEST"], 3, "revision"),
        (["sync", "acme/tiny-model", "--dest", "ftp://x/y"], 2, "dest"),
        (["sync", "acme/tiny-model", "--dest", "r2://bucket"], 2, "R2_ACCOUNT_ID"),
        (["sync", "acme/tiny-model", "--dest", "DEST", "--part-size", "1k"], 2, "part"),
    ],
)
def test_bad_input_gives_one_line_and_an_exit_code(
    cli: Env, tmp_path: Path, args: list[str], code: int, needle: str
) -> None:
    args = [str(tmp_path / "m") if a == "DEST" else a for a in args]
    res = cli.run(*args)
    assert res.returncode == code, res.stderr
    assert needle.lower() in one_line(res.stderr).lower()


def test_gated_repo_says_where_to_accept_the_terms(cli: Env, tmp_path: Path) -> None:
    gated = Repo(repo_id="acme/gated", gated="manual")
    gated.add_file("model.bin", b"secret weights", lfs=True)
    gated.commit("gated")
    cli.hub.add(gated)
    res = cli.run("sync", "acme/gated", "--dest", str(tmp_path / "m"))
    assert res.returncode == 3
    line = one_line(res.stderr)
    assert f"{cli.hub.url}/acme/gated" in line and "HF_TOKEN" in line
    assert not list((tmp_path / "m").rglob("model.bin"))


def test_invalid_token_is_named(cli: Env, tmp_path: Path) -> None:
    res = cli.run("sync", "acme/tiny-model", "--dest", str(tmp_path / "m"), "--token", "hf_bad")
    assert res.returncode == 3
    assert "token" in one_line(res.stderr).lower()


def test_bad_credentials(cli: Env, r2: R2Double, bucket: str) -> None:
    env = {**r2.env(), "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
    res = cli.run("sync", "acme/tiny-model", "--dest", f"s3://{bucket}", env=env)
    assert res.returncode == 6
    assert "AWS_SECRET_ACCESS_KEY" in one_line(res.stderr) or "credential" in res.stderr.lower()


def test_unknown_access_key(cli: Env, r2: R2Double, bucket: str) -> None:
    env = {**r2.env(), "AWS_ACCESS_KEY_ID": "nobody"}
    res = cli.run("sync", "acme/tiny-model", "--dest", f"s3://{bucket}", env=env)
    assert res.returncode == 6
    one_line(res.stderr)


def test_missing_credentials(cli: Env, r2: R2Double, bucket: str) -> None:
    env = {k: v for k, v in r2.env().items() if not k.startswith("AWS_SECRET")}
    res = cli.run("sync", "acme/tiny-model", "--dest", f"s3://{bucket}", env=env)
    assert res.returncode == 6
    assert "AWS_SECRET_ACCESS_KEY" in one_line(res.stderr)


def test_bucket_not_found(cli: Env, r2: R2Double) -> None:
    res = cli.run("sync", "acme/tiny-model", "--dest", "s3://no-such-bucket-x", env=r2.env())
    assert res.returncode == 6
    assert "no-such-bucket-x" in one_line(res.stderr)


def test_endpoint_unreachable(cli: Env, r2: R2Double, bucket: str) -> None:
    env = {**r2.env(), "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9"}
    res = cli.run("sync", "acme/tiny-model", "--dest", f"s3://{bucket}", env=env)
    assert res.returncode == 6
    assert "127.0.0.1:9" in one_line(res.stderr)


def test_debug_shows_the_traceback(cli: Env, r2: R2Double) -> None:
    res = cli.run(
        "sync", "acme/tiny-model", "--dest", "s3://no-such-bucket-x", "--debug", env=r2.env()
    )
    assert res.returncode == 6
    assert "Traceback" in res.stderr
