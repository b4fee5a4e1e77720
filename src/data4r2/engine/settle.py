"""What a sync does once every job has settled: --delete, then the manifest, then the refs.

The order is the readers' guarantee (docs/manifest.md): the manifest is written after every
other write of the sync, and only when every selected file is verified in the destination;
the refs move to it last.
"""

from __future__ import annotations

from dataclasses import replace

from ..domain import Plan, SyncSummary
from ..ports import ObjectSink
from .delete import delete_keys
from .manifest import forget_latest, publish_manifest
from .options import SyncOptions
from .retry import Caller


def settle_mirror(
    sink: ObjectSink, plan: Plan, summary: SyncSummary, options: SyncOptions, call: Caller
) -> SyncSummary:
    """Publish a fully verified sync (after --delete); after a failed one that wrote objects,
    say that no manifest matches the bucket any more. The summary, with what was deleted."""
    snap = plan.snapshot
    if not summary.ok:  # a failed, refused or cancelled file: no manifest (docs/manifest.md)
        if summary.copied:
            call(lambda: forget_latest(sink, snap, options.prefix))
        return summary
    deleted: tuple[str, ...] = ()
    if options.delete:
        deleted = plan.to_delete
        delete_keys(sink, deleted, call)
    call(
        lambda: publish_manifest(
            sink,
            snap,
            plan.files,
            options.prefix,
            snap.repo.revision,
            include=options.include,
            exclude=options.exclude,
        )
    )
    return replace(summary, deleted=deleted)
