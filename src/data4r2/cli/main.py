"""`data4r2` on the command line: parse, call app.py, print. No transfer logic here.

`main(argv)` is the whole program as a function returning the exit code, so tests call it
in-process (pypa/build's pattern); `run()` is the console script.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from typer.exceptions import TyperException

from .. import __version__
from ..app import NO_OVERRIDES, Overrides
from ..settings import Settings
from . import remote, serve_cmd
from .db_cmd import db_app
from .guard import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PROBLEMS,
    EXIT_USAGE,
    INTERRUPTED,
    say_error,
)
from .mirror_cmd import mirror_app
from .options import CLIENT, HUB, OUTPUT, SELECT, TRANSFER, WHERE, takes
from .text import output_console, print_lines, printable

__all__ = ["INTERRUPTED", "cli", "main", "run"]

cli = typer.Typer(
    name="data4r2",
    help="Mirror Hugging Face Hub repositories into Cloudflare R2, any S3 bucket or a folder "
    "— streamed, verified, resumable.",
    add_completion=False,
    rich_markup_mode=None,  # help texts hold literal brackets: r2://bucket[/prefix]
    pretty_exceptions_enable=False,  # main() prints one line; tracebacks only with --debug
    context_settings={"help_option_names": ["-h", "--help"]},
)


# --------------------------------------------------------------------------- plumbing


def _overrides(ctx: typer.Context) -> Overrides:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Overrides) else NO_OVERRIDES


# --------------------------------------------------------------------------- commands


def _version(value: bool) -> None:
    if value:
        print(f"data4r2 {__version__}")
        raise typer.Exit()


@cli.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = None,
) -> None:
    """Mirror Hugging Face Hub repositories into Cloudflare R2, any S3 bucket or a folder."""


@cli.command()
@takes(WHERE, SELECT, ("dry_run", "delete"), TRANSFER, OUTPUT, HUB, CLIENT, ("no_wait",), repo=True)
def sync(ctx: typer.Context, settings: Settings) -> int:
    """Copy REPO_ID at a revision into --dest: verified, resumable; skips what is there.

    With --worker-url the sync runs on that `data4r2 serve`; --dest then names one of its
    destinations.
    """
    if settings.worker_url:
        from .remote import run_remote_sync

        return run_remote_sync(settings)
    from .. import app
    from .json_events import JsonEvents
    from .progress import make_reporter, summary_lines
    from .summary import plan_json, plan_lines, sync_json

    overrides = _overrides(ctx)
    console = output_console(settings.json_output)
    if settings.dry_run:
        plan = app.run_plan(settings, overrides=overrides)
        where = str(app.destination_of(settings))
        if settings.json_output:
            print(plan_json(plan, where))
        elif not settings.quiet:
            print_lines(console, plan_lines(plan, where))
        return EXIT_OK

    with make_reporter(console, quiet=settings.quiet) as reporter:
        subscribers = (reporter, JsonEvents(print)) if settings.json_output else (reporter,)
        summary = app.run_sync(settings, *subscribers, overrides=overrides)
    if not settings.quiet:
        print_lines(console, summary_lines(summary))
    elif summary.failures:  # even quiet, say what failed: the exit code alone says too little
        for path, reason in summary.failures:
            print(printable(f"data4r2: failed {path}: {reason}"), file=sys.stderr)
    if settings.json_output:
        print(sync_json(summary))
    return EXIT_OK if summary.ok else EXIT_PROBLEMS


@cli.command()
@takes(WHERE, SELECT, ("concurrency", "verify_objects"), OUTPUT, HUB, repo=True)
def verify(ctx: typer.Context, settings: Settings) -> int:
    """Audit --dest against the Hub: missing, differing, extra, matching. Exit 1 on problems."""
    from .. import app
    from .summary import verify_json, verify_lines

    report = app.run_verify(settings, overrides=_overrides(ctx))
    if settings.json_output:
        print(verify_json(report))
    elif not settings.quiet:
        print_lines(output_console(False), verify_lines(report))
    return EXIT_OK if report.ok else EXIT_PROBLEMS


@cli.command()
@takes(WHERE, ("json_output", "debug"))
def doctor(ctx: typer.Context, settings: Settings) -> int:
    """Check that an R2/S3 --dest takes everything a sync sends; writes and deletes probes.

    Run it before a long sync. Exit 0 when every check a sync needs passed, else 1.
    """
    from .. import app
    from .doctor_view import doctor_json, doctor_table

    report = app.run_doctor(settings)
    output_console(settings.json_output).print(doctor_table(report))
    if settings.json_output:
        print(doctor_json(report))
    return EXIT_OK if report.ok else EXIT_PROBLEMS


cli.add_typer(db_app, name="db")  # `data4r2 db upgrade` (cli/db_cmd.py)
cli.add_typer(mirror_app, name="mirror")  # `data4r2 mirror add|list|remove` (cli/mirror_cmd.py)


# The service's commands live in their own modules.
for _command in (*serve_cmd.COMMANDS, *remote.COMMANDS):
    cli.command()(_command)


# --------------------------------------------------------------------------- entry points


def main(argv: list[str] | None = None, *, overrides: Overrides | None = None) -> int:
    """The program: parse `argv`, run, return the exit code. `overrides` injects adapters."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        main(["--help"])
        return EXIT_USAGE
    command = typer.main.get_command(cli)
    try:
        result: Any = command.main(
            args=args, prog_name="data4r2", standalone_mode=False, obj=overrides or NO_OVERRIDES
        )
    except TyperException as e:  # typer's (vendored click's) usage and parameter errors
        ctx = getattr(e, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        say_error(f"{e.format_message()}{hint}")
        return EXIT_USAGE if e.exit_code == EXIT_USAGE else e.exit_code
    except typer.Abort:  # Ctrl-C while typer itself was running (it turns it into Abort)
        print(f"data4r2: {INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED
    return result if isinstance(result, int) else EXIT_OK


def run() -> None:
    """Console-script entry point."""
    code = main()
    if code == EXIT_INTERRUPTED:
        # Worker threads may sit in a blocking read; waiting for them would make Ctrl-C
        # feel ignored. The state store is transactional, so leaving now is as safe as a
        # kill -9, which resume is built for.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
