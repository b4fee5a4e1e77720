"""Which mirrored commit a Hub-style request means: repo → refs object → manifest.

Reads manifests, never bucket listings (except to expand an abbreviated sha). A manifest
names one commit and never changes, so parsed ones are kept (bounded); the refs object
moves with every scheduled re-sync, so it is read again after at most a second.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ...domain import DestinationError, RepoNotFound, RevisionNotFound
from ...ports import MirrorReader
from .manifest import (
    META,
    BadManifest,
    Manifest,
    Refs,
    manifest_key,
    parse_manifest,
    parse_refs,
    refs_key,
    repo_prefix,
)
from .views import Tree

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_SHORT_SHA = re.compile(r"^[0-9a-f]{7,39}$")
DEFAULT_REVISION = "main"


@dataclass(frozen=True, slots=True)
class Mirrored:
    """The manifest a revision means, and whether the keys are known to still hold it: true
    for the latest completed sync's commit; an older commit's files may have been
    overwritten since (keys carry no commit), so each is checked before it is served."""

    manifest: Manifest
    current: bool


@dataclass(frozen=True, slots=True)
class RepoAddress:
    repo_type: str  # model | dataset | space
    repo_id: str


class Mirror:
    """The mirrored repos of one destination, as `reader` sees them under `prefix`."""

    def __init__(
        self,
        reader: MirrorReader,
        prefix: str,
        cache_size: int = 64,
        refs_ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._prefix = prefix
        # A download is a burst of requests (a HEAD and a GET per file): reading the refs
        # once a second instead of per request halves the store reads of a snapshot, and a
        # moved branch is still seen within that second.
        self._refs_ttl, self._clock = refs_ttl, clock
        self._refs_cache: dict[RepoAddress, tuple[float, Refs | None]] = {}
        self._cache: OrderedDict[str, Manifest] = OrderedDict()
        self._trees: OrderedDict[str, Tree] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def reader(self) -> MirrorReader:
        return self._reader

    def _refs(self, repo: RepoAddress) -> Refs | None:
        now = self._clock()
        with self._lock:
            cached = self._refs_cache.get(repo)
        if cached is not None and cached[0] > now:
            return cached[1]
        data = self._reader.read(refs_key(self._prefix, repo.repo_type, repo.repo_id))
        try:
            refs = None if data is None else parse_refs(data)
        except BadManifest as e:
            raise DestinationError(f"the refs of {repo.repo_id} are unreadable: {e}") from None
        with self._lock:
            if len(self._refs_cache) > 10_000:  # many repos probed: start over, never grow
                self._refs_cache.clear()
            self._refs_cache[repo] = (now + self._refs_ttl, refs)
        return refs

    def _manifest(self, repo: RepoAddress, commit: str) -> Manifest | None:
        key = manifest_key(self._prefix, repo.repo_type, repo.repo_id, commit)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        data = self._reader.read(key)
        if data is None:
            return None
        try:
            manifest = parse_manifest(data)
        except BadManifest as e:
            raise DestinationError(f"manifest {key} is unreadable: {e}") from None
        if manifest.commit != commit:
            raise DestinationError(f"manifest {key} names commit {manifest.commit}")
        with self._lock:
            self._cache[key] = manifest
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return manifest

    def tree(self, manifest: Manifest) -> Tree:
        """`manifest` as folders, built once per commit (a 40,000-file listing is paged)."""
        key = f"{manifest.repo_type}/{manifest.repo_id}@{manifest.commit}"
        with self._lock:
            tree = self._trees.get(key)
            if tree is not None:
                self._trees.move_to_end(key)
                return tree
        tree = Tree.of(manifest)
        with self._lock:
            self._trees[key] = tree
            while len(self._trees) > self._cache_size:
                self._trees.popitem(last=False)
        return tree

    def _commits(self, repo: RepoAddress, start: str) -> list[str]:
        """Mirrored commits whose sha starts with `start` (one listing of the manifests)."""
        folder = f"{repo_prefix(self._prefix, repo.repo_type, repo.repo_id)}{META}/manifests/"
        found = []
        for key in self._reader.keys(folder + start):
            name = key[len(folder) :]
            if name.endswith(".json") and _HEX40.match(name[:-5]):
                found.append(name[:-5])
        return found

    def snapshot(self, repo: RepoAddress, revision: str | None) -> Mirrored:
        """The manifest `revision` (default: main) means now. RepoNotFound when nothing of the
        repo is mirrored; RevisionNotFound when the repo is but this revision is not."""
        rev = revision or DEFAULT_REVISION
        refs = self._refs(repo)
        commit = refs.refs.get(rev) if refs else None
        if commit is None and _HEX40.match(rev):
            commit = rev
        elif commit is None and _SHORT_SHA.match(rev):
            matches = self._commits(repo, rev)
            commit = matches[0] if len(matches) == 1 else None
        manifest = self._manifest(repo, commit) if commit else None
        if manifest is not None:
            return Mirrored(manifest, refs is not None and refs.latest == manifest.commit)
        if refs is None and not self._commits(repo, ""):
            raise RepoNotFound(repo.repo_id, repo.repo_type)
        raise RevisionNotFound(repo.repo_id, rev)
