"""`data4r2 mirror add|list|remove`: repos a `data4r2 serve` re-syncs on a schedule."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from ..settings import Settings
from .guard import EXIT_OK
from .options import CLIENT, SELECT, takes
from .remote import client
from .text import output_console, print_lines

Every = Annotated[
    str,
    typer.Option("--every", metavar="INTERVAL", help="How often to re-sync: 90s, 30m, 6h, 1d."),
]
MirrorId = Annotated[int, typer.Argument(metavar="MIRROR_ID", help="As printed by mirror list.")]

mirror_app = typer.Typer(
    help="Keep repos fresh on a `data4r2 serve`: re-sync on a schedule.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def _line(m: dict[str, Any]) -> str:
    every = m["every_seconds"]
    due = max(0, round(m["next_run_at"] - time.time()))
    last = f", last sync {m['last_sync_id']}" if m["last_sync_id"] else ""
    return (
        f"{m['id']:>4}  {m['repo_type']} {m['repo_id']}@{m['revision']} → {m['dest']}  "
        f"every {every:g} s, next in {due} s{last}"
    )


@mirror_app.command("add")
@takes(("dest",), SELECT, CLIENT, ("json_output", "debug"), repo=True)
def add(ctx: typer.Context, settings: Settings, every: Every = "6h") -> int:
    """Re-sync REPO_ID every INTERVAL (the first sync is queued at once); --dest names one of
    the server's destinations (default: its own), --revision the branch or tag to follow."""
    request: dict[str, Any] = {
        "repo_id": settings.repo_id,
        "repo_type": settings.repo_type.value,
        "revision": settings.revision,
        "every": every,
        "include": list(settings.include),
        "exclude": list(settings.exclude),
    }
    if settings.dest:  # a name of the server's destinations, never a URL of ours
        request["dest"] = settings.dest
    with client(settings) as api:
        added = api.add_mirror(request)
    print(json.dumps(added) if settings.json_output else f"mirror {_line(added).strip()}")
    return EXIT_OK


@mirror_app.command("list")
@takes(CLIENT, ("json_output", "debug"))
def list_(ctx: typer.Context, settings: Settings) -> int:
    """The scheduled mirrors."""
    with client(settings) as api:
        rows = api.mirrors()
    if settings.json_output:
        print(json.dumps({"mirrors": rows}))
    else:
        print_lines(output_console(False), [_line(m) for m in rows] or ["no mirrors"])
    return EXIT_OK


@mirror_app.command("remove")
@takes(CLIENT, ("debug",))
def remove(ctx: typer.Context, settings: Settings, mirror_id: MirrorId) -> int:
    """Stop re-syncing a mirror (its mirrored files stay)."""
    with client(settings) as api:
        api.remove_mirror(mirror_id)
    print(f"mirror {mirror_id} removed")
    return EXIT_OK
