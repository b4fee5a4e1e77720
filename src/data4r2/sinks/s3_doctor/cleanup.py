"""Delete every probe object and abort every probe upload, whatever the checks left; prove it."""

from __future__ import annotations

import logging
from functools import partial

from ...domain import Data4r2Error
from ...engine.retry import RetryPolicy, call
from .probe import Probe
from .report import Verdict, count, ok, warn

log = logging.getLogger(__name__)

CLEANUP = "cleanup"
# Cleanup rides out R2's 429/503 like a sync would, briefly: it must not hang a CLI.
CLEANUP_RETRY = RetryPolicy(attempts=5, base_delay=0.5, max_delay=4.0, max_retry_after=10.0)


def cleanup(p: Probe) -> Verdict:
    """Abort every upload and delete every object under the probe prefix; then prove it."""
    if not p.touched or p.sink_ is None:
        return ok("nothing was written")
    sink = p.sink_
    where = f"s3://{sink.bucket}/{p.root}"
    try:
        aborted = 0
        open_uploads = dict(p.uploads)
        # Uploads whose Create answer was lost are not in `p.uploads`: ask the store.
        open_uploads.update(_listed_uploads(p))
        for upload_id, key in open_uploads.items():
            call(partial(sink.abort, key, upload_id), CLEANUP_RETRY)
            p.uploads.pop(upload_id, None)
            aborted += 1
        deleted = 0
        for obj in list(sink.list(p.root)):
            p.pace(obj.key)
            call(partial(sink.delete, obj.key), CLEANUP_RETRY)
            deleted += 1
        left = [obj.key for obj in sink.list(p.root)] + list(_listed_uploads(p).values())
    except Data4r2Error as exc:
        return warn(f"cleanup failed: {exc.message}", f"delete everything under {where} by hand")
    if left:
        return warn(
            f"{len(left)} probe objects or uploads remain: {', '.join(left[:3])}",
            f"delete everything under {where} by hand",
        )
    done = f"deleted {count(deleted, 'object')}, aborted {count(aborted, 'upload')}"
    return ok(f"{done}: {where} is empty")


def _listed_uploads(p: Probe) -> dict[str, str]:
    """Open uploads under the probe prefix (upload id → key), as the store lists them.

    A store that cannot list them (no sync needs ListMultipartUploads) gives {}: cleanup
    then relies on the uploads it tracked itself.
    """
    try:
        return {u.upload_id: u.key for u in p.sink.list_uploads(p.root)}
    except Data4r2Error as exc:
        log.info("cannot list multipart uploads, relying on the tracked ones: %s", exc)
        return {}
