"""The bytes of one Hub file: GET /resolve/{commit}/{path} on stdlib http.client.

Why http.client (docs/design.md §5, measured by docs/wire_bench.py): `readinto` of the
caller's buffer goes straight from the socket into it (recv_into), nothing allocated per
chunk: about a third of the CPU per GiB of httpx (huggingface_hub's client, 64 KiB chunks in
pure Python), less than aiohttp. urllib3's `readinto` costs about the same; what decides is the
token rule below and our range and length checks, so the download leg is ~150 lines of our own:
redirects, connection reuse and range checks. Metadata stays on huggingface_hub (client.py).

Redirects are followed by hand because the token must reach the Hub's origin only: a relative
307 (/api/resolve-cache/…) stays on the origin and keeps it, a 302 to the CDN drops it
(docs/hub.md §2, §5).
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus, urljoin, urlsplit

from huggingface_hub import hf_hub_url

from ..domain import (
    Data4r2Error,
    HubError,
    IntegrityError,
    RemoteFile,
    RepoRef,
    TransientError,
)
from ..net.pool import ConnectionPool, Origin
from .errors import hub_error, network_error, redact_url

__all__ = ["ConnectionPool", "Downloader", "HubStream", "origin_of", "resolve_url"]

Key = Origin  # (scheme, host, port): what a keep-alive connection can serve

_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10
# A predicted resolve-cache location answered so is not (or no longer) the Hub's layout; a
# 429, 5xx or auth error is about the request, not the layout: raised as from /resolve/.
_NOT_THERE = _REDIRECTS | {400, 404, 410}
_SMALL_BODY = 64 * 1024  # redirect and error bodies are short texts; read at most this
_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


def origin_of(url: str) -> Key:
    """(scheme, host, port) with default ports filled in, to compare origins exactly."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise HubError(f"unsupported URL {redact_url(url)!r}: expected http(s)://host/…")
    return scheme, parts.hostname.lower(), parts.port or _DEFAULT_PORTS[scheme]


def resolve_url(endpoint: str, repo: RepoRef, commit: str, path: str) -> str:
    """E/{P}{id}/resolve/{commit}/{path}, built by huggingface_hub itself, so the prefix
    rule (models bare, others `{type}s/`) and the quoting stay exactly the library's."""
    return str(
        hf_hub_url(
            repo.repo_id,
            path,
            repo_type=repo.repo_type.value,
            revision=commit,
            endpoint=endpoint.rstrip("/"),
        )
    )


@dataclass(frozen=True, slots=True)
class _Answer:
    key: Key
    conn: http.client.HTTPConnection
    resp: http.client.HTTPResponse
    url: str

    def header(self, name: str) -> str | None:
        return self.resp.getheader(name)

    def headers(self) -> Mapping[str, str]:
        return {k.lower(): v for k, v in self.resp.getheaders()}


def _read_small(answer: _Answer, pool: ConnectionPool) -> bytes:
    """Read a short body; hand the connection back if it ended cleanly, else close it."""
    try:
        body = answer.resp.read(_SMALL_BODY)
    except (OSError, http.client.HTTPException):
        answer.conn.close()
        return b""
    if answer.resp.isclosed() and not answer.resp.will_close:
        pool.release(answer.key, answer.conn)
    else:
        answer.resp.close()
        answer.conn.close()
    return body


class Downloader:
    """Opens byte streams of Hub files: the `open` half of HubSource."""

    def __init__(
        self,
        endpoint: str,
        pool: ConnectionPool,
        *,
        user_agent: str,
        authorization: str | None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._hub = origin_of(self.endpoint)
        self._pool = pool
        self._user_agent = user_agent
        self._authorization = authorization
        self._shortcuts = _ResolveCacheShortcuts()

    def _get(self, url: str, offset: int) -> _Answer:
        """One GET; retried once on a fresh connection if a kept-alive one turns out dead."""
        key = origin_of(url)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "identity"}
        if key == self._hub and self._authorization:
            headers["Authorization"] = self._authorization  # the Hub's origin only, never the CDN
        if offset > 0:
            headers["Range"] = f"bytes={offset}-"
        fresh = False
        while True:
            try:
                # A reused connection the server closed in the instant before our request
                # fails here before any answer: one resend on a new one (the pool already
                # drops those it can see were closed while idle).
                conn, reused = (
                    (self._pool.connect(key), False) if fresh else self._pool.acquire(key)
                )
            except (OSError, http.client.HTTPException) as exc:
                raise network_error(key[1], exc) from exc
            try:
                conn.request("GET", target, headers=headers)
                return _Answer(key, conn, conn.getresponse(), url)
            except (ConnectionResetError, BrokenPipeError, http.client.BadStatusLine) as exc:
                conn.close()
                if reused:
                    fresh = True
                    continue
                raise network_error(key[1], exc) from exc
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                raise network_error(key[1], exc) from exc

    def open(self, repo: RepoRef, commit: str, file: RemoteFile, offset: int = 0) -> HubStream:
        """Stream `file` at `commit` from `offset`, following the Hub's redirects."""
        if not 0 <= offset <= file.size:
            raise ValueError(f"offset {offset} outside 0..{file.size} for {file.path!r}")
        if offset == file.size and offset > 0:
            return HubStream.empty(file)
        url = resolve_url(self.endpoint, repo, commit, file.path)
        answer: _Answer | None = None
        direct = None if file.is_lfs else self._shortcuts.predict(url, file)
        if direct is not None:
            answer = self._get(direct, offset)
            if answer.resp.status in _NOT_THERE:
                _read_small(answer, self._pool)
                self._shortcuts.disable()  # not the Hub's layout (any more): ask /resolve/
                answer = None
            else:
                url = direct  # its bytes, or its error (a 429 paces every caller), answer
        for _ in range(_MAX_REDIRECTS + 1):
            if answer is None:
                answer = self._get(url, offset)
            status = answer.resp.status
            if status in _REDIRECTS:
                self._check_linked_size(answer, file)
                location = answer.header("Location")
                _read_small(answer, self._pool)
                if not location:
                    raise TransientError(f"{status} without Location from {redact_url(url)}")
                if status == 307 and not file.is_lfs:
                    self._shortcuts.learn(url, file, location)
                url = urljoin(url, location)
                answer = None
                continue
            if status in (200, 206):
                return self._stream(answer, file, offset)
            body = _read_small(answer, self._pool)
            if status == 416:
                raise self._unsatisfiable(answer, file, offset)
            err = hub_error(
                status,
                answer.headers(),
                url,
                repo,
                endpoint=self.endpoint,
                authenticated=self._authorization is not None,
                origin="hub" if answer.key == self._hub else "cdn",
                revision=commit,
                path=file.path,
                body=body,
            )
            raise err or HubError(f"unexpected {status} for {redact_url(url)}")
        raise HubError(f"more than {_MAX_REDIRECTS} redirects for {file.path!r} in {repo}")

    @staticmethod
    def _check_linked_size(answer: _Answer, file: RemoteFile) -> None:
        """The Hub's 302 states the LFS size: a mismatch with the listing is caught before GET."""
        linked = answer.header("X-Linked-Size")
        if linked and linked.isdigit() and int(linked) != file.size:
            answer.conn.close()
            raise IntegrityError(
                f"{file.path}: the Hub says {linked} bytes, the listing said {file.size}"
            )

    @staticmethod
    def _unsatisfiable(answer: _Answer, file: RemoteFile, offset: int) -> Data4r2Error:
        match = _UNSATISFIED_RANGE.match(answer.header("Content-Range") or "")
        if match and int(match.group(1)) != file.size:
            held = match.group(1)
            return IntegrityError(
                f"{file.path}: the server holds {held} bytes, the listing said {file.size}"
            )
        return TransientError(f"{file.path}: range from {offset} refused (416)")

    def _stream(self, answer: _Answer, file: RemoteFile, offset: int) -> HubStream:
        """Check that the answer is the bytes we asked for, then wrap it."""
        resp = answer.resp
        try:
            encoding = (answer.header("Content-Encoding") or "identity").strip().lower()
            if encoding != "identity":
                raise IntegrityError(
                    f"{file.path}: server sent Content-Encoding {encoding} despite identity"
                )
            length = answer.header("Content-Length")
            declared = int(length) if length and length.strip().isdigit() else None
            skip = 0
            end = file.size  # one past the last byte this answer will carry
            if resp.status == 206:
                match = _CONTENT_RANGE.match(answer.header("Content-Range") or "")
                if match is None:
                    raise TransientError(f"{file.path}: 206 without a valid Content-Range")
                first, last, total = int(match.group(1)), int(match.group(2)), match.group(3)
                if total != "*" and int(total) != file.size:
                    raise IntegrityError(
                        f"{file.path}: the server holds {total} bytes, the listing said {file.size}"
                    )
                if first != offset or last < first or last >= file.size:
                    raise TransientError(
                        f"{file.path}: asked for bytes {offset}-, got {first}-{last}"
                    )
                end = last + 1
            else:
                # A 200 to a ranged GET means the range was ignored: the full body follows.
                # Never append it; skip the first `offset` bytes instead (into the caller's
                # buffer, no extra memory). Raising instead would re-open into the same 200
                # forever against a server that ignores Range; skipping costs bandwidth only.
                skip = offset
            if declared is not None and declared != end - offset + skip:
                raise IntegrityError(
                    f"{file.path}: Content-Length {declared}, expected {end - offset + skip} "
                    f"(file of {file.size} bytes from {offset})"
                )
        except Data4r2Error:
            resp.close()
            answer.conn.close()
            raise
        return HubStream(
            file=file,
            answer=answer,
            pool=self._pool,
            skip=skip,
            start=offset,
            end=end,
        )


class _ResolveCacheShortcuts:
    """One Hub request per regular file instead of two (docs/hub.md §2).

    The Hub answers `/resolve/{commit}/{path}` of a regular (non-LFS) file with a relative
    307 to `/api/resolve-cache/…/{commit}/{path}?…&etag="{git sha1}"`: a location made only
    of things the tree listing already gave us. The first such redirect of a (repo, commit)
    is turned into a template by swapping its file's own path and sha1 for placeholders;
    later regular files of that commit GET their predicted location at once. Predicted, not
    hard-coded: the layout is the Hub's, undocumented, so it is learned from the Hub's own
    answer each run. An answer that says the location is wrong (a redirect, 400, 404, 410)
    sends that file through /resolve/ and turns the shortcut off for the rest of the run; any
    other error is that file's error, mapped as from /resolve/ (a 429 still paces everyone).
    """

    _PATH, _ORIGINAL, _SHA1 = "\x00path\x00", "\x00original\x00", "\x00sha1\x00"

    def __init__(self) -> None:
        self._templates: dict[str, str] = {}  # resolve URL minus the file's path → template
        self._enabled = True

    @staticmethod
    def _base(resolve: str, file: RemoteFile) -> str | None:
        """The resolve URL without the file's own path: one per repo and commit."""
        suffix = quote(file.path)
        return resolve[: -len(suffix)] if resolve.endswith(suffix) else None

    def learn(self, resolve: str, file: RemoteFile, location: str) -> None:
        base = self._base(resolve, file)
        if not self._enabled or base is None or base in self._templates:
            return
        if urlsplit(location).netloc or not location.startswith("/api/resolve-cache/"):
            return  # not the relative resolve-cache hop this shortcut knows
        template = (
            location.replace(quote_plus(urlsplit(resolve).path), self._ORIGINAL)
            .replace(quote(file.path, safe=""), self._PATH)
            .replace(file.git_sha1, self._SHA1)
        )
        if template.count(self._PATH) == 1:
            self._templates[base] = urljoin(resolve, template)

    def predict(self, resolve: str, file: RemoteFile) -> str | None:
        base = self._base(resolve, file)
        template = self._templates.get(base) if self._enabled and base is not None else None
        if template is None:
            return None
        return (
            template.replace(self._ORIGINAL, quote_plus(urlsplit(resolve).path))
            .replace(self._PATH, quote(file.path, safe=""))
            .replace(self._SHA1, file.git_sha1)
        )

    def disable(self) -> None:
        self._enabled = False
        self._templates.clear()


class HubStream:
    """One GET's body as a ByteStream: readinto fills the caller's buffer from the socket."""

    def __init__(
        self,
        *,
        file: RemoteFile,
        answer: _Answer | None,
        pool: ConnectionPool | None,
        skip: int,
        start: int,
        end: int,
    ) -> None:
        self._file = file
        self._answer = answer
        self._pool = pool
        self._skip = skip
        self._position = start  # offset in the file of the next byte we hand out
        self._end = end  # one past the last byte this answer carries (< size: partial 206)
        self._closed = False

    @classmethod
    def empty(cls, file: RemoteFile) -> HubStream:
        return cls(file=file, answer=None, pool=None, skip=0, start=file.size, end=file.size)

    def _read(self, view: memoryview) -> int:
        answer = self._answer
        if answer is None:
            raise TransientError(f"{self._file.path}: stream already closed")
        try:
            return answer.resp.readinto(view)
        except http.client.IncompleteRead as exc:
            self.close()
            raise self._cut() from exc
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise network_error(answer.key[1], exc) from exc

    def _cut(self) -> TransientError:
        return TransientError(
            f"{self._file.path}: connection closed at byte {self._position} of {self._file.size}"
        )

    def readinto(self, buf: memoryview) -> int:
        """Fill as much of `buf` as the file has left; 0 only at its end."""
        if self._closed:
            raise TransientError(f"{self._file.path}: stream already closed")
        if self._answer is None:  # read to the end of this answer
            if self._position < self._file.size:
                raise TransientError(
                    f"{self._file.path}: the server sent a partial range ending at byte "
                    f"{self._position} of {self._file.size}; re-open from there"
                )
            return 0
        while self._skip > 0:  # range ignored: discard the head of the body, see _stream
            n = self._read(buf[: min(len(buf), self._skip)])
            if n == 0:
                self.close()
                raise self._cut()
            self._skip -= n
        filled = 0
        while filled < len(buf) and self._position < self._end:
            want = min(len(buf) - filled, self._end - self._position)
            n = self._read(buf[filled : filled + want])
            if n == 0:
                self.close()
                raise self._cut()
            filled += n
            self._position += n
        if self._position == self._end:
            self._finish()
        return filled

    def _finish(self) -> None:
        """At the last expected byte: make sure nothing more follows, then reuse the socket."""
        answer = self._answer
        if answer is None:
            return
        if answer.resp.length is None:  # chunked or close-delimited: only EOF ends it
            probe = bytearray(1)
            if self._read(memoryview(probe)) > 0:
                self.close()
                raise IntegrityError(
                    f"{self._file.path}: the server sent more than {self._file.size} bytes"
                )
        if answer.resp.isclosed() and not answer.resp.will_close and self._pool is not None:
            self._pool.release(answer.key, answer.conn)
        else:
            answer.resp.close()
            answer.conn.close()
        self._answer = None

    def close(self) -> None:
        """Drop the connection unless the body was read to its end (then it is pooled)."""
        answer, self._answer = self._answer, None
        self._closed = True
        if answer is not None:
            answer.resp.close()
            answer.conn.close()
