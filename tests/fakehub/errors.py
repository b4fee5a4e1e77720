"""Hub error answers (docs/hub.md §3): status, X-Error-Code, X-Error-Message, JSON body."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class HubError(Exception):
    """Raised by route handlers; the app turns it into an error reply."""

    status: int
    message: str
    code: str | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status} {self.code or '-'}: {self.message}"


def invalid_credentials() -> HubError:
    return HubError(401, "Invalid credentials in Authorization header")


def repo_not_found(*, anonymous: bool) -> HubError:
    if anonymous:
        return HubError(401, "Invalid username or password.", "RepoNotFound")
    return HubError(404, "Repository not found", "RepoNotFound")


def disabled() -> HubError:
    return HubError(403, "Access to this resource is disabled.")


def gated(
    *, repo_type: str, repo_id: str, anonymous: bool, endpoint: str, url_prefix: str
) -> HubError:
    if anonymous:
        return HubError(
            401,
            f"Access to {repo_type} {repo_id} is restricted. You must have access to it and be "
            "authenticated to access it. Please log in.",
            "GatedRepo",
        )
    return HubError(
        403,
        f"Access to {repo_type} {repo_id} is restricted and you are not in the authorized list. "
        f"Visit {endpoint}/{url_prefix}{repo_id} to ask for access.",
        "GatedRepo",
    )


def revision_not_found(rev: str) -> HubError:
    return HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")


def entry_not_found(commit: str | None = None) -> HubError:
    headers = [("X-Repo-Commit", commit)] if commit else []
    return HubError(404, "Entry not found", "EntryNotFound", headers)


def bad_request(message: str) -> HubError:
    return HubError(400, message)


def not_found() -> HubError:
    return HubError(404, "Sorry, we can't find the page you are looking for.")
