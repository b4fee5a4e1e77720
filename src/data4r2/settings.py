"""Everything one run is configured by: flags' values, `DATA4R2_*` twins and the tools' own env.

pydantic-settings does the environment reading, the type coercion and the precedence
(explicit value > environment > default); `load_settings` turns its errors into one line.
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

from .domain import RepoType, UsageError
from .engine.options import SyncOptions

MiB = 1024**2
_DEFAULTS = SyncOptions()
# R2's part rules (r2.md §2); a bad --part-size is a usage error, found before any request.
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * 1024**3 - 5 * MiB
DEFAULT_HF_ENDPOINT = "https://huggingface.co"

Jurisdiction = Literal["eu", "fedramp", "us"]


class InvalidSetting(UsageError):
    """A flag or environment value that does not parse: exit 2, like click's usage errors."""


def _env(*names: str) -> AliasChoices:
    """Env names for a field, first found wins (pydantic-settings then ignores env_prefix)."""
    return AliasChoices(*names)


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
    repo_id: str | None = None
    repo_type: RepoType = RepoType.MODEL
    revision: str = "main"
    dest: str | None = None

    # ------------------------------------------------------------------ how
    include: Annotated[tuple[str, ...], NoDecode] = ()
    exclude: Annotated[tuple[str, ...], NoDecode] = ()
    concurrency: int = Field(default=_DEFAULTS.concurrency, ge=1, le=256)
    part_size: int = _DEFAULTS.part_size
    parts_in_flight: int = Field(default=_DEFAULTS.parts_in_flight, ge=1, le=256)
    max_retries: int = Field(default=_DEFAULTS.max_retries, ge=0, le=100)
    dry_run: bool = False
    force: bool = False
    quiet: bool = False
    json_output: bool = Field(default=False, validation_alias=_env("DATA4R2_JSON"))
    debug: bool = False
    state: Path | None = None  # None: data4r2.state.paths.default_state_path()
    # Finished syncs whose jobs the state file keeps per destination (the rest are pruned
    # at the end of a run, so the file stays small); env twin DATA4R2_KEEP_SYNCS.
    keep_syncs: int = Field(default=_DEFAULTS.keep_syncs, ge=1, le=100_000)

    # ------------------------------------------------------------------ the Hub
    token: SecretStr | None = Field(
        default=None, validation_alias=_env("DATA4R2_TOKEN", "HF_TOKEN")
    )
    # Only for a Hub behind a private CA: HubClient then trusts this file alone, which is why
    # the bucket's --ca-bundle is never reused for huggingface.co.
    hub_ca_bundle: Path | None = Field(default=None, validation_alias=_env("DATA4R2_HUB_CA_BUNDLE"))
    hf_endpoint: str = Field(
        default=DEFAULT_HF_ENDPOINT,
        validation_alias=_env("DATA4R2_HF_ENDPOINT", "HF_ENDPOINT"),
    )

    # ------------------------------------------------------------------ the bucket
    # --endpoint-url is kept apart from AWS_ENDPOINT_URL: the latter is often set for other
    # tools and must not redirect an r2:// destination, while an explicit flag may.
    endpoint_url: str | None = Field(default=None, validation_alias=_env("DATA4R2_ENDPOINT_URL"))
    # The service-specific name wins, as in the AWS SDKs' own lookup.
    aws_endpoint_url: str | None = Field(
        default=None,
        validation_alias=_env("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
    )
    ca_bundle: Path | None = Field(
        default=None, validation_alias=_env("DATA4R2_CA_BUNDLE", "AWS_CA_BUNDLE")
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
    # The original client's variable name, kept so its users' shells work unchanged.
    worker_url: str | None = Field(
        default=None, validation_alias=_env("DATA4R2_WORKER_URL", "WORKER_URL")
    )
    destinations: Path | None = None  # serve/worker: named destinations (TOML)
    host: str = "127.0.0.1"
    port: int = Field(default=8787, ge=0, le=65535)
    workers: int = Field(default=8, ge=0, le=256)  # transfers in flight in this process
    lease_seconds: float = Field(default=60.0, ge=0.2, le=3600)
    grace: float = Field(default=30.0, ge=0, le=3600)  # SIGTERM: seconds to finish or release

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
        if not MIN_PART_SIZE <= value <= MAX_PART_SIZE:
            raise ValueError("must be between 5MiB and 5GiB-5MiB (R2's part size limits)")
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
            dry_run=self.dry_run,
            force=self.force,
            prefix=prefix,
            keep_syncs=self.keep_syncs,
        )


_SECRET = {"token", "aws_secret_access_key", "aws_session_token", "api_token"}
_ENV_ONLY = {"hf_endpoint", "hub_ca_bundle", "keep_syncs", "api_token"}  # no flag: env only


def _describe(loc: str) -> tuple[str, str]:
    """(the field, how the user spells it: a flag and its env twin, or the env names)."""
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else []
        envs = [n for n in choices if isinstance(n, str)]
        if loc == name or loc in envs:
            if not envs:
                envs = [f"DATA4R2_{name.upper()}"]
            if envs[0].startswith("DATA4R2_") and name not in _ENV_ONLY:
                flag = "--json" if name == "json_output" else f"--{name.replace('_', '-')}"
                return name, f"{flag} ({' / '.join(envs)})"
            return name, " / ".join(envs)
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
