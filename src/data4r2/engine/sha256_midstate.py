"""A sha256 whose state at a 64-byte boundary can be saved and restored (resume, design §3.6).

hashlib's objects cannot be serialised, so a resumed file would have to re-read every byte
before its last recorded part just to rebuild the hash. OpenSSL's low-level `SHA256_*`
functions work on a plain `SHA256_CTX` struct we can read and write. We call them through
`ctypes` on the libcrypto that Python's own `_hashlib` already loaded (same SHA-NI code as
hashlib, and ctypes releases the GIL during each call, as hashlib does on large buffers).

The saved form is ours, not OpenSSL's struct: a version byte, the eight 32-bit chaining
words and the byte count, big-endian. It is only ever taken at a 64-byte boundary (part
sizes are whole MiB), where the struct's partial-block buffer is empty, so nothing else is
needed, and a state file moved to another machine still reads the same.

No libcrypto, no `SHA256_*` symbols, or a struct that does not look like the layout below
(checked once by a round trip against hashlib): `available()` is False and callers keep
hashlib and today's full re-read.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import struct
import threading

_STATE_FORMAT = ">B8IQ"  # version, h0..h7, bytes hashed
_STATE_VERSION = 1
STATE_SIZE = struct.calcsize(_STATE_FORMAT)
_BLOCK = 64


class _Sha256Ctx(ctypes.Structure):
    """openssl/sha.h: SHA_LONG h[8], Nl, Nh, data[SHA_LBLOCK=16]; unsigned int num, md_len."""

    _fields_ = (
        ("h", ctypes.c_uint32 * 8),
        ("Nl", ctypes.c_uint32),
        ("Nh", ctypes.c_uint32),
        ("data", ctypes.c_uint32 * 16),
        ("num", ctypes.c_uint),
        ("md_len", ctypes.c_uint),
    )


class _LibCrypto:
    def __init__(self, lib: ctypes.CDLL) -> None:
        self._init = lib.SHA256_Init
        self._update = lib.SHA256_Update
        self._final = lib.SHA256_Final
        self._init.argtypes = (ctypes.POINTER(_Sha256Ctx),)
        self._update.argtypes = (ctypes.POINTER(_Sha256Ctx), ctypes.c_void_p, ctypes.c_size_t)
        self._final.argtypes = (ctypes.c_char_p, ctypes.POINTER(_Sha256Ctx))
        for fn in (self._init, self._update, self._final):
            fn.restype = ctypes.c_int

    def init(self, ctx: _Sha256Ctx) -> None:
        if self._init(ctypes.byref(ctx)) != 1:
            raise RuntimeError("SHA256_Init failed")

    def update(self, ctx: _Sha256Ctx, data: object, n: int) -> None:
        if self._update(ctypes.byref(ctx), data, n) != 1:
            raise RuntimeError("SHA256_Update failed")

    def final(self, out: ctypes.Array[ctypes.c_char], ctx: _Sha256Ctx) -> None:
        if self._final(out, ctypes.byref(ctx)) != 1:
            raise RuntimeError("SHA256_Final failed")


def _loaded_libcrypto_path() -> str | None:
    """The libcrypto `_hashlib` is linked against, as mapped in this process (Linux), else
    whatever the linker would find."""
    with contextlib.suppress(ImportError):
        import _hashlib  # noqa: F401 - maps libcrypto into the process
    with contextlib.suppress(OSError), open("/proc/self/maps") as maps:
        for line in maps:
            path = line.rsplit(maxsplit=1)[-1]
            if "/libcrypto" in path:
                return path
    return ctypes.util.find_library("crypto")


def _self_test(lib: _LibCrypto) -> bool:
    """The struct layout matches and a save/restore mid-stream gives hashlib's digest."""
    ctx = _Sha256Ctx()
    lib.init(ctx)
    if ctx.h[0] != 0x6A09E667 or ctx.h[7] != 0x5BE0CD19 or ctx.md_len != 32:
        return False
    data = bytes(range(256)) * 1030  # 263,680 bytes: a multiple of 64, then an odd tail
    first = bytearray(data[:131072])
    h = Sha256Midstate(lib)
    h.update(memoryview(first))
    if h._ctx.Nl != (131072 * 8) & 0xFFFFFFFF or h._ctx.num != 0:
        return False
    resumed = Sha256Midstate.restore(h.save(), lib)
    resumed.update(memoryview(data[131072:]))  # read-only input takes the copying path
    return resumed.hexdigest() == hashlib.sha256(data).hexdigest()


_lib: _LibCrypto | None = None
_probed = False
_probe_lock = threading.Lock()


def _libcrypto() -> _LibCrypto | None:
    global _lib, _probed
    with _probe_lock:
        if not _probed:
            _probed = True
            path = _loaded_libcrypto_path()
            if path is not None:
                try:
                    lib = _LibCrypto(ctypes.CDLL(path))
                    _lib = lib if _self_test(lib) else None
                except (OSError, AttributeError, RuntimeError, ValueError):
                    _lib = None  # not found, no SHA256_* symbols, or misbehaving
        return _lib


def available() -> bool:
    """Whether sha256 states can be saved here (probed once per process)."""
    return _libcrypto() is not None


class Sha256Midstate:
    """sha256 with `save()`/`restore()` at 64-byte boundaries. Use only if `available()`."""

    def __init__(self, lib: _LibCrypto | None = None) -> None:
        found = lib or _libcrypto()
        if found is None:
            raise RuntimeError("libcrypto's SHA256_* functions are not available")
        self._lib = found
        self._ctx = _Sha256Ctx()
        self._lib.init(self._ctx)
        self.nbytes = 0

    def update(self, chunk: memoryview) -> None:
        n = len(chunk)
        if chunk.readonly:
            self._lib.update(self._ctx, bytes(chunk), n)
        else:
            # The address of the caller's buffer, no copy; the ctypes view is dropped at once
            # so the bytearray behind it is free to be reused.
            data = (ctypes.c_char * n).from_buffer(chunk)
            try:
                self._lib.update(self._ctx, ctypes.addressof(data), n)
            finally:
                del data
        self.nbytes += n

    def hexdigest(self) -> str:
        """The digest so far (this object stays usable: a copy of the struct is finalised)."""
        ctx = _Sha256Ctx()
        ctypes.pointer(ctx)[0] = self._ctx
        out = ctypes.create_string_buffer(32)
        self._lib.final(out, ctx)
        return out.raw.hex()

    def save(self) -> bytes:
        """The state after `nbytes` bytes; ValueError unless `nbytes` is a multiple of 64."""
        if self.nbytes % _BLOCK or self._ctx.num:
            raise ValueError(f"a sha256 state is saved at 64-byte boundaries, not {self.nbytes}")
        return struct.pack(_STATE_FORMAT, _STATE_VERSION, *self._ctx.h, self.nbytes)

    @classmethod
    def restore(cls, state: bytes, lib: _LibCrypto | None = None) -> Sha256Midstate:
        """Continue from a `save()`d state; ValueError if it is not one."""
        if len(state) != STATE_SIZE or state[0] != _STATE_VERSION:
            raise ValueError("not a saved sha256 state")
        _, *words, nbytes = struct.unpack(_STATE_FORMAT, state)
        if nbytes % _BLOCK:
            raise ValueError("not a saved sha256 state")
        h = cls(lib)
        for i, word in enumerate(words):
            h._ctx.h[i] = word
        bits = nbytes * 8
        h._ctx.Nl = bits & 0xFFFFFFFF
        h._ctx.Nh = (bits >> 32) & 0xFFFFFFFF
        h._ctx.num = 0
        h.nbytes = nbytes
        return h
