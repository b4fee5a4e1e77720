"""Typer parameters derived from `Settings`: a command names the fields it takes, nothing more.

Names, env twins, defaults, bounds and help live on the Settings fields (settings.py). Here
each field becomes a flag whose default is None ("not given"), so pydantic-settings alone
applies the precedence flag > environment > default and reads the environment: Typer is given
no `envvar=`, and the env names are written into the help text instead.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, get_args

import typer

from ..domain import RepoType, UsageError
from ..settings import Settings, cli_extra, env_names, flag_of
from .guard import run_guarded

# Option groups: what a command takes, by Settings field name.
WHERE = ("dest", "endpoint_url", "ca_bundle")
SELECT = ("revision", "include", "exclude")
HUB = ("token", "hub_rps")
TRANSFER = (
    "concurrency",
    "part_size",
    "parts_in_flight",
    "max_retries",
    "force",
    "verify_objects",
    "state",
)
OUTPUT = ("quiet", "json_output", "debug")
CLIENT = ("worker_url",)  # the service a client command talks to
# What `serve` and `worker` run on: the destinations file, the queue (SQLite file or
# PostgreSQL) and the transfers; LISTEN is the API's socket, `serve` only.
SERVICE = ("destinations", "state", "db", "workers", "lease_seconds", "grace")
LISTEN = ("host", "port")

Command = Callable[..., int]


def _cli_type(name: str) -> Any:
    """The type Typer parses into: flags, repeatables, choices and paths as such; every other
    value as text, so pydantic parses it and reports its errors like the env twin's."""
    annotation = Settings.model_fields[name].annotation
    kinds = set(get_args(annotation)) or {annotation}
    if bool in kinds:
        return bool
    if RepoType in kinds:
        return RepoType | None
    if Path in kinds:
        return Path | None
    if any(getattr(k, "__origin__", k) is tuple for k in kinds):
        return list[str] | None
    return str | None


def _shown_default(name: str) -> str | bool:
    extra = cli_extra(name)
    if "default_text" in extra:
        return str(extra["default_text"])
    default = Settings.model_fields[name].default
    if default in (None, (), False):
        return False
    return str(default.value if isinstance(default, RepoType) else default)


def _option(name: str) -> inspect.Parameter:
    flag = flag_of(name)
    if flag is None:
        raise ValueError(f"{name} is set in the environment only: it has no flag")
    extra, field = cli_extra(name), Settings.model_fields[name]
    decls = [flag, *([extra["short"]] if "short" in extra else [])]
    kind = _cli_type(name)
    info = typer.Option(
        *decls,
        metavar=extra.get("metavar"),
        help=f"{field.description} [env var: {', '.join(env_names(name))}]",
        show_default=_shown_default(name),
    )
    default = False if kind is bool else None
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[kind, info]
    )


def _repo_params() -> list[inspect.Parameter]:
    """REPO_ID [TYPE] positionally, and TYPE again as --repo-type for scripts and the env."""
    repo_id = typer.Argument(
        metavar="REPO_ID", help=Settings.model_fields["repo_id"].description, show_default=False
    )
    type_arg = typer.Argument(
        metavar="TYPE", help=Settings.model_fields["repo_type"].description, show_default="model"
    )
    kw = inspect.Parameter.KEYWORD_ONLY
    return [
        inspect.Parameter("repo_id", kw, annotation=Annotated[str, repo_id]),
        inspect.Parameter(
            "repo_type_arg", kw, default=None, annotation=Annotated[RepoType | None, type_arg]
        ),
        _option("repo_type"),
    ]


def _repo_type(values: dict[str, Any]) -> dict[str, Any]:
    positional, option = values.pop("repo_type_arg", None), values.get("repo_type")
    if positional and option and positional is not option:
        raise UsageError(
            f"the TYPE argument says {positional.value} but --repo-type says {option.value}"
        )
    return {**values, "repo_type": positional or option}


def _given(values: dict[str, Any]) -> dict[str, Any]:
    """Flag values as Settings takes them: None for "not given" (unset switches included)."""
    return {
        name: None
        if value in (False, None, [])
        else tuple(value)
        if isinstance(value, list)
        else value
        for name, value in values.items()
    }


def takes(*groups: tuple[str, ...], repo: bool = False) -> Callable[[Command], Command]:
    """Give a command the flags of these Settings fields; it is called as
    `(ctx, settings, **its own parameters)`: a parameter of its own beside `ctx` and
    `settings` (one that is no setting) stays a Typer parameter as written.

    Every failure, loading the settings included, becomes one line and an exit code
    (guard.py). With `repo=True` the command also takes REPO_ID [TYPE].
    """
    names = [name for group in groups for name in group]
    prepare = (lambda values: _given(_repo_type(values))) if repo else _given

    def decorate(command: Command) -> Command:
        written = inspect.signature(command, eval_str=True).parameters.values()
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for p in written
            if p.name not in ("ctx", "settings")
        ]

        def wrapper(ctx: typer.Context, **values: Any) -> int:
            mine = {p.name: values.pop(p.name) for p in own}
            return run_guarded(
                values, lambda settings: command(ctx, settings, **mine), prepare=prepare
            )

        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params = [inspect.Parameter("ctx", kind, annotation=typer.Context)]
        params += [*(_repo_params() if repo else []), *(_option(name) for name in names), *own]
        # Typer reads a command's parameters from its signature: this one is built, not written.
        wrapper.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
        wrapper.__name__, wrapper.__doc__ = command.__name__, command.__doc__
        return wrapper

    return decorate
