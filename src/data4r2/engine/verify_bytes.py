"""Whole-file verification against the Hub's own hashes, fed in order as bytes arrive."""

from __future__ import annotations

import hashlib

from ..domain import IntegrityError, RemoteFile
from . import sha256_midstate
from .sha256_midstate import Sha256Midstate


class FileHasher:
    """sha256 of the bytes (always: it goes in the metadata) and, for non-LFS files, the git
    blob sha1 the Hub lists for them. hashlib releases the GIL on large buffers, so reader
    threads hash in parallel.

    `resumable=True` (multipart uploads of LFS files) hashes with `Sha256Midstate` when this
    machine has it, so the state at a part boundary can be saved with the part and a resume
    can continue from it instead of re-reading the file from its first byte.
    """

    def __init__(self, file: RemoteFile, *, resumable: bool = False) -> None:
        self.file = file
        midstate = resumable and file.is_lfs and sha256_midstate.available()
        self._sha256: Sha256Midstate | hashlib._Hash = (
            Sha256Midstate() if midstate else hashlib.sha256()
        )
        self._sha1 = None if file.is_lfs else hashlib.sha1(f"blob {file.size}\0".encode())  # noqa: S324 - git's object id
        self.nbytes = 0

    @property
    def resumable(self) -> bool:
        return isinstance(self._sha256, Sha256Midstate)

    def update(self, chunk: memoryview) -> None:
        self._sha256.update(chunk)
        if self._sha1 is not None:
            self._sha1.update(chunk)
        self.nbytes += len(chunk)

    def save(self) -> bytes | None:
        """The sha256 state after `nbytes` bytes, or None where none can be taken (hashlib,
        or not at a 64-byte boundary — a last part usually)."""
        if not isinstance(self._sha256, Sha256Midstate) or self.nbytes % 64:
            return None
        return self._sha256.save()

    def restore(self, state: bytes, nbytes: int) -> None:
        """Continue from a `save()`d state of the first `nbytes` bytes, as if they had been
        fed here; ValueError (and nothing changed) if `state` is not one."""
        if not self.resumable or self.nbytes:
            raise ValueError("restore needs a fresh resumable hasher")
        midstate = Sha256Midstate.restore(state)
        if midstate.nbytes != nbytes:
            raise ValueError(f"a sha256 state of {midstate.nbytes} bytes, not {nbytes}")
        self._sha256, self.nbytes = midstate, nbytes

    def verify(self) -> str:
        """The hex sha256, once size and Hub hash are proven; IntegrityError otherwise."""
        f = self.file
        if self.nbytes != f.size:
            raise IntegrityError(f"{f.path}: got {self.nbytes} bytes, the Hub lists {f.size}")
        sha256 = self._sha256.hexdigest()
        if f.sha256 is not None and sha256 != f.sha256:
            raise IntegrityError(f"{f.path}: sha256 {sha256} != the Hub's {f.sha256}")
        if self._sha1 is not None and self._sha1.hexdigest() != f.git_sha1:
            raise IntegrityError(
                f"{f.path}: git sha1 {self._sha1.hexdigest()} != the Hub's {f.git_sha1}"
            )
        return sha256
