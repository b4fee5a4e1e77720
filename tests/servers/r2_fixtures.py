"""pytest fixtures for the strict R2 double (`r2proxy.py`) in front of the session's SeaweedFS.

`r2` listens on https (what R2 receives: botocore frames bodies differently over https) and
`r2_http` on plain http; each test gets a fresh proxy (it starts in milliseconds), so
journal, faults, counters and write times never leak between tests. Both need the `seaweed`
fixture of tests/conftest.py. `open_double` builds one with other options (a fake clock …).
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config

from .r2proxy import R2Proxy
from .seaweed import SeaweedServer, TLSFiles

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client


# One boto3 session for every client made here: a new session re-reads the service models
# (0.15-0.35 s each on this machine), a shared one makes a client in ~10 ms. Making clients
# from one session is not thread-safe, hence the lock.
_session_lock = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@dataclass
class R2Double:
    """A running double and what a client needs to reach it like an R2 endpoint."""

    proxy: R2Proxy
    seaweed: SeaweedServer
    ca_bundle: Path | None  # the CA to trust for https (AWS_CA_BUNDLE / --ca-bundle)
    region: str = "auto"

    @property
    def endpoint(self) -> str:
        return self.proxy.url

    @property
    def access_key(self) -> str:
        return self.seaweed.access_key

    @property
    def secret_key(self) -> str:
        return self.seaweed.secret_key

    def client(self, *, access_key: str | None = None, **config: Any) -> S3Client:
        """boto3 with the settings R2 accepts (docs/r2.md §5); `config` overrides.

        `total_max_attempts=1`: botocore's `max_attempts` counts *retries*, so the
        `max_attempts: 1` still resends once (docs/r2.md §4) and would hide the double's answers.
        """
        settings: dict[str, Any] = {
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
            "s3": {"addressing_style": "path", "payload_signing_enabled": False},
            "retries": {"mode": "standard", "total_max_attempts": 1},
            "connect_timeout": 5,
            "read_timeout": 30,
        }
        settings.update(config)
        with _session_lock:
            return _session().client(
                "s3",
                endpoint_url=self.endpoint,
                aws_access_key_id=access_key or self.access_key,
                aws_secret_access_key=self.secret_key,
                region_name=self.region,
                verify=str(self.ca_bundle) if self.ca_bundle else None,
                config=Config(**settings),
            )

    def direct_client(self) -> S3Client:
        """A client to SeaweedFS itself, past the double: to see what the store holds."""
        with _session_lock:
            return _session().client(
                "s3",
                endpoint_url=self.seaweed.endpoint,
                aws_access_key_id=self.access_key,
                aws_secret_access_key=self.secret_key,
                region_name=self.region,
                config=Config(
                    s3={"addressing_style": "path"},
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    retries={"total_max_attempts": 1},
                ),
            )

    def env(self) -> dict[str, str]:
        """Environment for a subprocess (the CLI) that should talk to the double."""
        env = {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint,
        }
        if self.ca_bundle is not None:
            env["AWS_CA_BUNDLE"] = str(self.ca_bundle)
        return env


@contextlib.contextmanager
def open_double(seaweed: SeaweedServer, *, tls: bool = True, **options: Any) -> Iterator[R2Double]:
    """A started R2Proxy in front of `seaweed` (https by default); `options` go to R2Proxy.

    Only the seaweed identity's key id is known: any other gets R2's 401 Unauthorized, HEAD
    included (which carries no error body to translate).
    """
    options.setdefault("access_keys", frozenset({seaweed.access_key}))
    with contextlib.ExitStack() as stack:
        files: TLSFiles | None = None
        if tls:
            files = seaweed.tls
            if files is None:  # weed without TLS: a certificate of our own
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                files = TLSFiles.make(folder)
        proxy = R2Proxy(seaweed.endpoint, tls=(files.cert, files.key) if files else None, **options)
        stack.enter_context(proxy)
        yield R2Double(proxy, seaweed, files.ca if files else None)


@pytest.fixture
def r2(seaweed: SeaweedServer) -> Iterator[R2Double]:
    """The strict R2 double over https (trust `r2.ca_bundle`)."""
    with open_double(seaweed) as double:
        yield double


@pytest.fixture
def r2_http(seaweed: SeaweedServer) -> Iterator[R2Double]:
    """The strict R2 double over plain http."""
    with open_double(seaweed, tls=False) as double:
        yield double
