"""Destinations belong to the server: a default (`--dest`) and named ones from a TOML file.

An API caller only ever picks a *name*; the URL, endpoint and credentials stay here, so no
request can make the server write to a path, bucket or account the operator did not list.

The file (`--destinations FILE`)::

    default = "archive"            # optional: the name used when a request names none

    [destinations.archive]
    url = "s3://archive-bucket/hf"           # any --dest form
    endpoint = "https://s3.eu-central-1.amazonaws.com"   # optional, as --endpoint-url
    access_key_id_env = "ARCHIVE_KEY_ID"      # optional: read credentials from these
    secret_access_key_env = "ARCHIVE_SECRET"  #   environment variables ...
    profile = "archive"                       # ... or from this AWS profile

Without `access_key_id_env`/`profile` a bucket uses the server's AWS_* environment.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..domain import InvalidDestination, UsageError

DEFAULT_NAME = "default"
# Names appear in URLs, logs and the store: keep them boring.
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_KEYS = {
    "url",
    "endpoint",
    "access_key_id_env",
    "secret_access_key_env",
    "session_token_env",
    "profile",
    "region",
}


@dataclass(frozen=True, slots=True)
class DestinationSpec:
    """One configured destination, as written by the operator (parsed later, in app.py)."""

    name: str
    url: str
    endpoint: str | None = None
    access_key_id_env: str | None = None
    secret_access_key_env: str | None = None
    session_token_env: str | None = None
    profile: str | None = None
    region: str | None = None


class UnknownDestination(UsageError):
    """A request named a destination the server does not have (or a path, a URL …)."""

    def __init__(self, given: str, allowed: Iterable[str]) -> None:
        names = ", ".join(sorted(allowed))
        super().__init__(
            f"unknown destination {given[:80]!r}: pick one of the server's names ({names})"
        )


@dataclass(frozen=True, slots=True)
class Destinations:
    """The server's destinations by name, and which one a request gets when it names none."""

    specs: dict[str, DestinationSpec]
    default: str

    @property
    def names(self) -> list[str]:
        return sorted(self.specs)

    def choose(self, name: str | None) -> DestinationSpec:
        """The destination a request asked for; UnknownDestination for anything not listed."""
        chosen = self.default if name is None else name
        spec = self.specs.get(chosen)
        if spec is None:
            raise UnknownDestination(chosen, self.specs)
        return spec


def _spec(name: str, table: object, where: str) -> DestinationSpec:
    if not _NAME.match(name):
        raise InvalidDestination(
            f"{where}: destination name {name!r} must be 1-63 of a-z, 0-9, '-', '_'"
        )
    if not isinstance(table, dict):
        raise InvalidDestination(f"{where}: [destinations.{name}] must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise InvalidDestination(
            f"{where}: [destinations.{name}] has unknown keys {unknown}; allowed: {sorted(_KEYS)}"
        )
    values = {k: v for k, v in table.items()}
    if not isinstance(values.get("url"), str) or not values["url"].strip():
        raise InvalidDestination(f'{where}: [destinations.{name}] needs url = "…"')
    for key, value in values.items():
        if not isinstance(value, str):
            raise InvalidDestination(f"{where}: [destinations.{name}] {key} must be a string")
    return DestinationSpec(name=name, **values)


def load_destinations(default_url: str | None, file: Path | None) -> Destinations:
    """`--dest` (named "default") plus the file's destinations; one-line errors."""
    specs: dict[str, DestinationSpec] = {}
    default: str | None = None
    if file is not None:
        where = str(file)
        try:
            doc = tomllib.loads(file.read_text(encoding="utf-8"))
        except OSError as e:
            raise InvalidDestination(f"cannot read --destinations {where}: {e.strerror}") from None
        except tomllib.TOMLDecodeError as e:
            raise InvalidDestination(f"--destinations {where} is not valid TOML: {e}") from None
        extra = sorted(set(doc) - {"default", "destinations"})
        if extra:
            raise InvalidDestination(
                f"{where}: unknown top-level keys {extra}; use default and [destinations.NAME]"
            )
        tables = doc.get("destinations", {})
        if not isinstance(tables, dict):
            raise InvalidDestination(f"{where}: destinations must be tables [destinations.NAME]")
        specs = {name: _spec(name, table, where) for name, table in tables.items()}
        if "default" in doc:
            default = str(doc["default"])
            if default not in specs:
                raise InvalidDestination(
                    f"{where}: default = {default!r} names no [destinations.{default}]"
                )
    if default_url is not None and default_url.strip():
        if DEFAULT_NAME in specs:
            raise InvalidDestination(
                f"--dest is named {DEFAULT_NAME!r} and the destinations file has one too: "
                "drop one of them"
            )
        specs[DEFAULT_NAME] = DestinationSpec(DEFAULT_NAME, default_url.strip())
        default = DEFAULT_NAME  # the command line's --dest wins over the file's default
    if not specs:
        raise UsageError(
            "serve needs a destination: --dest (DATA4R2_DEST) and/or --destinations FILE"
        )
    if default is None:
        if len(specs) > 1:
            raise InvalidDestination(
                'several destinations and no default: set default = "NAME" in the file '
                "or give --dest"
            )
        default = next(iter(specs))
    return Destinations(specs=specs, default=default)
