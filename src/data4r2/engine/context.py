"""What every job of one run shares: adapters, policy, buffers, the event sink."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ..domain import Event
from ..ports import HubSource, JobStore, ObjectSink
from .buffers import BufferPool
from .options import SyncOptions
from .retry import RetryPolicy


@dataclass(slots=True)
class RunContext:
    hub: HubSource
    sink: ObjectSink
    store: JobStore
    destination: str  # stable id of the destination: the key of resumable uploads
    options: SyncOptions
    emit: Callable[[Event], None]
    buffers: BufferPool
    uploads: ThreadPoolExecutor  # part uploads of every file share it
    policy: RetryPolicy
    cancel: threading.Event = field(default_factory=threading.Event)
    sleep: Callable[[float], None] = time.sleep
