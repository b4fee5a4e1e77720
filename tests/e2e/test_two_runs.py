"""Two `data4r2 sync` processes of one repo into one bucket, on one brand-new state file.

Issue 15 bug 6: both uploaded every file; one sometimes died with a raw LookupError and
leaked a multipart upload, or failed at start with "database is locked … move it away".
Now the state store leases each object to one run: every object is published once, the
other run says it is waiting and then finds the object published.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections import Counter

from .conftest import MODEL_FILES, PART, Env, R2Double

MODEL_KEY = "mirror/models/acme/tiny-model/"
BIG = "weights/model.safetensors"


class Lines:
    """Collect a process's stderr lines as they come, to wait on one without sleeping."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stderr is not None
        stream = proc.stderr
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def text(self) -> str:
        self._thread.join(60)
        return "".join(self.lines)


def test_two_runs_publish_each_object_once_and_leave_no_upload_open(
    cli: Env, r2: R2Double, bucket: str
) -> None:
    assert not cli.state.exists()  # both processes create it at once
    # The big file's download stalls mid-way: whichever run leases it holds it for a while.
    stall = cli.hub.faults.add(
        kind="stall", route="cdn", path_glob=f"*{BIG}*", after_bytes=PART + 10
    )
    args = ("sync", "acme/tiny-model", "--dest", f"s3://{bucket}/mirror", "--json")
    procs = [cli.popen(*args, env=r2.env()) for _ in range(2)]
    errs = [Lines(p) for p in procs]
    try:
        deadline = time.monotonic() + 60
        while not any("waiting" in line for e in errs for line in e.lines):
            assert all(p.poll() is None for p in procs), [e.text() for e in errs]
            assert time.monotonic() < deadline, [e.lines for e in errs]
            time.sleep(0.05)
        stall.release()
        outs = [p.communicate(timeout=120)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    stderr = [e.text() for e in errs]

    assert [p.returncode for p in procs] == [0, 0], stderr
    summaries = [json.loads(out) for out in outs]
    assert sum(s["copied"] for s in summaries) == len(MODEL_FILES)  # each file by one run
    assert sum(s["skipped"] for s in summaries) == len(MODEL_FILES)  # the other found it done
    waiting = [line for e in stderr for line in e.splitlines() if "waiting" in line]
    assert any(BIG in line and "another data4r2 run" in line for line in waiting), waiting
    assert "database is locked" not in "".join(stderr)

    published = Counter(
        e.key
        for e in r2.proxy.journal
        if e.op in ("PutObject", "CompleteMultipartUpload") and e.status == 200
    )
    assert published == Counter({MODEL_KEY + path: 1 for path in MODEL_FILES})
    assert Counter(e.op for e in r2.proxy.journal)["CreateMultipartUpload"] == 1
    assert r2.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    body = r2.client().get_object(Bucket=bucket, Key=MODEL_KEY + BIG)["Body"].read()
    assert body == MODEL_FILES[BIG][0]
