"""The client side of the service: `sync --worker-url`, `status`, `jobs`, `retry`, `cancel`.

Registered by cli/main.py (`sync` there hands over to run_remote_sync when --worker-url is set).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.filesize import decimal as human_bytes

from ..domain import UsageError
from ..settings import Settings
from .guard import EXIT_OK, EXIT_PROBLEMS
from .options import CLIENT, takes
from .text import output_console, print_lines, printable

SyncId = Annotated[int, typer.Argument(metavar="SYNC_ID", help="As printed by sync or status.")]
MaybeSyncId = Annotated[
    int | None, typer.Argument(metavar="[SYNC_ID]", help="One sync in detail.", show_default=False)
]
# Not Settings.state (the state file): here --state filters the jobs shown.
JobState = Annotated[
    str | None,
    typer.Option(
        "--state", metavar="STATE", help="pending, running, done, skipped, failed or cancelled."
    ),
]


def client(settings: Settings) -> Any:
    from ..service.client import ServiceClient

    if not settings.worker_url:
        raise UsageError("no service: give --worker-url or set WORKER_URL")
    token = settings.api_token.get_secret_value() if settings.api_token else None
    return ServiceClient(settings.worker_url, token)


def run_remote_sync(settings: Settings) -> int:
    """Submit to the service and follow it with the local sync's display and exit codes."""
    from .progress import make_reporter, summary_lines
    from .remote_view import follow, summary_of
    from .summary import sync_json

    if settings.dry_run:
        raise UsageError("--dry-run plans locally: drop --worker-url for it")
    body: dict[str, Any] = {
        "repo_id": settings.repo_id,
        "repo_type": settings.repo_type.value,
        "revision": settings.revision,
        "include": list(settings.include),
        "exclude": list(settings.exclude),
        "force": settings.force,
    }
    if settings.dest:  # a name of the server's destinations, never a URL of ours
        body["dest"] = settings.dest
    console = output_console(settings.json_output)
    started = time.monotonic()
    with client(settings) as api:
        api.check_version()
        accepted = api.submit_sync(body)
        sync_id = accepted["sync_id"]
        if settings.no_wait:
            if settings.json_output:
                print(json.dumps({"command": "sync", "ok": True, **accepted}))
            else:
                print(
                    f"submitted sync {sync_id}: {accepted['files']} files to copy, "
                    f"{accepted['skipped']} up to date → {accepted['destination']}"
                )
            return EXIT_OK
        where = f"{settings.worker_url} ({accepted['destination']})"
        with make_reporter(console, quiet=settings.quiet) as reporter:
            _, jobs = follow(lambda: api.sync(sync_id), lambda: list(api.jobs(sync_id)), reporter)
        status = api.sync(sync_id)
    summary = summary_of(status, jobs, time.monotonic() - started, where)
    if not settings.quiet:
        print_lines(console, summary_lines(summary))
    elif summary.failures:
        for path, reason in summary.failures:
            print(printable(f"data4r2: failed {path}: {reason}"), file=sys.stderr)
    if settings.json_output:
        doc = json.loads(sync_json(summary))
        print(json.dumps({**doc, "sync_id": sync_id}, ensure_ascii=False))
    return EXIT_OK if summary.ok else EXIT_PROBLEMS


def _status_line(s: dict[str, Any]) -> str:
    counts = s["counts"]
    return (
        f"{s['sync_id']:>6}  {s['state']:<9} {s['repo_type']} {s['repo_id']}@{s['commit'][:12]} "
        f"→ {s['destination']}  {counts['done'] + counts['skipped']}/{s['files']} files, "
        f"{human_bytes(s['bytes_done'])} of {human_bytes(s['bytes_total'])}"
        + (f", {counts['failed']} failed" if counts["failed"] else "")
    )


@takes(CLIENT, ("json_output", "debug"))
def status(ctx: typer.Context, settings: Settings, sync_id: MaybeSyncId = None) -> int:
    """Every sync on the service (newest first), or one in detail."""
    with client(settings) as api:
        rows = [api.sync(sync_id)] if sync_id is not None else api.syncs()
    if settings.json_output:
        print(json.dumps(rows[0] if sync_id is not None else {"syncs": rows}))
    else:
        print_lines(output_console(False), [_status_line(r) for r in rows] or ["no syncs"])
    return EXIT_OK


@takes(CLIENT, ("json_output", "debug"))
def jobs(
    ctx: typer.Context, settings: Settings, sync_id: SyncId, job_state: JobState = None
) -> int:
    """The jobs of a sync; `--state failed` shows what failed and why."""
    with client(settings) as api:
        rows = list(api.jobs(sync_id, job_state))
    if settings.json_output:
        print(json.dumps({"sync_id": sync_id, "jobs": rows}, ensure_ascii=False))
        return EXIT_OK
    lines = [
        f"{j['state']:<9} {j['path']} ({human_bytes(j['size'])}, {j['attempts']} attempts)"
        + (f": {j['error']}" if j["error"] else "")
        for j in rows
    ]
    print_lines(output_console(False), lines or ["no jobs"])
    return EXIT_OK


@takes(CLIENT, ("debug",))
def retry(ctx: typer.Context, settings: Settings, sync_id: SyncId) -> int:
    """Queue a sync's failed jobs again, with a fresh attempt count."""
    with client(settings) as api:
        print(f"re-queued {api.retry(sync_id)} failed jobs of sync {sync_id}")
    return EXIT_OK


@takes(CLIENT, ("debug",))
def cancel(ctx: typer.Context, settings: Settings, sync_id: SyncId) -> int:
    """Cancel a sync: pending jobs dropped, running ones stopped."""
    with client(settings) as api:
        print(f"cancelled {api.cancel(sync_id)} jobs of sync {sync_id}")
    return EXIT_OK


COMMANDS = (status, jobs, retry, cancel)
