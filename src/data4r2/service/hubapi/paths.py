"""Hub URLs parsed from the raw request path (docs/hub.md §1).

huggingface_hub percent-encodes a revision whole (`refs%2Fpr%2F1`) and a tree folder too
(`a%2Fb`); routing on the decoded path would split them, so we split the raw path ourselves.
Repo ids are `ns/name` or a legacy bare `name`: the id is found by the marker after it
(`resolve`, `tree` …), never by counting segments.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from ...domain import InvalidRepoId, validate_repo_id
from .mirror import RepoAddress

_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
API_MARKERS = frozenset({"revision", "tree", "paths-info"})


@dataclass(frozen=True, slots=True)
class ApiCall:
    repo: RepoAddress
    action: str  # "info" | "revision" | "tree" | "paths-info"
    revision: str | None
    path: str  # tree: the folder ('' for the root)


@dataclass(frozen=True, slots=True)
class ResolveCall:
    repo: RepoAddress
    revision: str
    path: str


def _segments(raw_path: str) -> list[str]:
    return raw_path.strip("/").split("/")


def _repo(repo_type: str, parts: list[str]) -> RepoAddress | None:
    repo_id = "/".join(unquote(p) for p in parts)
    try:
        validate_repo_id(repo_id)
    except InvalidRepoId:
        return None
    return RepoAddress(repo_type, repo_id)


def parse_api(raw_path: str) -> ApiCall | None:
    """`/api/{T}/{id}[/revision/{rev} | /tree/{rev}[/{dir}] | /paths-info/{rev}]`."""
    segs = _segments(raw_path)
    if len(segs) < 3 or segs[0] != "api" or segs[1] not in _TYPES:
        return None
    repo_type, rest = _TYPES[segs[1]], segs[2:]
    if len(rest) in (1, 2):
        repo = _repo(repo_type, rest)
        return ApiCall(repo, "info", None, "") if repo else None
    for cut in (2, 1):  # ns/name first; a bare legacy name only if that does not fit
        if len(rest) > cut + 1 and rest[cut] in API_MARKERS:
            repo = _repo(repo_type, rest[:cut])
            if repo is None:
                continue
            action, tail = rest[cut], rest[cut + 1 :]
            revision = unquote(tail[0])
            if action == "tree":
                folder = unquote("/".join(tail[1:])).strip("/")
                return ApiCall(repo, action, revision, folder)
            if len(tail) == 1:
                return ApiCall(repo, action, revision, "")
            # A revision sent unencoded (`refs/pr/1`): everything after the marker is it.
            return ApiCall(repo, action, unquote("/".join(tail)), "")
    return None


def parse_resolve(raw_path: str) -> ResolveCall | None:
    """`/{P}{id}/resolve/{rev}/{path}` with P = '' (models), 'datasets/' or 'spaces/'."""
    segs = _segments(raw_path)
    repo_type, rest = "model", segs
    if segs and segs[0] in ("datasets", "spaces"):
        repo_type, rest = _TYPES[segs[0]], segs[1:]
    for cut in (2, 1):
        if len(rest) > cut + 2 and rest[cut] == "resolve":
            repo = _repo(repo_type, rest[:cut])
            path = unquote("/".join(rest[cut + 2 :]))
            if repo is not None and path:
                return ResolveCall(repo, unquote(rest[cut + 1]), path)
    return None
