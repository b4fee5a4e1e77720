"""Everything one run is configured by: flags' values, `DATA4R2_*` twins and the tools' own env.

This class is the one place an option is declared: its name (the flag is derived from it),
its env names, default, bounds and help text. pydantic-settings does the environment reading,
the type coercion and the precedence (explicit value > environment > default); the CLI builds
its flags from these fields (cli/options.py) and never reads the environment itself;
`load_settings` turns validation errors into one line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    ByteSize,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .domain import RepoType, SinkLimits, UsageError
from .engine.options import SyncOptions

MiB = 1024**2
_DEFAULTS = SyncOptions()
# The store's part rules (docs/r2.md §2); a bad --part-size is a usage error, found before
# any request.
_LIMITS = SinkLimits()
DEFAULT_HF_ENDPOINT = "https://huggingface.co"

Jurisdiction = Literal["eu", "fedramp", "us"]


class InvalidSetting(UsageError):
    """A flag or environment value that does not parse: exit 2, like click's usage errors."""


def _env(*names: str) -> AliasChoices:
    """Env names for a field, first found wins (pydantic-settings then ignores env_prefix)."""
    return AliasChoices(*names)


def _flag(
    default: Any,
    help: str,
    *,
    env: tuple[str, ...] = (),
    metavar: str | None = None,
    flag: str | None = None,
    short: str | None = None,
    default_text: str | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
) -> Any:
    """A field that is also a flag: its default, help, env names (else `DATA4R2_<NAME>`),
    bounds, and how cli/options.py presents it (metavar; a flag spelled other than
    `--field-name`; a short alias; the default as shown)."""
    given = {"metavar": metavar, "flag": flag, "short": short, "default_text": default_text}
    extra: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    alias = _env(*env) if env else None
    return Field(
        default,
        description=help,
        json_schema_extra=extra,
        validation_alias=alias,
        ge=ge,
        gt=gt,
        le=le,
    )


def parse_size(value: str | int) -> int:
    """`16MiB`, `64M`, `1.5GiB` or a plain byte count → bytes.

    pydantic's ByteSize does the parsing; only the one-letter suffixes are ours: it reads
    `64M` as 10**6 bytes, while every transfer tool our users know (rclone, s5cmd, aws
    s3 cp's chunk sizes) reads K/M/G as powers of 1024. `MB` stays decimal, as pydantic says.
    """
    if isinstance(value, int):
        return value
    text = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?\s*[kKmMgGtT]", text):
        text += "iB"
    return int(TypeAdapter(ByteSize).validate_python(text))


class Settings(BaseSettings):
    """One run: what to mirror, where to, how; and the credentials read from the environment."""

    model_config = SettingsConfigDict(
        env_prefix="DATA4R2_",
        env_ignore_empty=True,  # `export HF_TOKEN=` means unset, not an empty token
        extra="ignore",
        frozen=True,
        validate_by_name=True,  # the CLI passes values by field name
        validate_by_alias=True,
    )

    # ------------------------------------------------------------------ what and where
    repo_id: str | None = _flag(None, "Hub repo id, e.g. openai-community/gpt2.")
    repo_type: RepoType = _flag(RepoType.MODEL, "model, dataset or space.", metavar="TYPE")
    revision: str = _flag("main", "Branch, tag or commit sha.", metavar="REV")
    dest: str | None = _flag(
        None,
        "r2://bucket[/prefix] (R2_ACCOUNT_ID), s3://bucket[/prefix], a folder or file:///path.",
        metavar="DEST",
    )

    # ------------------------------------------------------------------ how
    include: Annotated[tuple[str, ...], NoDecode] = _flag(
        (), "Only paths matching this glob (repeatable).", metavar="GLOB"
    )
    exclude: Annotated[tuple[str, ...], NoDecode] = _flag(
        (), "Skip paths matching this glob (repeatable).", metavar="GLOB"
    )
    concurrency: int = _flag(
        _DEFAULTS.concurrency, "Files (and part uploads) in flight.", metavar="N", ge=1, le=256
    )
    part_size: int = _flag(  # bounds: SinkLimits, in _part_limits below
        _DEFAULTS.part_size,
        "Multipart part size: 16MiB, 64M (M = MiB) or bytes; grown for huge files.",
        metavar="SIZE",
        default_text="16MiB",
    )
    parts_in_flight: int = _flag(
        _DEFAULTS.parts_in_flight,
        "Part buffers held at once (memory ≈ N × part size); raise it on a long fat link.",
        metavar="N",
        ge=1,
        le=256,
    )
    max_retries: int = _flag(
        _DEFAULTS.max_retries,
        "Retries per file after its first attempt.",
        metavar="N",
        ge=0,
        le=100,
    )
    dry_run: bool = _flag(False, "Print the plan; write nothing.")
    force: bool = _flag(False, "Copy even files already identical.")
    verify_objects: bool = _flag(
        False, "Look at every object in the bucket (LIST, HEAD) instead of trusting the manifest."
    )
    delete: bool = _flag(
        False,
        "After a fully verified sync, remove keys under the repo's prefix the source no "
        "longer has (only keys --include/--exclude cover; never .data4r2/).",
    )
    quiet: bool = _flag(False, "No progress, no summary.", short="-q")
    json_output: bool = _flag(
        False,
        "One JSON line per file event, then the summary, on stdout.",
        env=("DATA4R2_JSON",),
        flag="--json",
    )
    debug: bool = _flag(False, "Debug logs (secrets redacted) and tracebacks.")
    state: Path | None = _flag(  # None: data4r2.state.paths.default_state_path()
        None, "SQLite state file (resume data).", metavar="FILE", default_text="the user data dir"
    )
    # DATA4R2_DB: a PostgreSQL URL for the cluster's shared state (unset: the SQLite file).
    # Secret: the URL may carry a password.
    db: SecretStr | None = _flag(
        None,
        "PostgreSQL URL for the cluster's shared state (unset: the SQLite file).",
        metavar="URL",
    )
    # Finished syncs whose jobs the state file keeps per destination (the rest are pruned
    # at the end of a run, so the file stays small); environment only: DATA4R2_KEEP_SYNCS.
    keep_syncs: int = Field(default=_DEFAULTS.keep_syncs, ge=1, le=100_000)

    # ------------------------------------------------------------------ the Hub
    token: SecretStr | None = _flag(
        None,
        "Hub token for gated and private repos (else `hf auth login`'s).",
        env=("DATA4R2_TOKEN", "HF_TOKEN"),
        metavar="TOKEN",
    )
    # Only for a Hub behind a private CA: HubClient then trusts this file alone, which is why
    # the bucket's --ca-bundle is never reused for huggingface.co.
    hub_ca_bundle: Path | None = Field(default=None, validation_alias=_env("DATA4R2_HUB_CA_BUNDLE"))
    # Hub requests (resolve, listing, each file's open) per second, for every thread together;
    # None = as fast as the Hub allows (its 429s pause every thread at once: engine/pacer.py).
    hub_rps: float | None = _flag(
        None, "Hub requests per second, all threads together.", metavar="N", gt=0, le=10_000
    )
    hf_endpoint: str = Field(
        default=DEFAULT_HF_ENDPOINT,
        validation_alias=_env("DATA4R2_HF_ENDPOINT", "HF_ENDPOINT"),
    )
    # Seconds any one Hub read may stay silent (metadata and downloads) before it is retried.
    hub_timeout: float = Field(default=30.0, gt=0, le=600)

    # ------------------------------------------------------------------ the bucket
    # --endpoint-url is kept apart from AWS_ENDPOINT_URL: the latter is often set for other
    # tools and must not redirect an r2:// destination, while an explicit flag may.
    endpoint_url: str | None = _flag(
        None, "S3 endpoint for s3:// (else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL).", metavar="URL"
    )
    # The service-specific name wins, as in the AWS SDKs' own lookup.
    aws_endpoint_url: str | None = Field(
        default=None, validation_alias=_env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
    )
    ca_bundle: Path | None = _flag(
        None,
        "CA certificates for TLS to the S3/R2 endpoint.",
        env=("DATA4R2_CA_BUNDLE", "AWS_CA_BUNDLE"),
        metavar="FILE",
    )
    r2_account_id: str | None = Field(default=None, validation_alias=_env("R2_ACCOUNT_ID"))
    r2_jurisdiction: Jurisdiction | None = Field(
        default=None, validation_alias=_env("R2_JURISDICTION")
    )
    aws_access_key_id: str | None = Field(default=None, validation_alias=_env("AWS_ACCESS_KEY_ID"))
    aws_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias=_env("AWS_SECRET_ACCESS_KEY")
    )
    aws_session_token: SecretStr | None = Field(
        default=None, validation_alias=_env("AWS_SESSION_TOKEN")
    )
    aws_region: str | None = Field(
        default=None, validation_alias=_env("AWS_REGION", "AWS_DEFAULT_REGION")
    )

    # ------------------------------------------------------------------ the service
    # The API's shared secret: from the environment only (a flag would show in `ps`).
    api_token: SecretStr | None = Field(default=None, validation_alias=_env("DATA4R2_API_TOKEN"))
    # WORKER_URL is the original client's variable name, kept so its users' shells work unchanged.
    worker_url: str | None = _flag(
        None,
        "A `data4r2 serve` to submit to (its token from DATA4R2_API_TOKEN).",
        env=("DATA4R2_WORKER_URL", "WORKER_URL"),
        metavar="URL",
    )
    no_wait: bool = _flag(False, "With --worker-url: print the sync id and return at once.")
    destinations: Path | None = _flag(
        None, "TOML file of named destinations a request may pick (see README).", metavar="FILE"
    )
    host: str = _flag("127.0.0.1", "Address to listen on.", metavar="ADDR")
    port: int = _flag(
        8787, "TCP port to listen on (0: any free one).", metavar="PORT", ge=0, le=65535
    )
    workers: int = _flag(
        8,
        "Transfers in flight in this process (serve: 0 for an API-only node).",
        metavar="N",
        ge=0,
        le=256,
    )
    lease_seconds: float = _flag(
        60.0,
        "A claimed job comes back to the queue this long after its worker went silent.",
        metavar="S",
        ge=0.2,
        le=3600,
    )
    grace: float = _flag(
        30.0, "On SIGTERM, seconds to finish or give back running jobs.", metavar="S", ge=0, le=3600
    )

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _split_globs(cls, value: Any) -> Any:
        """From the environment: whitespace-separated, the way click splits a repeatable flag."""
        return tuple(value.split()) if isinstance(value, str) else value

    @field_validator("ca_bundle", "hub_ca_bundle", "state", "destinations", mode="before")
    @classmethod
    def _empty_path_is_none(cls, value: Any) -> Any:
        """`--ca-bundle ""` means none, not the current directory."""
        return None if value in ("", Path()) else value

    @field_validator("part_size", mode="before")
    @classmethod
    def _parse_size(cls, value: Any) -> Any:
        return parse_size(value) if isinstance(value, str | int) else value

    @field_validator("part_size")
    @classmethod
    def _part_limits(cls, value: int) -> int:
        low, high = _LIMITS.min_part_size, _LIMITS.max_part_size
        if not low <= value <= high:
            raise ValueError(
                f"must be between {low // MiB}MiB and {high // MiB}MiB (the store's part limits)"
            )
        return value

    @field_validator("r2_jurisdiction", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("hf_endpoint")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    def sync_options(self, *, prefix: str = "") -> SyncOptions:
        """The engine's knobs; `prefix` comes from the parsed destination."""
        return SyncOptions(
            include=self.include,
            exclude=self.exclude,
            concurrency=self.concurrency,
            part_size=self.part_size,
            parts_in_flight=self.parts_in_flight,
            max_retries=self.max_retries,
            force=self.force,
            verify_objects=self.verify_objects,
            delete=self.delete,
            prefix=prefix,
            keep_syncs=self.keep_syncs,
        )

    def secrets(self) -> list[str]:
        """Every secret value this run holds (each SecretStr field, and the access key id,
        which is not secret alone but names the account): what log redaction hides."""
        values = [getattr(self, name) for name in _SECRET]
        values = [v.get_secret_value() if isinstance(v, SecretStr) else v for v in values]
        return [v for v in values if v]


# Every SecretStr field counts, so a secret added later is redacted without a second list.
_SECRET = [n for n, f in Settings.model_fields.items() if f.annotation == SecretStr | None]
_SECRET.append("aws_access_key_id")


def env_names(name: str) -> list[str]:
    """The environment names of a field, in pydantic-settings' lookup order."""
    alias = Settings.model_fields[name].validation_alias
    choices = alias.choices if isinstance(alias, AliasChoices) else []
    return [n for n in choices if isinstance(n, str)] or [f"DATA4R2_{name.upper()}"]


def cli_extra(name: str) -> dict[str, Any]:
    """What `_flag` recorded for a field: metavar, flag spelling."""
    extra = Settings.model_fields[name].json_schema_extra
    return extra if isinstance(extra, dict) else {}


def flag_of(name: str) -> str | None:
    """The long flag of a field (`--part-size`), or None for the environment-only ones
    (those declared without `_flag`, hence without help text)."""
    if Settings.model_fields[name].description is None:
        return None
    return str(cli_extra(name).get("flag") or f"--{name.replace('_', '-')}")


def _describe(loc: str) -> tuple[str, str]:
    """(the field, how the user spells it: a flag and its env twin, or the env names)."""
    for name in Settings.model_fields:
        envs = env_names(name)
        if loc == name or loc in envs:
            flag = flag_of(name)
            return name, f"{flag} ({' / '.join(envs)})" if flag else " / ".join(envs)
    return loc, loc


def load_settings(**values: Any) -> Settings:
    """Settings from explicit values (None = not given) over the environment; one-line errors."""
    given = {k: v for k, v in values.items() if v is not None}
    try:
        return Settings(**given)
    except ValidationError as e:
        err = e.errors()[0]
        field, where = _describe(str(err["loc"][0]) if err["loc"] else "settings")
        ctx = err.get("ctx") or {}
        msg = str(ctx["error"]) if "error" in ctx else err["msg"]
        shown = "" if field in _SECRET else f" (got {err['input']!r})"
        raise InvalidSetting(f"{where}: {msg}{shown}") from None
