"""`sync --delete`: which keys under a repo's prefix the source no longer has, and removing them.

The rule (README, "Keeping a mirror fresh"): a key is removed when it lies under the repo's
own prefix (`{prefix/}{type}s/{id}/`, slash included, so `acme/model-2` is never under
`acme/model`), is not data4r2's own `.data4r2/` metadata, is covered by the selection
(its path relative to the prefix passes --include/--exclude as a repo path would), and is
not the key of a selected file at the synced commit. Keys outside the selection are left
alone: a sync of `*.json` cannot tell whether a `.safetensors` key is stale.
"""

from __future__ import annotations

from functools import partial

from ..domain import Snapshot, repo_prefix
from ..ports import ObjectSink
from .manifest import is_metadata_key
from .options import SyncOptions
from .plan import keyed_files, listing, select, selected
from .retry import Caller


def vanished_keys(
    sink: ObjectSink,
    snap: Snapshot,
    *,
    prefix: str,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    call: Caller,
) -> tuple[str, ...]:
    """Keys the rule above removes, sorted: one listing of the repo's prefix."""
    at = repo_prefix(prefix, snap.repo)
    keyed, _ = keyed_files(prefix, snap.repo, select(snap.files, include, exclude))
    wanted = {key for _, key in keyed}
    return tuple(
        sorted(
            key
            for key in listing(sink, at, call)
            if key.startswith(at)  # the listing's promise, checked: never outside the prefix
            and not is_metadata_key(at, key)
            and key not in wanted
            and selected(key[len(at) :], include, exclude)
        )
    )


def planned_deletions(
    sink: ObjectSink, snap: Snapshot, options: SyncOptions, call: Caller
) -> tuple[str, ...]:
    """What `sync --delete` will remove (nothing, and no listing, without --delete)."""
    if not options.delete:
        return ()
    return vanished_keys(
        sink,
        snap,
        prefix=options.prefix,
        include=options.include,
        exclude=options.exclude,
        call=call,
    )


def delete_keys(sink: ObjectSink, keys: tuple[str, ...], call: Caller) -> None:
    """One DELETE per key, each retried like any request (deleting what is gone succeeds)."""
    for key in keys:
        call(partial(sink.delete, key))
