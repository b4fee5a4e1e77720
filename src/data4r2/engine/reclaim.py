"""Abort the multipart uploads a killed run left behind when no state file remembers them.

A run resumes the uploads its state file records. One killed and then re-run with another
(or a lost) state file starts fresh uploads, and the old ones would stay open for good:
S3 keeps them until a lifecycle rule ends them (R2's default: 7 days), a folder keeps
their temp data, and either way they hold storage.

Abort, not adopt: adopting means completing from parts nobody recorded, and a listing may
not carry their checksums (SeaweedFS lists none), so every byte would be fetched again to
prove them — a fresh upload costs the same and needs no trust. What makes an upload ours:
its key lies under this repo's keys at this destination (`{prefix}/{type}s/{repo_id}/`),
which only data4r2's layout writes. What makes it stale: no part for STALE_AFTER_S, far
longer than a live run goes quiet (even one 5 GiB part on a slow link, or a rate-limit
window); a younger one may be another run's, in flight right now.
"""

from __future__ import annotations

import logging

from ..domain import Data4r2Error, OpenUpload, RepoRef, UploadGone
from ..ports import JobStore, ObjectSink

log = logging.getLogger(__name__)

STALE_AFTER_S = 24 * 3600.0


def repo_prefix(prefix: str, repo: RepoRef) -> str:
    """The key prefix under which every object of `repo` goes (see domain.object_key)."""
    base = f"{prefix.rstrip('/')}/" if prefix.strip("/") else ""
    return f"{base}{repo.repo_type.plural}/{repo.repo_id}/"


def reclaim_stale_uploads(
    sink: ObjectSink,
    store: JobStore,
    destination: str,
    prefix: str,
    *,
    stale_after: float = STALE_AFTER_S,
) -> list[OpenUpload]:
    """Abort the uploads under `prefix` idle for `stale_after` s that `store` does not record.

    Best effort: a store that cannot list uploads costs only the clean-up, never the run.
    Returns what was aborted.
    """
    aborted: list[OpenUpload] = []
    try:
        for upload in list(sink.list_uploads(prefix)):
            if upload.idle_s < stale_after:
                continue
            record = store.upload(destination, upload.key)
            if record is not None and record.upload_id == upload.upload_id:
                continue  # this state file resumes it
            try:
                sink.abort(upload.key, upload.upload_id)
            except UploadGone:
                continue  # finished or aborted meanwhile
            log.info("aborted a stale multipart upload of %s (%s)", upload.key, upload.upload_id)
            aborted.append(upload)
    except Data4r2Error as exc:
        log.warning("could not reclaim stale multipart uploads under %s: %s", prefix, exc)
    return aborted
