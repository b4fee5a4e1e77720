"""Audit a destination against the Hub at a revision, like `rclone check`.

The walk (what is where) is kept apart from the comparison (`ObjectInfo.matches`). Files the
trusted manifest of the commit records as they are match without a request (engine/manifest.py);
`verify_objects` looks at every object instead, and only a walk of the bucket can name extras.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ..domain import RepoRef, repo_prefix
from ..ports import HubSource, ObjectSink
from . import retry
from .options import SyncOptions
from .plan import (
    heads_where_sizes_match,
    keyed_files,
    listing,
    manifest_matches,
    select,
    snapshot,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class VerifyReport:
    repo: str
    commit: str
    destination: str
    missing: tuple[str, ...]  # on the Hub, not in the destination
    differing: tuple[str, ...]  # present, but size or hash differs (or no metadata to tell)
    extra: tuple[str, ...]  # keys under the repo's prefix the Hub does not list
    matching: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.differing


def verify(
    hub: HubSource,
    sink: ObjectSink,
    repo: RepoRef,
    options: SyncOptions,
    sleep: Callable[[float], None] = time.sleep,
) -> VerifyReport:
    policy = retry.policy_for(options)

    def call(fn: Callable[[], T]) -> T:
        return retry.call(fn, policy, sleep)

    snap = snapshot(hub, repo, call)
    files = select(snap.files, options.include, options.exclude)
    prefix = repo_prefix(options.prefix, repo)
    keyed, refused = keyed_files(options.prefix, repo, files)
    known: set[str] = set()
    if not options.verify_objects:
        known = manifest_matches(sink, snap, keyed, options.prefix, call)
    walk = options.verify_objects or len(known) < len(keyed)
    listed = listing(sink, prefix, call) if walk else {}
    unknown = [(f, key) for f, key in keyed if key not in known]
    heads = heads_where_sizes_match(sink, unknown, listed, call, options.concurrency)

    # A name unsafe as a key is never mirrored, so it is missing (sync reports it as failed).
    missing, differing, matching = [r.file.path for r in refused], [], []
    for f, key in keyed:
        info = heads.get(key)
        if key in known:
            matching.append(f.path)
        elif key not in listed:
            missing.append(f.path)
        elif info is not None and info.matches(f):
            matching.append(f.path)
        else:
            differing.append(f.path)  # wrong size, wrong hash, or no metadata to tell
    # Extra: what sits under the repo's prefix but is not in the Hub's tree at all
    # (files merely filtered out by --include/--exclude are not "extra").
    all_keys = {key for _, key in keyed_files(options.prefix, repo, snap.files)[0]}
    extra = sorted(key[len(prefix) :] for key in listed if key not in all_keys)
    return VerifyReport(
        repo=f"{repo.repo_type.value} {repo.repo_id}",
        commit=snap.commit,
        destination=sink.describe(),
        missing=tuple(sorted(missing)),
        differing=tuple(differing),
        extra=tuple(extra),
        matching=tuple(matching),
    )
