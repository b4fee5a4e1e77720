"""The `sink` fixture: every ObjectSink the contract suite runs against (rclone's fstests).

Each case also says how to read an object's bytes back by a route other than the sink's own
API (the dict, the file, a raw GET), so a round trip proves what really landed.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from doubles.memory_sink import MemorySink
from servers.r2_fixtures import open_double  # tests/ is on sys.path (tests/conftest.py)

from data4r2.ports import ObjectSink
from data4r2.sinks.folder import FolderSink
from data4r2.sinks.s3 import S3Sink

if TYPE_CHECKING:
    from servers.seaweed import SeaweedServer

# s3-tls: R2 is reached over https, where botocore frames bodies differently (docs/r2.md §5).
# s3-r2: through the strict R2 double (tests/servers/r2proxy.py), so the S3 sink's requests
# are held to the rules SeaweedFS does not enforce.
SINKS = ["memory", "folder", "folder-sidecar", "s3", "s3-tls", "s3-r2"]


class SteppingClock:
    """Each reading is one second after the last.

    The suite tests the sink's contract, not R2's pacing (one write per key per second),
    which the double's own tests cover with fake clocks; deleting what was just written
    must not be a 429 here.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self._now += 1.0
            return self._now


@dataclass(frozen=True)
class SinkCase:
    name: str
    sink: ObjectSink
    read: Callable[[str], bytes]  # the stored bytes of a key, not through the sink


@pytest.fixture(params=SINKS)
def sink_case(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SinkCase]:
    name: str = request.param
    if name == "memory":
        mem = MemorySink()  # strict R2 rules on: the suite must be legal on R2
        yield SinkCase(name, mem, mem.get)
    elif name.startswith("folder"):
        root = tmp_path / "mirror"
        folder = FolderSink(root, metadata="sidecar" if name == "folder-sidecar" else "auto")
        yield SinkCase(name, folder, lambda key: (root / key).read_bytes())
    elif name.startswith("s3"):
        # Only this case starts SeaweedFS (session-wide), so the others stay fast.
        seaweed: SeaweedServer = request.getfixturevalue("seaweed")
        bucket: str = request.getfixturevalue("bucket")
        client = seaweed.client()

        def read(key: str) -> bytes:
            body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
            return body

        with contextlib.ExitStack() as stack:
            if name == "s3-r2":
                double = stack.enter_context(open_double(seaweed, clock=SteppingClock()))
                endpoint, ca = double.endpoint, double.ca_bundle
            elif name == "s3-tls":
                endpoint, ca = seaweed.https_endpoint, seaweed.tls.ca if seaweed.tls else None
            else:
                endpoint, ca = seaweed.endpoint, None
            s3 = S3Sink(
                endpoint,
                bucket,
                access_key=seaweed.access_key,
                secret_key=seaweed.secret_key,
                region=seaweed.region,
                ca_bundle=str(ca) if ca else None,
            )
            stack.callback(s3.close)
            yield SinkCase(name, s3, read)
    else:  # pragma: no cover - a name added to SINKS without a case here
        raise AssertionError(name)


@pytest.fixture
def sink(sink_case: SinkCase) -> ObjectSink:
    return sink_case.sink


@pytest.fixture
def read_back(sink_case: SinkCase) -> Callable[[str], bytes]:
    return sink_case.read


@pytest.fixture
def prefix() -> str:
    """A fresh key prefix per test, so a shared bucket still lists exactly one test's keys."""
    return f"contract-{uuid.uuid4().hex[:12]}/"
