"""Whole-file verification against the Hub's own hashes, fed in order as bytes arrive."""

from __future__ import annotations

import hashlib

from ..domain import IntegrityError, RemoteFile


class FileHasher:
    """sha256 of the bytes (always: it goes in the metadata) and, for non-LFS files, the git
    blob sha1 the Hub lists for them. hashlib releases the GIL on large buffers, so reader
    threads hash in parallel."""

    def __init__(self, file: RemoteFile) -> None:
        self.file = file
        self._sha256 = hashlib.sha256()
        self._sha1 = None if file.is_lfs else hashlib.sha1(f"blob {file.size}\0".encode())  # noqa: S324 - git's object id
        self.nbytes = 0

    def update(self, chunk: memoryview) -> None:
        self._sha256.update(chunk)
        if self._sha1 is not None:
            self._sha1.update(chunk)
        self.nbytes += len(chunk)

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
