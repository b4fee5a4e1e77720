"""`data4r2 sync` into a local folder, and `data4r2 verify`."""

from __future__ import annotations

import json
from pathlib import Path

from fakehub import Repo

from .conftest import MODEL_FILES, Env


def test_folder_sync_then_verify_then_nothing_to_do(cli: Env, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    res = cli.run("sync", "acme/tiny-model", "model", "--dest", str(dest))
    assert res.returncode == 0, res.stderr
    root = dest / "models/acme/tiny-model"
    for path, (data, _) in MODEL_FILES.items():
        assert (root / path).read_bytes() == data
    assert "copied" in res.stdout + res.stderr  # the summary

    ok = cli.run("verify", "acme/tiny-model", "--dest", f"file://{dest}", "--json")
    assert ok.returncode == 0, ok.stderr
    report = json.loads(ok.stdout)
    assert len(report["matching"]) == len(MODEL_FILES) and not report["missing"]

    # Changed behind data4r2's back: the manifest still vouches for both files, so only a
    # look at every object (--verify-objects) finds the damage, and a sync with it repairs it.
    (root / "README.md").unlink()
    (root / "config.json").write_bytes(b"tampered")
    trusting = cli.run("verify", "acme/tiny-model", "--dest", str(dest), "--json")
    assert trusting.returncode == 0, trusting.stderr
    bad = cli.run("verify", "acme/tiny-model", "--dest", str(dest), "--json", "--verify-objects")
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["missing"] == ["README.md"] and report["differing"] == ["config.json"]

    again = cli.run("sync", "acme/tiny-model", "--dest", str(dest), "--json", "--verify-objects")
    assert again.returncode == 0, again.stderr
    *events, summary = map(json.loads, again.stdout.splitlines())  # NDJSON, summary last
    assert {e["path"] for e in events if e["event"] == "done"} == {"README.md", "config.json"}
    assert summary["copied"] == 2 and summary["skipped"] == len(MODEL_FILES) - 2
    assert (root / "config.json").read_bytes() == MODEL_FILES["config.json"][0]


def test_dry_run_writes_nothing(cli: Env, tmp_path: Path) -> None:
    dest = tmp_path / "mirror"
    res = cli.run("sync", "acme/tiny-model", "--dest", str(dest), "--dry-run", "--json")
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert plan["to_copy"] == len(MODEL_FILES) and plan["to_skip"] == 0
    assert sorted(f["path"] for f in plan["files"]) == sorted(MODEL_FILES)
    assert not dest.exists() or not any(dest.rglob("*.json"))
    assert not cli.state.exists()


def test_a_hostile_path_fails_alone_and_the_rest_is_mirrored(cli: Env, tmp_path: Path) -> None:
    evil = Repo(repo_id="acme/evil")
    legal = {"ok.txt": b"fine", "x:y.txt": b"colon", "a\\b.txt": b"backslash"}
    for path, data in legal.items():
        evil.add_file(path, data)
    evil.add_file("../../escape.txt", b"gotcha", hostile=True)
    evil.commit("hostile")
    cli.hub.add(evil)
    dest = tmp_path / "mirror"
    res = cli.run("sync", "acme/evil", "--dest", str(dest), "--json")
    assert res.returncode == 1, res.stderr  # README: 1 = some files failed
    summary = json.loads(res.stdout.splitlines()[-1])  # NDJSON: the summary is last
    assert summary["copied"] == len(legal) and summary["failed"] == 1 and not summary["ok"]
    [failure] = summary["failures"]
    assert failure["path"] == "../../escape.txt" and "'..' segment" in failure["reason"]
    assert "Traceback" not in res.stderr
    assert not list(tmp_path.rglob("escape.txt"))
    for path, data in legal.items():
        assert (dest / "models/acme/evil" / path).read_bytes() == data


def test_dry_run_lists_a_refused_path_apart(cli: Env, tmp_path: Path) -> None:
    evil = Repo(repo_id="acme/evil")
    evil.add_file("ok.txt", b"fine")
    evil.add_file("a//b.txt", b"aliases a/b.txt", hostile=True)
    evil.commit("hostile")
    cli.hub.add(evil)
    res = cli.run("sync", "acme/evil", "--dest", str(tmp_path / "m"), "--dry-run", "--json")
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    assert [f["path"] for f in plan["files"]] == ["ok.txt"]
    [refused] = plan["refused"]
    assert refused["path"] == "a//b.txt" and "aliases" in refused["reason"]
