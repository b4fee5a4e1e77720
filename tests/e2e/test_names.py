"""Names legal on Linux and in S3 keys reach both kinds of destination unchanged (bug 10).

Until issue 15, `x:y.txt` was refused as "would escape" and the refusal stopped the whole repo.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakehub import Repo

from .conftest import Env, R2Double

LEGAL = {
    "x:y.txt": b"colon",
    "C:/drive-like.txt": b"a folder named C:",
    "a\\b.txt": b"backslash",
    "q?.txt": b"question mark",
    "plus+and%20.txt": b"plus and an encoded-looking space",
    "tab\there.txt": b"tab",
    "esc\x1b[31mred.txt": b"escape sequence",
    "...": b"three dots",
}


@pytest.fixture
def repo(cli: Env) -> Repo:
    repo = Repo(repo_id="acme/odd-names")
    for path, data in LEGAL.items():
        repo.add_file(path, data)
    repo.commit("odd names")
    cli.hub.add(repo)
    return repo


def synced(res_stdout: str) -> dict[str, object]:
    summary = json.loads(res_stdout.splitlines()[-1])  # NDJSON: the summary is last
    assert isinstance(summary, dict)
    return summary


def test_folder_keeps_every_legal_name(cli: Env, repo: Repo, tmp_path: Path) -> None:
    odd = repo.repo_id
    dest = tmp_path / "mirror"
    res = cli.run("sync", odd, "--dest", str(dest), "--json")
    assert res.returncode == 0, res.stderr
    assert synced(res.stdout)["copied"] == len(LEGAL)
    for path, data in LEGAL.items():
        assert (dest / "models" / odd / path).read_bytes() == data
    again = cli.run("verify", odd, "--dest", str(dest))
    assert again.returncode == 0, again.stdout + again.stderr


def test_bucket_keeps_every_legal_name(cli: Env, repo: Repo, r2: R2Double, bucket: str) -> None:
    odd = repo.repo_id
    # SeaweedFS (under the R2 double) folds `\\` into `/` in keys (measured: PUT `p/a\\b.txt`
    # lists as `p/a/b.txt`); S3 and R2 keep it. Not a property of ours to test here.
    repo.delete_file("a\\b.txt")
    repo.commit("no backslash")
    legal = {p: d for p, d in LEGAL.items() if "\\" not in p}
    dest = f"s3://{bucket}/mirror"
    res = cli.run("sync", odd, "--dest", dest, "--json", env=r2.env())
    assert res.returncode == 0, res.stderr
    assert synced(res.stdout)["copied"] == len(legal)
    client, prefix = r2.client(), f"mirror/models/{odd}/"
    for path, data in legal.items():
        assert client.get_object(Bucket=bucket, Key=prefix + path)["Body"].read() == data
    again = cli.run("sync", odd, "--dest", dest, "--json", env=r2.env())
    assert synced(again.stdout)["skipped"] == len(legal), again.stderr  # listed back exactly
