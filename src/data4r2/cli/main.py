"""`data4r2` on the command line: parse, call app.py, print. No transfer logic here.

`main(argv)` is the whole program as a function returning the exit code, so tests call it
in-process (pypa/build's pattern); `run()` is the console script.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.exceptions import TyperException

from .. import __version__
from ..app import NO_OVERRIDES, Overrides
from ..domain import Data4r2Error, RepoType, UsageError
from ..settings import Settings, load_settings

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130
INTERRUPTED = "interrupted — run the same command again to resume"

cli = typer.Typer(
    name="data4r2",
    help="Mirror Hugging Face Hub repositories into Cloudflare R2, any S3 bucket or a folder "
    "— streamed, verified, resumable.",
    add_completion=False,
    rich_markup_mode=None,  # help texts hold literal brackets: r2://bucket[/prefix]
    pretty_exceptions_enable=False,  # main() prints one line; tracebacks only with --debug
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _default(name: str) -> str:
    return str(Settings.model_fields[name].default)


# --------------------------------------------------------------------------- shared parameters
# Defaults are None ("not given") so Settings applies its own precedence; help shows the real
# default with show_default, and typer's envvar= prints each DATA4R2_* twin.

RepoId = Annotated[
    str,
    typer.Argument(
        metavar="REPO_ID", help="Hub repo id, e.g. openai-community/gpt2.", show_default=False
    ),
]
RepoTypeArg = Annotated[
    RepoType | None,
    typer.Argument(metavar="TYPE", help="model, dataset or space.", show_default="model"),
]
RepoTypeOpt = Annotated[
    RepoType | None,
    typer.Option(
        "--repo-type", metavar="TYPE", envvar="DATA4R2_REPO_TYPE", help="Same as the TYPE argument."
    ),
]
Dest = Annotated[
    str | None,
    typer.Option(
        "--dest",
        metavar="DEST",
        envvar="DATA4R2_DEST",
        help="r2://bucket[/prefix] (R2_ACCOUNT_ID), s3://bucket[/prefix], a folder or file:///path.",
        show_default=False,
    ),
]
Revision = Annotated[
    str | None,
    typer.Option(
        "--revision",
        metavar="REV",
        envvar="DATA4R2_REVISION",
        help="Branch, tag or commit sha.",
        show_default=_default("revision"),
    ),
]
Include = Annotated[
    list[str] | None,
    typer.Option(
        "--include",
        metavar="GLOB",
        envvar="DATA4R2_INCLUDE",
        help="Only paths matching this glob (repeatable).",
    ),
]
Exclude = Annotated[
    list[str] | None,
    typer.Option(
        "--exclude",
        metavar="GLOB",
        envvar="DATA4R2_EXCLUDE",
        help="Skip paths matching this glob (repeatable).",
    ),
]
Concurrency = Annotated[
    int | None,
    typer.Option(
        "--concurrency",
        metavar="N",
        envvar="DATA4R2_CONCURRENCY",
        help="Files (and part uploads) in flight.",
        show_default=_default("concurrency"),
    ),
]
PartSize = Annotated[
    str | None,
    typer.Option(
        "--part-size",
        metavar="SIZE",
        envvar="DATA4R2_PART_SIZE",
        help="Multipart part size: 16MiB, 64M (M = MiB) or bytes; grown for huge files.",
        show_default="16MiB",
    ),
]
PartsInFlight = Annotated[
    int | None,
    typer.Option(
        "--parts-in-flight",
        metavar="N",
        envvar="DATA4R2_PARTS_IN_FLIGHT",
        help="Part buffers held at once (memory ≈ N × part size); raise it on a long fat link.",
        show_default=_default("parts_in_flight"),
    ),
]
MaxRetries = Annotated[
    int | None,
    typer.Option(
        "--max-retries",
        metavar="N",
        envvar="DATA4R2_MAX_RETRIES",
        help="Retries per file after its first attempt.",
        show_default=_default("max_retries"),
    ),
]
DryRun = Annotated[
    bool,
    typer.Option("--dry-run", envvar="DATA4R2_DRY_RUN", help="Print the plan; write nothing."),
]
Force = Annotated[
    bool,
    typer.Option("--force", envvar="DATA4R2_FORCE", help="Copy even files already identical."),
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", envvar="DATA4R2_QUIET", help="No progress, no summary.")
]
Json = Annotated[
    bool,
    typer.Option("--json", envvar="DATA4R2_JSON", help="A machine-readable summary on stdout."),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        metavar="TOKEN",
        envvar=["DATA4R2_TOKEN", "HF_TOKEN"],
        help="Hub token for gated and private repos (else `hf auth login`'s).",
        show_default=False,
    ),
]
EndpointUrl = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        metavar="URL",
        envvar="DATA4R2_ENDPOINT_URL",
        help="S3 endpoint for s3:// (else AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL).",
        show_default=False,
    ),
]
CaBundle = Annotated[
    Path | None,
    typer.Option(
        "--ca-bundle",
        metavar="FILE",
        envvar=["DATA4R2_CA_BUNDLE", "AWS_CA_BUNDLE"],
        help="CA certificates for TLS to the S3/R2 endpoint.",
        show_default=False,
    ),
]
State = Annotated[
    Path | None,
    typer.Option(
        "--state",
        metavar="FILE",
        envvar="DATA4R2_STATE",
        help="SQLite state file (resume data).",
        show_default="the user data dir",
    ),
]
Debug = Annotated[
    bool, typer.Option("--debug", envvar="DATA4R2_DEBUG", help="Debug logs and tracebacks.")
]


# --------------------------------------------------------------------------- plumbing


def _say_error(message: str) -> None:
    print(f"data4r2: error: {' '.join(message.split())}", file=sys.stderr)


def _guard(debug: bool, as_json: bool, body: Callable[[], int]) -> int:
    """Run a command body: every failure becomes one stderr line and an exit code."""
    if debug:
        logging.basicConfig(
            level=logging.DEBUG,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    try:
        return body()
    except KeyboardInterrupt:
        print(f"data4r2: {INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Data4r2Error as e:
        if debug:
            traceback.print_exc()
        message, code = e.message, e.exit_code
    except Exception as e:  # the one place that turns a bug into a line, not a traceback
        if debug:
            traceback.print_exc()
        message = f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)"
        code = EXIT_INTERNAL
    _say_error(message)
    if as_json:
        from .summary import error_json

        print(error_json(message, code))
    return code


def _repo_type(positional: RepoType | None, option: RepoType | None) -> RepoType | None:
    if positional and option and positional is not option:
        raise UsageError(
            f"the TYPE argument says {positional.value} but --repo-type says {option.value}"
        )
    return positional or option


def _overrides(ctx: typer.Context) -> Overrides:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Overrides) else NO_OVERRIDES


def _console(as_json: bool) -> Console:
    # With --json, stdout carries only the document; human output moves to stderr.
    return Console(file=sys.stderr if as_json else sys.stdout, highlight=False)


def _lines(console: Console, lines: list[str]) -> None:
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


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


from .remote import NoWait, WorkerUrl, run_remote_sync  # noqa: E402


@cli.command()
def sync(
    ctx: typer.Context,
    repo_id: RepoId,
    repo_type_arg: RepoTypeArg = None,
    repo_type: RepoTypeOpt = None,
    dest: Dest = None,
    revision: Revision = None,
    include: Include = None,
    exclude: Exclude = None,
    concurrency: Concurrency = None,
    part_size: PartSize = None,
    parts_in_flight: PartsInFlight = None,
    max_retries: MaxRetries = None,
    dry_run: DryRun = False,
    force: Force = False,
    quiet: Quiet = False,
    as_json: Json = False,
    token: Token = None,
    endpoint_url: EndpointUrl = None,
    ca_bundle: CaBundle = None,
    state: State = None,
    debug: Debug = False,
    worker_url: WorkerUrl = None,
    no_wait: NoWait = False,
) -> int:
    """Copy REPO_ID at a revision into --dest: verified, resumable; skips what is there.

    With --worker-url the sync runs on that `data4r2 serve`; --dest then names one of its
    destinations.
    """

    def body() -> int:
        settings = load_settings(
            repo_id=repo_id,
            repo_type=_repo_type(repo_type_arg, repo_type),
            dest=dest,
            revision=revision,
            include=tuple(include) if include else None,
            exclude=tuple(exclude) if exclude else None,
            concurrency=concurrency,
            part_size=part_size,
            parts_in_flight=parts_in_flight,
            max_retries=max_retries,
            dry_run=dry_run or None,
            force=force or None,
            quiet=quiet or None,
            json_output=as_json or None,
            token=token,
            endpoint_url=endpoint_url,
            ca_bundle=ca_bundle,
            state=state,
            debug=debug or None,
            worker_url=worker_url,
        )
        if settings.worker_url:
            return run_remote_sync(settings, no_wait=no_wait)
        return _sync(settings, _overrides(ctx))

    return _guard(debug, as_json, body)


def _sync(settings: Settings, overrides: Overrides) -> int:
    from .. import app
    from .progress import make_reporter, summary_lines
    from .summary import plan_json, plan_lines, sync_json

    console = _console(settings.json_output)
    if settings.dry_run:
        plan = app.run_plan(settings, lambda event: None, overrides=overrides)
        where = str(app.destination_of(settings))
        if settings.json_output:
            print(plan_json(plan, where))
        elif not settings.quiet:
            _lines(console, plan_lines(plan, where))
        return EXIT_OK

    with make_reporter(console, quiet=settings.quiet) as reporter:
        summary = app.run_sync(settings, reporter, overrides=overrides)
    if not settings.quiet:
        _lines(console, summary_lines(summary))
    elif summary.failures:  # even quiet, say what failed: the exit code alone says too little
        for path, reason in summary.failures:
            print(f"data4r2: failed {path}: {reason}", file=sys.stderr)
    if settings.json_output:
        print(sync_json(summary))
    return EXIT_OK if summary.ok else EXIT_PROBLEMS


@cli.command()
def verify(
    ctx: typer.Context,
    repo_id: RepoId,
    repo_type_arg: RepoTypeArg = None,
    repo_type: RepoTypeOpt = None,
    dest: Dest = None,
    revision: Revision = None,
    include: Include = None,
    exclude: Exclude = None,
    concurrency: Concurrency = None,
    quiet: Quiet = False,
    as_json: Json = False,
    token: Token = None,
    endpoint_url: EndpointUrl = None,
    ca_bundle: CaBundle = None,
    debug: Debug = False,
) -> int:
    """Audit --dest against the Hub: missing, differing, extra, matching. Exit 1 on problems."""

    def body() -> int:
        from .. import app
        from .summary import verify_json, verify_lines

        settings = load_settings(
            repo_id=repo_id,
            repo_type=_repo_type(repo_type_arg, repo_type),
            dest=dest,
            revision=revision,
            include=tuple(include) if include else None,
            exclude=tuple(exclude) if exclude else None,
            concurrency=concurrency,
            quiet=quiet or None,
            json_output=as_json or None,
            token=token,
            endpoint_url=endpoint_url,
            ca_bundle=ca_bundle,
            debug=debug or None,
        )
        report = app.run_verify(settings, overrides=_overrides(ctx))
        if settings.json_output:
            print(verify_json(report))
        elif not settings.quiet:
            _lines(_console(False), verify_lines(report))
        return EXIT_OK if report.ok else EXIT_PROBLEMS

    return _guard(debug, as_json, body)


@cli.command()
def doctor(
    dest: Dest = None,
    as_json: Json = False,
    endpoint_url: EndpointUrl = None,
    ca_bundle: CaBundle = None,
    debug: Debug = False,
) -> int:
    """Check that an R2/S3 --dest takes everything a sync sends; writes and deletes probes.

    Run it before a long sync. Exit 0 when every check a sync needs passed, else 1.
    """

    def body() -> int:
        from .. import app
        from .doctor_view import doctor_json, doctor_table

        settings = load_settings(
            dest=dest,
            json_output=as_json or None,
            endpoint_url=endpoint_url,
            ca_bundle=ca_bundle,
            debug=debug or None,
        )
        report = app.run_doctor(settings)
        _console(settings.json_output).print(doctor_table(report))
        if settings.json_output:
            print(doctor_json(report))
        return EXIT_OK if report.ok else EXIT_PROBLEMS

    return _guard(debug, as_json, body)


# The service's commands live in their own modules and add themselves to `cli`.
from . import mirror_cmd, remote, serve_cmd  # noqa: E402 - they import the shared parameters above

remote.register(cli)
serve_cmd.register(cli)
mirror_cmd.register(cli)


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
        _say_error(f"{e.format_message()}{hint}")
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
