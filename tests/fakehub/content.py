"""Serving file bytes: ranges, gzip for text, conditional GET; shared by the Hub and the CDN."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from urllib.parse import quote

from .faults import Fault
from .messages import UNSATISFIABLE, FileSlice, Reply, Request, parse_range
from .repo import Blob

TakeBodyFault = Callable[[bool], Fault | None]  # has_range -> fault


def content_disposition(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"inline; filename*=UTF-8''{quote(name, safe='')}; filename=\"{ascii_name}\";"


def content_type(path: str, blob: Blob) -> str:
    if blob.is_text:
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"


def etag_matches(if_none_match: str | None, *etags: str) -> bool:
    if not if_none_match:
        return False
    wanted = {t.strip().removeprefix("W/").strip('"') for t in if_none_match.split(",")}
    return "*" in wanted or any(e in wanted for e in etags)


def serve_blob(
    blob: Blob,
    req: Request,
    headers: list[tuple[str, str]],
    *,
    take_body_fault: TakeBodyFault,
    allow_gzip: bool = False,
) -> Reply:
    """200 / 206 / 416 for `blob`, honouring one Range; gzip (chunked, no length, range ignored)
    for text when the client accepts it and `allow_gzip`."""
    if allow_gzip and blob.is_text and req.accepts_gzip():
        return Reply(
            200,
            [*headers, ("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")],
            blob.gzipped,
            chunked=True,
        )
    fault = take_body_fault(req.range is not None)
    kind = fault.kind if fault else None
    rng = None if kind == "ignore_range" else parse_range(req.range, blob.size)
    headers = [*headers, ("Accept-Ranges", "bytes")]
    if rng == UNSATISFIABLE:
        return Reply(416, [*headers, ("Content-Range", f"bytes */{blob.size}")], b"", fault=None)
    if rng is None:
        reply = Reply(200, headers, FileSlice(blob, 0, blob.size))
    else:
        assert not isinstance(rng, str)
        content_range = rng.content_range(blob.size)
        if kind == "wrong_content_range" and fault is not None:
            s = min(rng.start + fault.shift, blob.size - 1)
            e = min(rng.end - 1 + fault.shift, blob.size - 1)
            content_range = f"bytes {s}-{e}/{blob.size}"
        reply = Reply(
            206, [*headers, ("Content-Range", content_range)], FileSlice(blob, rng.start, rng.end)
        )
    if fault is not None:
        reply.fault = str(fault.kind)
        if kind not in ("ignore_range", "wrong_content_range"):
            reply.body_fault = fault
    return reply
