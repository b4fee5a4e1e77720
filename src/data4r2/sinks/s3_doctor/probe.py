"""What the checks share: the sink, where the probe objects go, and what was written."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ...domain import ObjectMeta, PartInfo

if TYPE_CHECKING:
    from ..s3 import S3Sink

KiB, MiB = 1024, 1024**2
PART = 5 * MiB  # R2's smallest non-trailing part: the cheapest legal 2-part layout
TAIL = KiB  # the last part, smaller than the others as R2 allows
WRITE_INTERVAL = 1.05  # R2 takes one write per key per second (docs/r2.md); a little margin
PROBE_DIR = ".data4r2-doctor"


@dataclass
class Probe:
    """What the checks share: the sink, where they write, and what they left behind."""

    endpoint: str
    ca_bundle: str | None
    prefix: str  # the destination's key prefix: "" or ends with "/"
    root: str  # key prefix of every probe object, ends with "/"
    make_sink: Callable[[], S3Sink]
    sink_: S3Sink | None = None
    written: dict[str, float] = field(default_factory=dict)  # key → monotonic time of write
    uploads: dict[str, str] = field(default_factory=dict)  # open upload id → key
    touched: bool = False  # a write was attempted: cleanup has work
    metas: dict[str, ObjectMeta] = field(default_factory=dict)  # name → what was sent
    parts: list[PartInfo] = field(default_factory=list)
    upload_id: str = ""
    completed: bool = False
    small: bytes = field(default_factory=lambda: b"data4r2 doctor probe " + os.urandom(32))

    @property
    def sink(self) -> S3Sink:
        if self.sink_ is None:  # the runner skips every check that needs one
            raise RuntimeError("no sink: the credentials check did not pass")
        return self.sink_

    def key(self, name: str) -> str:
        return self.root + name

    def wrote(self, key: str) -> None:
        self.written[key] = time.monotonic()

    def pace(self, key: str) -> None:
        """Wait until `key` may be written again (R2: one write per key per second)."""
        last = self.written.get(key)
        if last is not None:
            time.sleep(max(0.0, last + WRITE_INTERVAL - time.monotonic()))


def meta_for(name: str, body: bytes) -> ObjectMeta:
    """The metadata a sync records, for a probe object (a git blob sha1 as for non-LFS files)."""
    blob = hashlib.sha1(b"blob %d\0" % len(body) + body, usedforsecurity=False).hexdigest()
    return ObjectMeta(
        repo_id="data4r2/doctor",
        repo_type="model",
        commit="0" * 40,
        path=f"{PROBE_DIR}/{name}",
        sha256=hashlib.sha256(body).hexdigest(),
        git_sha1=blob,
    )
