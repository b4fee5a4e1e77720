"""The `sink` fixture: every ObjectSink the contract suite runs against (rclone's fstests).

Each case also says how to read an object's bytes back by a route other than the sink's own
API (the dict, the file, a raw GET), so a round trip proves what really landed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from data4r2.ports import ObjectSink
from data4r2.sinks.folder import FolderSink
from data4r2.sinks.memory import MemorySink

SINKS = ["memory", "folder", "folder-sidecar"]


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
