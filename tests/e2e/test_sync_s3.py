"""`data4r2 sync` as a user runs it: the real CLI, the fake Hub, the strict R2 double over TLS."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from .conftest import DATASET_FILES, MODEL_FILES, PART, Env, R2Double, sha256

MODEL_KEY = "mirror/models/acme/tiny-model/"


def s3_env(r2: R2Double) -> dict[str, str]:
    return r2.env()


def objects(r2: R2Double, bucket: str, prefix: str) -> dict[str, bytes]:
    """The repo's objects under `prefix`; not data4r2's manifest and refs (their own tests:
    test_mirror_freshness.py)."""
    client = r2.client()
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if "/.data4r2/" in obj["Key"]:
                continue
            body = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            out[obj["Key"][len(prefix) :]] = body
    return out


def writes(r2: R2Double) -> list[str]:
    """PUTs and POSTs the double forwarded: object and part writes, Create and Complete."""
    return [e.op for e in r2.proxy.journal if e.method in ("PUT", "POST")]


def wait_for_parts(proc: subprocess.Popen[str], r2: R2Double, key: str, *numbers: int) -> None:
    """Poll (with a deadline) until the double has forwarded these parts of `key`."""
    deadline = time.monotonic() + 60
    while not {(key, n) for n in numbers} <= set(r2.proxy.part_uploads):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"parts {numbers} of {key} never arrived"
        time.sleep(0.05)


def test_model_sync_copies_every_byte_then_a_second_run_copies_nothing(
    cli: Env, r2: R2Double, bucket: str
) -> None:
    dest = f"s3://{bucket}/mirror"
    first = cli.run("sync", "acme/tiny-model", "--dest", dest, "--json", env=s3_env(r2))
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.splitlines()[-1])  # NDJSON: the summary is last
    assert summary["copied"] == len(MODEL_FILES) and summary["failed"] == 0

    got = objects(r2, bucket, MODEL_KEY)
    assert got == {path: data for path, (data, _) in MODEL_FILES.items()}
    head = r2.client().head_object(Bucket=bucket, Key=MODEL_KEY + "weights/model.safetensors")
    meta = head["Metadata"]
    assert meta["sha256"] == sha256(MODEL_FILES["weights/model.safetensors"][0])
    assert meta["repo"] == "acme/tiny-model" and meta["repo-type"] == "model"
    assert len(meta["commit"]) == 40
    # The multipart file went up in 4 parts of equal size but the last (the double checks).
    assert sorted(n for (k, n) in r2.proxy.part_uploads if k.endswith("model.safetensors")) == [
        1,
        2,
        3,
        4,
    ]

    r2.proxy.reset()
    second = cli.run("sync", "acme/tiny-model", "--dest", dest, "--json", env=s3_env(r2))
    assert second.returncode == 0, second.stderr
    again = json.loads(second.stdout.splitlines()[-1])
    assert again["copied"] == 0 and again["skipped"] == len(MODEL_FILES)
    assert writes(r2) == []


def test_dataset_sync_with_include_and_exclude(cli: Env, r2: R2Double, bucket: str) -> None:
    res = cli.run(
        "sync",
        "acme/tiny-data",
        "dataset",
        "--dest",
        f"s3://{bucket}",
        "--include",
        "data/*",
        "--exclude",
        "*/test/*",
        env=s3_env(r2),
    )
    assert res.returncode == 0, res.stderr
    got = objects(r2, bucket, "datasets/acme/tiny-data/")
    assert got == {
        "data/train/part-00000.parquet": DATASET_FILES["data/train/part-00000.parquet"][0]
    }


def test_killed_run_resumes_without_reuploading_finished_parts(
    cli: Env, r2: R2Double, bucket: str
) -> None:
    key = MODEL_KEY + "weights/model.safetensors"
    # The Hub stalls the big file after 2 parts and a bit: parts 1 and 2 land, then we kill.
    stall = cli.hub.faults.add(
        kind="stall", route="cdn", path_glob="*model.safetensors*", after_bytes=2 * PART + 100
    )
    proc = cli.popen(
        "sync", "acme/tiny-model", "--dest", f"s3://{bucket}/mirror", "--quiet", env=s3_env(r2)
    )
    try:
        wait_for_parts(proc, r2, key, 1, 2)
        # Both parts forwarded; wait until the state file has recorded them too.
        deadline = time.monotonic() + 30
        while _recorded_parts(cli) < 2:
            assert time.monotonic() < deadline, "parts were not recorded"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    stall.release()
    cli.hub.faults.clear()
    assert r2.client().list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) == 0

    res = cli.run("sync", "acme/tiny-model", "--dest", f"s3://{bucket}/mirror", env=s3_env(r2))
    assert res.returncode == 0, res.stderr
    uploads = r2.proxy.part_uploads
    assert uploads[(key, 1)] == 1 and uploads[(key, 2)] == 1  # not sent again
    assert uploads[(key, 3)] == 1 and uploads[(key, 4)] == 1
    body = r2.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == MODEL_FILES["weights/model.safetensors"][0]


def _recorded_parts(cli: Env) -> int:
    import sqlite3

    if not cli.state.exists():
        return 0
    con = sqlite3.connect(f"file:{cli.state}?mode=ro", uri=True, timeout=5)
    try:
        return int(con.execute("SELECT count(*) FROM parts").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def test_corrupted_download_is_never_published(cli: Env, r2: R2Double, bucket: str) -> None:
    key = MODEL_KEY + "weights/model.safetensors"
    cli.hub.faults.add(
        kind="corrupt", route="cdn", path_glob="*model.safetensors*", offset=PART + 7, count=None
    )
    res = cli.run(
        "sync",
        "acme/tiny-model",
        "--dest",
        f"s3://{bucket}/mirror",
        "--max-retries",
        "1",
        "--include",
        "weights/*",
        env=s3_env(r2),
    )
    assert res.returncode == 1
    assert "weights/model.safetensors" in res.stdout + res.stderr
    assert "sha256" in res.stdout + res.stderr
    assert r2.client().list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) == 0
    assert "CompleteMultipartUpload" not in writes(r2)
    # The small LFS file was fine and is there.
    small = r2.client().get_object(Bucket=bucket, Key=MODEL_KEY + "weights/small.safetensors")
    assert small["Body"].read() == MODEL_FILES["weights/small.safetensors"][0]


def test_one_corrupted_download_is_retried_and_then_verified(
    cli: Env, r2: R2Double, bucket: str
) -> None:
    key = MODEL_KEY + "weights/model.safetensors"
    cli.hub.faults.add(kind="corrupt", route="cdn", path_glob="*model.safetensors*", offset=3)
    res = cli.run("sync", "acme/tiny-model", "--dest", f"s3://{bucket}/mirror", env=s3_env(r2))
    assert res.returncode == 0, res.stderr
    body = r2.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == MODEL_FILES["weights/model.safetensors"][0]
    assert writes(r2).count("CompleteMultipartUpload") == 1


def test_a_429_storm_and_5xx_from_the_hub_are_survived(cli: Env, r2: R2Double, bucket: str) -> None:
    cli.hub.faults.add(kind="rate_limit", route="resolve", count=3, retry_after=1)
    cli.hub.faults.add(kind=503, route="cdn", count=2)
    cli.hub.faults.add(kind="disconnect", route="cdn", path_glob="*model*", after_bytes=PART // 2)
    res = cli.run("sync", "acme/tiny-model", "--dest", f"s3://{bucket}", env=s3_env(r2))
    assert res.returncode == 0, res.stderr
    got = objects(r2, bucket, "models/acme/tiny-model/")
    assert got == {path: data for path, (data, _) in MODEL_FILES.items()}
    statuses = [e.status for e in cli.hub.journal]
    assert statuses.count(429) == 3 and statuses.count(503) == 2


def test_r2_429_and_503_from_the_store_are_retried(cli: Env, r2: R2Double, bucket: str) -> None:
    r2.proxy.faults.add("ServiceUnavailable", op="UploadPart", times=2)
    r2.proxy.faults.add("TooManyRequests", op="PutObject", times=2)
    r2.proxy.faults.add("cut-body", op="UploadPart", times=1, cut_after=PART // 3)
    res = cli.run("sync", "acme/tiny-model", "--dest", f"s3://{bucket}", env=s3_env(r2))
    assert res.returncode == 0, res.stderr
    got = objects(r2, bucket, "models/acme/tiny-model/")
    assert got == {path: data for path, (data, _) in MODEL_FILES.items()}
    codes = [e.code for e in r2.proxy.journal if e.code]
    assert codes.count("ServiceUnavailable") == 2 and codes.count("TooManyRequests") >= 2


def test_ctrl_c_exits_130_and_the_same_command_resumes(cli: Env, r2: R2Double, bucket: str) -> None:
    key = MODEL_KEY + "weights/model.safetensors"
    stall = cli.hub.faults.add(
        kind="stall", route="cdn", path_glob="*model.safetensors*", after_bytes=PART + 10
    )
    args = ("sync", "acme/tiny-model", "--dest", f"s3://{bucket}/mirror")
    proc = cli.popen(*args, env=s3_env(r2))
    try:
        wait_for_parts(proc, r2, key, 1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    stall.release()
    cli.hub.faults.clear()
    assert proc.returncode == 130
    assert "run the same command again to resume" in err
    assert "Traceback" not in err

    res = cli.run(*args, env=s3_env(r2))
    assert res.returncode == 0, res.stderr
    body = r2.client().get_object(Bucket=bucket, Key=key)["Body"].read()
    assert body == MODEL_FILES["weights/model.safetensors"][0]


def test_a_hub_that_dies_mid_run_stops_the_run_with_one_line(
    cli: Env, r2: R2Double, bucket: str
) -> None:
    key = MODEL_KEY + "weights/model.safetensors"
    cli.hub.faults.add(
        kind="stall", route="cdn", path_glob="*model.safetensors*", after_bytes=PART + 10
    )
    proc = cli.popen("sync", "acme/tiny-model", "--dest", f"s3://{bucket}/mirror", env=s3_env(r2))
    try:
        wait_for_parts(proc, r2, key, 1)
        cli.hub.stop()  # the Hub goes away mid-body
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 4, err
    lines = [line for line in err.splitlines() if line.startswith("data4r2: error:")]
    assert len(lines) == 1 and "HF_ENDPOINT" in lines[0], err
    assert "Traceback" not in err
    assert r2.client().list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) == 0
