"""A vanished multipart upload is the file's to restart, not a request to resend."""

from __future__ import annotations

import pytest

from data4r2.domain import TransientError, UploadGone
from data4r2.engine.retry import RetryPolicy, call


def test_upload_gone_is_raised_at_once_while_a_transient_error_is_resent() -> None:
    # Found when a full disk made the folder sink drop an upload: each part still queued
    # for it was resent six times, with backoff, before the file could fail (~15 s).
    tries: list[str] = []
    sleeps: list[float] = []

    def gone() -> None:
        tries.append("gone")
        raise UploadGone("NoSuchUpload")

    with pytest.raises(UploadGone):
        call(gone, RetryPolicy(attempts=6), sleeps.append)
    assert tries == ["gone"] and sleeps == []

    def flaky() -> str:
        tries.append("flaky")
        if tries.count("flaky") < 3:
            raise TransientError("503")
        return "done"

    assert call(flaky, RetryPolicy(attempts=6, base_delay=0), sleeps.append) == "done"
    assert tries.count("flaky") == 3
