"""The embedded `data4r2 sync` with DATA4R2_DB set: the same run, its state in PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.postgres import temp_database
from unit.hub_twin import MemoryHub

from data4r2.app import Overrides
from data4r2.cli.main import main
from data4r2.domain import JobState
from data4r2.state.postgres import PostgresJobStore

MiB = 1024**2


@pytest.fixture
def hub() -> MemoryHub:
    h = MemoryHub()
    h.add("config.json", b'{"model_type": "gpt2"}')
    h.add("weights/model.safetensors", os.urandom(6 * MiB + 5), lfs=True)
    return h


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in list(os.environ):
        if name.startswith(("DATA4R2_", "HF_", "AWS_", "R2_")):
            monkeypatch.delenv(name)
    with temp_database() as url:
        monkeypatch.setenv("DATA4R2_DB", url)
        yield url


def test_sync_records_its_jobs_in_postgres_and_a_second_run_skips(
    db: str, hub: MemoryHub, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mirror = tmp_path / "mirror"
    argv = ["sync", "acme/m", "--dest", str(mirror), "--part-size", "5MiB", "--quiet"]

    assert main(argv, overrides=Overrides(hub=hub)) == 0, capsys.readouterr().err
    for path, body in hub.files.items():
        assert (mirror / "models/acme/m" / path).read_bytes() == body

    assert main(argv, overrides=Overrides(hub=hub)) == 0, capsys.readouterr().err
    with PostgresJobStore(db) as store:
        second, first = store.syncs()
        assert store.counts(first.id)[JobState.DONE] == 2
        assert store.counts(second.id)[JobState.SKIPPED] == 2  # nothing copied again
        assert first.finished_at is not None and second.finished_at is not None
        assert store.upload(first.destination, "models/acme/m/weights/model.safetensors") is None


def test_sync_refuses_a_database_without_the_schema(
    hub: MemoryHub,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with temp_database(upgraded=False) as url:
        monkeypatch.setenv("DATA4R2_DB", url)
        code = main(["sync", "acme/m", "--dest", str(tmp_path / "m")], overrides=Overrides(hub=hub))
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "run `data4r2 db upgrade`" in err
    assert not (tmp_path / "m" / "models").exists()
