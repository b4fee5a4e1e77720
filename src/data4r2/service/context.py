"""What the composition root (data4r2/app.py) hands the service: built adapters, by name.

The service never constructs a hub, a sink or a store; it receives them here, so tests and
the cluster can hand it others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ..domain import Event
from ..engine.options import SyncOptions
from ..ports import HubSource, JobStore, MirrorReader, MirrorSchedule, ObjectSink
from .auth import BearerToken
from .destinations import Destinations


@dataclass(frozen=True, slots=True)
class Target:
    """A configured destination, built: its sink, its key prefix, and the id the store keys
    its syncs and uploads by (the same physical place has the same id for every process)."""

    name: str
    id: str
    prefix: str
    sink: ObjectSink
    reader: MirrorReader | None = None  # what the Hub-compatible read API serves from


@dataclass(frozen=True, slots=True)
class ServiceContext:
    store: JobStore
    hub: HubSource
    destinations: Destinations
    target: Callable[[str], Target]  # by configured name; the sink is built once and kept
    options: SyncOptions  # the server's defaults; a request may only narrow include/exclude
    auth: BearerToken
    version: str
    hub_endpoint: str  # what the original client's hf_url must point at
    emit: Callable[[Event], None] = field(default=lambda event: None)
    mirrors: MirrorSchedule | None = None  # scheduled re-syncs (None: no schedule here)

    def target_by_id(self, dest_id: str) -> Target | None:
        """The configured destination a stored sync wrote to (None: no longer configured)."""
        for name in self.destinations.names:
            target = self.target(name)
            if target.id == dest_id:
                return target
        return None
