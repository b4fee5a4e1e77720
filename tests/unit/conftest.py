"""Fixtures of the in-process tests."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No stray HF_*/AWS_*/R2_*/DATA4R2_* from the machine running the tests."""
    for name in list(os.environ):
        if name.startswith(("DATA4R2_", "HF_", "AWS_", "R2_")):
            monkeypatch.delenv(name)
    return monkeypatch
