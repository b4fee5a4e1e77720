"""Read the original client's `hf_url` (`{endpoint}/[datasets/|spaces/]{repo}/resolve/{rev}/{path}`)
— strictly: only a /resolve/ URL on the Hub the server is configured for.

The URL is attacker-controlled input that names what the server will download: anything
else (another host, a query string, `..`, an /api/ route) is refused, never "fixed up".
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from ..domain import InvalidRepoId, RepoRef, RepoType, UnsafePath, UsageError, safe_relative_path

_TYPES = {"datasets": RepoType.DATASET, "spaces": RepoType.SPACE}


class BadHubUrl(UsageError):
    def __init__(self, why: str) -> None:
        super().__init__(f"hf_url {why}")


@dataclass(frozen=True, slots=True)
class ResolveUrl:
    repo: RepoRef
    path: str


def parse_resolve_url(url: str, endpoint: str) -> ResolveUrl:
    """`url` split into repo, revision and path; BadHubUrl for anything else."""
    got, home = urlsplit(url), urlsplit(endpoint)
    if (got.scheme, got.netloc.lower()) != (home.scheme, home.netloc.lower()):
        raise BadHubUrl(f"must be on the server's Hub, {home.scheme}://{home.netloc}")
    if got.query or got.fragment or got.username or got.password:
        raise BadHubUrl("must have no query, fragment or user info")
    base = home.path.rstrip("/")
    if not got.path.startswith(base + "/"):
        raise BadHubUrl(f"must start with {endpoint.rstrip('/')}/")
    # Split before unquoting, so an encoded '/' cannot forge a segment boundary.
    segments = got.path[len(base) + 1 :].split("/")
    repo_type = _TYPES.get(segments[0], RepoType.MODEL)
    if repo_type is not RepoType.MODEL:
        segments = segments[1:]
    try:
        at = segments.index("resolve")
    except ValueError:
        raise BadHubUrl("must be a /resolve/{revision}/{path} URL") from None
    if at not in (1, 2) or len(segments) < at + 3:
        raise BadHubUrl("must be {repo}/resolve/{revision}/{path}")
    repo_id = "/".join(unquote(s) for s in segments[:at])
    revision = unquote(segments[at + 1])
    path = "/".join(unquote(s) for s in segments[at + 2 :])
    try:
        safe_relative_path(path)
        if any(ord(c) < 0x20 for c in path):
            raise UnsafePath(path)
        return ResolveUrl(RepoRef(repo_id, repo_type, revision), path)
    except InvalidRepoId as e:
        raise BadHubUrl(f"names no valid repo: {e.message}") from None
    except UnsafePath:
        raise BadHubUrl("has an unsafe file path") from None
    except UsageError as e:  # InvalidRevision
        raise BadHubUrl(f"has an invalid revision: {e.message}") from None
