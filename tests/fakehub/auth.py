"""Tokens and the access matrix of docs/hub.md §3."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import errors
from .repo import Repo


@dataclass(frozen=True)
class TokenInfo:
    """What a token can do. `approved`: gated repos whose terms were accepted;
    `repos`: private repos readable besides those of `user` and `orgs`."""

    user: str
    orgs: frozenset[str] = field(default_factory=frozenset)
    approved: frozenset[str] = field(default_factory=frozenset)
    repos: frozenset[str] = field(default_factory=frozenset)
    quota: Mapping[str, int] | None = None  # per-bucket rate-limit override

    @classmethod
    def parse(cls, spec: TokenInfo | Mapping[str, Any]) -> TokenInfo:
        if isinstance(spec, TokenInfo):
            return spec

        def names(key: str) -> frozenset[str]:
            value: Iterable[str] = spec.get(key, ())
            return frozenset([value] if isinstance(value, str) else value)

        return cls(
            user=str(spec["user"]),
            orgs=names("orgs"),
            approved=names("approved"),
            repos=names("repos"),
            quota=spec.get("quota"),
        )

    def is_member(self, repo: Repo) -> bool:
        namespace = repo.repo_id.split("/")[0] if "/" in repo.repo_id else None
        return namespace in ({self.user} | self.orgs) or repo.repo_id in self.repos


@dataclass(frozen=True)
class Caller:
    """Who sent a request: `token` is the raw bearer value (None = anonymous)."""

    token: str | None
    info: TokenInfo | None
    ip: str

    @property
    def anonymous(self) -> bool:
        return self.token is None

    @property
    def identity(self) -> str:
        return f"user:{self.info.user}" if self.info else f"ip:{self.ip}"


def caller_from(authorization: str | None, tokens: Mapping[str, TokenInfo], ip: str) -> Caller:
    """Raises 401 (no code) for a token the hub does not know, whatever the repo."""
    if not authorization:
        return Caller(None, None, ip)
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if scheme.lower() != "bearer" or value not in tokens:
        raise errors.invalid_credentials()
    return Caller(value, tokens[value], ip)


def check_repo(repo: Repo | None, caller: Caller, *, content: bool, endpoint: str) -> Repo:
    """docs/hub.md §3. Metadata (`content=False`) of gated repos is public; content is not."""
    member = caller.info is not None and repo is not None and caller.info.is_member(repo)
    if repo is None or (repo.private and not member):
        raise errors.repo_not_found(anonymous=caller.anonymous)
    if repo.disabled:
        raise errors.disabled()
    if content and repo.gated and not member:
        approved = caller.info is not None and repo.repo_id in caller.info.approved
        if not approved:
            raise errors.gated(
                repo_type=repo.repo_type,
                repo_id=repo.repo_id,
                anonymous=caller.anonymous,
                endpoint=endpoint,
                url_prefix=repo.url_prefix,
            )
    return repo
