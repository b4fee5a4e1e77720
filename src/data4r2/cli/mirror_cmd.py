"""`data4r2 mirror add|list|remove`: repos a `data4r2 serve` re-syncs on a schedule."""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from ..settings import load_settings
from .main import (
    EXIT_OK,
    Debug,
    Exclude,
    Include,
    Json,
    RepoId,
    RepoTypeArg,
    RepoTypeOpt,
    _console,
    _guard,
    _lines,
    _repo_type,
)
from .remote import WorkerUrl, client

Every = Annotated[
    str,
    typer.Option("--every", metavar="INTERVAL", help="How often to re-sync: 90s, 30m, 6h, 1d."),
]
MirrorRevision = Annotated[
    str, typer.Option("--revision", metavar="REV", help="Branch or tag to follow.")
]
DestName = Annotated[
    str | None,
    typer.Option(
        "--dest", metavar="NAME", help="One of the server's destination names (default: its own)."
    ),
]
MirrorId = Annotated[int, typer.Argument(metavar="MIRROR_ID", help="As printed by mirror list.")]


def _line(m: dict[str, Any]) -> str:
    every = m["every_seconds"]
    due = max(0, round(m["next_run_at"] - time.time()))
    last = f", last sync {m['last_sync_id']}" if m["last_sync_id"] else ""
    return (
        f"{m['id']:>4}  {m['repo_type']} {m['repo_id']}@{m['revision']} → {m['dest']}  "
        f"every {every:g} s, next in {due} s{last}"
    )


def register(cli: typer.Typer) -> None:
    mirror = typer.Typer(help="Keep repos fresh on a `data4r2 serve`: re-sync on a schedule.")
    cli.add_typer(mirror, name="mirror")

    @mirror.command("add")
    def add(
        repo_id: RepoId,
        repo_type_arg: RepoTypeArg = None,
        repo_type: RepoTypeOpt = None,
        every: Every = "6h",
        revision: MirrorRevision = "main",
        include: Include = None,
        exclude: Exclude = None,
        dest: DestName = None,
        worker_url: WorkerUrl = None,
        as_json: Json = False,
        debug: Debug = False,
    ) -> int:
        """Re-sync REPO_ID every INTERVAL (the first sync is queued at once)."""

        def body() -> int:
            kind = _repo_type(repo_type_arg, repo_type)
            request: dict[str, Any] = {
                "repo_id": repo_id,
                "repo_type": (kind.value if kind else "model"),
                "revision": revision,
                "every": every,
                "include": include or [],
                "exclude": exclude or [],
            }
            if dest:
                request["dest"] = dest
            with client(load_settings(worker_url=worker_url)) as api:
                added = api.add_mirror(request)
            print(json.dumps(added) if as_json else f"mirror {_line(added).strip()}")
            return EXIT_OK

        return _guard(debug, as_json, body)

    @mirror.command("list")
    def list_(worker_url: WorkerUrl = None, as_json: Json = False, debug: Debug = False) -> int:
        """The scheduled mirrors."""

        def body() -> int:
            with client(load_settings(worker_url=worker_url)) as api:
                rows = api.mirrors()
            if as_json:
                print(json.dumps({"mirrors": rows}))
            else:
                _lines(_console(False), [_line(m) for m in rows] or ["no mirrors"])
            return EXIT_OK

        return _guard(debug, as_json, body)

    @mirror.command("remove")
    def remove(mirror_id: MirrorId, worker_url: WorkerUrl = None, debug: Debug = False) -> int:
        """Stop re-syncing a mirror (its mirrored files stay)."""

        def body() -> int:
            with client(load_settings(worker_url=worker_url)) as api:
                api.remove_mirror(mirror_id)
            print(f"mirror {mirror_id} removed")
            return EXIT_OK

        return _guard(debug, False, body)
