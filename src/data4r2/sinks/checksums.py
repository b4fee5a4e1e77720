"""The checksum encodings S3 headers use, shared by every sink so they cannot drift apart."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from awscrt.checksums import crc32c


def crc32c_b64(body: memoryview | bytes) -> str:
    """base64 of the big-endian CRC32C, the form of `x-amz-checksum-crc32c`.

    awscrt, not google-crc32c: it takes a memoryview without a copy, releases the GIL and
    is cheap: 0.02 CPU-s/GiB here (docs/design.md §7).
    """
    return base64.b64encode(crc32c(body).to_bytes(4, "big")).decode()


def sha256_b64(hex_digest: str) -> str:
    """`x-amz-checksum-sha256` from a hex digest (an LFS oid or our own sha256)."""
    try:
        raw = bytes.fromhex(hex_digest)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ValueError(f"not a hex sha256: {hex_digest!r}")
    return base64.b64encode(raw).decode()


def composite_crc32c(part_checksums: Sequence[str]) -> str:
    """The checksum S3 stores for a CRC32C multipart object: CRC32C of the part CRCs, -N."""
    joined = b"".join(base64.b64decode(c) for c in part_checksums)
    return f"{crc32c_b64(memoryview(joined))}-{len(part_checksums)}"
