"""Manifests, a cheap re-sync and `sync --delete`: the real CLI, the fake Hub, the R2 double.

The double's journal counts every request the CLI sent, so "no LIST or HEAD of an object"
is asserted on the wire, not on the engine's word.
"""

from __future__ import annotations

import json

from .conftest import MODEL_FILES, Env, R2Double, make_repo

PREFIX = "mirror/models/acme/tiny-model/"
SIBLING = "mirror/models/acme/tiny-model-2/"  # shares a string prefix with PREFIX
META = f"{PREFIX}.data4r2/"


def sync(cli: Env, r2: R2Double, bucket: str, *args: str) -> dict[str, object]:
    res = cli.run(
        "sync", "acme/tiny-model", "--dest", f"s3://{bucket}/mirror", "--json", *args, env=r2.env()
    )
    assert res.returncode == 0, res.stderr
    doc: dict[str, object] = json.loads(res.stdout.splitlines()[-1])
    return doc


def get_json(r2: R2Double, bucket: str, key: str) -> dict[str, object]:
    body = r2.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    doc: dict[str, object] = json.loads(body)
    return doc


def keys(r2: R2Double, bucket: str, prefix: str) -> set[str]:
    pages = r2.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def object_requests(r2: R2Double) -> list[tuple[str, str]]:
    """Requests on the repo's objects or listings, not on data4r2's .data4r2/ documents."""
    return [
        (e.op, e.key)
        for e in r2.proxy.journal
        if e.op in ("ListObjects", "HeadObject", "GetObject", "PutObject", "DeleteObject")
        and not e.key.startswith(META)
    ]


def test_manifest_is_written_last_and_a_no_change_re_sync_touches_no_object(
    cli: Env, r2: R2Double, bucket: str
) -> None:
    first = sync(cli, r2, bucket)
    assert first["copied"] == len(MODEL_FILES)
    commit = str(first["commit"])
    writes = [e.key for e in r2.proxy.journal if e.op in ("PutObject", "CompleteMultipartUpload")]
    assert writes[-2:] == [f"{META}manifests/{commit}.json", f"{META}refs.json"]
    manifest = get_json(r2, bucket, f"{META}manifests/{commit}.json")
    assert manifest["format"] == "data4r2-manifest" and manifest["commit"] == commit
    files = manifest["files"]
    assert isinstance(files, list) and [f["path"] for f in files] == sorted(MODEL_FILES)
    assert all(f["key"] == PREFIX + f["path"] for f in files)
    refs = get_json(r2, bucket, f"{META}refs.json")
    assert refs["refs"] == {"main": commit}

    r2.proxy.reset()
    second = sync(cli, r2, bucket)
    assert second["copied"] == 0 and second["skipped"] == len(MODEL_FILES)
    assert object_requests(r2) == []  # no LIST, no HEAD, no write: two GETs of our documents
    assert sorted(e.op for e in r2.proxy.journal.where(op="GetObject")) == ["GetObject"] * 4

    # Behind data4r2's back: --verify-objects looks at every object and finds it.
    r2.client().delete_object(Bucket=bucket, Key=PREFIX + "README.md")
    third = sync(cli, r2, bucket, "--verify-objects")
    assert third["copied"] == 1


def test_a_failed_file_leaves_no_manifest(cli: Env, r2: R2Double, bucket: str) -> None:
    cli.hub.faults.add(kind="corrupt", route="any", path_glob="*README.md*", offset=3, count=None)
    res = cli.run(
        "sync",
        "acme/tiny-model",
        "--dest",
        f"s3://{bucket}/mirror",
        "--max-retries",
        "0",
        env=r2.env(),
    )
    assert res.returncode == 1, res.stderr
    assert "failed README.md" in res.stdout
    assert not keys(r2, bucket, META)  # every other file is there, but no manifest, no refs
    assert len(keys(r2, bucket, PREFIX)) == len(MODEL_FILES) - 1


def test_a_new_commit_is_recopied_and_delete_removes_exactly_the_vanished_file(
    cli: Env, r2: R2Double, bucket: str
) -> None:
    sibling = cli.hub.add(make_repo("acme/tiny-model-2", "model", MODEL_FILES))
    res = cli.run(
        "sync", sibling.repo_id, "--dest", f"s3://{bucket}/mirror", "--json", env=r2.env()
    )
    assert res.returncode == 0, res.stderr
    first = sync(cli, r2, bucket)
    repo = cli.hub.get_repo("model", "acme/tiny-model")
    assert repo is not None
    repo.add_file("config.json", b'{"model_type": "gpt2", "n_layer": 3}\n', lfs=False)
    repo.delete_file("README.md")
    new_commit = repo.commit("v2")
    sibling_before = keys(r2, bucket, SIBLING)
    assert PREFIX + "README.md" in keys(r2, bucket, PREFIX)

    r2.proxy.reset()
    dry = cli.run(
        "sync",
        "acme/tiny-model",
        "--dest",
        f"s3://{bucket}/mirror",
        "--json",
        "--dry-run",
        "--delete",
        env=r2.env(),
    )
    assert dry.returncode == 0, dry.stderr
    plan = json.loads(dry.stdout.splitlines()[-1])
    assert plan["to_delete"] == [PREFIX + "README.md"] and plan["to_copy"] == 1
    assert [e.op for e in r2.proxy.journal if e.method in ("PUT", "POST", "DELETE")] == []

    second = sync(cli, r2, bucket, "--delete")
    assert second["commit"] == new_commit != first["commit"]
    assert second["copied"] == 1 and second["deleted"] == [PREFIX + "README.md"]
    deletes = [e.key for e in r2.proxy.journal if e.op == "DeleteObject"]
    assert deletes == [PREFIX + "README.md"]
    assert keys(r2, bucket, SIBLING) == sibling_before  # the sibling repo is untouched
    body = r2.client().get_object(Bucket=bucket, Key=PREFIX + "config.json")["Body"].read()
    assert body == b'{"model_type": "gpt2", "n_layer": 3}\n'
    assert get_json(r2, bucket, f"{META}refs.json")["refs"] == {"main": new_commit}
    assert {f"{META}manifests/{first['commit']}.json", f"{META}refs.json"} <= keys(r2, bucket, META)
