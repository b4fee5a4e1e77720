"""Client settings for S3/R2, each with the reason it is set (docs/r2.md §5, docs/design.md §6)."""

from __future__ import annotations

import os
import ssl

from botocore.config import Config
from botocore.httpsession import get_cert_path

from .. import __version__

USER_AGENT = f"data4r2/{__version__}"

# A connect (TCP + TLS handshake) that takes this long is a dead or blackholed endpoint.
CONNECT_TIMEOUT = 10.0
# Per socket operation, not per request: the hot path sends bodies in SEND_SLICE pieces so a
# slow link moving a 5 GiB part never trips it. Complete of a large upload can take R2 tens
# of seconds to answer, hence generous.
READ_TIMEOUT = 120.0
# Hot-path send granularity: a memoryview slice is free, and sendall's timeout then applies
# to 1 MiB at a time instead of the whole part (CPython's sendall timeout is total).
SEND_SLICE = 1024 * 1024


def control_config(pool_size: int) -> Config:
    """botocore Config for the control calls (Head/List/Create/Complete/Abort/Delete)."""
    return Config(
        # R2 answers 501 to the automatic CRC32 boto3 >= 1.36 adds, and over https botocore
        # would frame bodies aws-chunked with a trailer R2 may refuse: checksums only when the
        # operation model demands one (docs/r2.md §5).
        request_checksum_calculation="when_required",
        # R2 does not document returning stored checksums; validating them broke ranged GETs
        # (cloudflare-docs#20014). We verify with our own x-amz-meta-sha256 instead.
        response_checksum_validation="when_required",
        s3={
            # Same URL form on R2, SeaweedFS and MinIO; no DNS per bucket.
            "addressing_style": "path",
            # UNSIGNED-PAYLOAD: no extra SHA-256 pass over bodies (+0.75 CPU s/GiB for boto3,
            # docs/design.md §10). Integrity comes from x-amz-checksum-* headers and TLS.
            "payload_signing_enabled": False,
        },
        # The engine owns retries (engine/retry.py); SDK retries would multiply them, and
        # botocore's standard mode does not even retry R2's 429 (docs/r2.md §4). NB: in Config,
        # `max_attempts` counts *retries* (botocore adds 1: args.py), so
        # `max_attempts: 1` still resends once. `total_max_attempts` counts every attempt.
        retries={"mode": "standard", "total_max_attempts": 1},
        # urllib3 queues requests beyond this ("pool is full"): match the engine's threads.
        max_pool_connections=pool_size,
        # R2 requires SigV4 (region "auto").
        signature_version="s3v4",
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        # Both control and hot path identify themselves the same way in server logs.
        user_agent_extra=USER_AGENT,
    )


def resolve_ca_bundle(ca_bundle: str | None) -> str:
    """The CA file both paths trust: the argument, else AWS_CA_BUNDLE, else botocore's default.

    Resolved once so the control client (urllib3) and the hot path (http.client) can never
    disagree about which certificates are trusted.
    """
    return ca_bundle or os.environ.get("AWS_CA_BUNDLE") or str(get_cert_path(True))


def ssl_context(ca_file: str) -> ssl.SSLContext:
    """TLS for the hot path: system-default protocol and ciphers, hostname checked."""
    return ssl.create_default_context(cafile=ca_file)
