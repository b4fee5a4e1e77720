"""`data4r2 db …`: the cluster's PostgreSQL database (DATA4R2_DB). Registered by cli/main.py.

Imports stay inside the command bodies (as in main.py), so `data4r2 --help` loads no
database driver.
"""

from __future__ import annotations

from typing import Annotated

import typer

db_app = typer.Typer(
    help="The cluster's PostgreSQL database (DATA4R2_DB).",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DbUrl = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="URL",
        envvar="DATA4R2_DB",
        help="PostgreSQL URL, e.g. postgresql://mirror@db.internal/data4r2.",
        show_default=False,
    ),
]
Debug = Annotated[
    bool, typer.Option("--debug", envvar="DATA4R2_DEBUG", help="Debug logs and tracebacks.")
]


@db_app.command()
def upgrade(db: DbUrl = None, debug: Debug = False) -> int:
    """Create or migrate data4r2's tables (and procrastinate's) in the database.

    Safe to run any number of times, from any host: concurrent runs wait for each other and
    the later ones find nothing to do. Run it before starting `serve` or `worker` after an
    upgrade of data4r2; they refuse an older schema. Exit 0 when the schema is current.
    """
    from ..settings import load_settings
    from .main import EXIT_OK
    from .main import _guard as guard  # the one place failures become a line and a code

    def body() -> int:
        from .. import app
        from ..state.pg_schema import describe

        settings = load_settings(db=db, debug=debug or None)
        result = app.upgrade_database(settings)
        where = describe(settings.db.get_secret_value()) if settings.db else "the database"
        if not result.changed:
            print(f"{where}: schema version {result.after} is current; nothing to do")
        else:
            created = "procrastinate's tables created; " if result.created_procrastinate else ""
            print(f"{where}: {created}schema version {result.before} -> {result.after}")
        return EXIT_OK

    return guard(debug, False, body)
