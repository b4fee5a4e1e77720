"""Where a resumed multipart file starts reading again (docs/design.md §3.6).

Each recorded part carries the file's sha256 state after its last byte. That state alone is
not enough to skip parts 1..n: parts finish out of order, so after two interrupted attempts
part n's state may come from one attempt's reading while part j < n is still the stored
bytes of an earlier attempt — and if those differed (a corrupt read), continuing from part
n's state would verify the Hub's hash over bytes that are not the ones stored. So a state
is saved together with a digest of the transit checksums of parts 1..n *as they were read*,
and it is used only if that digest equals the one over the checksums recorded (and proven
by the store's ETags) for parts 1..n now. The whole-file sha256 is still checked at the end.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from ..domain import PartInfo
from .sha256_midstate import STATE_SIZE


class ChecksumChain:
    """A running digest of part checksums in part order, 1, 2, 3, …"""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()

    def add(self, checksum: str) -> None:
        self._digest.update(checksum.encode() + b"\n")

    def digest(self) -> bytes:
        return self._digest.digest()

    def seal(self, sha256_state: bytes | None) -> bytes | None:
        """The `PartInfo.hash_state` to record with the part just added."""
        if sha256_state is None:
            return None
        return sha256_state + self.digest()

    def copy(self) -> ChecksumChain:
        chain = ChecksumChain()
        chain._digest = self._digest.copy()
        return chain


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Parts 1..`parts` need not be read again; hashing continues from `sha256_state`."""

    parts: int
    sha256_state: bytes | None
    chain: ChecksumChain


def find(done: Mapping[int, PartInfo], total: int) -> ResumePoint:
    """The last part n such that parts 1..n are all recorded and n's state belongs to them."""
    chain = ChecksumChain()
    best = ResumePoint(0, None, chain.copy())
    for number in range(1, total + 1):
        part = done.get(number)
        if part is None:
            break
        chain.add(part.checksum)
        state = part.hash_state
        if state is not None and len(state) > STATE_SIZE and state[STATE_SIZE:] == chain.digest():
            best = ResumePoint(number, state[:STATE_SIZE], chain.copy())
    return best
