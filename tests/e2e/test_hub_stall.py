"""A Hub that stops talking mid-listing: the run times out the read, retries, and finishes.

Bug 5 of issue 15: huggingface_hub's pagination sent every tree page with `timeout=None`, so a
page that stalled after its headers held `sync` and `verify` for as long as the server did.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fakehub.faults import Fault

from .conftest import MODEL_FILES, Env

HUB_TIMEOUT = 1.0  # seconds; the stall below never ends unless released
BOUND = 30.0  # the timeout, huggingface_hub's 1 s backoff, a start-up: far below "forever"


@pytest.mark.parametrize("command", ["sync", "verify"])
def test_stalled_tree_page_is_retried_not_waited_for(
    cli: Env, tmp_path: Path, command: str
) -> None:
    dest = str(tmp_path / "mirror")
    if command == "verify":
        assert cli.run("sync", "acme/tiny-model", "--dest", dest).returncode == 0
    stalls: list[Fault] = []

    def stall_next_page() -> None:  # after page 1 was served: the listing is mid-way
        stalls.append(cli.hub.faults.add(kind="stall", route="tree", after_bytes=30))

    cli.hub.faults.on(route="tree", action=stall_next_page, after=1)
    started = time.monotonic()
    try:
        res = cli.run(
            command,
            "acme/tiny-model",
            "--dest",
            dest,
            env={"DATA4R2_HUB_TIMEOUT": str(HUB_TIMEOUT)},
            timeout=BOUND,
        )
    finally:
        for stall in stalls:
            stall.release()
    elapsed = time.monotonic() - started
    assert res.returncode == 0, res.stderr
    assert "Retrying in" not in res.stderr  # huggingface_hub's own warning, not our display
    assert [s.hits for s in stalls] == [1], "the stall never fired: the test proves nothing"
    assert elapsed >= HUB_TIMEOUT
    if command == "sync":
        for path, (data, _) in MODEL_FILES.items():
            assert (
                tmp_path / "mirror" / "models" / "acme" / "tiny-model" / path
            ).read_bytes() == data
