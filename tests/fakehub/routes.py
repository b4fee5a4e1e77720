"""Routing on the RAW request path (docs/hub.md §1–§2).

The repo id is found by the marker after it (`/resolve/`, `/tree/`, `/revision/` …), never by
counting segments. Revisions may arrive encoded (`refs%2Fpr%2F1`) or raw (`refs/pr/1`): the
split between revision and file path is made against the repo's known refs (`split_revision`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from .repo import Commit

API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
API_MARKERS = {
    "revision": "info",
    "tree": "tree",
    "paths-info": "paths_info",
    "refs": "refs",
    "commits": "commits",
    "xet-read-token": "xet_token",
}
_SHA = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class Route:
    kind: str  # info|tree|paths_info|refs|commits|xet_token|whoami|resolve|resolve_cache|unknown
    repo_type: str | None = None
    repo_id: str | None = None
    tail: tuple[str, ...] = ()  # raw segments after the marker (revision, then path)
    sha: str | None = None  # resolve_cache only
    file_path: str | None = None  # resolve_cache only (decoded)


def _split_id(
    segs: list[str], is_marker: Callable[[str], bool]
) -> tuple[str, str, list[str]] | None:
    """(repo_id, marker, tail) with the id of 2 segments (ns/name) or 1 (legacy)."""
    if len(segs) >= 3 and is_marker(segs[2]):
        return f"{unquote(segs[0])}/{unquote(segs[1])}", segs[2], segs[3:]
    if len(segs) >= 2 and is_marker(segs[1]):
        return unquote(segs[0]), segs[1], segs[2:]
    return None


def parse_route(raw_path: str) -> Route:
    segs = raw_path.split("/")[1:]
    if not segs or segs == [""]:
        return Route("unknown")
    if segs[0] == "api":
        return _parse_api(segs[1:])
    repo_type = "model"
    if segs[0] in ("datasets", "spaces"):
        repo_type = API_TYPES[segs[0]]
        segs = segs[1:]
    found = _split_id(segs, lambda s: s == "resolve")
    if found is None:
        return Route("unknown")
    repo_id, _, tail = found
    return Route("resolve", repo_type, repo_id, tuple(tail))


def _parse_api(segs: list[str]) -> Route:
    if segs == ["whoami-v2"]:
        return Route("whoami")
    if len(segs) >= 2 and segs[0] == "resolve-cache" and segs[1] in API_TYPES:
        rest = segs[2:]
        for i in (2, 1):
            if len(rest) > i + 1 and _SHA.fullmatch(rest[i]):
                repo_id = "/".join(unquote(s) for s in rest[:i])
                path = unquote("/".join(rest[i + 1 :]))
                return Route("resolve_cache", API_TYPES[segs[1]], repo_id, (), rest[i], path)
        return Route("unknown")
    if not segs or segs[0] not in API_TYPES:
        return Route("unknown")
    repo_type = API_TYPES[segs[0]]
    rest = [s for s in segs[1:]]
    found = _split_id(rest, lambda s: s in API_MARKERS)
    if found is not None:
        repo_id, marker, tail = found
        kind = API_MARKERS[marker]
        if kind == "refs" and tail:
            return Route("unknown")
        return Route(kind, repo_type, repo_id, tuple(tail))
    if 1 <= len(rest) <= 2 and all(rest):
        return Route("info", repo_type, "/".join(unquote(s) for s in rest))
    return Route("unknown")


def split_revision(
    tail: tuple[str, ...], resolve: Callable[[str], Commit | None]
) -> tuple[str, Commit | None, str]:
    """(revision, its commit or None, decoded rest path). Tries the longest prefix of raw
    segments that names a known revision; else the first segment (3 for `refs/…`)."""
    for k in range(len(tail), 0, -1):
        rev = unquote("/".join(tail[:k]))
        commit = resolve(rev)
        if commit is not None:
            return rev, commit, unquote("/".join(tail[k:]))
    if not tail:
        return "", None, ""
    k = 3 if tail[0] == "refs" and len(tail) >= 3 else 1
    return unquote("/".join(tail[:k])), None, unquote("/".join(tail[k:]))
