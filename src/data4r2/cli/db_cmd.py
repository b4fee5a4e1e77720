"""`data4r2 db …`: the cluster's PostgreSQL database (DATA4R2_DB). Registered by cli/main.py.

Imports stay inside the command bodies (as in main.py), so `data4r2 --help` loads no
database driver.
"""

from __future__ import annotations

import typer

from ..settings import Settings
from .guard import EXIT_OK
from .options import takes

db_app = typer.Typer(
    help="The cluster's PostgreSQL database (DATA4R2_DB).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@db_app.command()
@takes(("db", "debug"))
def upgrade(ctx: typer.Context, settings: Settings) -> int:
    """Create or migrate data4r2's tables (and procrastinate's) in the database.

    Safe to run any number of times, from any host: concurrent runs wait for each other and
    the later ones find nothing to do. Run it before starting `serve` or `worker` after an
    upgrade of data4r2; they refuse an older schema. Exit 0 when the schema is current.
    """
    from .. import app
    from ..state.pg_schema import describe

    result = app.upgrade_database(settings)
    where = describe(settings.db.get_secret_value()) if settings.db else "the database"
    if not result.changed:
        print(f"{where}: schema version {result.after} is current; nothing to do")
    else:
        created = "procrastinate's tables created; " if result.created_procrastinate else ""
        print(f"{where}: {created}schema version {result.before} -> {result.after}")
    return EXIT_OK
