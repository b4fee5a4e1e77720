"""`data4r2 doctor` as a user runs it: the real CLI against the strict R2 double over TLS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .conftest import R2Double

CHECKS = [
    "credentials",
    "endpoint",
    "bucket access",
    "clock skew",
    "PUT + sha256",
    "bad checksum refused",
    "multipart upload",
    "ListParts",
    "complete multipart",
    "abort",
    "HEAD metadata",
    "cleanup",
]
WRITES = ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload")


def doctor(tmp_path: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH")
    }
    return subprocess.run(
        [sys.executable, "-m", "data4r2", "doctor", *args],
        # Wide, so every table row stays on one line; no AWS config of the machine leaks in.
        env={
            **keep,
            "COLUMNS": "240",
            "AWS_CONFIG_FILE": str(tmp_path / "none"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def results(stdout: str) -> dict[str, dict[str, Any]]:
    doc = json.loads(stdout)
    assert doc["command"] == "doctor"
    return {c["check"]: c for c in doc["checks"]}


def leftovers(r2: R2Double, bucket: str) -> list[str]:
    """Every object and open multipart upload in the bucket, seen past the double."""
    client = r2.client()
    objects = [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]
    uploads = [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    return objects + uploads


def row(table: str, check: str) -> str:
    lines = [line for line in table.splitlines() if f" {check} " in line]
    assert lines, table
    return lines[0]


def test_every_check_passes_against_the_strict_double_and_nothing_is_left(
    r2: R2Double, bucket: str, tmp_path: Path
) -> None:
    res = doctor(tmp_path, "--dest", f"s3://{bucket}/team", "--json", env=r2.env())
    assert res.returncode == 0, res.stdout + res.stderr
    doc = json.loads(res.stdout)
    assert doc["ok"] is True
    assert doc["probe_prefix"].startswith("team/.data4r2-doctor/")
    checks = results(res.stdout)
    assert list(checks) == CHECKS
    assert {name: c["result"] for name, c in checks.items()} == dict.fromkeys(CHECKS, "ok")
    assert "TLS" in checks["endpoint"]["detail"]
    assert "deleted 2 objects" in checks["cleanup"]["detail"]
    assert leftovers(r2, bucket) == []

    journal = r2.proxy.journal
    # Every request was one R2 would take: the double broke no rule and throttled nothing; its
    # only own answer may be NoSuchUpload for the aborted upload (R2 forgets it at once).
    assert [e.code for e in journal.where(source="double") if e.code != "NoSuchUpload"] == []
    writes = [e for e in journal if e.op in WRITES]
    assert writes and all(e.key.startswith(doc["probe_prefix"]) for e in writes)
    # The probes used sync's wire format: checksums as header values, nothing aws-chunked.
    puts = journal.where(op="PutObject")
    assert all(e.header("x-amz-checksum-sha256") for e in puts)
    assert [(e.status, e.code) for e in puts if e.key.endswith("bad-checksum.txt")] == [
        (400, "BadDigest")
    ]
    parts = journal.where(op="UploadPart")
    assert len(parts) == 3 and all(e.header("x-amz-checksum-crc32c") for e in parts)
    assert [e.body_bytes for e in parts if e.key.endswith("multipart.bin")] == [5 * 1024**2, 1024]
    assert [e.status for e in journal.where(op="CompleteMultipartUpload")] == [200]
    assert journal.where(op="AbortMultipartUpload")
    # The table, for people, says the same on stdout when --json is not given.
    table = doctor(tmp_path, "--dest", f"s3://{bucket}", env=r2.env())
    assert table.returncode == 0, table.stdout + table.stderr
    assert "every check a sync needs passed" in table.stdout
    assert all(" ok " in row(table.stdout, name) for name in CHECKS)
    assert leftovers(r2, bucket) == []


def test_a_failing_complete_is_named_exits_1_and_cleans_up(
    r2: R2Double, bucket: str, tmp_path: Path
) -> None:
    r2.proxy.faults.add("ServiceUnavailable", op="CompleteMultipartUpload")
    res = doctor(tmp_path, "--dest", f"s3://{bucket}", "--json", env=r2.env())
    assert res.returncode == 1, res.stdout + res.stderr
    checks = results(res.stdout)
    assert json.loads(res.stdout)["ok"] is False
    failed = {name for name, c in checks.items() if c["result"] == "FAIL"}
    assert failed == {"complete multipart"}
    assert "ServiceUnavailable" in checks["complete multipart"]["detail"]
    assert checks["complete multipart"]["what_to_do"]
    # The rest still ran; cleanup aborted the upload Complete left open.
    assert checks["abort"]["result"] == checks["HEAD metadata"]["result"] == "ok"
    assert "aborted 1 upload:" in checks["cleanup"]["detail"]
    assert leftovers(r2, bucket) == []
    # With --json the table goes to stderr, and names the failing check.
    line = row(res.stderr, "complete multipart")
    assert "FAIL" in line and "ServiceUnavailable" in line


def test_wrong_secret_fails_bucket_access_and_writes_nothing(
    r2: R2Double, bucket: str, tmp_path: Path
) -> None:
    env = {**r2.env(), "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
    res = doctor(tmp_path, "--dest", f"s3://{bucket}", "--json", env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    checks = results(res.stdout)
    assert checks["credentials"]["result"] == checks["endpoint"]["result"] == "ok"
    assert checks["bucket access"]["result"] == "FAIL"
    assert "AWS_SECRET_ACCESS_KEY" in checks["bucket access"]["what_to_do"]
    assert checks["PUT + sha256"]["result"] == checks["multipart upload"]["result"] == "skip"
    assert checks["cleanup"]["detail"] == "nothing was written"
    assert [e for e in r2.proxy.journal if e.method in ("PUT", "POST", "DELETE")] == []


def test_missing_credentials_is_a_failed_check_not_a_crash(
    r2: R2Double, bucket: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in r2.env().items() if k != "AWS_SECRET_ACCESS_KEY"}
    res = doctor(tmp_path, "--dest", f"s3://{bucket}", env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "FAIL" in row(res.stdout, "credentials")
    assert "AWS_SECRET_ACCESS_KEY" in row(res.stdout, "credentials")
    assert " ok " in row(res.stdout, "endpoint")  # still probed: it needs no key
    assert " skip " in row(res.stdout, "bucket access")
    assert "a sync would fail here" in res.stdout


def test_an_untrusted_certificate_fails_the_endpoint_check(
    r2: R2Double, bucket: str, tmp_path: Path
) -> None:
    env = {k: v for k, v in r2.env().items() if k != "AWS_CA_BUNDLE"}
    res = doctor(tmp_path, "--dest", f"s3://{bucket}", "--json", env=env)
    assert res.returncode == 1, res.stdout + res.stderr
    checks = results(res.stdout)
    assert checks["endpoint"]["result"] == "FAIL"
    assert "not trusted" in checks["endpoint"]["detail"]
    assert "--ca-bundle" in checks["endpoint"]["what_to_do"]
    assert checks["bucket access"]["result"] == "skip"
    # --ca-bundle fixes it (the flag, not only AWS_CA_BUNDLE).
    fixed = doctor(
        tmp_path, "--dest", f"s3://{bucket}", "--ca-bundle", str(r2.ca_bundle), "--json", env=env
    )
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr


def test_plain_http_is_a_warning_not_a_failure(
    r2_http: R2Double, bucket: str, tmp_path: Path
) -> None:
    res = doctor(tmp_path, "--dest", f"s3://{bucket}", "--json", env=r2_http.env())
    assert res.returncode == 0, res.stdout + res.stderr
    checks = results(res.stdout)
    assert checks["endpoint"]["result"] == "warn"
    assert "plain http" in checks["endpoint"]["detail"]
    assert leftovers(r2_http, bucket) == []


@pytest.mark.parametrize(
    ("dest", "needle"),
    [("ftp://x/y", "dest"), ("r2://bucket", "R2_ACCOUNT_ID"), ("FOLDER", "folder")],
)
def test_a_bad_dest_keeps_its_one_line_and_exit_2(
    r2: R2Double, tmp_path: Path, dest: str, needle: str
) -> None:
    dest = str(tmp_path / "m") if dest == "FOLDER" else dest
    res = doctor(tmp_path, "--dest", dest, env=r2.env())
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("data4r2: error:"), res.stderr
    assert needle.lower() in lines[0].lower()
    assert res.stdout == ""
    assert not (tmp_path / "m").exists()
