"""Plain data every layer shares: repos, files, jobs, parts, events and the error types.

No I/O and no third-party imports here, so the engine, the adapters and the tests can all
depend on it.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, unquote

# --------------------------------------------------------------------------- repos and files


class RepoType(StrEnum):
    MODEL = "model"
    DATASET = "dataset"
    SPACE = "space"

    @property
    def plural(self) -> str:
        """The form the Hub's /api/ routes and our object keys use ("models", "datasets")."""
        return f"{self.value}s"


# The Hub's own rule (huggingface_hub validate_repo_id): optional namespace, name of
# letters, digits, '-', '_', '.', at most 96 characters, no '--' or '..'.
_REPO_ID = re.compile(r"^(?:[\w\-.]+/)?[\w\-.]+$", re.ASCII)  # ASCII: the Hub refuses other letters


def validate_repo_id(repo_id: str) -> str:
    """Return `repo_id` if the Hub could accept it, else raise InvalidRepoId."""
    if (
        not repo_id
        or len(repo_id) > 96
        or not _REPO_ID.match(repo_id)
        or "--" in repo_id
        or ".." in repo_id
        or repo_id.startswith(("-", "."))
        or repo_id.endswith(("-", "."))
        or "/-" in repo_id
        or "/." in repo_id
    ):
        raise InvalidRepoId(repo_id)
    return repo_id


@dataclass(frozen=True, slots=True)
class RepoRef:
    """A repo on the Hub and the revision (branch, tag or sha) the user asked for."""

    repo_id: str
    repo_type: RepoType = RepoType.MODEL
    revision: str = "main"

    def __post_init__(self) -> None:
        validate_repo_id(self.repo_id)
        if not self.revision or "\0" in self.revision or ".." in self.revision:
            raise InvalidRevision(self.revision)

    def __str__(self) -> str:
        return f"{self.repo_type.value} {self.repo_id}@{self.revision}"

    @property
    def url_path(self) -> str:
        """The repo's path in Hub web and resolve URLs: `{id}` for models, else `{type}s/{id}`.

        The reverse of the `/api/{type}s/…` routes, which prefix every type
        (huggingface_hub's REPO_TYPES_URL_PREFIXES; pinned by a unit test).
        """
        if self.repo_type is RepoType.MODEL:
            return self.repo_id
        return f"{self.repo_type.plural}/{self.repo_id}"

    @property
    def key_prefix(self) -> str:
        """Where the repo's objects live under a destination: `{type}s/{id}/`, every type."""
        return f"{self.repo_type.plural}/{self.repo_id}/"


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file of a repo at a commit, as the Hub's tree listing describes it."""

    path: str
    size: int
    git_sha1: str  # blob sha1 of the bytes (regular) or of the LFS pointer (LFS)
    sha256: str | None = None  # sha256 of the bytes, known for LFS files only

    @property
    def is_lfs(self) -> bool:
        return self.sha256 is not None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A repo pinned to one commit: every later request uses `commit`, never the branch."""

    repo: RepoRef
    commit: str
    files: tuple[RemoteFile, ...]


# --------------------------------------------------------------------------- destinations

MAX_KEY_BYTES = 1024  # R2 and S3 refuse longer keys (InvalidObjectName)


def path_problem(path: str) -> str | None:
    """Why `path` is unsafe as a key under any destination, or None when it is safe.

    The Hub is an untrusted source: a hostile tree could name `../../etc/passwd`, an absolute
    path, or embed NUL. Those are refused rather than sanitised, so the mirror never holds a
    key the Hub did not name. Everything else is a legal name on Linux and on S3/R2 (`x:y.txt`,
    `a\\b`, `-`, spaces, other control characters) and is kept: what one filesystem cannot
    store (a backslash or `C:` on Windows, a 256-byte name) is that sink's own rule.
    """
    if not path:
        return "the name is empty"
    if "\0" in path:
        return "it contains a NUL byte, which no destination can store"
    try:
        path.encode()
    except UnicodeEncodeError:
        return "it is not valid UTF-8 (a lone surrogate)"
    if path.startswith("/"):
        return "it is absolute and would escape the destination"
    segments = path.split("/")
    if ".." in segments:
        return "a '..' segment would escape the destination"
    if "." in segments or "" in segments:
        # `a/./b` and `a//b` name the same file as `a/b` on disk: two keys, one file.
        return "it has an empty or '.' segment, so it aliases another name"
    return None


def safe_relative_path(path: str) -> str:
    """Return `path` if it stays inside whatever folder or prefix it is joined to."""
    problem = path_problem(path)
    if problem is not None:
        raise UnsafePath(path, problem)
    return path


def repo_prefix(prefix: str, repo: RepoRef) -> str:
    """Where every key of `repo` lives: `{prefix/}{type}s/{id}/`."""
    return f"{prefix.rstrip('/')}/{repo.key_prefix}" if prefix else repo.key_prefix


def object_key(prefix: str, repo: RepoRef, path: str) -> str:
    """`{prefix/}{repo_type}s/{repo_id}/{path}` — the layout every sink uses."""
    rel = f"{repo.key_prefix}{safe_relative_path(path)}"
    key = posixpath.join(prefix, rel) if prefix else rel
    if len(key.encode()) > MAX_KEY_BYTES:
        raise UnsafePath(path, f"the object key would be longer than {MAX_KEY_BYTES:,} bytes")
    return key


@dataclass(frozen=True, slots=True)
class ObjectMeta:
    """What we record on every object so a later run can skip or audit it."""

    repo_id: str
    repo_type: str
    commit: str
    path: str
    sha256: str  # hex sha256 of the bytes, for every file (we compute it for non-LFS ones)
    git_sha1: str = ""  # git blob sha1 of the bytes (non-LFS files): the Hub's only hash for them

    def to_headers(self) -> dict[str, str]:
        """As `x-amz-meta-*` values: ASCII only (the path is percent-encoded)."""
        headers = {
            "repo": self.repo_id,
            "repo-type": self.repo_type,
            "commit": self.commit,
            "path": quote(self.path, safe="/"),
            "sha256": self.sha256,
        }
        if self.git_sha1:
            headers["git-sha1"] = self.git_sha1
        return headers

    @classmethod
    def from_headers(cls, meta: dict[str, str]) -> ObjectMeta | None:
        try:
            return cls(
                repo_id=meta["repo"],
                repo_type=meta["repo-type"],
                commit=meta["commit"],
                path=unquote(meta["path"]),
                sha256=meta["sha256"],
                git_sha1=meta.get("git-sha1", ""),
            )
        except KeyError:
            return None


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a sink knows about an existing object."""

    key: str
    size: int
    sha256: str | None = None  # from our metadata; None when the object carries none
    git_sha1: str | None = None  # from our metadata (`git-sha1`), set for non-LFS files

    def matches(self, file: RemoteFile) -> bool:
        """True when this object holds exactly `file`'s bytes, judged by size and Hub hash."""
        if self.size != file.size:
            return False
        if file.sha256 is not None:
            return self.sha256 == file.sha256
        return self.git_sha1 == file.git_sha1


@dataclass(frozen=True, slots=True)
class PartInfo:
    """A finished part of a multipart upload, as recorded for resume and for Complete."""

    number: int
    size: int
    etag: str
    checksum: str  # the sink's transit checksum of the part (base64 CRC32C for S3)
    # The file's sha256 state after this part's last byte, tied to parts 1..number's
    # checksums (engine/resume_point.py): what lets a resume skip re-reading them. Opaque to
    # stores; None when it could not be taken (no libcrypto, a last part off a 64-byte edge).
    hash_state: bytes | None = None


# --------------------------------------------------------------------------- jobs


class JobState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"  # copied and verified
    SKIPPED = "skipped"  # already identical in the destination
    FAILED = "failed"  # attempts used up; reason recorded (the dead letter: kept, listed)
    CANCELLED = "cancelled"  # its sync was cancelled before it finished


@dataclass(frozen=True, slots=True)
class Lease:
    """A claimed job. Only the holder of `token` may renew, finish, fail or release it;
    once the lease expires (or the sync is cancelled) those calls raise LeaseLost and the
    job can be claimed again, so two workers never both publish one object."""

    job: Job
    token: str
    worker: str
    # Another sync's job published this very content (same key, blob, size) into the same
    # destination after this job's sync was planned: finish it SKIPPED, do not copy it again.
    already_published: bool = False


@dataclass(frozen=True, slots=True)
class SyncRecord:
    """One sync as the store knows it, for status pages and the API."""

    id: int
    repo: RepoRef  # `revision` is the one asked for
    commit: str
    destination: str  # the destination's name (service) or description (embedded)
    created_at: float  # unix seconds
    finished_at: float | None = None
    cancelled: bool = False
    files: int = 0
    bytes_total: int = 0
    bytes_done: int = 0  # of DONE and SKIPPED jobs


@dataclass(frozen=True, slots=True)
class Job:
    """One file of one sync: idempotent — running it twice leaves one verified object."""

    id: int
    sync_id: int
    file: RemoteFile
    key: str
    state: JobState = JobState.PENDING
    attempts: int = 0
    error: str | None = None
    worker: str | None = None


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """An unfinished multipart upload, persisted so a killed run resumes it.

    `identity` is the content the upload was started for (sha256 or git sha1): a file that
    changed since must not be completed from the old parts. The part size is stored because
    R2 rejects a layout whose non-trailing parts differ: a resume must reuse it.
    """

    upload_id: str
    part_size: int
    identity: str
    parts: tuple[PartInfo, ...] = ()


@dataclass(frozen=True, slots=True)
class OpenUpload:
    """An unfinished multipart upload as the store itself lists it (whoever started it)."""

    key: str
    upload_id: str
    idle_s: float  # seconds since it was started or last received a part


@dataclass(frozen=True, slots=True)
class SinkLimits:
    """The multipart rules of a store (R2's by default — the strictest we target)."""

    min_part_size: int = 5 * 1024**2
    max_part_size: int = 5 * 1024**3 - 5 * 1024**2
    max_parts: int = 10_000
    max_single_put: int = 5 * 1024**3 - 5 * 1024**2


@dataclass(frozen=True, slots=True)
class PlannedFile:
    """A file the plan selected, with what the destination already holds."""

    file: RemoteFile
    key: str
    up_to_date: bool


@dataclass(frozen=True, slots=True)
class RefusedFile:
    """A file of the repo whose path is unsafe as a key: it fails alone, with `reason`."""

    file: RemoteFile
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    snapshot: Snapshot
    files: tuple[PlannedFile, ...]
    refused: tuple[RefusedFile, ...] = ()  # never reach the job store; reported as failed
    # Unix time the plan began looking at the destination: what another run published
    # after it, this plan could not see (JobStore.create_sync, Lease.already_published).
    planned_at: float | None = None
    # `sync --delete`: keys under the repo's prefix the source no longer has (engine/delete.py).
    to_delete: tuple[str, ...] = ()

    @property
    def to_copy(self) -> tuple[PlannedFile, ...]:
        return tuple(f for f in self.files if not f.up_to_date)

    @property
    def to_skip(self) -> tuple[PlannedFile, ...]:
        return tuple(f for f in self.files if f.up_to_date)


@dataclass(frozen=True, slots=True)
class SyncSummary:
    repo: str
    commit: str
    destination: str
    copied: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_copied: int = 0
    bytes_skipped: int = 0
    elapsed_s: float = 0.0
    failures: tuple[tuple[str, str], ...] = ()  # (path, reason)
    deleted: tuple[str, ...] = ()  # keys `sync --delete` removed (or, dry run, would remove)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def mb_per_s(self) -> float:
        return self.bytes_copied / 1e6 / self.elapsed_s if self.elapsed_s > 0 else 0.0


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class PlanReady:
    plan: Plan


@dataclass(frozen=True, slots=True)
class FileStarted:
    path: str
    size: int
    attempt: int


@dataclass(frozen=True, slots=True)
class BytesMoved:
    path: str
    nbytes: int


@dataclass(frozen=True, slots=True)
class FileDone:
    path: str
    size: int
    skipped: bool = False


@dataclass(frozen=True, slots=True)
class FileRetrying:
    path: str  # or "(plan)" for a request of the plan (resolve, listing, HEADs)
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class FileWaiting:
    """A file's object is being written by another run (or worker): this one waits for it."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class FileFailed:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class SyncFinished:
    summary: SyncSummary


Event = (
    PlanReady
    | FileStarted
    | BytesMoved
    | FileDone
    | FileRetrying
    | FileWaiting
    | FileFailed
    | SyncFinished
)


# --------------------------------------------------------------------------- errors


class Data4r2Error(Exception):
    """Base of every error we raise on purpose: `str(e)` is one actionable line.

    `message` says what failed; `hint`, when there is one, says what to do about it. `str(e)`
    joins them ("message — hint"); `data4r2 doctor` shows them in separate columns.
    """

    exit_code: int = 1
    retryable: bool = False

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message} — {hint}" if hint else message)
        self.message = message
        self.hint = hint


class UsageError(Data4r2Error):
    exit_code = 2


class InvalidRepoId(UsageError):
    def __init__(self, repo_id: str) -> None:
        super().__init__(
            f"invalid repo id {repo_id!r}: expected 'namespace/name' or 'name' "
            "(letters, digits, '-', '_', '.'; at most 96 characters)"
        )


class InvalidRevision(UsageError):
    def __init__(self, revision: str) -> None:
        super().__init__(f"invalid revision {revision!r}")


class InvalidDestination(UsageError):
    pass


class UnsafePath(Data4r2Error):
    """A path from the Hub that is unsafe as a key (see `path_problem`): that file fails."""

    def __init__(self, path: str, why: str = "it would escape the destination") -> None:
        super().__init__(f"refusing path {path!r}: {why}")
        self.path = path


class HubError(Data4r2Error):
    """Any answer of the Hub we cannot go on with."""

    exit_code = 3


class RepoNotFound(HubError):
    def __init__(self, repo: str, repo_type: str, detail: str = "") -> None:
        super().__init__(
            f"{repo_type} {repo!r} not found or no access" + (f" ({detail})" if detail else ""),
            "check the id and the type (model/dataset/space); for a private repo set HF_TOKEN",
        )


class GatedRepo(HubError):
    def __init__(self, repo: str, url: str, authenticated: bool) -> None:
        what = (
            "your token is not (yet) in its authorized list"
            if authenticated
            else "it needs an authenticated, approved account"
        )
        super().__init__(
            f"{repo} is gated and {what}: accept its terms at {url} and set HF_TOKEN "
            "(fine-grained tokens also need 'read access to public gated repos')"
        )


class DisabledRepo(HubError):
    def __init__(self, repo: str) -> None:
        super().__init__(f"{repo} is disabled on the Hub: access to it is refused")


class RevisionNotFound(HubError):
    def __init__(self, repo: str, revision: str) -> None:
        super().__init__(f"revision {revision!r} not found in {repo}: use a branch, tag or sha")


class EntryNotFound(HubError):
    def __init__(self, repo: str, path: str) -> None:
        super().__init__(f"{path!r} not found in {repo}")


class HubAuthError(HubError):
    def __init__(self, detail: str = "") -> None:
        super().__init__(
            "the Hub refused the token (invalid or revoked): fix or unset HF_TOKEN / --token"
            + (f" ({detail})" if detail else "")
        )


class TransientError(Data4r2Error):
    """A failure worth retrying: 5xx, connection reset, timeout, truncated body."""

    retryable = True
    exit_code = 4

    def __init__(self, message: str, retry_after: float | None = None, hint: str = "") -> None:
        super().__init__(message, hint)
        self.retry_after = retry_after


class HubUnreachable(TransientError):
    """The Hub (or its CDN) refuses connections or cannot be resolved: retried, then fatal."""


class RateLimited(TransientError):
    def __init__(self, where: str, retry_after: float | None) -> None:
        wait = f"; retry after {retry_after:g} s" if retry_after is not None else ""
        super().__init__(f"rate limited by {where} (429){wait}", retry_after)


class IntegrityError(Data4r2Error):
    """The bytes did not match the Hub's hash or size: never published; the job retries."""

    retryable = True
    exit_code = 5


class DestinationError(Data4r2Error):
    exit_code = 6


class CredentialsError(DestinationError):
    pass


class BucketNotFound(DestinationError):
    pass


class EndpointUnreachable(DestinationError):
    """Connection refused, DNS or TLS failure. Retried (a blip mid-run), then fatal."""

    retryable = True


class LeaseLost(Data4r2Error):
    """The job's lease expired, was taken over, or its sync was cancelled: stop, publish nothing."""


class UploadGone(DestinationError):
    """The multipart upload no longer exists (aborted, expired): start a fresh one."""

    retryable = True


# --------------------------------------------------------------------------- scheduled mirrors


@dataclass(frozen=True, slots=True)
class MirrorRecord:
    """A repo the service re-syncs every `every` seconds into a named destination."""

    id: int
    repo: RepoRef
    dest: str  # the server's destination name
    every: float
    next_run_at: float  # unix seconds
    last_sync_id: int | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
