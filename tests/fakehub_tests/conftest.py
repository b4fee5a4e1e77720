"""Fixtures for the fake hub's own tests. Puts `tests/` on sys.path so `import fakehub` works
(the root conftest does the same; doing it twice is harmless)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from fakehub import FakeHub  # noqa: E402

from .corpus import TOKENS, Corpus, build_corpus  # noqa: E402


@pytest.fixture
def corpus() -> Corpus:
    return build_corpus()


@pytest.fixture
def make_hub(corpus: Corpus) -> Iterator[Callable[..., FakeHub]]:
    """Start a FakeHub with the corpus repos (and any FakeHub keyword); stopped at teardown."""
    started: list[FakeHub] = []

    def make(**kwargs: Any) -> FakeHub:
        kwargs.setdefault("tokens", TOKENS)
        hub = FakeHub(**kwargs)
        for repo in corpus.repos.values():
            hub.add(repo)
        started.append(hub.start())
        return hub

    yield make
    for hub in started:
        hub.stop()
        assert not hub.server_errors, hub.server_errors


@pytest.fixture
def hub(make_hub: Callable[..., FakeHub]) -> FakeHub:
    return make_hub()


@pytest.fixture(scope="session")
def http() -> Iterator[httpx.Client]:
    """One client for the session (building its TLS context costs ~0.2 s)."""
    with httpx.Client(timeout=5, follow_redirects=False) as client:
        yield client
