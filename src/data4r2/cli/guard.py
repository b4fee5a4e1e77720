"""Exit codes, and the wrapper that turns every failure of a command into one line and a code."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any

from ..domain import Data4r2Error
from ..settings import Settings, load_settings
from .redact import Redactor, debug_logging
from .text import printable

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 70, 130
INTERRUPTED = "interrupted — run the same command again to resume"


def say_error(message: str) -> None:
    print(f"data4r2: error: {printable(' '.join(message.split()))}", file=sys.stderr)


def run_guarded(
    values: dict[str, Any],
    body: Callable[[Settings], int],
    *,
    prepare: Callable[[dict[str, Any]], dict[str, Any]],
) -> int:
    """Load Settings from the flags' `values` (after `prepare`), then run `body` with them.

    Until the settings load, --debug and --json are known only from the flags themselves.
    """
    debug, as_json = bool(values.get("debug")), bool(values.get("json_output"))
    redact = Redactor(())
    try:
        settings = load_settings(**prepare(values))
        debug, as_json = settings.debug, settings.json_output
        redact = Redactor(settings.secrets())
        if debug:
            debug_logging(redact)
        return body(settings)
    except KeyboardInterrupt:
        print(f"data4r2: {INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Data4r2Error as e:
        message, code, trace = str(e), e.exit_code, traceback.format_exc()  # with its hint
    except Exception as e:  # the one place that turns a bug into a line, not a traceback
        message = f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)"
        code, trace = EXIT_INTERNAL, traceback.format_exc()
    if debug:
        print(redact(trace), file=sys.stderr, end="")
    say_error(redact(message))
    if as_json:
        from .summary import error_json

        print(error_json(message, code))
    return code
