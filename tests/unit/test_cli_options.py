"""cli/options.py: a command takes a group of Settings fields as flags in one decorator line."""

from __future__ import annotations

from typing import Annotated

import pytest
import typer

from data4r2.cli.options import OUTPUT, WHERE, takes
from data4r2.settings import Settings, env_names, flag_of

pytestmark = pytest.mark.usefixtures("clean_env")  # tests/unit/conftest.py


def _app(seen: list[tuple[Settings, int]]) -> typer.Typer:
    app = typer.Typer(rich_markup_mode=None)

    @app.command()
    @takes(WHERE, OUTPUT, ("concurrency",))
    def serve(
        ctx: typer.Context,
        settings: Settings,
        port: Annotated[int, typer.Option("--port", help="Port.")] = 8787,
    ) -> int:
        """A command the service will add."""
        seen.append((settings, port))
        return 0

    @app.command()
    def other() -> None:  # a second command, so `serve` is named on the command line
        pass

    return app


def invoke(
    app: typer.Typer, args: list[str], capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    """As main() runs the real CLI: the command's return value is the exit code."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=args, prog_name="data4r2", standalone_mode=False)
    except typer.Exit as e:  # --help
        code = e.exit_code
    out, err = capsys.readouterr()
    return int(code or 0), out + err


def test_a_new_command_gets_flags_env_twins_and_its_own_options(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[tuple[Settings, int]] = []
    app = _app(seen)
    help_text = " ".join(invoke(app, ["serve", "--help"], capsys)[1].split())
    for name in (*WHERE, *OUTPUT, "concurrency"):
        assert f"{flag_of(name)} " in help_text, name
        assert all(env in help_text for env in env_names(name)), name
    assert "--port" in help_text and "--revision" not in help_text

    clean_env.setenv("DATA4R2_CONCURRENCY", "5")
    clean_env.setenv("DATA4R2_DEST", "r2://from-env")
    code, out = invoke(app, ["serve", "--dest", "./here", "--json", "--port", "9000"], capsys)
    assert code == 0, out
    settings, port = seen[0]
    # The flag wins over its twin; the twin over the default; unset switches stay unset.
    assert (settings.dest, settings.concurrency, settings.json_output) == ("./here", 5, True)
    assert (settings.quiet, port) == (False, 9000)


def test_a_bad_value_is_one_line_naming_flag_and_twin(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out = invoke(_app([]), ["serve", "--concurrency", "0"], capsys)
    assert code == 2
    assert out.splitlines() == [
        "data4r2: error: --concurrency (DATA4R2_CONCURRENCY): "
        "Input should be greater than or equal to 1 (got '0')"
    ]


def test_environment_only_settings_have_no_flag() -> None:
    assert flag_of("aws_session_token") is None and flag_of("hf_endpoint") is None
    assert flag_of("json_output") == "--json"
    with pytest.raises(ValueError, match="environment only"):
        takes(("aws_session_token",))(lambda ctx, settings: 0)
