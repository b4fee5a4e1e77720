"""HubSource on the Hugging Face Hub: metadata through huggingface_hub, bytes through stream.py.

huggingface_hub does the metadata (repo info, the paginated tree with its `Link` paging and
backoff) and the token lookup (HF_TOKEN, the token file, HF_HUB_DISABLE_IMPLICIT_TOKEN), so
we follow its behaviour instead of re-implementing it. Endpoint and token are always passed
explicitly: HF_ENDPOINT reaches us only through the composition root.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
from collections.abc import Callable, Iterator
from typing import Any

from huggingface_hub import HfApi, get_session, set_client_factory
from huggingface_hub.hf_api import RepoFile

# Public in huggingface_hub.utils (1.x and 2.x) but re-exported without `__all__` there.
from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]

from .. import __version__
from ..domain import Data4r2Error, HubError, RemoteFile, RepoRef
from ..ports import ByteStream, HubSource
from .errors import from_hf_error
from .stream import ConnectionPool, Downloader

LIBRARY_NAME = "data4r2"
_SHA = re.compile(r"^[0-9a-f]{40}$")


def tls_context(ca_bundle: str | None) -> ssl.SSLContext:
    """The default verifying context, or one trusting only `ca_bundle`."""
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    ctx = ssl.create_default_context()
    if not ctx.get_ca_certs() and not ctx.cert_store_stats().get("x509_ca"):
        # No system store (python.org macOS builds, slim images): fall back to certifi
        # when it is installed (it comes with httpx), as huggingface_hub 1.x does.
        try:
            import certifi
        except ImportError:
            return ctx
        ctx.load_verify_locations(certifi.where())
    return ctx


class TimeoutFloor:
    """A request hook that gives every huggingface_hub request a bounded timeout.

    A client-wide timeout is not enough: huggingface_hub's pagination (`_paginate_pages`,
    used by `list_repo_tree`) calls `http_backoff(..., timeout=None)`, and an explicit
    `timeout=None` on an httpx/httpx2 request means "no timeout", overriding the client's.
    httpx stores the merged timeout in `request.extensions["timeout"]` before it runs the
    request hooks, so the hook fills every unset phase there. A stalled tree page then
    raises ReadTimeout, which huggingface_hub retries per page and we retry per call.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def __call__(self, request: Any) -> None:
        phases = dict(request.extensions.get("timeout") or {})
        for phase in ("connect", "read", "write", "pool"):
            if phases.get(phase) is None:
                phases[phase] = self.timeout
        request.extensions = {**request.extensions, "timeout": phases}


def configure_hf_session(timeout: float, ca_bundle: str | None) -> None:
    """Bound every request of huggingface_hub's HTTP client (and give it our CA bundle).

    huggingface_hub keeps one process-wide httpx (1.x) / httpx2 (2.x) client, built with no
    timeout in 2.x; `set_client_factory` is its documented hook for changing it. The factory
    builds the same client class with the same event hooks (offline mode, request ids) plus
    `TimeoutFloor`, so only the timeouts and, when given, the trust store change.
    Process-wide by huggingface_hub's design: the composition root builds one HubClient.
    """
    current = get_session()
    client_cls: Callable[..., Any] = type(current)
    hooks = {
        name: [fn for fn in fns if not isinstance(fn, TimeoutFloor)]  # one floor, the newest
        for name, fns in current.event_hooks.items()
    }
    hooks.setdefault("request", []).append(TimeoutFloor(timeout))
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
    )

    def factory() -> Any:
        return client_cls(event_hooks=hooks, follow_redirects=True, timeout=timeout, verify=verify)

    set_client_factory(factory)


def keep_hf_retry_warnings_off_the_terminal() -> None:
    """huggingface_hub warns on stderr, through its own handler, before each retry of its
    own: a stalled tree page printed two lines under the live display. Retries are ours to
    report (as events), so its logger keeps errors only, unless the user asked for more
    (HF_HUB_VERBOSITY, or --debug, which puts the root logger at DEBUG)."""
    if os.environ.get("HF_HUB_VERBOSITY") or logging.getLogger().isEnabledFor(logging.DEBUG):
        return
    logging.getLogger("huggingface_hub").setLevel(logging.ERROR)


class HubClient:
    """Resolve, list and stream one Hub repo at a pinned commit."""

    def __init__(
        self,
        endpoint: str = "https://huggingface.co",
        token: str | None = None,
        *,
        timeout: float = 30.0,
        user_agent: str | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self.endpoint = endpoint.rstrip("/")
        self._timeout = timeout
        # huggingface_hub decides whether and which token to send (explicit, HF_TOKEN, token
        # file; none with HF_HUB_DISABLE_IMPLICIT_TOKEN), once, for both the API and downloads.
        headers = {
            k.lower(): v
            for k, v in build_hf_headers(
                token=token,
                library_name=LIBRARY_NAME,
                library_version=__version__,
                user_agent=user_agent,
            ).items()
        }
        authorization = headers.get("authorization")
        self._authenticated = authorization is not None
        bearer = authorization.split(" ", 1)[1] if authorization else None
        self._api = HfApi(
            endpoint=self.endpoint,
            token=bearer if bearer else False,
            library_name=LIBRARY_NAME,
            library_version=__version__,
            user_agent=user_agent,
        )
        configure_hf_session(timeout, ca_bundle)
        keep_hf_retry_warnings_off_the_terminal()
        self._pool = ConnectionPool(timeout, tls_context(ca_bundle))
        self._downloader = Downloader(
            self.endpoint,
            self._pool,
            user_agent=headers.get("user-agent", f"{LIBRARY_NAME}/{__version__}"),
            authorization=authorization,
        )

    def _domain_error(
        self, exc: Exception, repo: RepoRef, revision: str | None = None
    ) -> Data4r2Error | None:
        return from_hf_error(
            exc,
            repo,
            endpoint=self.endpoint,
            authenticated=self._authenticated,
            revision=revision,
        )

    def resolve(self, repo: RepoRef) -> str:
        """The 40-hex commit sha `repo.revision` points at now (repo info's `sha`)."""
        try:
            info = self._api.repo_info(
                repo.repo_id,
                revision=repo.revision,
                repo_type=repo.repo_type.value,
                timeout=self._timeout,
                # Only the sha: a huge repo's info otherwise carries every file as a sibling.
                expand="sha",
            )
        except Exception as exc:
            err = self._domain_error(exc, repo)
            if err is None:
                raise
            raise err from exc
        sha = getattr(info, "sha", None)
        if not isinstance(sha, str) or not _SHA.match(sha):
            raise HubError(f"the Hub gave no commit sha for {repo} (got {sha!r})")
        return sha

    def list_files(self, repo: RepoRef, commit: str) -> list[RemoteFile]:
        """Every file at `commit`: the recursive tree, paged by huggingface_hub along `Link`."""
        try:
            return list(self._files(repo, commit))
        except (KeyError, TypeError, AttributeError) as exc:
            raise HubError(f"malformed tree entry from the Hub for {repo}: {exc!r}") from exc
        except Exception as exc:
            err = self._domain_error(exc, repo, revision=commit)
            if err is None:
                raise
            raise err from exc

    def _files(self, repo: RepoRef, commit: str) -> Iterator[RemoteFile]:
        entries = self._api.list_repo_tree(
            repo.repo_id,
            recursive=True,
            expand=False,
            revision=commit,
            repo_type=repo.repo_type.value,
        )
        for entry in entries:
            if isinstance(entry, RepoFile):  # directories are implied by the paths
                yield RemoteFile(
                    path=entry.path,
                    size=int(entry.size),
                    git_sha1=entry.blob_id,
                    sha256=entry.lfs.sha256 if entry.lfs is not None else None,
                )

    def open(self, repo: RepoRef, commit: str, file: RemoteFile, offset: int = 0) -> ByteStream:
        """Stream `file` at `commit` from `offset` (see stream.py for redirects and ranges)."""
        return self._downloader.open(repo, commit, file, offset)

    def close(self) -> None:
        """Close idle download connections (huggingface_hub's client closes itself at exit)."""
        self._pool.close()


def _conforms(client: HubClient) -> HubSource:  # mypy checks HubClient against the port
    return client
