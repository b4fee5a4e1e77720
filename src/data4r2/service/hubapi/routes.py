"""The Hub-compatible read routes: repo info, tree, paths-info and resolve
(docs/mirror-api.md; the Hub's own behaviour in docs/hub.md §1-§3).

Mounted at `/` beside `/v1` so `HF_ENDPOINT=<server>` works unmodified. The routes match
`/api/…` and `…/resolve/…` and then parse the raw path (see paths.py); they are declared
after every other route, and a path that is no Hub URL gets the service's ordinary 404.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
from dataclasses import dataclass
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from ...domain import RemoteFile
from ...ports import MirrorReader
from ..auth import BearerToken
from ..errors import ApiError
from .errors import HubApiError, as_hub_errors, entry_not_found
from .manifest import Manifest, ManifestFile
from .mirror import Mirror
from .paths import ApiCall, parse_api, parse_resolve
from .ranges import Unsatisfiable, byte_range
from .views import repo_info

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class HubApi:
    """What the routes need, kept on `app.state.hubapi`."""

    mirror: Mirror
    auth: BearerToken
    link_seconds: int = 3600  # the Hub's CDN links last about an hour; long downloads resume
    page_size: int = 1000  # the Hub's tree page (50 with expand=true)


def _api(request: Request) -> HubApi:
    api: HubApi = request.app.state.hubapi
    try:
        api.auth(request)
    except ApiError:
        # As the Hub answers a bad token: 401 without an error code.
        raise HubApiError(
            401,
            None,
            "Invalid credentials in Authorization header: set HF_TOKEN to the mirror's API token",
        ) from None
    return api


def _raw_path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if isinstance(raw, bytes) else request.url.path


def _not_a_hub_url() -> HTTPException:
    return HTTPException(404, "Not Found")


def _snapshot(api: HubApi, call: ApiCall) -> Manifest:
    with as_hub_errors(call.revision):
        return api.mirror.snapshot(call.repo, call.revision).manifest


# --------------------------------------------------------------------------- metadata


@router.get("/api/{rest:path}")
def metadata(request: Request, rest: str) -> Response:
    call = parse_api(_raw_path(request))
    if call is None or call.action == "paths-info":
        raise _not_a_hub_url()
    api = _api(request)
    manifest = _snapshot(api, call)
    if call.action in ("info", "revision"):
        blobs = request.query_params.get("blobs", "").lower() in ("1", "true")
        return JSONResponse(repo_info(manifest, blobs=blobs))
    return _tree_page(request, api, manifest, call.path)


def _cursor(commit: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{commit}:{offset}".encode()).decode()


def _offset(cursor: str | None, commit: str) -> int:
    if not cursor:
        return 0
    try:
        at, _, offset = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if at != commit or not offset.isdigit():
            raise ValueError(cursor)
        return int(offset)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise HubApiError(400, None, "invalid cursor: follow the Link header as given") from None


def _tree_page(request: Request, api: HubApi, manifest: Manifest, folder: str) -> Response:
    listing = api.mirror.tree(manifest).listing(
        folder, recursive=request.query_params.get("recursive", "").lower() in ("1", "true")
    )
    if listing is None:
        raise entry_not_found(manifest.commit)
    # The cursor pins the commit: a branch moving between pages cannot mix two listings.
    start = _offset(request.query_params.get("cursor"), manifest.commit)
    size = 50 if request.query_params.get("expand", "").lower() == "true" else api.page_size
    page, end = listing[start : start + size], start + size
    headers = {"X-Repo-Commit": manifest.commit}
    if end < len(listing):
        # Absolute, from the request's own host: huggingface_hub follows it verbatim.
        nxt = request.url.include_query_params(cursor=_cursor(manifest.commit, end))
        headers["Link"] = f'<{nxt}>; rel="next"'
    return JSONResponse(page, headers=headers)


@router.post("/api/{rest:path}")
async def paths_info(request: Request, rest: str) -> Response:
    call = parse_api(_raw_path(request))
    if call is None or call.action != "paths-info":
        raise _not_a_hub_url()
    api = _api(request)
    body = await request.body()
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            doc = json.loads(body)
            wanted = [str(p) for p in doc.get("paths", [])] if isinstance(doc, dict) else []
        except (ValueError, UnicodeDecodeError):
            raise HubApiError(400, None, "paths-info: the body is not JSON") from None
    else:  # huggingface_hub sends a form: paths=a&paths=b&expand=false
        wanted = [v for k, v in parse_qsl(body.decode("utf-8", "replace")) if k == "paths"]
    manifest = _snapshot(api, call)
    tree = api.mirror.tree(manifest)
    found = [tree.entries[p.strip("/")] for p in wanted if p.strip("/") in tree.entries]
    return JSONResponse(found, headers={"X-Repo-Commit": manifest.commit})


# --------------------------------------------------------------------------- resolve


def _file_headers(manifest: Manifest, file: ManifestFile) -> dict[str, str]:
    # huggingface_hub takes the etag from X-Linked-Etag first (the cache blob's name) and the
    # size from X-Linked-Size when redirected: sha256 for LFS files, git sha1 otherwise, as
    # on the Hub, so `hf cache verify` checks the bytes with the hash the Hub would give.
    linked = file.sha256 if file.lfs and file.sha256 else file.git_sha1
    return {
        "X-Repo-Commit": manifest.commit,
        "ETag": f'"{file.git_sha1}"',
        "X-Linked-Etag": f'"{linked}"',
        "X-Linked-Size": str(file.size),
        "Accept-Ranges": "bytes",
    }


def _still_holds(reader: MirrorReader, file: ManifestFile) -> bool:
    """The object at `file.key` holds `file` by the hashes data4r2 recorded on it (one HEAD)."""
    info = reader.head(file.key)
    wanted = RemoteFile(file.path, file.size, file.git_sha1, file.sha256 if file.lfs else None)
    return info is not None and info.matches(wanted)


def _not_modified(request: Request, headers: dict[str, str]) -> bool:
    given = request.headers.get("if-none-match")
    if not given:
        return False
    tags = {t.strip().removeprefix("W/") for t in given.split(",")}
    return "*" in tags or bool(tags & {headers["ETag"], headers["X-Linked-Etag"]})


# Only paths with a `/resolve/` segment: every other path keeps the service's own 404/405.
@router.api_route("/{repo:path}/resolve/{rest:path}", methods=["GET", "HEAD"])
def resolve(request: Request, repo: str, rest: str) -> Response:
    call = parse_resolve(_raw_path(request))
    if call is None:
        raise _not_a_hub_url()
    api = _api(request)
    reader = api.mirror.reader
    with as_hub_errors(call.revision):
        mirrored = api.mirror.snapshot(call.repo, call.revision)
        manifest = mirrored.manifest
        file = manifest.file(call.path)
        if file is None:
            raise entry_not_found(manifest.commit)
        if not mirrored.current and not _still_holds(reader, file):
            # Never bytes other than the manifest says under its sha and etag.
            raise HubApiError(
                404,
                "EntryNotFound",
                f"{call.path} at {manifest.commit} was replaced in the mirror by a later sync",
                {"X-Repo-Commit": manifest.commit},
            )
        link = reader.link(file.key, expires_in=api.link_seconds)
    headers = _file_headers(manifest, file)
    if _not_modified(request, headers):
        return Response(status_code=304, headers=headers)
    if link is not None:  # a bucket: the bytes go from it to the client, not through us
        return Response(status_code=302, headers={**headers, "Location": link})
    return _stream(request, api, file, headers)


def _stream(request: Request, api: HubApi, file: ManifestFile, headers: dict[str, str]) -> Response:
    try:
        span = byte_range(request.headers.get("range"), file.size)
    except Unsatisfiable:
        return Response(status_code=416, headers={"Content-Range": f"bytes */{file.size}"})
    start, end = span if span is not None else (0, file.size)
    headers["Content-Length"] = str(end - start)
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{file.size}"
    media = mimetypes.guess_type(file.path)[0] or "application/octet-stream"
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=media)
    body = api.mirror.reader.stream(file.key, start, end)
    return StreamingResponse(body, status_code=status, headers=headers, media_type=media)
